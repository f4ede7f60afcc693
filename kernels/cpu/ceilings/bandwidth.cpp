// The memory bandwidth this CPU reaches, measured with two of STREAM's kernels (float32):
//   triad  a[i] = b[i] + s * c[i]   12 bytes per element (read b, read c, write a)
//   copy   a[i] = b[i]               8 bytes per element
// `bytes` is the footprint of the three arrays over all threads (the copy uses two of them): each
// OpenMP thread allocates and first-touches its own slice of each (so the pages sit near its core),
// then times passes over them. Sized under a cache level (say half of L1d per thread), the passes run
// from that cache; sized far over the last-level cache, from DRAM. The bytes are counted as STREAM
// counts them; the stores are ordinary ones, so the hardware also reads each line of `a` before
// writing it (write-allocate) - traffic STREAM does not count, and neither do we.
//
// Every sample is one barrier, then enough passes to move >= 32 MB per thread (thousands of passes
// from L1, one from DRAM), timed by the thread itself; a thread's rate is its best sample, and the
// threads' rates add. The widest vectors the CPU has are used (AVX-512, AVX2, else plain C++).
#include <ATen/ATen.h>
#include <immintrin.h>
#include <omp.h>
#include <torch/library.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>

#include "../gemm/gemm.h"

namespace minitorch_clf {
namespace {

constexpr int64_t kAlign = 64;       // floats per slice rounded to 64 (every vector width divides it)

// One pass over n floats (n a multiple of 64, pointers 64-byte aligned). noipa: each call is a real
// pass; the compiler may not see that the pass repeats itself and drop all but one.
__attribute__((target("avx512f"), noipa)) void triad_avx512(float* a, const float* b, const float* c, float s,
                                                             int64_t n) {
  const __m512 vs = _mm512_set1_ps(s);
  for (int64_t i = 0; i < n; i += 16)
    _mm512_store_ps(a + i, _mm512_fmadd_ps(vs, _mm512_load_ps(c + i), _mm512_load_ps(b + i)));
}

__attribute__((target("avx2,fma"), noipa)) void triad_avx2(float* a, const float* b, const float* c, float s,
                                                           int64_t n) {
  const __m256 vs = _mm256_set1_ps(s);
  for (int64_t i = 0; i < n; i += 8)
    _mm256_store_ps(a + i, _mm256_fmadd_ps(vs, _mm256_load_ps(c + i), _mm256_load_ps(b + i)));
}

__attribute__((noipa)) void triad_plain(float* a, const float* b, const float* c, float s, int64_t n) {
  for (int64_t i = 0; i < n; ++i) a[i] = b[i] + s * c[i];
}

__attribute__((target("avx512f"), noipa)) void copy_avx512(float* a, const float* b, const float*, float, int64_t n) {
  for (int64_t i = 0; i < n; i += 16) _mm512_store_ps(a + i, _mm512_load_ps(b + i));
}

__attribute__((target("avx2"), noipa)) void copy_avx2(float* a, const float* b, const float*, float, int64_t n) {
  for (int64_t i = 0; i < n; i += 8) _mm256_store_ps(a + i, _mm256_load_ps(b + i));
}

__attribute__((noipa)) void copy_plain(float* a, const float* b, const float*, float, int64_t n) {
  for (int64_t i = 0; i < n; ++i) a[i] = b[i];
}

using Pass = void (*)(float*, const float*, const float*, float, int64_t);

struct FreeDeleter {
  void operator()(float* p) const { std::free(p); }
};

double stream_gbps(c10::string_view kernel, int64_t bytes, int64_t threads, int64_t samples) {
  TORCH_CHECK(kernel == "triad" || kernel == "copy", "kernel: expected 'triad' or 'copy', got '", std::string(kernel), "'");
  TORCH_CHECK(threads >= 1 && threads <= omp_get_num_procs(), "threads: expected 1 to ", omp_get_num_procs(),
              " (this machine's logical CPUs), got ", threads);
  TORCH_CHECK(samples >= 1, "samples: expected >= 1, got ", samples);
  const int64_t per_thread = bytes / (3 * 4 * threads);
  TORCH_CHECK(per_thread >= kAlign, "bytes: expected at least ", 3 * 4 * kAlign * threads, " (64 floats per array per thread), got ",
              bytes);
  TORCH_CHECK(bytes <= (int64_t{64} << 30), "bytes: expected at most 64 GiB, got ", bytes);
  const int64_t n = per_thread / kAlign * kAlign;
  const bool triad = kernel == "triad";
  const double counted = triad ? 12.0 : 8.0;                       // bytes per element, as STREAM counts
  const int64_t passes = std::max<int64_t>(1, (int64_t{32} << 20) / (12 * n));
  const bool wide = gemm::cpu_has_avx512f(), narrow = gemm::cpu_has_avx2_fma();
  const Pass pass = triad ? (wide ? triad_avx512 : narrow ? triad_avx2 : triad_plain)
                          : (wide ? copy_avx512 : narrow ? copy_avx2 : copy_plain);
  double total = 0;
  bool allocated = true;
#pragma omp parallel num_threads(static_cast<int>(threads)) reduction(+ : total)
  {
    const size_t size = static_cast<size_t>(n) * sizeof(float);
    std::unique_ptr<float, FreeDeleter> a(static_cast<float*>(std::aligned_alloc(64, size))),
        b(static_cast<float*>(std::aligned_alloc(64, size))), c(static_cast<float*>(std::aligned_alloc(64, size)));
    if (!a || !b || !c) {
#pragma omp atomic write
      allocated = false;
    } else {
      std::fill_n(a.get(), n, 0.f);     // first touch: this thread's pages
      std::fill_n(b.get(), n, 1.f);
      std::fill_n(c.get(), n, 2.f);
    }
#pragma omp barrier
    if (allocated) {
      double best = 1e30;
      pass(a.get(), b.get(), c.get(), 0.5f, n);   // warm-up: caches and TLB
      for (int64_t s = 0; s < samples; ++s) {
#pragma omp barrier
        const auto t0 = std::chrono::steady_clock::now();
        for (int64_t p = 0; p < passes; ++p) pass(a.get(), b.get(), c.get(), 0.5f, n);
        best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      }
      total += counted * static_cast<double>(n) * static_cast<double>(passes) / best / 1e9;
    }
  }
  TORCH_CHECK(allocated, "bytes: could not allocate ", bytes, " bytes for the probe's arrays");
  return total;
}

}  // namespace

TORCH_LIBRARY_IMPL(minitorch_clf, CompositeExplicitAutograd, m) {   // no tensor argument: every device
  m.impl("stream_gbps", &stream_gbps);
}

}  // namespace minitorch_clf
