"""The custom ops in kernels/: JIT build, load, and the Python halves (fake kernels, autograd).

    from minitorch_clf import ops
    ops.load()                        # builds kernels/cpu once (cached), registers everything
    y = ops.linear_forward(x, w, b, relu=True)

The C++ side (kernels/cpu/schema.cpp) declares the schema in `TORCH_LIBRARY(minitorch_clf, m)` and
registers CPU kernels; kernels/cuda adds CUDA ones. Here each op gets a fake (meta) kernel, so
torch.compile can trace it without running it, and the differentiable ones an autograd formula built
from the backward op, so they also work under autograd and gradcheck.

The build goes to $MINITORCH_CLF_BUILD_DIR (default ~/.cache/minitorch_clf), one folder per torch
version; torch.utils.cpp_extension hashes the sources and flags, so a second process only loads it.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import sys
import time
from pathlib import Path

import torch

LIB = "minitorch_clf"
OPS = ("linear_forward", "linear_forward_v", "linear_backward", "cross_entropy_forward_backward", "sgd_update_",
       "adam_update_", "mlp_sgd_step_", "own_mm", "mlp_products")
CPU_OPS = tuple(op for op in OPS if op != "linear_forward_v")     # linear_forward_v picks a CUDA version
CUDA_OPS = tuple(op for op in OPS if op not in ("mlp_sgd_step_", "own_mm", "mlp_products"))  # CPU-only ops
GEMMS = ("auto", "aten", "own")                                   # MINITORCH_CLF_GEMM, set_gemm


class BuildError(RuntimeError):
    """The kernels could not be built; the message says why and what to install."""


def kernel_dir() -> Path:
    """kernels/ of a source checkout (editable install), else the copy shipped inside the package."""
    for candidate in (Path(__file__).resolve().parents[1] / "kernels", Path(__file__).resolve().parent / "kernels"):
        if (candidate / "cpu" / "schema.cpp").is_file():
            return candidate
    raise BuildError("kernel sources not found: expected kernels/cpu/schema.cpp beside or inside minitorch_clf")


def build_root() -> Path:
    """One folder per torch version, Python and checkout: ninja's build file records the sources' absolute
    paths, so two checkouts sharing a folder would rebuild each other's library at every switch."""
    base = Path(os.environ.get("MINITORCH_CLF_BUILD_DIR", Path.home() / ".cache" / "minitorch_clf"))
    checkout = hashlib.sha1(str(kernel_dir()).encode()).hexdigest()[:8]
    tag = f"torch-{torch.__version__.replace('+', '_')}-py{sys.version_info.major}{sys.version_info.minor}-{checkout}"
    return base / tag


_state: dict = {}


def load(verbose: bool = False) -> dict:
    """Build (first time) and load the CPU kernels, then register the Python halves. Idempotent.

    Returns {"library": path of the .so, "seconds": load time (build included the first time)}.
    """
    if "cpu" in _state:
        return _state["cpu"]
    compiler = os.environ.get("CXX", "c++")
    if shutil.which(compiler) is None:
        raise BuildError(f"no C++ compiler: '{compiler}' is not on PATH (install g++, or set CXX); "
                         "the fused kernels are built from kernels/cpu on first use")
    _ninja_on_path()
    library, seconds = _jit_build("cpu", verbose, extra_cflags=["-O3", "-fopenmp", "-fno-math-errno"],
                                  extra_ldflags=["-fopenmp"])
    _register_python_halves()
    _set_gemm(os.environ.get("MINITORCH_CLF_GEMM", "auto"), "MINITORCH_CLF_GEMM")
    _state["cpu"] = {"library": library, "seconds": seconds}
    return _state["cpu"]


def sources(kind: str) -> list[Path]:
    """Every .cpp and .cu under kernels/<kind>, sorted: a new kernel file is built without a list to edit."""
    folder = kernel_dir() / kind
    return sorted(p for p in folder.rglob("*") if p.suffix in (".cpp", ".cu"))


