// The grid barrier of cooperative_groups for the CPU stand-in of cuda_runtime.h beside it.
#pragma once
#include "cuda_runtime.h"

namespace cooperative_groups {

struct grid_group {
  void sync() const { cuda_emu::grid.all->arrive_and_wait(); }
};
inline grid_group this_grid() { return {}; }

}  // namespace cooperative_groups
