"""minitorch_clf: the PyTorch MNIST classifier with every forward and backward written out.

functional.py (the maths) -> layers.py -> models.py; optim.py; engines/ (one training step, several
implementations); train.py (the epoch loop); checks.py (parity and finite differences).
"""
__version__ = "0.1.0"
