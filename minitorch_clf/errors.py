"""The one error the project reports to a user as such: bad arguments or inputs. The CLI prints its
message on one line and exits 2; the library raises it where a run's inputs (config, run folder,
data) are wrong. And the one check of a name against its choices, which every boundary (library
ValueError, CLI UsageError) uses, so that its message has one raise site. At the bottom of the
package: any module may use them. PROG heads every line the command line prints to stderr."""

PROG = "minitorch-clf"


class UsageError(Exception):
    """Bad arguments or inputs: the CLI prints the message on one line and exits 2."""


def expect_one_of(name: str, value, allowed, error: type[Exception] = ValueError):
    """`value` if it is one of `allowed`; else `error` saying '<name>: expected one of a, b, c, got <value>'."""
    if value not in allowed:
        raise error(f"{name}: expected one of {', '.join(map(str, allowed))}, got {value!r}")
    return value
