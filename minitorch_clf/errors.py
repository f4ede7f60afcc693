"""The one error the project reports to a user as such: bad arguments or inputs. The CLI prints its
message on one line and exits 2; the library raises it where a run's inputs (config, run folder,
data) are wrong. At the bottom of the package: any module may raise it."""


class UsageError(Exception):
    """Bad arguments or inputs: the CLI prints the message on one line and exits 2."""
