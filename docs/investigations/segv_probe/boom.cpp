// The smallest extension that raises: the same bad call several ways, to tell which part of raising
// an error from an extension op kills the process (see segv_probe.sh).
//   boom_check    TORCH_CHECK with a number in the message (c10::Error's constructor also fetches a
//                 C++ backtrace first)
//   boom_nowalk   c10::Error built without a backtrace, the same message
//   boom_std      std::runtime_error with a fixed message (no number formatted, no c10)
//   quiet_fetcher replaces torch's stack-trace fetcher with one returning "" (process-wide)
// call_case.py builds it twice: as cpp_extension links by default, and with ops.runtime_link_flags().
#include <ATen/ATen.h>
#include <c10/util/Logging.h>
#include <torch/library.h>

#include <stdexcept>

at::Tensor boom_check(const at::Tensor& x) {
  TORCH_CHECK(x.dim() == 5, "boom_check: expected 5 dims, got ", x.dim());
  return x;
}
at::Tensor boom_nowalk(const at::Tensor& x) {
  if (x.dim() != 5) throw c10::Error(c10::str("boom_nowalk: expected 5 dims, got ", x.dim()));
  return x;
}
at::Tensor boom_std(const at::Tensor& x) {
  if (x.dim() != 5) throw std::runtime_error("boom_std: expected 5 dims");
  return x;
}
void quiet_fetcher() {
  c10::SetStackTraceFetcher([]() -> std::string { return ""; });
}

TORCH_LIBRARY(segv_mini, m) {
  m.def("boom_check(Tensor x) -> Tensor");
  m.def("boom_nowalk(Tensor x) -> Tensor");
  m.def("boom_std(Tensor x) -> Tensor");
  m.def("quiet_fetcher() -> ()");
}
TORCH_LIBRARY_IMPL(segv_mini, CPU, m) {
  m.impl("boom_check", &boom_check);
  m.impl("boom_nowalk", &boom_nowalk);
  m.impl("boom_std", &boom_std);
}
TORCH_LIBRARY_IMPL(segv_mini, CatchAll, m) { m.impl("quiet_fetcher", &quiet_fetcher); }