def _jit_build(kind: str, verbose: bool, **flags) -> tuple[Path, float]:
    """Build (or load, when the sources and flags are unchanged) kernels/<kind> as minitorch_clf_<kind>.so."""
    cpp_extension = _cpp_extension()

    build = build_root() / kind
    try:
        build.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise BuildError(f"cannot create the build folder {build} ({e.strerror or e}); "
                         "set MINITORCH_CLF_BUILD_DIR to a writable folder") from None
    flags["extra_ldflags"] = flags.get("extra_ldflags", []) + runtime_link_flags()
    t0 = time.perf_counter()
    try:
        cpp_extension.load(name=f"minitorch_clf_{kind}", sources=[str(p) for p in sources(kind)],
                           build_directory=str(build), is_python_module=False, verbose=verbose, **flags)
    except (RuntimeError, OSError, ImportError) as e:
        raise BuildError(f"building kernels/{kind} failed in {build}: {e}") from e
    return build / f"minitorch_clf_{kind}.so", time.perf_counter() - t0


def runtime_link_flags() -> list[str]:
    """The libstdc++.so.6 this process runs (torch loaded it), named on the kernels' link line.

    Named first, it resolves every C++ standard-library symbol of the kernels, so they call the copy
    torch uses. On the GPU machine's image (torch 2.11, g++ 13.3) cpp_extension's own link line gave
    the library a private static copy instead (no NEEDED libstdc++.so.6, 60 std::locale symbols of
    its own), whose locale is never set up: the first error message that formatted a number
    (`TORCH_CHECK(..., x.sizes())`) ended the process with SIGSEGV inside that copy. Why that link
    went static was not established (benchmarks/RESULTS.md, 2026-11-27). Empty where /proc is absent."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return []
    paths = {line.split()[-1] for line in maps.splitlines() if "/libstdc++.so" in line}
    return sorted(paths)[:1]


def _cpp_extension():
    """torch.utils.cpp_extension, imported without its import-time warning: on a CUDA build of torch
    without a GPU it logs 'No CUDA runtime is found, using CUDA_HOME=...' (a guess that load_cuda
    replaces with cuda_home()), which would be a second line under every one-line error."""
    import logging

    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
    from torch.utils import cpp_extension

    return cpp_extension


def cuda_home() -> str | None:
    """The CUDA toolkit folder: $CUDA_HOME / $CUDA_PATH, else the one holding the real nvcc on PATH
    (nvcc may be a wrapper script elsewhere), else /usr/local/cuda."""
    for var in ("CUDA_HOME", "CUDA_PATH"):
        if os.environ.get(var) and (Path(os.environ[var]) / "bin" / "nvcc").exists():
            return os.environ[var]
    nvcc = shutil.which("nvcc")
    candidates = []
    if nvcc:
        real = Path(os.path.realpath(nvcc))
        candidates.append(real.parent.parent)
        try:                                                      # a wrapper: `exec /path/to/bin/nvcc "$@"`
            for word in real.read_text(errors="ignore").split():
                if word.endswith("/bin/nvcc"):
                    candidates.append(Path(word).parent.parent)
        except OSError:
            pass
    candidates.append(Path("/usr/local/cuda"))
    for c in candidates:
        if (c / "bin" / "nvcc").exists() and (c / "include" / "cuda_runtime.h").exists():
            return str(c)
    return None


def _nvidia_pip_dirs() -> tuple[list[str], list[str]]:
    """Include and library folders of the pip `nvidia` packages torch's CUDA wheels bring
    (ATen/cuda headers need their headers; cuBLASLt is linked from there)."""
    try:
        import nvidia
    except ImportError:
        return [], []
    includes, libs = [], []
    for root in map(Path, nvidia.__path__):
        for sub in sorted(root.glob("cu*")) + [root / "cublas", root / "cuda_runtime"]:
            if (sub / "include").is_dir():
                includes.append(str(sub / "include"))
            if (sub / "lib").is_dir():
                libs.append(str(sub / "lib"))
    return includes, libs


def load_cuda(verbose: bool = False) -> dict:
    """Build (first time) and load the CUDA kernels of kernels/cuda. Works without a GPU (compile only)
    where nvcc and a CUDA build of torch are present; TORCH_CUDA_ARCH_LIST defaults to 9.0 then."""
    load(verbose)
    if "cuda" in _state:
        return _state["cuda"]
    if torch.version.cuda is None:
        raise BuildError(f"torch {torch.__version__} is a CPU build: the CUDA kernels need a CUDA build of torch")
    home = cuda_home()
    if home is None:
        raise BuildError("nvcc not found: install the CUDA toolkit or set CUDA_HOME to the folder holding bin/nvcc")
    cpp_extension = _cpp_extension()

    os.environ["CUDA_HOME"] = home
    cpp_extension.CUDA_HOME = home                 # the module read CUDA_HOME at import time
    if not torch.cuda.is_available():
        os.environ.setdefault("TORCH_CUDA_ARCH_LIST", "9.0")
    includes, libs = _nvidia_pip_dirs()
    lt = [f"-L{d}" for d in libs if list(Path(d).glob("libcublasLt.so*"))]
    lt_name = next((p.name for d in libs for p in sorted(Path(d).glob("libcublasLt.so*"))), "libcublasLt.so")
    library, seconds = _jit_build("cuda", verbose, extra_cflags=["-O3"], extra_cuda_cflags=["-O3"],
                                  extra_ldflags=[*lt, f"-l:{lt_name}" if lt else "-lcublasLt"],
                                  extra_include_paths=includes, with_cuda=True)
    _state["cuda"] = {"library": library, "seconds": seconds, "cuda_home": home,
                      "arch": os.environ.get("TORCH_CUDA_ARCH_LIST", "detected")}
    return _state["cuda"]


def _ninja_on_path() -> None:
    """cpp_extension runs `ninja` from PATH; the pip package's binary sits beside this Python's scripts."""
    if shutil.which("ninja"):
        return
    try:
        import ninja

        os.environ["PATH"] = ninja.BIN_DIR + os.pathsep + os.environ.get("PATH", "")
    except ImportError:
        raise BuildError("ninja is needed to build the kernels: pip install ninja") from None


def registered_kernels() -> dict[str, list[str]]:
    """For each op, the dispatch keys with a kernel registered (CPU, CUDA)."""
    out = {}
    for name in OPS:
        out[name] = [key for key in ("CPU", "CUDA")
                     if torch._C._dispatch_has_kernel_for_dispatch_key(f"{LIB}::{name}", key)]
    return out


# ----------------------------------------------------------------------------------------------
# the ops, callable from Python (each loads the kernels it needs first: no load() call is required)

def _lib(*tensors):
    """torch.ops.minitorch_clf with the CPU kernels loaded, and the CUDA ones where a tensor is on a GPU."""
    load()
    if any(isinstance(t, torch.Tensor) and t.is_cuda for t in tensors):
        load_cuda()
    return torch.ops.minitorch_clf


def linear_forward(x, weight, bias, relu: bool = False):
    """max(x Wᵀ + b, 0) (or without the max): (N, I), (O, I), (O,) -> (N, O)."""
    return _lib(x).linear_forward(x, weight, bias, relu)


def linear_backward(dout, x, weight, out, relu: bool, need_dx: bool = True):
    """(dx or an empty tensor, dweight, dbias); `out` is the forward's output (the ReLU mask)."""
    return _lib(x).linear_backward(dout, x, weight, out, relu, need_dx)


