"""Data sets and loaders: the embedded split, identical batches from both loaders, clear errors."""
import pytest
import torch

from minitorch_clf import data as D


@pytest.fixture(scope="module")
def mnist5k():
    return D.load("mnist-5k")


def test_mnist5k_is_real_stratified_and_seeded(mnist5k):
    train, test = mnist5k
    assert (len(train), len(test)) == (4000, 1000)
    assert train.images.dtype == torch.uint8 and train.images.shape == (4000, 28, 28)
    assert torch.bincount(train.labels).tolist() == [400] * 10
    assert torch.bincount(test.labels).tolist() == [100] * 10
    assert train.images.float().mean().item() / 255 == pytest.approx(0.13, abs=0.02)   # MNIST-like ink
    again, _ = D.load("mnist-5k")
    assert torch.equal(again.images, train.images)
    other, _ = D.load("mnist-5k", split_seed=1)
    assert not torch.equal(other.labels, train.labels) or not torch.equal(other.images, train.images)


def test_train_and_test_do_not_overlap(mnist5k):
    train, test = mnist5k
    rows = {bytes(img.numpy()) for img in train.images}
    assert not any(bytes(img.numpy()) in rows for img in test.images[:200])


@pytest.mark.parametrize("drop_last", [False, True])
def test_both_loaders_give_identical_batches(mnist5k, drop_last):
    split = D.Split(mnist5k[0].images[:300], mnist5k[0].labels[:300], 0.1307, 0.3081)
    a = D.make_loader("tensor", split, 64, seed=3, drop_last=drop_last)
    b = D.make_loader("dataloader", split, 64, seed=3, drop_last=drop_last)
    batches_a, batches_b = list(a.epoch(1)), list(b.epoch(1))
    assert len(batches_a) == len(batches_b) == len(a) == len(b) == (4 if drop_last else 5)
    for (xa, ya), (xb, yb) in zip(batches_a, batches_b):
        assert xa.shape == xb.shape and xa.shape[1:] == (1, 28, 28)
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    seen = torch.cat([y for _, y in batches_a])
    assert len(seen) == (256 if drop_last else 300)


def test_epochs_differ_and_repeat(mnist5k):
    loader = D.TensorLoader(mnist5k[1], 100, seed=0)
    first = [y for _, y in loader.epoch(0)]
    second = [y for _, y in loader.epoch(1)]
    assert not all(torch.equal(a, b) for a, b in zip(first, second))
    assert all(torch.equal(a, b) for a, b in zip(first, [y for _, y in loader.epoch(0)]))


def test_normalisation(mnist5k):
    x = D.TensorLoader(mnist5k[0], 4000, shuffle=False).x
    assert x.mean().item() == pytest.approx(0.0, abs=0.1) and x.std().item() == pytest.approx(1.0, abs=0.1)


def test_missing_torchvision_files_name_the_files_and_the_command(tmp_path):
    with pytest.raises(D.DataError) as info:
        D.load("fashion-mnist", tmp_path)
    msg = str(info.value)
    assert "\n" not in msg
    assert "train-images-idx3-ubyte" in msg and "--download" in msg and str(tmp_path) in msg


def test_unknown_dataset():
    with pytest.raises(D.DataError, match="dataset"):
        D.load("cifar")


def test_synthetic_mnist_shape():
    s = D.synthetic_mnist(100)
    assert s.images.shape == (100, 28, 28) and s.images.dtype == torch.uint8 and len(s) == 100


def test_corrupt_torchvision_files_are_one_line(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):
        (raw / name).write_bytes(b"not an idx file")
    with pytest.raises(D.DataError) as info:
        D.load("mnist", tmp_path)
    assert "corrupt" in str(info.value) and "--download" in str(info.value) and "\n" not in str(info.value)
