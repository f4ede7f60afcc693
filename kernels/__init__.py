# Kernel sources, installed as the package data `minitorch_clf/kernels/` (see pyproject.toml) so that
# a non-editable install can still JIT-build them. Nothing here is Python.
