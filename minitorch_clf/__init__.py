"""minitorch_clf: the PyTorch MNIST classifier with every forward and backward written out.

One step, read top down (README, "Reading order"): engines/manual.py -> models.py -> layers.py ->
functional.py (the maths) -> optim/sgd.py. Around it: cross_entropy_general.py (every option of
F.cross_entropy), the other engines (engines/), train.py (the epoch loop), checks.py (parity and
finite differences).
"""
__version__ = "0.1.0"
