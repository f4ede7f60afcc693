// The eight products of a SimpleNet training step (784-128-64-10) at one batch size, through
// gemm::sgemm on every thread, as the fused step lays them out: y = x·Wᵀ (Wᵀ read through W's
// strides), dW = dzᵀ·x (dzᵀ likewise), dx = dz·W. Each is first checked against the scalar kernel
// (dev_check.h), then timed alone and all eight back to back, best of 7 rounds. No torch: what the
// GEMM does without an op call, an output allocation and Python around it (`bench --gemm` times it
// with those). Build and run from the repository root (batch, then an ISA: avx512, avx2 or auto, then
// optionally a bf16 kernel: amx, avx512bf16 or fma - the products in bf16, each checked against the
// scalar kernel on the operands rounded to bf16):
//
//   make -C kernels/dev && kernels/dev/build/gemm_step 64 auto       (kernels/dev/Makefile has the flags)
//   kernels/dev/build/gemm_step 1024 auto amx
//
// Every operand starts on a 64-byte line, as torch's allocator places it: from std::vector's 16-byte
// alignment half of the 64-byte AVX-512 loads straddle two lines (RESULTS.md, "The measurements behind the
// code's comments"). On AMX each layer's input is also paired by its forward for its dW (Bf16Pairs), as
// the fused step does, and checked for the same bits. Exit status 1 if a product fails its check, 2 for
// bad arguments (or a bf16 kernel this CPU lacks).
#include <omp.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "dev_check.h"
#include "gemm.h"

using namespace minitorch_clf::gemm;

namespace {

struct Product {
  std::string name;
  long M, N, K;
  View a, b;
};

// n floats rounded to the nearest bf16, ties to even (functional.round_to's bits; NaN kept).
void round_bf16(const float* in, float* out, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    uint32_t u;
    std::memcpy(&u, in + i, 4);
    if ((u & 0x7FFFFFFFu) <= 0x7F800000u) u = (u + 0x7FFFu + ((u >> 16) & 1u)) & 0xFFFF0000u;
    std::memcpy(out + i, &u, 4);
  }
}

// AMX: each layer's input x paired as B by its forward (products[k]; gemm.h's Bf16Pairs) for its dW
// (products[3 + k]), as the fused step does where that pays (gemm.h's pairs_pay): both products must give
// the bits of packing x per call. Then the two timed with the pairing against packed per call (x hot in
// cache here, where the step reads it from L2 or L3). Returns the number of products that differ.
int check_pairs(const std::vector<Product>& products, float* c, float* expected, int calls) {
  int failed = 0;
  for (int k = 0; k < 3; ++k) {
    const Product& y = products[k];
    const Product& dw = products[3 + k];
    Bf16Pairs pairs;
    sgemm(y.M, y.N, y.K, y.a, y.b, expected, y.N);
    sgemm(y.M, y.N, y.K, pairs.as_a(y.a.data, y.M, y.K, y.a.rs), y.b, c, y.N);
    bool same = std::memcmp(c, expected, sizeof(float) * y.M * y.N) == 0;
    sgemm(dw.M, dw.N, dw.K, dw.a, dw.b, expected, dw.N);
    sgemm(dw.M, dw.N, dw.K, dw.a, pairs.as_b(), c, dw.N);
    same = same && std::memcmp(c, expected, sizeof(float) * dw.M * dw.N) == 0;
    if (!same) ++failed;
    const double packed = dev::best_seconds([&] {
      for (int i = 0; i < calls; ++i) {
        sgemm(y.M, y.N, y.K, y.a, y.b, c, y.N);
        sgemm(dw.M, dw.N, dw.K, dw.a, dw.b, c, dw.N);
      }
    }) / calls;
    const double once = dev::best_seconds([&] {
      for (int i = 0; i < calls; ++i) {
        sgemm(y.M, y.N, y.K, pairs.as_a(y.a.data, y.M, y.K, y.a.rs), y.b, c, y.N);
        sgemm(dw.M, dw.N, dw.K, dw.a, pairs.as_b(), c, dw.N);
      }
    }) / calls;
    std::printf("fc%d x paired once   %s  y and dW %9.2f us, packed per call %9.2f us\n", k + 1,
                same ? "the same bits as packed per call" : "FAILED: bits differ from packed per call", once * 1e6,
                packed * 1e6);
  }
  return failed;
}

}  // namespace

