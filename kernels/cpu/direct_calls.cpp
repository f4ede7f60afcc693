// The fused engine's CPU step called from Python without the dispatcher: `minitorch_clf_cpu.sgd_step` and
// `adam_step` (pybind11) run the very functions the ops mlp_sgd_step_ and mlp_adam_step_ register (train_step.cpp),
// with the same arguments and checks, so the same bits. `mlp_products`, `own_mm` and `own_mm_plan` do the same for
// the ops of those names (gemm_op.cpp), so that every row of bench --gemm calls the GEMM written here as the fused
// engine calls its step, as torch.mm and numpy.matmul are called through their own bindings. What goes away is
// the torch.ops call around them: Python's arguments matched against the schema and boxed (eleven tensors in three
// lists, a string, six scalars), the dispatcher's keys, and the Python guard that keeps the call below autograd. On
// the 2-core Xeon of 2026-12-06 an empty op of mlp_sgd_step_'s schema took 4.3-5.1 us from Python (5.9-7.0 us with 2
// MB written between calls), the same empty function through pybind11 1.3 us (1.9-2.1 us); the step itself took
// 0.74-0.82x the op's time at batch 1 and 0.90-0.95x at 64, in one process (benchmarks/RESULTS.md, seventeenth
// session).
//
// What the dispatcher gave that these calls do themselves:
//   - below autograd: the parameters are leaves that require grad, and the step writes them in place;
//   - the profiler's scope, under the op's name ("minitorch_clf::mlp_sgd_step_"), so a trace reads as before;
//   - errors as torch.ops raises them: c10's ValueError, TypeError, IndexError as Python's, the rest RuntimeError,
//     the message without the C++ backtrace;
//   - the GIL released while the step runs.
// The ops stay what torch.compile, fake tensors and CUDA see; these calls are the CPU engine's step only, and refuse a
// tensor on any other device.
#include <ATen/ATen.h>
#include <ATen/core/LegacyTypeDispatch.h>
#include <ATen/record_function.h>
#include <torch/csrc/Exceptions.h>
#include <torch/csrc/utils/pybind.h>

#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "cpu_ops.h"

