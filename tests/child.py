"""Bad-input calls run in a child process, so one that crashes (a segfault inside an op) fails its own
test with the signal named, instead of ending the whole test run.

    assert outcome(lambda: ops.linear_forward(...)).startswith("RuntimeError: x: expected")
"""
import os
import signal
import subprocess
import sys
import warnings

TIMEOUT_S = 120


def outcome(call) -> str:
    """'<ExceptionType>: <message>', 'returned', or 'died: <SIGNAL>' for call() run in a forked child.

    Fork copies the parent with its kernels loaded (milliseconds, not a new interpreter); the child
    must not use CUDA, which cannot be re-initialised after fork - see outcome_of_script."""
    read, write = os.pipe()
    with warnings.catch_warnings():
        # Python 3.12+ warns that fork in a process with threads (torch's pools) may deadlock the child: a child
        # here that hangs dies of SIGALRM, and its test fails with the signal named.
        warnings.filterwarnings("ignore", message=".*use of fork\\(\\) may lead to deadlocks",
                                category=DeprecationWarning)
        pid = os.fork()
    if pid == 0:                                              # the child: report, never return to pytest
        os.close(read)
        signal.alarm(TIMEOUT_S)                               # a hang dies of SIGALRM
        try:
            call()
            text = "returned"
        except BaseException as e:                            # noqa: BLE001 - the type is the result
            text = f"{type(e).__name__}: {e}"
        with os.fdopen(write, "wb") as f:
            f.write(text.encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as f:
        text = f.read().decode()
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return f"died: {signal.Signals(os.WTERMSIG(status)).name}"
    return text


def outcome_of_script(code: str) -> str:
    """The same for a fresh interpreter running `code`, which must print its outcome last (CUDA cases)."""
    try:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return "died: timeout"
    if done.returncode < 0:
        return f"died: {signal.Signals(-done.returncode).name}"
    lines = done.stdout.strip().splitlines()
    return lines[-1] if lines else f"exit {done.returncode}: {done.stderr.strip()[-300:]}"
