"""A two-layer training step (forward, loss, backward; no update) written with the custom ops,
shared by the torch.compile tests of tests/test_ops.py (CPU) and tests/test_cuda_kernels.py (GPU)."""
from minitorch_clf import ops


def two_layer_step(x, w1, b1, w2, b2, y):
    """(loss, dw1, db1, dw2, db2) of linear+ReLU -> linear -> cross-entropy."""
    h, h_saved = ops.linear_forward(x, w1, b1, "relu")
    logits, logits_saved = ops.linear_forward(h, w2, b2, "identity")
    loss, dlogits = ops.cross_entropy_forward_backward(logits, y)
    dh, dw2, db2 = ops.linear_backward(dlogits, h, w2, logits_saved, "identity", True)
    _, dw1, db1 = ops.linear_backward(dh, x, w1, h_saved, "relu", False)
    return loss, dw1, db1, dw2, db2
