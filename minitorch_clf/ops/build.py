"""Building kernels/ into libraries: toolchain discovery, the JIT build, where it is cached.

The build goes to $MINITORCH_CLF_BUILD_DIR (default ~/.cache/minitorch_clf), one folder per torch
version, Python and checkout; torch.utils.cpp_extension hashes the sources and flags, so a second
process only loads the library. Every .cpp/.cu under kernels/cpu (kernels/cuda) is a source. A deleted
checkout leaves its folder behind; build_folders.py finds those (`minitorch-clf build --prune`).
"""
from __future__ import annotations

import os
import re
import shutil
import sys
import time
from pathlib import Path

import torch

from .build_folders import checkout_hash, record_checkout

_state: dict = {}          # "cpu" / "cuda": what build_* returned; "direct": the CPU library as a Python module
                           # (direct_calls.cpp); "python_halves": registered


class BuildError(RuntimeError):
    """The kernels could not be built; the message says why and what to install."""


def kernel_dir() -> Path:
    """kernels/ of a source checkout (editable install), else the copy shipped inside the package."""
    package = Path(__file__).resolve().parents[1]                   # minitorch_clf/
    for candidate in (package.parent / "kernels", package / "kernels"):
        if (candidate / "common" / "schema.cpp").is_file():
            return candidate
    raise BuildError("kernel sources not found: expected kernels/common/schema.cpp beside or inside minitorch_clf")


def build_root() -> Path:
    """One folder per torch version, Python and checkout: ninja's build file records the sources' absolute
    paths, so two checkouts sharing a folder would rebuild each other's library at every switch."""
    base = Path(os.environ.get("MINITORCH_CLF_BUILD_DIR", Path.home() / ".cache" / "minitorch_clf"))
    checkout = checkout_hash(kernel_dir())
    tag = f"torch-{torch.__version__.replace('+', '_')}-py{sys.version_info.major}{sys.version_info.minor}-{checkout}"
    return base / tag


def build_cpu(verbose: bool = False) -> dict:
    """Build (first time) and load kernels/cpu. Idempotent.
    Returns {"library": path of the .so, "seconds": load time (build included the first time)}."""
    if "cpu" in _state:
        return _state["cpu"]
    compiler = os.environ.get("CXX", "c++")
    if shutil.which(compiler) is None:
        raise BuildError(f"no C++ compiler: '{compiler}' is not on PATH (install g++, or set CXX); "
                         "the fused kernels are built from kernels/cpu on first use")
    _ninja_on_path()
    # -ffp-contract=off: no a * b + c fused into one FMA behind the code's back. The files built for
    # AVX2/AVX-512 (target pragmas) would otherwise round an activation's derivative differently from
    # the baseline-ISA loops, and the whole-step op would stop matching the layered step bit for bit.
    # The CPU library is also a Python module: its direct calls (kernels/cpu/direct_calls.cpp) run the fused
    # engine's step without the dispatcher.
    library, seconds, module = _jit_build("cpu", verbose, python_module=True,
                                          extra_cflags=["-O3", "-fopenmp", "-fno-math-errno", "-ffp-contract=off"],
                                          extra_ldflags=["-fopenmp"])
    _state["direct"] = module
    _state["cpu"] = {"library": library, "seconds": seconds}
    return _state["cpu"]


def sources(kind: str) -> list[Path]:
    """Every .cpp and .cu under kernels/<kind>, sorted: a new kernel file is built without a list to edit;
    the CPU library also takes kernels/common's .cpp (the schema, which the CUDA library registers against)."""
    folders = [kernel_dir() / kind] + ([kernel_dir() / "common"] if kind == "cpu" else [])
    return sorted(p for folder in folders for p in folder.rglob("*") if p.suffix in (".cpp", ".cu"))