int main(int argc, char** argv) {
  const long batch = argc > 1 ? std::atol(argv[1]) : 64;
  const std::string isa_name = argc > 2 ? argv[2] : "auto", bf16_name = argc > 3 ? argv[3] : "";
  if (batch < 1 || (isa_name != "auto" && isa_name != "avx512" && isa_name != "avx2") ||
      (!bf16_name.empty() && bf16_name != "amx" && bf16_name != "avx512bf16" && bf16_name != "fma")) {
    std::fprintf(stderr, "usage: gemm_step BATCH [auto|avx512|avx2 [amx|avx512bf16|fma]]\n");
    return 2;
  }
  const bool bf16 = !bf16_name.empty();
  const Bf16Kernel kernel = bf16_name == "amx" ? Bf16Kernel::kAmx : bf16_name == "avx512bf16" ? Bf16Kernel::kDpbf16
                                                                                            : Bf16Kernel::kFma;
  if (bf16 && !cpu_runs(kernel)) {
    std::fprintf(stderr, "this CPU cannot run the bf16 kernel %s\n", bf16_name.c_str());
    return 2;
  }
  const Isa named = isa_name == "avx512" ? Isa::kAvx512 : isa_name == "avx2" ? Isa::kAvx2 : Isa::kAuto;
  if ((named == Isa::kAvx512 && !cpu_has_avx512f()) || (named == Isa::kAvx2 && !cpu_has_avx2_fma())) {
    std::fprintf(stderr, "this CPU cannot run %s\n", isa_name.c_str());
    return 2;
  }
  // bf16 products run where sgemm is asked for no ISA; the named one is then the process default (what
  // the fma kernel's float32 products run on)
  const Isa isa = bf16 ? Isa::kAuto : named;
  if (bf16) set_default_isa(named);
  const long in[] = {784, 128, 64}, out[] = {128, 64, 10};
  std::mt19937 gen(7);
  std::uniform_real_distribution<float> uniform(-1, 1);
  std::vector<LineVector<float>> store;     // each operand on a 64-byte line (line_vector.h)
  auto filled = [&](size_t n) {
    store.emplace_back(n);
    for (float& v : store.back()) v = uniform(gen);
    return store.back().data();
  };
  std::vector<Product> products;
  std::vector<float*> x, w, dz;        // layer k: input (B, I), weight (O, I), output gradient (B, O)
  for (int k = 0; k < 3; ++k) {
    x.push_back(filled(batch * in[k]));
    w.push_back(filled(out[k] * in[k]));
    dz.push_back(filled(batch * out[k]));
  }
  for (int k = 0; k < 3; ++k)
    products.push_back({"fc" + std::to_string(k + 1) + " y = x W^T", batch, out[k], in[k], {x[k], in[k], 1}, {w[k], 1, in[k]}});
  for (int k = 0; k < 3; ++k)
    products.push_back({"fc" + std::to_string(k + 1) + " dW = dz^T x", out[k], in[k], batch, {dz[k], 1, out[k]}, {x[k], in[k], 1}});
  for (int k = 1; k < 3; ++k)
    products.push_back({"fc" + std::to_string(k + 1) + " dx = dz W", batch, in[k], out[k], {dz[k], out[k], 1}, {w[k], in[k], 1}});

  const size_t largest = static_cast<size_t>(std::max(batch, 128L)) * 784;     // fc1's dW, or a y/dx
  LineVector<float> c(largest), r(largest), ra(largest), rb(largest);
  const int calls = batch >= 512 ? 100 : 1000;     // per timed round
  std::printf("batch %ld, isa %s, %d threads%s%s\n", batch, isa_name.c_str(), omp_get_max_threads(),
              bf16 ? ", bf16 products on " : "", bf16_name.c_str());
  if (bf16) {
    set_default_format(Format::kBf16);            // what sgemm's auto ISA runs from now on
    set_bf16_kernel(kernel);
  }
  double flops_all = 0;
  int failed = 0;
  for (const Product& p : products) {
    sgemm(p.M, p.N, p.K, p.a, p.b, c.data(), p.N, {}, isa);
    // bf16: the scalar kernel on the rounded operands (each a dense (rows, cols) copy in its own strides)
    View a = p.a, b = p.b;
    if (bf16) {
      const size_t na = static_cast<size_t>((p.M - 1) * p.a.rs + (p.K - 1) * p.a.cs + 1);
      const size_t nb = static_cast<size_t>((p.K - 1) * p.b.rs + (p.N - 1) * p.b.cs + 1);
      round_bf16(p.a.data, ra.data(), na);
      round_bf16(p.b.data, rb.data(), nb);
      a = {ra.data(), p.a.rs, p.a.cs}, b = {rb.data(), p.b.rs, p.b.cs};
    }
    sgemm(p.M, p.N, p.K, a, b, r.data(), p.N, {}, Isa::kScalar);
    const double err = dev::worst_error(p.M, p.N, p.K, a, b, c.data(), r.data());
    if (!(err < 1.0)) {
      std::printf("%-16s FAILED its check (error %.2f of the bound)\n", p.name.c_str(), err);
      ++failed;
      continue;
    }
    const double s = dev::best_seconds([&] {
      for (int i = 0; i < calls; ++i) sgemm(p.M, p.N, p.K, p.a, p.b, c.data(), p.N, {}, isa);
    }) / calls;
    const double flops = 2.0 * p.M * p.N * p.K;
    flops_all += flops;
    std::printf("%-16s %5ld x %-4ld K %-5ld checked (%.2f of the bound) %9.2f us %7.1f GFLOP/s\n", p.name.c_str(), p.M,
                p.N, p.K, err, s * 1e6, flops / s / 1e9);
  }
  if (failed) return 1;
  const double s = dev::best_seconds([&] {
    for (int i = 0; i < calls; ++i)
      for (const Product& p : products) sgemm(p.M, p.N, p.K, p.a, p.b, c.data(), p.N, {}, isa);
  }) / calls;
  std::printf("all eight back to back %9.2f us %7.1f GFLOP/s\n", s * 1e6, flops_all / s / 1e9);
  if (bf16 && kernel == Bf16Kernel::kAmx) failed = check_pairs(products, c.data(), r.data(), calls);
  return failed ? 1 : 0;
}
