// A std::vector whose storage starts on a 64-byte cache line: the GEMM's packing buffers and the pairs of
// Bf16Pairs. operator new aligns to 16 bytes only, and glibc puts a large block 16 bytes past a page
// boundary, so a packed row (an AMX tile row of 64 bytes, or 32 floats of a B panel) began 16 bytes into
// a line and each 64-byte load of it read two lines. An AMX tile loop alone in L1 ran 2.2-2.6x slower
// so placed; on the 2-core Xeon (2026-12-06, fifteenth session, benchmarks/RESULTS.md) aligning the buffers
// made the AMX kernel's fc1 products about 1.5x faster and fc1's float32 forward 5-7% faster.
#pragma once
#include <cstddef>
#include <new>
#include <vector>

namespace minitorch_clf::gemm {

constexpr std::size_t kLineBytes = 64;

template <class T>
struct LineAllocator {
  using value_type = T;
  LineAllocator() = default;
  template <class U>
  LineAllocator(const LineAllocator<U>&) {}
  T* allocate(std::size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t{kLineBytes})); }
  void deallocate(T* p, std::size_t) { ::operator delete(p, std::align_val_t{kLineBytes}); }
  template <class U>
  bool operator==(const LineAllocator<U>&) const { return true; }
  template <class U>
  bool operator!=(const LineAllocator<U>&) const { return false; }
};

template <class T>
using LineVector = std::vector<T, LineAllocator<T>>;

}  // namespace minitorch_clf::gemm
