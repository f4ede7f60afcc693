// What a cache line costs to cross between the cores that OpenMP's threads 0 and 1 run on: thread 0 writes 1 into
// a line and spins until it reads 0 back, thread 1 spins until it reads 1 and writes 0, `handoffs` times; the time
// per round trip in ns, the median of `runs` such runs. Two cores that share an L3 hand a line over in tens of ns;
// two that do not (two CCDs of an AMD EPYC, two sockets) take several times as long, and so does every line that one
// thread of a product writes and the other reads. A virtual machine's vCPUs can move between such cores while it
// runs: on the 2-core Zen 4 VM of benchmarks/RESULTS.md (thirty-first session) the round trip read 50-70 or 310-390
// ns for tens of seconds at a time, and the bf16 step at batch 1024 ran 1.5x slower in the second placement.
// A run stops after 20 ms (the time then divides by the hand-offs made; the clock is read every 16): where the two
// threads share a core, each hand-off waits for the other to be scheduled. NaN where OpenMP gives fewer than two
// threads.
#include <ATen/ATen.h>
#include <omp.h>
#include <torch/library.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <limits>
#include <vector>

namespace minitorch_clf {
namespace {

constexpr double kRunNs = 20e6;    // a run's time budget
constexpr int kStop = 2;           // the line's value that ends a run

double core_round_trip_ns(int64_t handoffs, int64_t runs) {
  TORCH_CHECK(handoffs >= 1 && handoffs <= (int64_t{1} << 30), "handoffs: expected 1 to 2^30, got ", handoffs);
  TORCH_CHECK(runs >= 1 && runs <= 1000, "runs: expected 1 to 1000, got ", runs);
  alignas(64) std::atomic<int> line{0};
  std::vector<double> ns(static_cast<size_t>(runs));
  bool two = false;
#pragma omp parallel num_threads(2)
  {
    if (omp_get_num_threads() == 2) {           // the same for every thread of the team
      const bool first = omp_get_thread_num() == 0;
      if (first) two = true;
      for (int64_t r = 0; r < runs; ++r) {
#pragma omp barrier
        if (first) {
          line.store(0, std::memory_order_relaxed);
        }
#pragma omp barrier
        if (first) {
          const auto t0 = std::chrono::steady_clock::now();
          int64_t done = 0;
          double elapsed = 0;
          while (done < handoffs) {
            line.store(1, std::memory_order_release);
            while (line.load(std::memory_order_acquire) != 0) {
            }
            ++done;
            if (done % 16 == 0 || done == handoffs) {     // a clock read costs about a near round trip
              elapsed = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
              if (elapsed > kRunNs) break;
            }
          }
          line.store(kStop, std::memory_order_release);
          ns[static_cast<size_t>(r)] = elapsed / static_cast<double>(done);
        } else {
          for (;;) {
            int v;
            while ((v = line.load(std::memory_order_acquire)) == 0) {
            }
            if (v == kStop) break;
            line.store(0, std::memory_order_release);
          }
        }
      }
    }
  }
  if (!two) return std::numeric_limits<double>::quiet_NaN();
  std::nth_element(ns.begin(), ns.begin() + runs / 2, ns.end());
  return ns[static_cast<size_t>(runs / 2)];
}

}  // namespace

TORCH_LIBRARY_IMPL(minitorch_clf, CompositeExplicitAutograd, m) {   // no tensor argument: every device
  m.impl("core_round_trip_ns", &core_round_trip_ns);
}

}  // namespace minitorch_clf
