"""The cost of the call alone: an empty op with mlp_sgd_step_'s schema through torch.ops (with and without the
below-autograd guard the fused engine held in Python), the same empty function through pybind11 taking the same
lists, and a pybind11 object that holds the lists (its method takes x, y and lr). Each timed 7 x 2,000 calls (median
per call); with an argument KB, that many KB of other memory are written between two calls.
    python call_probe.py [KB]"""
import time, statistics, torch, sys
from torch.utils.cpp_extension import load_inline
src = r'''
#include <torch/extension.h>
#include <torch/library.h>
at::Tensor noop_op(const at::Tensor& x, const at::Tensor& t, at::TensorList w, at::TensorList b, at::TensorList m,
    c10::string_view act, double lr, double mom, double damp, double wd, bool nest, bool maxi) {
  return at::empty({}, x.options());
}
TORCH_LIBRARY(probe, m) {
  m.def("noop(Tensor x, Tensor target, Tensor(a!)[] weights, Tensor(b!)[] biases, Tensor(c!)[] bufs, str act, float lr, float momentum, float dampening, float weight_decay, bool nesterov, bool maximize) -> Tensor");
}
TORCH_LIBRARY_IMPL(probe, CPU, m) { m.impl("noop", &noop_op); }
at::Tensor noop_py(const at::Tensor& x, const at::Tensor& t, std::vector<at::Tensor> w, std::vector<at::Tensor> b,
    std::vector<at::Tensor> m, std::string act, double lr, double mom, double damp, double wd, bool nest, bool maxi) {
  return at::empty({}, x.options());
}
struct Bound {
  std::vector<at::Tensor> w, b, m;
  Bound(std::vector<at::Tensor> w, std::vector<at::Tensor> b, std::vector<at::Tensor> m): w(w), b(b), m(m) {}
  at::Tensor step(const at::Tensor& x, const at::Tensor& t, double lr) { return at::empty({}, x.options()); }
};
PYBIND11_MODULE(TORCH_EXTENSION_NAME, mod) {
  mod.def("noop_py", &noop_py);
  pybind11::class_<Bound>(mod, "Bound").def(pybind11::init<std::vector<at::Tensor>, std::vector<at::Tensor>, std::vector<at::Tensor>>())
     .def("step", &Bound::step);
}
'''
ext = load_inline("callprobe", cpp_sources=[src], extra_cflags=["-O2"], verbose=False)
x = torch.rand(64, 784); y = torch.randint(0, 10, (64,))
W = [torch.rand(128, 784), torch.rand(64, 128), torch.rand(10, 64)]
B = [torch.rand(128), torch.rand(64), torch.rand(10)]
M = [torch.rand_like(w) for w in W] + [torch.rand_like(b) for b in B]
op = torch.ops.probe.noop
bound = ext.Bound(W, B, M)
big = torch.rand(int(sys.argv[1]) * 256) if len(sys.argv) > 1 else None   # KB to touch between calls
def thrash():
    if big is not None: big.add_(1.0)
def t(f, n=2000):
    r = []
    for _ in range(7):
        tot = 0
        for _ in range(n):
            thrash()
            t0 = time.perf_counter_ns(); f(); tot += time.perf_counter_ns() - t0
        r.append(tot / n / 1e3)
    return f"{statistics.median(r):.2f} us (min {min(r):.2f})"
def via_op():
    with torch._C._AutoDispatchBelowAutograd():
        return op(x, y, W, B, M, "relu", 0.01, 0.9, 0.0, 0.0, False, False)
print("KB", sys.argv[1] if len(sys.argv) > 1 else 0, "torch.ops noop:", t(via_op))
print("torch.ops noop, no guard:", t(lambda: op(x, y, W, B, M, "relu", 0.01, 0.9, 0.0, 0.0, False, False)))
print("pybind noop, lists:", t(lambda: ext.noop_py(x, y, W, B, M, "relu", 0.01, 0.9, 0.0, 0.0, False, False)))
print("pybind bound.step:", t(lambda: bound.step(x, y, 0.01)))
print("empty python fn:", t(lambda: None))
