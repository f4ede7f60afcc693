"""A two-layer training step (forward, loss, backward; no update) written with the custom ops,
shared by the torch.compile tests of tests/test_ops.py (CPU) and tests/test_cuda_kernels.py (GPU)."""
from minitorch_clf import ops


def two_layer_step(x, w1, b1, w2, b2, y):
    """(loss, dw1, db1, dw2, db2) of linear+ReLU -> linear -> cross-entropy."""
    h = ops.linear_forward(x, w1, b1, True)
    logits = ops.linear_forward(h, w2, b2, False)
    loss, dlogits = ops.cross_entropy_forward_backward(logits, y)
    dh, dw2, db2 = ops.linear_backward(dlogits, h, w2, logits, False, True)
    _, dw1, db1 = ops.linear_backward(dh, x, w1, h, True, False)
    return loss, dw1, db1, dw2, db2