def _jit_build(kind: str, verbose: bool, python_module: bool = False, **flags) -> tuple[Path, float, object]:
    """Build (or load, when the sources and flags are unchanged) kernels/<kind> as minitorch_clf_<kind>.so.
    Returns (its path, the seconds it took, the module imported where python_module, else None)."""
    cpp_extension = _cpp_extension()

    build = build_root() / kind
    try:
        build.mkdir(parents=True, exist_ok=True)
        record_checkout(build.parent, kernel_dir())     # so `build --prune` knows it once the checkout is gone
    except OSError as e:
        raise BuildError(f"cannot create the build folder {build} ({e.strerror or e}); "
                         "set MINITORCH_CLF_BUILD_DIR to a writable folder") from None
    flags["extra_ldflags"] = flags.get("extra_ldflags", []) + runtime_link_flags()
    t0 = time.perf_counter()
    try:
        module = cpp_extension.load(name=f"minitorch_clf_{kind}", sources=[str(p) for p in sources(kind)],
                                    build_directory=str(build), is_python_module=python_module, verbose=verbose,
                                    **flags)
    except (RuntimeError, OSError, ImportError) as e:
        raise BuildError(f"building kernels/{kind} failed in {build}: {e}") from e
    return build / f"minitorch_clf_{kind}.so", time.perf_counter() - t0, module if python_module else None


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


def toolkit_version(home: str) -> str | None:
    """The CUDA toolkit's version ("13.0") from its cuda.h (`#define CUDA_VERSION 13000`); None if unreadable."""
    try:
        text = (Path(home) / "include" / "cuda.h").read_text(errors="ignore")
    except OSError:
        return None
    found = re.search(r"^#define\s+CUDA_VERSION\s+(\d+)", text, re.M)
    return f"{int(found[1]) // 1000}.{int(found[1]) % 1000 // 10}" if found else None


def cuda_unbuildable() -> str | None:
    """Why kernels/cuda cannot be built here, in one line, or None where they can: a CPU build of torch,
    no nvcc, or a toolkit whose major version is not the one torch was built with (nvcc 13 with torch's
    CUDA 12 headers stops at the first file with 'CUDA compiler and CUDA toolkit headers are
    incompatible'; cpp_extension itself lets the pair through)."""
    if torch.version.cuda is None:
        return f"torch {torch.__version__} is a CPU build: the CUDA kernels need a CUDA build of torch"
    home = cuda_home()
    if home is None:
        return "nvcc not found: install the CUDA toolkit or set CUDA_HOME to the folder holding bin/nvcc"
    have = toolkit_version(home)
    have_major, torch_major = (have or "").split(".")[0], torch.version.cuda.split(".")[0]
    if have is not None and have_major != torch_major:
        return (f"the CUDA toolkit in {home} is {have} and torch {torch.__version__} was built with CUDA "
                f"{torch.version.cuda}: set CUDA_HOME to a CUDA {torch_major} toolkit, or "
                f"install a torch built for CUDA {have_major}")
    return None


def build_cuda(verbose: bool = False) -> dict:
    """Build (first time) and load kernels/cuda. Works without a GPU (compile only) where nvcc and a
    CUDA build of torch of the same major CUDA version are present; TORCH_CUDA_ARCH_LIST defaults to 9.0 then."""
    if "cuda" in _state:
        return _state["cuda"]
    why_not = cuda_unbuildable()
    if why_not:
        raise BuildError(why_not)
    home = cuda_home()
    cpp_extension = _cpp_extension()

    os.environ["CUDA_HOME"] = home
    cpp_extension.CUDA_HOME = home                 # the module read CUDA_HOME at import time
    if not torch.cuda.is_available():
        os.environ.setdefault("TORCH_CUDA_ARCH_LIST", "9.0")
    includes, libs = _nvidia_pip_dirs()
    lt = [f"-L{d}" for d in libs if list(Path(d).glob("libcublasLt.so*"))]
    lt_name = next((p.name for d in libs for p in sorted(Path(d).glob("libcublasLt.so*"))), "libcublasLt.so")
    library, seconds, _ = _jit_build("cuda", verbose, extra_cflags=["-O3"], extra_cuda_cflags=["-O3"],
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


