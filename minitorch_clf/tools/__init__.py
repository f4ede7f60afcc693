"""The tools around the maths: the command line, the benchmark drivers, the profiler wrapper, tables."""
