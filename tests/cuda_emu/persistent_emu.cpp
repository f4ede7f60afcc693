// kernels/cuda/persistent_step.cu's epoch kernel run on the CPU through the stand-in cuda_runtime.h beside
// this file: tests/test_cuda_emulation.py writes a problem into a folder, runs this program on it and holds
// what it writes against the CPU op mlp_sgd_epoch_. The kernel's setup is the CUDA binding's
// (kernels/cuda/bindings.cpp: one_kernel_step and mlp_sgd_epoch_cuda), without torch.
//   persistent_emu DIR      reads DIR/meta.txt and the .bin arrays, writes DIR/losses.bin, counts.bin and the
//                           *.out.bin arrays (the parameters and buffers after)
// meta.txt: mode (epoch: the epoch kernel over order; step: the step kernel on x's rows, order unread) L n k
// batch drop_last activation lr momentum dampening weight_decay nesterov maximize blocks threads, then the
// L + 1 layer sizes. Arrays: x (n, sizes[0]) float32, target (n,) and order (k,) int64, w<l>, b<l> and, with
// momentum, wb<l>, bb<l> float32. Exit status 1 on a missing or short file or a bad meta.txt.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "persistent_step.cu"

using namespace minitorch_clf;

namespace {

template <typename T>
std::vector<T> read(const std::string& path, size_t count) {
  std::vector<T> out(count);
  std::ifstream in(path, std::ios::binary);
  if (!in.read(reinterpret_cast<char*>(out.data()), static_cast<std::streamsize>(count * sizeof(T)))) {
    std::cerr << "persistent_emu: cannot read " << count << " values from " << path << "\n";
    std::exit(1);
  }
  return out;
}

template <typename T>
void write(const std::string& path, const std::vector<T>& v) {
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(v.data()),
                                               static_cast<std::streamsize>(v.size() * sizeof(T)));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: persistent_emu DIR\n";
    return 2;
  }
  const std::string dir = argv[1];
  std::ifstream meta(dir + "/meta.txt");
  std::string mode;
  int L, drop_last, nesterov, maximize;
  int64_t n, k, batch;
  std::string act_name;
  double lr, momentum, dampening, weight_decay;
  unsigned blocks, threads;
  if (!(meta >> mode >> L >> n >> k >> batch >> drop_last >> act_name >> lr >> momentum >> dampening >> weight_decay >>
        nesterov >> maximize >> blocks >> threads) || (mode != "epoch" && mode != "step") || L < 1 ||
      L > cuda::kMaxLayers || threads % 32 != 0) {
    std::cerr << "persistent_emu: bad meta.txt\n";
    return 1;
  }
  std::vector<int64_t> sizes(L + 1);
  for (auto& s : sizes) meta >> s;
  int a = 0;
  while (a < kActivations && act_name != kActivationNames[a]) ++a;
  if (!meta || a == kActivations) {
    std::cerr << "persistent_emu: bad meta.txt\n";
    return 1;
  }
  const Activation act = static_cast<Activation>(a);
  auto x = read<float>(dir + "/x.bin", n * sizes[0]);
  auto target = read<int64_t>(dir + "/target.bin", n);
  const bool one_step = mode == "step";
  if (one_step) k = batch = n, drop_last = 0;      // one batch: x's rows in order
  auto order = one_step ? std::vector<int64_t>() : read<int64_t>(dir + "/order.bin", k);
  std::vector<std::vector<float>> w(L), b(L), wb(L), bb(L), out(L), pre(L), dz(L), dw(L), db(L);
  const int64_t steps = drop_last ? k / batch : (k + batch - 1) / batch, N = std::min(batch, k);
  cuda::PersistentStep step{};
  step.layers = L;
  step.N = N;
  step.x = x.data();
  step.sizes[0] = sizes[0];
  for (int l = 0; l < L; ++l) {
    const int64_t I = sizes[l], O = sizes[l + 1];
    const std::string s = std::to_string(l);
    w[l] = read<float>(dir + "/w" + s + ".bin", O * I);
    b[l] = read<float>(dir + "/b" + s + ".bin", O);
    if (momentum != 0) {
      wb[l] = read<float>(dir + "/wb" + s + ".bin", O * I);
      bb[l] = read<float>(dir + "/bb" + s + ".bin", O);
    }
    out[l].assign(N * O, 0.f), pre[l].assign(N * O, 0.f), dz[l].assign(N * O, 0.f);
    dw[l].assign(O * I, 0.f), db[l].assign(O, 0.f);
    step.sizes[l + 1] = O;
    step.weight[l] = w[l].data(), step.bias[l] = b[l].data();
    step.weight_buf[l] = momentum != 0 ? wb[l].data() : nullptr;
    step.bias_buf[l] = momentum != 0 ? bb[l].data() : nullptr;
    step.out[l] = out[l].data(), step.pre[l] = reads_pre(act) && l + 1 < L ? pre[l].data() : nullptr;
    step.dz[l] = dz[l].data(), step.dweight[l] = dw[l].data(), step.dbias[l] = db[l].data();
  }
  std::vector<float> row_loss(N), losses(steps);
  std::vector<int> counts(2);
  std::vector<int64_t> y(k);                       // the targets in epoch order, as the binding gathers them
  for (int64_t r = 0; r < k; ++r) y[r] = target[one_step ? r : order[r]];
  step.row_loss = row_loss.data();
  step.counts = counts.data();
  step.ignore_index = -100;
  step.h = {lr, momentum, dampening, weight_decay, nesterov != 0, maximize != 0, false};
  const cuda::EpochOrder epoch{order.data(), y.data(), k, batch, steps, losses.data()};
  with_activation(act, [&](auto A) {
    constexpr Activation kAct = decltype(A)::value;
    if (one_step)
      cuda_emu::launch(blocks, threads, cuda::persistent_step_kernel<kAct>, step,
                       cuda::Batch{N, nullptr, y.data(), losses.data()});
    else if (steps > 0)
      cuda_emu::launch(blocks, threads, cuda::persistent_epoch_kernel<kAct>, step, epoch);
  });
  write(dir + "/losses.bin", losses);
  write(dir + "/counts.bin", counts);
  for (int l = 0; l < L; ++l) {
    const std::string s = std::to_string(l);
    write(dir + "/w" + s + ".out.bin", w[l]);
    write(dir + "/b" + s + ".out.bin", b[l]);
    if (momentum != 0) {
      write(dir + "/wb" + s + ".out.bin", wb[l]);
      write(dir + "/bb" + s + ".out.bin", bb[l]);
    }
  }
  return 0;
}
