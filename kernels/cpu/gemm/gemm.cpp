// The GEMM of gemm.h: picks a kernel for the operands' layout, cuts C into blocks, and shares the
// blocks between OpenMP threads (torch's own OpenMP runtime, so torch.set_num_threads applies).
//
// Every call runs a plan (gemm.h): the tuned one where ops/tune.py measured this shape on this CPU,
// else the derived plan, whose rules follow.
// Kernel choice (see gemm_avx2.cpp, gemm_avx512.cpp):
//   A and Bᵀ contiguous along k (a.cs == b.rs == 1, as in x·Wᵀ), K >= kDotMinK, and with AVX-512
//   fewer than kDot512MaxM rows -> dot-product kernel
//   anything else -> outer-product kernel (B packed or read in place: gemm_outer_block.h says when)
// each in its AVX-512 version (gemm_avx512.cpp: 8 x 32 outer tiles, 4 x 4 dot tiles) where the ISA is
// avx512, its AVX2 version (6 x 16, 3 x 4) where it is avx2.
// The dot kernel needs no packing but pays horizontal sums per tile: with K below kDotMinK they cost
// more than packing Wᵀ does (measured: fc2's x·Wᵀ, K = 128, runs faster through the outer kernel at
// batch 256 and 1024, fc1's, K = 784, slower; the figures are in benchmarks/RESULTS.md, "the
// measurements behind the code's comments"). With AVX-512 the outer kernel's 8 x 32 tile (a broadcast
// and two loads feed 16 FMAs, no horizontal sums) wins for fc1's x·Wᵀ too once A has kDot512MaxM rows
// to spread the packing of Wᵀ over (Wᵀ is packed by 16 x 16 transposes in registers); with AVX2 the dot
// kernel stayed ahead at every batch (RESULTS.md, 2026-11-27 evening and 2026-11-27 late).
// Threads: C is cut into one rectangle per thread, along N (kColumnsFirst) or along M (kRowsFirst), along
// the other as well when the first has fewer tiles than there are threads. The AVX-512 shares are
// cut in 16-column vectors rather than whole 32-column panels: a share's last panel may be 16 wide and
// runs the 8 x 16 tile, so N = 784 splits 400 / 384 columns instead of 416 / 368. A product below
// kMinFlopsPerThread per thread runs on fewer threads: a parallel region costs about as much as a
// small product, and one thread runs without a region at all (RESULTS.md, as above).
// Where the cores' caches meet (derived_plan): the element passes around a product (bias and activation,
// the SGD update of a dW) cut an array of more than one grain (gemm.h's kElementsPerThread) between the
// threads by rows, each thread its own. So the derived plan runs a product on at least as many threads as
// those passes run its largest array on, whatever its flops, so that what it reads and writes stays cut
// between the cores as the passes cut it; and it cuts C by rows where C is larger than L1 and than B (then
// the largest array a thread can own is its rows of C), by columns otherwise (each thread its own part of
// B: for x·Wᵀ, the rows of W its share of the update writes). At batch 1, fc1's forward and dW on one
// thread while the update cut W in two made the derived step 2.8x slower; with these rules it was also
// 4-11% faster at batch 16 and level to 7% faster at 64 to 1024 (RESULTS.md, 2026-12-06). The threads
// follow the passes' grain, not L1: with "an array larger than L1" a 784-32-10 MLP's fc1 (W 100 KB, which
// its update runs on one thread) ran on two at batch 1, and its step took 58 us instead of 19, nearly all
// of it in fc1's forward, whose second core reads its half of W out of the first's cache, where the update
// has just written it (alone, that read cost 10 us of the 38; the rest is not explained). (Cutting by
// rows wherever B < A + C was slower at batch 256: fc1's forward then had both cores read all of W, which
// the update writes next.)
// Cut along K (kDepth): where a product's inputs were written by rows, each core its own (a dW = dzᵀ·h
// after a forward and a dx cut by rows), cutting C has each core read half of every column of them from
// the other core's cache. Cut along K, each thread sums its own rows of the batch into its own copy of C,
// and the copies are added. In the SGD step at batch 1024 on the 2-core Xeon, fc2's dW cut so made the
// step 3% faster (at 64, 2% slower). The derived plan cuts K in two where K indexes both operands' stored
// rows, C fits L1 and A and B are each larger than C (SimpleNet's fc2 dW from batch 256, fc3's from about
// 1024): the step 2-5% faster at 256 to 2048, and no other MLP tried slower (RESULTS.md, 2026-12-06,
// ninth session).
// Determinism: every element of C is summed in k order in the same lane arithmetic whichever
// rectangle holds it, so the result does not depend on the thread count or the split; it does depend
// on the kernel, the ISA and the outer kernel's k_block (each K block's sum is added to C's). kDepth sums
// each of its `threads` ranges so and adds them in range order: its result depends on the plan's thread
// count, never on how many threads the process has (a range per iteration, whoever runs it).
#include <cpuid.h>
#include <omp.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "gemm.h"
#include "gemm_kernels.h"

