"""`compiled-reference`: the seed's loop with its module wrapped in `torch.compile`.

Forward and backward of the module go through TorchDynamo/Inductor (the backward via AOTAutograd);
the loss and `torch.optim` step stay eager, as a user who adds one `torch.compile` line gets.
`compile_mode` is torch.compile's `mode` ("default", "reduce-overhead" = CUDA graphs on a GPU,
"max-autotune"). The first steps compile (seconds); benchmarks time them apart from the step.
"""
from __future__ import annotations

import torch

from .reference import ReferenceEngine
from ..errors import expect_one_of

COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


def checked_compile_mode(mode: str) -> str:
    expect_one_of("compile_mode", mode, COMPILE_MODES)
    return mode


class CompiledReferenceEngine(ReferenceEngine):
    name = "compiled-reference"
    inspectable = False

    def __init__(self, *args, compile_mode: str = "default", **kw):
        super().__init__(*args, **kw)
        self.compile_mode = checked_compile_mode(compile_mode)
        # self.model stays the plain module, so state_dict keys are the seed's (no "_orig_mod.")
        self.forward_module = torch.compile(self.model, mode=compile_mode)