namespace minitorch_clf {
namespace {

using Tensors = std::vector<at::Tensor>;

// The named tensor arguments of a call, lists or single tensors.
using Arguments = std::initializer_list<std::pair<const char*, at::TensorList>>;

// Runs one op's CPU kernel as the dispatcher would have: every tensor of `arguments` checked to be on the CPU (else a
// ValueError naming its argument), then below autograd, in the op's profiler scope, without the GIL; c10's errors
// raised as torch.ops raises them.
template <typename Kernel>
auto as_the_op(const char* op, Arguments arguments, const Kernel& kernel) {
  HANDLE_TH_ERRORS
  for (const auto& [name, tensors] : arguments)
    for (const at::Tensor& t : tensors)
      TORCH_CHECK_VALUE(!t.defined() || t.device().is_cpu(), name,
                        ": expected a CPU tensor (this is the CPU step), got ", t.device());
  pybind11::gil_scoped_release no_gil;
  at::AutoDispatchBelowAutograd below_autograd;
  RECORD_FUNCTION(op, c10::ArrayRef<const c10::IValue>{});
  return kernel();
  END_HANDLE_TH_ERRORS_PYBIND
}

at::Tensor sgd_step(const at::Tensor& x, const at::Tensor& target, const Tensors& weights, const Tensors& biases,
                    const Tensors& momentum_buffers, const std::string& activation, double lr, double momentum,
                    double dampening, double weight_decay, bool nesterov, bool maximize) {
  return as_the_op("minitorch_clf::mlp_sgd_step_",
                   {{"x", x}, {"target", target}, {"weights", weights}, {"biases", biases},
                    {"momentum_buffers", momentum_buffers}},
                   [&] {
                     return mlp_sgd_step_cpu(x, target, weights, biases, momentum_buffers, activation, lr, momentum,
                                             dampening, weight_decay, nesterov, maximize);
                   });
}

at::Tensor adam_step(const at::Tensor& x, const at::Tensor& target, const Tensors& weights, const Tensors& biases,
                     const Tensors& steps, const Tensors& exp_avgs, const Tensors& exp_avg_sqs,
                     const Tensors& max_exp_avg_sqs, const std::string& activation, double lr, double beta1,
                     double beta2, double eps, double weight_decay, bool decoupled, bool amsgrad, bool maximize) {
  return as_the_op("minitorch_clf::mlp_adam_step_",
                   {{"x", x}, {"target", target}, {"weights", weights}, {"biases", biases}, {"steps", steps},
                    {"exp_avgs", exp_avgs}, {"exp_avg_sqs", exp_avg_sqs}, {"max_exp_avg_sqs", max_exp_avg_sqs}},
                   [&] {
                     return mlp_adam_step_cpu(x, target, weights, biases, steps, exp_avgs, exp_avg_sqs,
                                              max_exp_avg_sqs, activation, lr, beta1, beta2, eps, weight_decay,
                                              decoupled, amsgrad, maximize);
                   });
}

at::Tensor own_mm(const at::Tensor& a, const at::Tensor& b, const std::string& isa) {
  return as_the_op("minitorch_clf::own_mm", {{"a", a}, {"b", b}}, [&] { return own_mm_cpu(a, b, isa); });
}

at::Tensor own_mm_plan(const at::Tensor& a, const at::Tensor& b, const std::vector<int64_t>& plan) {
  return as_the_op("minitorch_clf::own_mm_plan", {{"a", a}, {"b", b}}, [&] { return own_mm_plan_cpu(a, b, plan); });
}

Tensors products(const Tensors& acts, const Tensors& weights, const Tensors& dzs, const std::string& gemm) {
  return as_the_op("minitorch_clf::mlp_products", {{"acts", acts}, {"weights", weights}, {"dzs", dzs}},
                   [&] { return mlp_products(acts, weights, dzs, gemm); });
}

}  // namespace
}  // namespace minitorch_clf

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "The fused engine's CPU step without the dispatcher (kernels/cpu/direct_calls.cpp).";
  namespace py = pybind11;
  m.def("sgd_step", &minitorch_clf::sgd_step, "mlp_sgd_step_'s CPU kernel, called directly", py::arg("x"),
        py::arg("target"), py::arg("weights"), py::arg("biases"), py::arg("momentum_buffers"), py::arg("activation"),
        py::arg("lr"), py::arg("momentum"), py::arg("dampening"), py::arg("weight_decay"), py::arg("nesterov"),
        py::arg("maximize"));
  m.def("adam_step", &minitorch_clf::adam_step, "mlp_adam_step_'s CPU kernel, called directly", py::arg("x"),
        py::arg("target"), py::arg("weights"), py::arg("biases"), py::arg("steps"), py::arg("exp_avgs"),
        py::arg("exp_avg_sqs"), py::arg("max_exp_avg_sqs"), py::arg("activation"), py::arg("lr"), py::arg("beta1"),
        py::arg("beta2"), py::arg("eps"), py::arg("weight_decay"), py::arg("decoupled"), py::arg("amsgrad"),
        py::arg("maximize"));
  m.def("own_mm", &minitorch_clf::own_mm, "own_mm's CPU kernel, called directly", py::arg("a"), py::arg("b"),
        py::arg("isa") = "auto");
  m.def("own_mm_plan", &minitorch_clf::own_mm_plan, "own_mm_plan's CPU kernel, called directly", py::arg("a"),
        py::arg("b"), py::arg("plan"));
  m.def("mlp_products", &minitorch_clf::products, "mlp_products' CPU kernel, called directly", py::arg("acts"),
        py::arg("weights"), py::arg("dzs"), py::arg("gemm"));
}