namespace minitorch_clf::gemm {
namespace {

constexpr double kMinFlopsPerThread = 1 << 19;
constexpr int64_t kDotMinK = 256;
constexpr int64_t kDot512MaxM = 64;    // AVX-512: from this many rows of A on, the outer kernel

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Runs kernel(rect) on T rectangles of C in whole mr x nr tiles: kColumnsFirst cuts N into
// gj = min(T, column tiles) shares (each thread then reads its own part of B) and M into T / gj;
// kRowsFirst cuts M first (each thread reads its own rows of A) and N into what is left.
template <typename Kernel>
void share(const Problem& p, int T, Split split, int64_t mr, int64_t nr, Kernel kernel) {
  if (T == 1) return kernel(0, p.M, 0, p.N);               // no OpenMP region: it costs even alone
  const int64_t col_tiles = ceil_div(p.N, nr), row_tiles = ceil_div(p.M, mr);
  int64_t gi, gj;
  if (split == Split::kColumnsFirst) {
    gj = std::min<int64_t>(T, col_tiles), gi = std::max<int64_t>(1, T / gj);
  } else {
    gi = std::min<int64_t>(T, row_tiles), gj = std::max<int64_t>(1, T / gi);
  }
  const int64_t cols = ceil_div(col_tiles, gj) * nr, rows = ceil_div(ceil_div(p.M, gi), mr) * mr;
#pragma omp parallel for num_threads(T) schedule(static)
  for (int64_t u = 0; u < gi * gj; ++u) {
    const int64_t i0 = (u / gj) * rows, j0 = (u % gj) * cols;
    const int64_t i1 = std::min(p.M, i0 + rows), j1 = std::min(p.N, j0 + cols);
    if (i0 < i1 && j0 < j1) kernel(i0, i1, j0, j1);
  }
}

void outer(const Problem& p, int T, Split split) {
  share(p, T, split, kOuterMR, kOuterNR, [&](int64_t i0, int64_t i1, int64_t j0, int64_t j1) {
    outer_block_avx2(p, {i0, i1, j0, j1});
  });
}

void outer512(const Problem& p, int T, Split split) {
  share(p, T, split, kOuter512MR, 16, [&](int64_t i0, int64_t i1, int64_t j0, int64_t j1) {
    outer_block_avx512(p, {i0, i1, j0, j1});
  });
}

void dot(const Problem& p, int T, Split split) {
  share(p, T, split, kDotMR, kDotNR, [&](int64_t i0, int64_t i1, int64_t j0, int64_t j1) {
    dot_block_avx2(p, {i0, i1, j0, j1});
    p.ep.done(p.c, p.ldc, i0, i1, j0, j1);
  });
}

void dot512(const Problem& p, int T, Split split) {
  share(p, T, split, 4, 4, [&](int64_t i0, int64_t i1, int64_t j0, int64_t j1) {
    dot_block_avx512(p, {i0, i1, j0, j1});
    p.ep.done(p.c, p.ldc, i0, i1, j0, j1);
  });
}

// Where every share holds all of C's columns (rows first, a tile's rows or more each), every thread would pack
// all of B: a B larger than L1 is paired once instead, each thread its own panels (pair_b, one more parallel
// region), and the shares read their panels from the pairs. A thread then reads only its part of the float32 B,
// which for a forward's Wᵀ is the part of W that its share of the SGD update writes next, so the update no longer
// takes W's lines back from the other core: in the bf16 step at batch 1024 on the 2-core Xeon (AMX) the update
// went from 62-64 to 30-33 us and the step 3% faster; 12% at 256, level at 64 (RESULTS.md, 2026-12-05, seventh
// session). The same sums in the same order: the same bits. q is p with B's pairs where they are made.
Problem with_b_paired(const Problem& p, int T, Split split, int64_t tile_rows) {
  Problem q = p;
  thread_local LineVector<uint32_t> b_pairs;
  if (T > 1 && split == Split::kRowsFirst && ceil_div(p.M, tile_rows) >= T && !p.b.pairs &&
      p.K * p.N * 4 > caches().l1d) {
    b_pairs.resize(static_cast<size_t>(pairs_b_ld(p.K) * ceil_div(p.N, kOuter512NR)));
    pair_b(p.b, p.K, p.N, b_pairs.data(), T);
    q.b.pairs = b_pairs.data(), q.b.pairs_ld = pairs_b_ld(p.K);
  }
  return q;
}

void bf16(const Problem& p, int T, Split split) {
  const Problem q = with_b_paired(p, T, split, kOuter512MR);
  share(q, T, split, kOuter512MR, 16, [&](int64_t i0, int64_t i1, int64_t j0, int64_t j1) {
    outer_block_bf16(q, {i0, i1, j0, j1});
    p.ep.done(p.c, p.ldc, i0, i1, j0, j1);
  });
}

// Row i of a product cut along K: C's row plus each of the n copies' (M, N each, in order), then the epilogue, and
// the row handed to done: the sum of the K-split plans (depth) and of a bf16 product cut by depth (bf16_depth).
void sum_copies_row(float* c, int64_t ldc, const float* copies, int n, int64_t M, int64_t N, const Epilogue& ep,
                    int64_t i) {
  float* __restrict__ row = c + i * ldc;
  for (int t = 0; t < n; ++t) {
    const float* __restrict__ add = copies + t * M * N + i * N;
    for (int64_t j = 0; j < N; ++j) row[j] = row[j] + add[j];
  }
  if (ep.bias || ep.act != Activation::kIdentity || ep.through)
    for (int64_t j = 0; j < N; ++j) row[j] = finish(row[j], ep, i, j);
  ep.done(c, ldc, i, i + 1, 0, N);
}

// A product whose K is two of the vdpbf16ps kernel's K blocks, the second at least 0.4 K (a dW at batch 854 to
// 1024), on two threads: cut by depth. The kernel sums each K block from zero and adds it to C (gemm_kernels.h), so
// thread 0 runs the first block into C, thread 1 the second into a copy, and C = C + copy, element by element, is
// what one thread computes: the same bits. (AMX carries C's sums across its K blocks in the tiles: no such cut.)
// Cut so, a dW's threads read only the rows of the batch that each wrote itself in the step: the layer's input
// (or its pairs, from the forward) and dz, both cut by rows there. Cut by columns, half of what each read had been
// written by the other, and the next step wrote lines that the other had read. That costs little where the two
// cores share an L3 and much where they do not: the 2-core Zen 4 VM's vCPUs sit now in one L3, now in two (a
// cache line's round trip 50-70 or 320-380 ns). In turns there, at batch 1024, the bf16 step took 0.82x the time
// cut by depth in two L3s (2,005 -> 1,641 us) and 1.00x in one (benchmarks/RESULTS.md, thirty-first session).
// A product whose A is paired as B on the way (View::fill: a forward) keeps the cut of C.
bool bf16_by_depth(int64_t K, int T) {
  return T == 2 && bf16_kernel() == Bf16Kernel::kDpbf16 && K > kBf16BlockK && K <= 2 * kBf16BlockK &&
         5 * (K - kBf16BlockK) >= 2 * K;
}

// p cut by depth (bf16_by_depth), then the sum and the epilogue by rows of C, each thread the rows of C that an
// even cut of C's elements gives it (as depth below: the SGD update's own cut, so an update rides on it).
void bf16_depth(const Problem& p) {
  thread_local LineVector<float> second_block;           // (M, N): the second K block's sums
  second_block.resize(static_cast<size_t>(p.M * p.N));
  float* const second = second_block.data();
#pragma omp parallel num_threads(2)
  {
    const int id = omp_get_thread_num(), nt = omp_get_num_threads();
    for (int part = id; part < 2; part += nt) {
      Problem q = p;
      q.ep = Epilogue{};
      if (part == 0) {
        q.K = kBf16BlockK;
      } else {
        q.K = p.K - kBf16BlockK;
        q.a.data += kBf16BlockK * p.a.cs;
        q.b.data += kBf16BlockK * p.b.rs;
        if (q.b.pairs) q.b.pairs += kBf16BlockK / 2 * kOuter512NR;
        q.c = second, q.ldc = p.N;
      }
      outer_block_bf16(q, {0, p.M, 0, p.N});
    }
#pragma omp barrier
    const int64_t chunk = ceil_div(p.M, nt), i0 = std::min(p.M, id * chunk), i1 = std::min(p.M, i0 + chunk);
    for (int64_t i = i0; i < i1; ++i) sum_copies_row(p.c, p.ldc, second, 1, p.M, p.N, p.ep, i);
  }
}

void amx(const Problem& p, int T, Split split) {
  const Problem q = with_b_paired(p, T, split, 32);
  share(q, T, split, 32, 32, [&](int64_t i0, int64_t i1, int64_t j0, int64_t j1) {
    outer_block_amx(q, {i0, i1, j0, j1});
    p.ep.done(p.c, p.ldc, i0, i1, j0, j1);
  });
}

void scalar(const Problem& p, int T, Split split) {
  share(p, T, split, 1, 1, [&](int64_t i0, int64_t i1, int64_t j0, int64_t j1) {
    block_scalar(p, {i0, i1, j0, j1});
    p.ep.done(p.c, p.ldc, i0, i1, j0, j1);
  });
}

std::atomic<Isa> g_default{Isa::kAuto};   // kAuto here: not set, the widest
std::atomic<Format> g_format{Format::kFloat32};
std::atomic<Bf16Kernel> g_bf16_kernel{Bf16Kernel::kAuto};

struct ShapeHash {
  size_t operator()(const Shape& s) const {
    size_t h = std::hash<int64_t>()(s.M);
    for (int64_t v : {s.N, s.K, static_cast<int64_t>(s.a), static_cast<int64_t>(s.b)}) h = h * 1000003u ^ std::hash<int64_t>()(v);
    return h;
  }
};
using PlanTable = std::unordered_map<Shape, Plan, ShapeHash>;

// The tuned plans, replaced whole by set_tuned_plans (the tuner does so at every turn of its races).
// Shared ownership: a product that is reading the old table keeps it alive until it is done.
std::shared_ptr<const PlanTable> g_tuned;   // read and written with std::atomic_load / atomic_store only
std::atomic<bool> g_tuned_on{true};

// Rows of a packed A block (k_block floats each) that fill half of L2, a multiple of mr.
int64_t outer_row_block(int64_t mr, int64_t k_block, const Caches& c) {
  return std::max<int64_t>(mr, c.l2 / 2 / (k_block * 4) / mr * mr);
}

// "48K" (sysfs) -> 49152; 0 where unreadable.
int64_t parse_size(const std::string& text) {
  char unit = 0;
  long long value = 0;
  if (std::sscanf(text.c_str(), "%lld%c", &value, &unit) < 1 || value <= 0) return 0;
  return value * (unit == 'K' ? 1024 : unit == 'M' ? 1024 * 1024 : 1);
}

// The size of cpu0's cache at `level` holding data (type Data or Unified), 0 where sysfs does not say.
int64_t sysfs_cache(int level) {
  for (int index = 0; index < 8; ++index) {
    const std::string dir = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(index) + "/";
    std::ifstream level_file(dir + "level"), type_file(dir + "type"), size_file(dir + "size");
    int l = 0;
    std::string type, size;
    if (!(level_file >> l) || !(type_file >> type) || !(size_file >> size)) continue;
    if (l == level && (type == "Data" || type == "Unified")) return parse_size(size);
  }
  return 0;
}

Caches read_caches() {
  Caches c{sysfs_cache(1), sysfs_cache(2)};
  if (const char* kb = std::getenv("MINITORCH_CLF_CACHE_KB")) {
    long long l1 = 0, l2 = 0;
    if (std::sscanf(kb, "%lld,%lld", &l1, &l2) == 2 && l1 > 0 && l2 > 0) c = {l1 * 1024, l2 * 1024};
  }
  if (c.l1d <= 0) c.l1d = 32 << 10;
  if (c.l2 <= 0) c.l2 = 512 << 10;
  return c;
}

}  // namespace

Caches caches() {
  static const Caches c = read_caches();
  return c;
}

Blocking outer_blocking(int64_t mr, int64_t nr, const Caches& c) {
  const int64_t k_block = std::max<int64_t>(16, c.l1d / 2 / (nr * 4) / 8 * 8);
  return {k_block, outer_row_block(mr, k_block, c)};
}

int64_t dot_row_block(int64_t mr, int64_t k, const Caches& c) {
  return std::max<int64_t>(mr, c.l2 / 2 / (std::max<int64_t>(k, 1) * 4) / mr * mr);
}

bool cpu_has_avx2_fma() {
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return has;
}

bool cpu_has_avx512f() {
  static const bool has = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") && cpu_has_avx2_fma();
  return has;
}

bool cpu_has_avx512bf16() {
  static const bool has = cpu_has_avx512f() && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512bf16");
  return has;
}

bool cpu_has_amx_bf16() {
  static const bool has = [] {
    unsigned eax, ebx, ecx, edx;
    if (!cpu_has_avx512bf16() || !__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return false;
    if (!((edx >> 22) & 1) || !((edx >> 24) & 1)) return false;      // CPUID.7.0:EDX AMX-BF16, AMX-TILE
#ifdef __linux__
    // Linux leaves the tile data (8 KiB of state per thread) off until the process asks for it; a tile
    // instruction before that is SIGILL. ARCH_REQ_XCOMP_PERM for XFEATURE_XTILEDATA, once per process.
    constexpr long kReqXcompPerm = 0x1023, kXtiledata = 18;
    return syscall(SYS_arch_prctl, kReqXcompPerm, kXtiledata) == 0;
#else
    return false;
#endif
  }();
  return has;
}

Bf16Kernel set_bf16_kernel(Bf16Kernel k) { return g_bf16_kernel.exchange(k, std::memory_order_relaxed); }

bool cpu_runs(Bf16Kernel k) {
  if (k == Bf16Kernel::kAmx) return cpu_has_amx_bf16();
  if (k == Bf16Kernel::kDpbf16) return cpu_has_avx512bf16();
  return true;
}

Bf16Kernel bf16_kernel() {
  // cpu_has_amx_bf16 asks Linux for the tile state: a tile instruction without it is SIGILL, so the
  // AMX kernel runs only after that answer, whoever set the kernel (the op refuses one the CPU lacks).
  const Bf16Kernel k = g_bf16_kernel.load(std::memory_order_relaxed);
  if (k != Bf16Kernel::kAuto && cpu_runs(k)) return k;
  for (const Bf16Kernel first : kBf16Kernels)
    if (cpu_runs(first)) return first;
  return Bf16Kernel::kFma;
}

namespace {

// v's bits rounded to the nearest bf16 value, ties to even, kept as float32: functional.round_to's bits
// (NaN kept; subnormals rounded like any value, where the bf16 instructions read them as zero).
// Branch-free, so the copy loops below vectorise.
inline uint32_t round_bf16_bits(uint32_t u) {
  const uint32_t rounded = (u + 0x7FFFu + ((u >> 16) & 1u)) & 0xFFFF0000u;
  return (u & 0x7FFFFFFFu) > 0x7F800000u ? u : rounded;
}

// The (rows, cols) view v rounded to bf16 into out, in v's own layout (contiguous along the same
// index, so the float32 kernel's plan for the shape is the one it would have run): the view of out.
View rounded_copy(const View& v, int64_t rows, int64_t cols, float* out) {
  const bool by_columns = v.rs == 1 && v.cs != 1;
  const int64_t lines = by_columns ? cols : rows, len = by_columns ? rows : cols;
  const int64_t line_stride = by_columns ? v.cs : v.rs, step = by_columns ? v.rs : v.cs;
  const int T = lines * len >= (1 << 16) && !omp_in_parallel() ? omp_get_max_threads() : 1;
#pragma omp parallel for num_threads(T) schedule(static)
  for (int64_t l = 0; l < lines; ++l) {
    const uint32_t* src = reinterpret_cast<const uint32_t*>(v.data + l * line_stride);
    uint32_t* dst = reinterpret_cast<uint32_t*>(out + l * len);
    if (step == 1) {
      for (int64_t e = 0; e < len; ++e) dst[e] = round_bf16_bits(src[e]);
    } else {
      for (int64_t e = 0; e < len; ++e) dst[e] = round_bf16_bits(src[e * step]);
    }
  }
  return by_columns ? View{out, 1, rows} : View{out, cols, 1};
}

// bf16 products on the float32 kernels: both operands rounded into copies first (the calling thread's
// buffers, kept between calls: fresh ones cost a page fault per 4 KiB, more than the rounding).
void bf16_on_fma(int64_t M, int64_t N, int64_t K, View a, View b, float* c, int64_t ldc, const Epilogue& ep) {
  thread_local LineVector<float> ra, rb;
  ra.resize(static_cast<size_t>(M * K));
  rb.resize(static_cast<size_t>(K * N));
  const View ar = rounded_copy(a, M, K, ra.data()), br = rounded_copy(b, K, N, rb.data());
  sgemm_planned(M, N, K, ar, br, c, ldc, ep, plan_for({M, N, K, layout_of(ar), layout_of(br)}, Isa::kAuto));
}

}  // namespace

Format default_format() { return g_format.load(std::memory_order_relaxed); }

Format set_default_format(Format f) { return g_format.exchange(f, std::memory_order_relaxed); }

bool bf16_on_pairs() {
  const Bf16Kernel k = bf16_kernel();
  return default_format() == Format::kBf16 && (k == Bf16Kernel::kAmx || k == Bf16Kernel::kDpbf16);
}

bool pairs_pay(int64_t rows, int64_t cols) {
  return bf16_on_pairs() && rows >= kPairsMinRows && rows * cols * 4 > kPairsMinBytes;
}

View Bf16Pairs::as_a(const float* x, int64_t rows, int64_t cols, int64_t ld) {
  x_ = x, ld_ = ld, filled_ = false;
  // Columns to 32 (whole panels), pairs to a multiple of 16 (an AMX tile's rows, pairs_b_ld); the pairs past the
  // rows are zero, and the packing writes the columns past cols as zero.
  const int64_t row_pairs = (rows + 1) / 2;
  pairs_ld_ = pairs_b_ld(rows), padded_cols_ = ceil_div(cols, kOuter512NR) * kOuter512NR;
  pairs_.resize(static_cast<size_t>(padded_cols_ / kOuter512NR * pairs_ld_));
  for (int64_t panel = 0; panel < padded_cols_ / kOuter512NR; ++panel)
    std::memset(pairs_.data() + panel * pairs_ld_ + row_pairs * kOuter512NR, 0,
                sizeof(uint32_t) * (pairs_ld_ - row_pairs * kOuter512NR));
  View v{x, ld, 1};
  v.fill = this;
  return v;
}

View Bf16Pairs::as_b() const {
  View v{x_, ld_, 1};
  if (filled_) v.pairs = pairs_.data(), v.pairs_ld = pairs_ld_;
  return v;
}

Isa widest_isa() { return cpu_has_avx512f() ? Isa::kAvx512 : cpu_has_avx2_fma() ? Isa::kAvx2 : Isa::kScalar; }

Isa default_isa() {
  const Isa isa = g_default.load(std::memory_order_relaxed);
  return isa == Isa::kAuto ? widest_isa() : isa;
}

Isa set_default_isa(Isa isa) { return g_default.exchange(isa, std::memory_order_relaxed); }

void block_scalar(const Problem& p, const Block& blk) {
  for (int64_t i = blk.i0; i < blk.i1; ++i) {
    for (int64_t j = blk.j0; j < blk.j1; ++j) {
      float sum = 0.0f;
      for (int64_t k = 0; k < p.K; ++k) sum += p.a.data[i * p.a.rs + k * p.a.cs] * p.b.data[k * p.b.rs + j * p.b.cs];
      p.c[i * p.ldc + j] = finish(sum, p.ep, i, j);
    }
  }
}

Plan derived_plan(const Shape& s, Isa isa) {
  if (isa == Isa::kAuto) isa = default_isa();
  const double flops = 2.0 * s.M * s.N * s.K;
  const double a = 4.0 * s.M * s.K, b = 4.0 * s.K * s.N, c = 4.0 * s.M * s.N;     // bytes
  const int most = omp_get_max_threads();
  const int64_t largest = std::max({s.M * s.K, s.K * s.N, s.M * s.N});   // elements
  const int by_flops = static_cast<int>(std::clamp<double>(flops / kMinFlopsPerThread, 1.0, most));
  const int by_passes = pass_threads(largest, most);
  const int threads = std::max(by_flops, by_passes);
  Plan plan{isa, Kernel::kOuter, 0, threads, c > caches().l1d && c > b ? Split::kRowsFirst : Split::kColumnsFirst};
  if (isa == Isa::kScalar) return plan;   // the reference: one order of summation for every layout
  // K in two ranges where K indexes the stored rows of both operands (A read by columns, B by rows: the
  // batch in dW = dzᵀ·h), C fits L1 (its copy and the sum cost little), A and B are each larger than C, and
  // the flops are worth two threads. Two ranges whatever the process's threads: the same bits on any.
  if (s.a == Layout::kColumns && s.b == Layout::kRows && c <= caches().l1d && a > c && b > c &&
      flops >= 2 * kMinFlopsPerThread) {
    plan.threads = 2;
    plan.split = Split::kDepth;
  }
  const bool wide = isa == Isa::kAvx512;
  if (s.a == Layout::kRows && s.b == Layout::kColumns && s.K >= kDotMinK && (!wide || s.M < kDot512MaxM)) {
    plan.kernel = Kernel::kDot;
  }
  plan.k_block = wide ? outer_blocking(kOuter512MR, kOuter512NR, caches()).k_block
                      : outer_blocking(kOuterMR, kOuterNR, caches()).k_block;
  return plan;
}

const char* plan_error(const Shape& s, const Plan& plan) {
  if (plan.isa == Isa::kAuto) return "isa: a plan names its instruction set (avx512, avx2 or scalar)";
  if (plan.isa == Isa::kAvx512 && !cpu_has_avx512f()) return "isa avx512: this CPU has no AVX-512F/VL";
  if (plan.isa == Isa::kAvx2 && !cpu_has_avx2_fma()) return "isa avx2: this CPU has no AVX2/FMA";
  if (plan.threads < 1) return "threads: expected at least 1";
  if (plan.isa == Isa::kScalar) return nullptr;
  if (plan.kernel == Kernel::kDot && !(s.a == Layout::kRows && s.b == Layout::kColumns))
    return "kernel dot: needs A's rows and B's columns contiguous (a.cs == 1, b.rs == 1)";
  if (plan.kernel == Kernel::kOuter && plan.k_block < 8) return "k_block: expected at least 8";
  return nullptr;
}

void set_tuned_plans(const std::vector<std::pair<Shape, Plan>>& plans) {
  std::shared_ptr<const PlanTable> table;
  if (!plans.empty()) table = std::make_shared<const PlanTable>(plans.begin(), plans.end());
  std::atomic_store(&g_tuned, std::move(table));
}

bool set_tuned_plans_on(bool on) { return g_tuned_on.exchange(on); }

Plan plan_for(const Shape& s, Isa isa, bool* tuned) {
  if (tuned) *tuned = false;
  if (isa == Isa::kAuto && g_default.load(std::memory_order_relaxed) == Isa::kAuto &&
      g_tuned_on.load(std::memory_order_relaxed)) {
    if (const std::shared_ptr<const PlanTable> table = std::atomic_load(&g_tuned)) {
      const auto it = table->find(s);
      if (it != table->end()) {
        if (tuned) *tuned = true;
        return it->second;
      }
    }
  }
  return derived_plan(s, isa);
}

Cut cut_of(const Shape& s) {
  const Plan plan = plan_for(s, Isa::kAuto);
  const int T = std::max(1, std::min(plan.threads, omp_in_parallel() ? 1 : omp_get_max_threads()));
  if (T == 1) return {1, true};
  if (default_format() == Format::kBf16) return {T, s.M > s.N || bf16_by_depth(s.K, T)};   // sgemm's bf16 cut
  return {T, plan.split != Split::kColumnsFirst};
}

namespace {

// A kDepth plan: K in plan.threads ranges, range t summed into C (t = 0) or into the calling thread's copy t
// (each on one thread, by the plan's kernel), then C = C + copy 1 + copy 2 ... element by element in that
// order, and the epilogue. T threads run the ranges and then the sum, by rows of C.
void depth(int64_t M, int64_t N, int64_t K, View a, View b, float* c, int64_t ldc, const Epilogue& ep,
           const Plan& plan, int T) {
  const int parts = plan.threads;
  thread_local LineVector<float> copies;   // parts - 1 copies of C, (M, N) each
  copies.resize(static_cast<size_t>((parts - 1) * M * N));
  float* const copy = copies.data();
  Plan one = plan;
  one.threads = 1;
  one.split = Split::kColumnsFirst;
#pragma omp parallel for num_threads(T) schedule(static)
  for (int t = 0; t < parts; ++t) {
    const int64_t k0 = K * t / parts, k1 = K * (t + 1) / parts;
    const View at{a.data + k0 * a.cs, a.rs, a.cs}, bt{b.data + k0 * b.rs, b.rs, b.cs};
    if (t == 0) sgemm_planned(M, N, k1 - k0, at, bt, c, ldc, {}, one);
    else sgemm_planned(M, N, k1 - k0, at, bt, copy + (t - 1) * M * N, N, {}, one);
  }
#pragma omp parallel for num_threads(T) schedule(static)
  for (int64_t i = 0; i < M; ++i) sum_copies_row(c, ldc, copy, parts - 1, M, N, ep, i);
}

}  // namespace

void sgemm_planned(int64_t M, int64_t N, int64_t K, View a, View b, float* c, int64_t ldc, const Epilogue& ep,
                   const Plan& plan) {
  if (M <= 0 || N <= 0) return;
  Problem p{M, N, K, a, b, c, ldc, ep};
  const int T = std::max(1, std::min(plan.threads, omp_in_parallel() ? 1 : omp_get_max_threads()));
  if (plan.split == Split::kDepth && plan.threads > 1) return depth(M, N, K, a, b, c, ldc, ep, plan, T);
  if (plan.isa == Isa::kScalar || K == 0) return scalar(p, T, plan.split);
  const bool wide = plan.isa == Isa::kAvx512;
  if (plan.kernel == Kernel::kDot) return wide ? dot512(p, T, plan.split) : dot(p, T, plan.split);
  p.k_block = plan.k_block;
  p.row_block = outer_row_block(wide ? kOuter512MR : kOuterMR, plan.k_block, caches());
  wide ? outer512(p, T, plan.split) : outer(p, T, plan.split);
}

void sgemm(int64_t M, int64_t N, int64_t K, View a, View b, float* c, int64_t ldc, const Epilogue& ep, Isa isa) {
  if (M <= 0 || N <= 0) return;
  const Plan plan = plan_for({M, N, K, layout_of(a), layout_of(b)}, isa);
  if (isa == Isa::kAuto && default_format() == Format::kBf16 && K > 0) {   // its own kernel, the plan's threads
    // Every thread packs (converts, pairs) the operand it shares whole: cut C along the larger one's side,
    // so each thread packs its own part of it and all of the smaller one.
    const int T = std::max(1, std::min(plan.threads, omp_in_parallel() ? 1 : omp_get_max_threads()));
    const Split split = M > N ? Split::kRowsFirst : Split::kColumnsFirst;
    const Bf16Kernel kernel = bf16_kernel();
    if (kernel == Bf16Kernel::kFma) return bf16_on_fma(M, N, K, a, b, c, ldc, ep);
    if (kernel == Bf16Kernel::kAmx) amx({M, N, K, a, b, c, ldc, ep}, T, split);
    else if (!a.fill && bf16_by_depth(K, T)) bf16_depth({M, N, K, a, b, c, ldc, ep});
    else bf16({M, N, K, a, b, c, ldc, ep}, T, split);
    if (a.fill) a.fill->mark_filled();   // every row packed as A, once: its pairs as B are all written
    return;
  }
  sgemm_planned(M, N, K, a, b, c, ldc, ep, plan);
}

}  // namespace minitorch_clf::gemm