def own_mm(a, b, isa: str = "auto"):
    """a (M, K) · b (K, N) with kernels/cpu/gemm/gemm.h's float32 GEMM, any strides; isa 'auto', 'avx2', 'scalar'."""
    return _lib().own_mm(a, b, isa)


def mlp_products(acts, weights, dzs, gemm: str):
    """The 3L - 1 products of an MLP step in one call, with gemm 'own' or 'aten' (see kernels/cpu/gemm/gemm_op.cpp)."""
    return _lib().mlp_products(acts, weights, dzs, gemm)


def fma_peak_gflops(threads: int | None = None) -> float:
    """Measured float32 peak of `threads` cores (default torch's thread count): FMAs from registers only."""
    return _lib().fma_peak_gflops(threads or torch.get_num_threads())


def set_gemm(name: str) -> str:
    """Choose the float32 GEMM inside the fused CPU ops: 'own' (kernels/cpu/gemm/gemm.h), 'aten' (MKL), or
    'auto' (own where the CPU has AVX2/FMA and some size of the product is <= 128, ATen's otherwise).
    Returns the previous choice. Float64 always uses ATen's."""
    load()
    return _set_gemm(name, "name")


def _set_gemm(name: str, source: str) -> str:
    if name not in GEMMS:
        raise ValueError(f"{source}: expected one of {', '.join(GEMMS)}, got {name!r}")
    return torch.ops.minitorch_clf.set_gemm(name)


