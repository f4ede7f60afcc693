"""Puts the phase clock into kernels/cpu/train_step.cpp (for the measurement only; the build before this session's
change and after it both take it): the time stamp counter at the boundaries of the SGD step's phases, and with
PHASE_CLOCK=1 the medians of the first 20,000 steps of the op mlp_sgd_step_ on stderr (TSC_GHZ, default 2.6: this
VM's counter). `git checkout kernels/cpu/train_step.cpp` takes it out.
    python apply_phase_clock.py [REPO]"""
import re, sys
from pathlib import Path

path = Path(sys.argv[1] if len(sys.argv) > 1 else ".") / "kernels/cpu/train_step.cpp"
s = path.read_text()


def sub(old, new, regex=False):
    global s
    if regex:
        s, n = re.subn(old, new, s, count=1, flags=re.S)
    else:
        n = s.count(old)
        s = s.replace(old, new, 1)
    assert n >= 1, f"not found: {old[:80]}"


sub('namespace minitorch_clf {\nnamespace {\n', '''namespace minitorch_clf {
namespace {
// The phase clock (session16/apply_phase_clock.py): the time stamp counter at the step's phase boundaries.
struct PhaseClock {
  static constexpr int kSpans = 12;
  unsigned long long t[8] = {};
  std::vector<double> h[kSpans];
  size_t steps = 0;
  void mark(int i) { t[i] = __rdtsc(); }
  void span(int i, unsigned long long a, unsigned long long b) { h[i].push_back(double(b - a)); }
  void report(const char* const* names) {
    if (++steps != 20000 || !std::getenv("PHASE_CLOCK")) return;
    const double ghz = std::getenv("TSC_GHZ") ? std::atof(std::getenv("TSC_GHZ")) : 2.6;
    for (int i = 0; i < kSpans; ++i) {
      std::vector<double> v = h[i];
      std::sort(v.begin(), v.end());
      if (!v.empty()) std::fprintf(stderr, "phase %-26s median %7.2f us\\n", names[i], v[v.size() / 2] / ghz / 1000);
    }
  }
};
PhaseClock& phase_clock() { static PhaseClock c; return c; }
''')
sub('#include <vector>\n\n#include "../common/validate.h"',
    '#include <vector>\n#include <cstdio>\n#include <cstdlib>\n#include <x86intrin.h>\n\n#include "../common/validate.h"')
sub(r'(  const auto inner = \[&\] \{[^\n]*\n)    for \(size_t k = 1; k < L; \+\+k\) forward\(k\);\n(    \{\n      RECORD_FUNCTION\("step: cross-entropy"[^\n]*\n[^\n]*\n    \}\n)    for \(size_t k = L; k-- > 1;\) backward\(k, /\*need_dx=\*/true\);\n',
    r'''\1    PhaseClock& pc = phase_clock();
    unsigned long long a = __rdtsc(), b;
    for (size_t k = 1; k < L; ++k) forward(k);
    b = __rdtsc(); pc.span(3, a, b); a = b;
\2    b = __rdtsc(); pc.span(4, a, b); a = b;
    for (size_t k = L; k-- > 1;) backward(k, /*need_dx=*/true);
    b = __rdtsc(); pc.span(5, a, b);
''', regex=True)
sub('  forward(0);\n  if (by_rows(', '  phase_clock().mark(1);\n  forward(0);\n  phase_clock().mark(2);\n  if (by_rows(')
sub('''  run_beside(inner, side && inner_layers_on_one_thread(x, weights) ? side : nullptr);
  backward(0, /*need_dx=*/true);
  return {loss, grads};''', '''  run_beside(inner, side && inner_layers_on_one_thread(x, weights) ? side : nullptr);
  phase_clock().mark(3);
  backward(0, /*need_dx=*/true);
  phase_clock().mark(4);
  return {loss, grads};''')
sub('''bool nesterov, bool maximize, Side* side) {
  const Activation act = parse_activation(activation);''', '''bool nesterov, bool maximize, Side* side) {
  phase_clock().mark(0);
  const Activation act = parse_activation(activation);''')
sub('''  const auto [loss, grads] = loss_and_grads(x, target, weights, biases, act, &outer, side, &updates);
  RECORD_FUNCTION("step: sgd update"''', '''  const auto [loss, grads] = loss_and_grads(x, target, weights, biases, act, &outer, side, &updates);
  phase_clock().mark(5);
  RECORD_FUNCTION("step: sgd update"''')
sub(r'(                           lr, momentum, dampening, weight_decay, nesterov, maximize, /\*first_step=\*/false\);\n    \}\n  \}\n)  return loss;\n\}',
    r'\1  phase_clock().mark(6);\n  return loss;\n}', regex=True)
sub('''  return sgd_step(x, target, weights, biases, momentum_buffers, activation, lr, momentum, dampening, weight_decay,
                  nesterov, maximize, nullptr);
}''', '''  PhaseClock& pc = phase_clock();
  const unsigned long long previous_end = pc.t[7];
  at::Tensor loss = sgd_step(x, target, weights, biases, momentum_buffers, activation, lr, momentum, dampening,
                             weight_decay, nesterov, maximize, nullptr);
  pc.mark(7);
  const int spans[][3] = {{0, 0, 1}, {1, 1, 2}, {2, 2, 3}, {6, 3, 4}, {7, 4, 5}, {8, 5, 6}, {9, 6, 7}, {11, 0, 7}};
  for (const auto& s : spans) pc.span(s[0], pc.t[s[1]], pc.t[s[2]]);
  if (previous_end) pc.span(10, previous_end, pc.t[0]);
  static const char* names[] = {"setup", "fc1 forward", "layers after the first", "  their forwards",
                                "  cross-entropy", "  their backwards", "fc1 backward", "locals freed (1)",
                                "update pass", "locals freed (2)", "between op calls", "the op, in C++"};
  pc.report(names);
  return loss;
}''')
path.write_text(s)
print("phase clock in", path)
