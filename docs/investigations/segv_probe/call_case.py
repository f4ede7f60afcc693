"""One error case in this process: prints 'RAISED <type>: <first line>' or 'NO EXCEPTION'; a crash
shows as the signal in the parent (segv_probe.sh). Usage: python call_case.py CASE  (env CUDA_FIRST=1:
initialise CUDA first; PROBE_OUT: where boom.cpp is built)."""
import os
import sys

import torch

case = sys.argv[1]
if os.environ.get("CUDA_FIRST") == "1" and torch.cuda.is_available():
    torch.zeros(1, device="cuda")


def boom_library(linked: bool = False):
    """boom.cpp as cpp_extension links it by default, or (linked) with this project's runtime_link_flags."""
    from torch.utils import cpp_extension

    kit = os.path.dirname(os.path.abspath(__file__))
    name = "segv_boom_linked" if linked else "segv_boom"
    build = os.path.join(os.environ["PROBE_OUT"], name)
    os.makedirs(build, exist_ok=True)
    flags = []
    if linked:
        sys.path.insert(0, os.getcwd())
        from minitorch_clf.ops import runtime_link_flags

        flags = runtime_link_flags()
    cpp_extension.load(name=name, sources=[os.path.join(kit, "boom.cpp")], build_directory=build,
                       is_python_module=False, extra_ldflags=flags)
    print(f"{name}: {os.path.join(build, name + '.so')} linked with {flags or 'the defaults'}")
    return torch.ops.segv_mini


bad = torch.rand(2)
if case == "build":                                   # build boom.cpp (both ways) before the cases run in parallel
    boom_library(linked=sys.argv[2:] == ["linked"]); sys.exit(0)
elif case == "aten":                                  # ATen's own check, through torch.mm
    call = lambda: torch.mm(torch.rand(2, 3), torch.rand(4, 5))
elif case == "aten_ops":                              # ATen's own check, through the torch.ops path
    call = lambda: torch.ops.aten.mm.default(torch.rand(2, 3), torch.rand(4, 5))
elif case in ("boom_check", "boom_nowalk", "boom_std"):
    op = getattr(boom_library(), case)
    call = lambda: op(bad)
elif case == "boom_linked":                           # boom_check, built with ops.runtime_link_flags()
    op = boom_library(linked=True).boom_check
    call = lambda: op(bad)
elif case == "boom_fetcher":
    lib = boom_library()
    lib.quiet_fetcher()
    call = lambda: lib.boom_check(bad)
else:
    sys.path.insert(0, os.getcwd())
    from minitorch_clf import ops

    ops.load()
    if case == "linear":                              # this project's CPU op, a shape check
        call = lambda: ops.linear_forward(torch.rand(4, 6), torch.rand(3, 5), torch.rand(3), "identity")
    elif case == "linear_cuda":                       # the CUDA op, a shape check
        ops.load_cuda()
        call = lambda: ops.linear_forward(torch.rand(4, 6).cuda(), torch.rand(3, 5).cuda(), torch.rand(3).cuda(), "identity")
    elif case == "ce_cuda":                           # the CUDA cross-entropy's bad-target flag
        ops.load_cuda()
        y = torch.arange(8, device="cuda")
        y[3] = 10
        call = lambda: ops.cross_entropy_forward_backward(torch.randn(8, 10, device="cuda"), y)
    else:
        sys.exit(f"unknown case {case!r}")
try:
    call()
    print("NO EXCEPTION")
except Exception as e:                                # noqa: BLE001 - the type is the finding
    print(f"RAISED {type(e).__name__}: {str(e).splitlines()[0]}")