@contextlib.contextmanager
def gemm(name: str):
    """`with ops.gemm("aten"): ...` runs the block with that GEMM, then restores the previous one."""
    previous = set_gemm(name)
    try:
        yield
    finally:
        set_gemm(previous)


def cross_entropy_forward_backward(logits, target):
    """(mean loss, dlogits for dloss = 1) over class targets, in one pass."""
    return _lib(logits).cross_entropy_forward_backward(logits, target)


# ----------------------------------------------------------------------------------------------
# fake kernels (shapes only) and autograd formulas

def _register_python_halves() -> None:
    if _state.get("python_halves"):
        return
    lib = torch.library

    @lib.register_fake(f"{LIB}::linear_forward")
    def _(x, weight, bias, relu):
        return x.new_empty(x.shape[0], weight.shape[0])

    @lib.register_fake(f"{LIB}::mlp_sgd_step_")
    def _(x, target, weights, biases, momentum_buffers, lr, momentum, dampening, weight_decay, nesterov, maximize):
        return x.new_empty(())

    @lib.register_fake(f"{LIB}::linear_forward_v")
    def _(x, weight, bias, relu, version):
        return x.new_empty(x.shape[0], weight.shape[0])

    @lib.register_fake(f"{LIB}::own_mm")
    def _(a, b, isa):
        return a.new_empty(a.shape[0], b.shape[1])

    @lib.register_fake(f"{LIB}::mlp_products")
    def _(acts, weights, dzs, gemm):
        return ([a.new_empty(a.shape[0], w.shape[0]) for a, w in zip(acts, weights)]
                + [w.new_empty(w.shape) for w in weights] + [a.new_empty(a.shape) for a in acts[1:]])

    @lib.register_fake(f"{LIB}::linear_backward")
    def _(dout, x, weight, out, relu, need_dx):
        dx = x.new_empty(x.shape) if need_dx else x.new_empty(0)
        return dx, weight.new_empty(weight.shape), weight.new_empty(weight.shape[0])

    @lib.register_fake(f"{LIB}::cross_entropy_forward_backward")
    def _(logits, target):
        return logits.new_empty(()), logits.new_empty(logits.shape)

    @lib.register_fake(f"{LIB}::sgd_update_")
    def _(params, grads, momentum_buffers, lr, momentum, dampening, weight_decay, nesterov, maximize, first_step):
        return None

    @lib.register_fake(f"{LIB}::adam_update_")
    def _(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, step_sizes, bias_correction2_sqrts, lr, beta1,
          beta2, eps, weight_decay, decoupled, amsgrad, maximize):
        return None

    def linear_setup(ctx, inputs, output):
        x, weight, bias, relu = inputs
        ctx.save_for_backward(x, weight, output)
        ctx.relu = relu

    def linear_grad(ctx, dout):
        x, weight, out = ctx.saved_tensors
        need_dx = ctx.needs_input_grad[0]
        dx, dweight, dbias = linear_backward(dout.contiguous(), x, weight, out, ctx.relu, need_dx)
        return (dx if need_dx else None), dweight, dbias, None

    lib.register_autograd(f"{LIB}::linear_forward", linear_grad, setup_context=linear_setup)

    def ce_setup(ctx, inputs, output):
        loss, dlogits = output
        ctx.save_for_backward(dlogits)
        ctx.mark_non_differentiable(dlogits)

    def ce_grad(ctx, dloss, _ddlogits):
        (dlogits,) = ctx.saved_tensors
        return dlogits * dloss, None          # dlogits was computed for dloss = 1: scale by the real one

    lib.register_autograd(f"{LIB}::cross_entropy_forward_backward", ce_grad, setup_context=ce_setup)
    _state["python_halves"] = True
