// The two cores of this VM talking through memory: a cache line bounced between a thread pinned to each (round
// trip and one way), then 64 KB written by the other core and read here, against the same read again from this
// core's own cache.   g++ -O2 -std=c++17 pingpong.cpp -o pingpong -lpthread && ./pingpong
#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>
#include <pthread.h>
#include <vector>
#include <cstdlib>
#include <cstring>
alignas(64) std::atomic<long> flag{0};
static void pin(int cpu) { cpu_set_t s; CPU_ZERO(&s); CPU_SET(cpu, &s); pthread_setaffinity_np(pthread_self(), sizeof(s), &s); }
int main() {
  const long n = 2000000;
  std::thread t([&] { pin(1); for (long i = 0; i < n; ++i) { while (flag.load(std::memory_order_acquire) != 2 * i + 1) {} flag.store(2 * i + 2, std::memory_order_release); } });
  pin(0);
  auto t0 = std::chrono::steady_clock::now();
  for (long i = 0; i < n; ++i) { flag.store(2 * i + 1, std::memory_order_release); while (flag.load(std::memory_order_acquire) != 2 * i + 2) {} }
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  t.join();
  std::printf("round trip %.0f ns, one way %.0f ns\n", s / n * 1e9, s / n / 2 * 1e9);
  // bulk transfer: thread 1 writes 64 KB, thread 0 reads it (sum), timed on thread 0
  const size_t bytes = 1 << 16; std::vector<char> buf(bytes + 64); char* b = buf.data() + (64 - (uintptr_t)buf.data() % 64);
  std::atomic<int> phase{0};
  double best_remote = 1e9, best_local = 1e9;
  std::thread w([&] { pin(1); for (int r = 0; r < 200; ++r) { while (phase.load() != 2 * r + 1) {} memset(b, r, bytes); phase.store(2 * r + 2); } });
  for (int r = 0; r < 200; ++r) {
    phase.store(2 * r + 1); while (phase.load() != 2 * r + 2) {}
    auto a = std::chrono::steady_clock::now(); long sum = 0; for (size_t i = 0; i < bytes; i += 64) sum += b[i];
    double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - a).count();
    best_remote = std::min(best_remote, us);
    a = std::chrono::steady_clock::now(); for (size_t i = 0; i < bytes; i += 64) sum += b[i];
    us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - a).count();
    best_local = std::min(best_local, us);
    if (sum == 7) std::printf("x");
  }
  w.join();
  std::printf("64 KB written by the other core, read here: %.1f us (%.0f ns a line); again, local: %.1f us\n", best_remote, best_remote * 1000 / (bytes / 64), best_local);
}
