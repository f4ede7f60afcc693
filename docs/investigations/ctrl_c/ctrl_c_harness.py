"""Ctrl-C at random moments of `minitorch-clf train`, counted by how training ended.

The investigation behind run_folder.interrupts() (2026-12-04): a CI run failed because a SIGINT left
training running to its last epoch. Two ways to send the signal:

  processes N   N real `python -m minitorch_clf.cli train` processes, SIGINT 0-250 ms after the first
                or second epoch's line; prints every run that did not exit 130 with one line
  inprocess N   N calls of cli.main() in this process, SIGINT from a thread 0-1.5 s after the start;
                sys.unraisablehook records every KeyboardInterrupt Python printed and dropped

    python docs/investigations/ctrl_c/ctrl_c_harness.py processes 120
    python docs/investigations/ctrl_c/ctrl_c_harness.py inprocess 120

Before the fix: inprocess lost 13 of 250 (exit 0 after all 400 epochs, the signal dropped inside a
WeakKeyDictionary callback); processes turned 1 of 120 into 'ImportError: initialization failed'
(matplotlib's first import) and 1 in ~100 into 'ValueError: Invalid bounding box' (its renderer).
"""
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from pathlib import Path

ARGS = ["train", "--epochs", "400", "--batch-size", "500", "--no-progress"]


def processes(n: int, root: Path) -> Counter:
    codes = Counter()
    for i in range(n):
        out = root / f"run{i}"
        p = subprocess.Popen([sys.executable, "-m", "minitorch_clf.cli", *ARGS, "--out", str(out)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        epochs = random.randint(1, 2)
        while p.poll() is None:
            m = out / "metrics.jsonl"
            if m.exists() and len(m.read_text().splitlines()) >= epochs:
                break
            time.sleep(0.02)
        time.sleep(random.random() * 0.25)
        p.send_signal(signal.SIGINT)
        _, err = p.communicate()
        codes[p.returncode] += 1
        if p.returncode != 130 or err.count("\n") != 1:
            print(f"run {i}: exit {p.returncode}\n{err[-2000:]}", flush=True)
        shutil.rmtree(out, ignore_errors=True)
    return codes


def inprocess(n: int, root: Path) -> Counter:
    import matplotlib.pyplot  # noqa: F401  (first imports outside the timed window, as a long-lived
    import torch._dynamo  # noqa: F401       process has them; an interrupted import breaks the next call)

    from minitorch_clf.cli import main

    dropped = []
    sys.unraisablehook = lambda u: dropped.append((u.exc_type, repr(u.object), "".join(
        traceback.format_tb(u.exc_traceback))))
    codes = Counter()
    for i in range(n):
        out = root / f"run{i}"
        delay = random.random() * 1.5
        timer = threading.Timer(delay, lambda: os.kill(os.getpid(), signal.SIGINT))
        timer.start()
        try:
            code = main([*ARGS, "--out", str(out)])
        except SystemExit as e:                 # train's interrupt: one line, then SystemExit(130)
            code = e.code
        except KeyboardInterrupt:
            code = "KeyboardInterrupt escaped main()"
        timer.join()
        codes[code] += 1
        if dropped or code != 130:
            print(f"call {i} (SIGINT at {delay:.3f} s): {code}; dropped: {dropped}", flush=True)
            dropped.clear()
        shutil.rmtree(out, ignore_errors=True)
    return codes


if __name__ == "__main__":
    how, n = sys.argv[1], int(sys.argv[2])
    with tempfile.TemporaryDirectory() as tmp:
        print(dict({"processes": processes, "inprocess": inprocess}[how](n, Path(tmp))))
