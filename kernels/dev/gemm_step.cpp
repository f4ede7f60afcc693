// The eight products of a SimpleNet training step (784-128-64-10) at one batch size, through
// gemm::sgemm on every thread, as the fused step lays them out: y = x·Wᵀ (Wᵀ read through W's
// strides), dW = dzᵀ·x (dzᵀ likewise), dx = dz·W. Each is first checked against the scalar kernel
// (dev_check.h), then timed alone and all eight back to back, best of 7 rounds. No torch: what the
// GEMM does without an op call, an output allocation and Python around it (`bench --gemm` times it
// with those). Build and run from the repository root (batch, then an ISA: avx512, avx2 or auto):
//
//   make -C kernels/dev && kernels/dev/build/gemm_step 64 auto       (kernels/dev/Makefile has the flags)
//
// Every operand starts on a 64-byte line, as torch's allocator places it: from std::vector's 16-byte
// alignment half of the 64-byte AVX-512 loads straddle two lines (RESULTS.md, "The measurements behind the
// code's comments"). Exit status 1 if a product fails its check, 2 for bad arguments.
#include <omp.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "dev_check.h"
#include "gemm.h"

using namespace minitorch_clf::gemm;

namespace {

struct Aligned {             // n floats on a 64-byte boundary, owned
  explicit Aligned(size_t n) : p(static_cast<float*>(std::aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64))) {}
  Aligned(const Aligned&) = delete;
  Aligned& operator=(const Aligned&) = delete;
  ~Aligned() { std::free(p); }
  float* p;
};

struct Product {
  std::string name;
  long M, N, K;
  View a, b;
};

}  // namespace

int main(int argc, char** argv) {
  const long batch = argc > 1 ? std::atol(argv[1]) : 64;
  const std::string isa_name = argc > 2 ? argv[2] : "auto";
  if (batch < 1 || (isa_name != "auto" && isa_name != "avx512" && isa_name != "avx2")) {
    std::fprintf(stderr, "usage: gemm_step BATCH [auto|avx512|avx2]\n");
    return 2;
  }
  const Isa isa = isa_name == "avx512" ? Isa::kAvx512 : isa_name == "avx2" ? Isa::kAvx2 : Isa::kAuto;
  if ((isa == Isa::kAvx512 && !cpu_has_avx512f()) || (isa == Isa::kAvx2 && !cpu_has_avx2_fma())) {
    std::fprintf(stderr, "this CPU cannot run %s\n", isa_name.c_str());
    return 2;
  }
  const long in[] = {784, 128, 64}, out[] = {128, 64, 10};
  std::mt19937 gen(7);
  std::uniform_real_distribution<float> uniform(-1, 1);
  std::vector<std::unique_ptr<Aligned>> store;
  auto filled = [&](size_t n) {
    store.push_back(std::make_unique<Aligned>(n));
    for (size_t i = 0; i < n; ++i) store.back()->p[i] = uniform(gen);
    return store.back()->p;
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
  Aligned c(largest), r(largest);
  const int calls = batch >= 512 ? 100 : 1000;     // per timed round
  std::printf("batch %ld, isa %s, %d threads\n", batch, isa_name.c_str(), omp_get_max_threads());
  double flops_all = 0;
  int failed = 0;
  for (const Product& p : products) {
    sgemm(p.M, p.N, p.K, p.a, p.b, c.p, p.N, {}, isa);
    sgemm(p.M, p.N, p.K, p.a, p.b, r.p, p.N, {}, Isa::kScalar);
    const double err = dev::worst_error(p.M, p.N, p.K, p.a, p.b, c.p, r.p);
    if (!(err < 1.0)) {
      std::printf("%-16s FAILED its check (error %.2f of the bound)\n", p.name.c_str(), err);
      ++failed;
      continue;
    }
    const double s = dev::best_seconds([&] {
      for (int i = 0; i < calls; ++i) sgemm(p.M, p.N, p.K, p.a, p.b, c.p, p.N, {}, isa);
    }) / calls;
    const double flops = 2.0 * p.M * p.N * p.K;
    flops_all += flops;
    std::printf("%-16s %5ld x %-4ld K %-5ld checked (%.2f of the bound) %9.2f us %7.1f GFLOP/s\n", p.name.c_str(), p.M,
                p.N, p.K, err, s * 1e6, flops / s / 1e9);
  }
  if (failed) return 1;
  const double s = dev::best_seconds([&] {
    for (int i = 0; i < calls; ++i)
      for (const Product& p : products) sgemm(p.M, p.N, p.K, p.a, p.b, c.p, p.N, {}, isa);
  }) / calls;
  std::printf("all eight back to back %9.2f us %7.1f GFLOP/s\n", s * 1e6, flops_all / s / 1e9);
  return 0;
}
