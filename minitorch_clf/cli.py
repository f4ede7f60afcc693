"""`minitorch-clf` and `python -m minitorch_clf.cli`: the command line lives in tools/cli.py."""
import sys

from .errors import PROG

try:
    from .tools.cli import main
except KeyboardInterrupt:                       # Ctrl-C during the imports (torch's take seconds)
    sys.stderr.write(f"{PROG}: interrupted\n")
    sys.exit(130)

if __name__ == "__main__":
    sys.exit(main())
