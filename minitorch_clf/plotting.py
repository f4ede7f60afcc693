"""matplotlib for files, not windows: every picture the project draws (a run's curves.png and
inspect.png, the bench and GEMM bar charts, the report's rooflines and phases) gets pyplot here."""


def pyplot():
    """matplotlib.pyplot on the Agg backend, which renders to files and needs no display (a server, a
    CI runner, an SSH session). Imported on first use: most commands draw nothing."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
