"""`minitorch-clf` and `python -m minitorch_clf.cli`: the command line lives in tools/cli.py."""
import sys

from .tools.cli import main

if __name__ == "__main__":
    sys.exit(main())
