import gzip
import shutil
import socket
from pathlib import Path

import pytest
import torch

from core.training import data, decoded
from core.training.data import (
    DataError,
    Split,
    batches,
    build_datasets,
    download_mnist,
    load_mnist_uint8,
    random_shift,
    read_idx,
)

TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_shipped_mnist_is_the_original():
    arrays = load_mnist_uint8()
    assert arrays["train_images"].shape == (60_000, 28, 28) and arrays["train_images"].dtype == torch.uint8
    assert arrays["test_images"].shape == (10_000, 28, 28)
    assert torch.bincount(arrays["train_labels"]).tolist() == TRAIN_COUNTS
    assert torch.bincount(arrays["test_labels"]).tolist() == TEST_COUNTS
    pixels = arrays["train_images"].float() / 255
    assert pixels.mean().item() == pytest.approx(0.1307, abs=1e-4)
    assert pixels.std().item() == pytest.approx(0.3081, abs=1e-4)


def test_test_images_alone_are_those_of_the_whole_set():
    assert torch.equal(data.load_test_images("mnist"), load_mnist_uint8()["test_images"])
    assert torch.equal(data.load_test_images("synthetic"), data.synthetic_uint8()["test_images"])


@pytest.fixture
def mnist_copy(tmp_path):
    for name in data.MNIST_FILES:
        shutil.copy(data.DEFAULT_DATA_DIR / name, tmp_path / name)
    return tmp_path


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv(decoded.CACHE_ENV, str(folder))
    return folder


def test_a_checked_file_is_read_again_from_its_decoded_copy(mnist_copy, cache, monkeypatch):
    path = mnist_copy / "t10k-labels-idx1-ubyte.gz"
    first = read_idx(path)
    assert len(list((cache / "decoded").iterdir())) == 1
    monkeypatch.setattr(data.gzip, "decompress", lambda _: pytest.fail("decompressed again"))
    assert torch.equal(read_idx(path), first)


def test_a_copy_cut_short_is_not_used_and_is_written_again(mnist_copy, cache):
    path = mnist_copy / "t10k-labels-idx1-ubyte.gz"
    first = read_idx(path)
    (copy,) = (cache / "decoded").iterdir()
    copy.write_bytes(copy.read_bytes()[:-1])
    assert torch.equal(read_idx(path), first)
    assert copy.stat().st_size == len(first) + 8


def test_a_file_renamed_to_another_is_not_taken_for_it_by_the_cache(mnist_copy, cache):
    read_idx(mnist_copy / "train-labels-idx1-ubyte.gz")
    shutil.copy(mnist_copy / "train-labels-idx1-ubyte.gz", mnist_copy / "t10k-labels-idx1-ubyte.gz")
    with pytest.raises(DataError, match="checksum mismatch.*t10k-labels-idx1-ubyte.gz"):
        read_idx(mnist_copy / "t10k-labels-idx1-ubyte.gz")


def test_a_cache_folder_that_cannot_be_written_is_passed_over(mnist_copy, tmp_path, monkeypatch):
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    monkeypatch.setenv(decoded.CACHE_ENV, str(blocked))
    assert len(read_idx(mnist_copy / "t10k-labels-idx1-ubyte.gz")) == 10_000


def test_a_changed_byte_is_caught_by_the_checksum(mnist_copy):
    path = mnist_copy / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(path.read_bytes()))
    raw[100] = (raw[100] + 1) % 10
    path.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(DataError, match="checksum mismatch.*t10k-labels-idx1-ubyte.gz"):
        read_idx(path)


def test_a_file_that_is_not_gzip_is_named(mnist_copy):
    path = mnist_copy / "train-labels-idx1-ubyte.gz"
    path.write_bytes(b"not a gzip file")
    with pytest.raises(DataError, match="train-labels-idx1-ubyte.gz"):
        load_mnist_uint8(mnist_copy)


def test_a_missing_file_is_named_and_nothing_is_downloaded(mnist_copy, monkeypatch):
    (mnist_copy / "t10k-images-idx3-ubyte.gz").unlink()
    connections = []
    monkeypatch.setattr(socket.socket, "connect", lambda self, address: connections.append(address))
    with pytest.raises(DataError, match=f"missing: {mnist_copy / 't10k-images-idx3-ubyte.gz'}. Nothing is "
                                        "downloaded by itself.*download-mnist"):
        load_mnist_uint8(mnist_copy)
    assert connections == []


def test_download_mnist_sets_a_corrupt_file_aside_and_fetches_it_again(mnist_copy, monkeypatch):
    import torchvision.datasets.utils as tv_utils

    path = mnist_copy / "train-labels-idx1-ubyte.gz"
    good = path.read_bytes()
    path.write_bytes(b"not a gzip file")
    fetched = []

    def from_the_shipped_copy(url, root, filename):  # no network here: the shipped file stands in for it
        fetched.append(filename)
        (Path(root) / filename).write_bytes(good)
    monkeypatch.setattr(tv_utils, "download_url", from_the_shipped_copy)
    assert download_mnist(mnist_copy) == [path] and fetched == [path.name]
    assert path.read_bytes() == good and (mnist_copy / f"{path.name}.corrupt").read_bytes() == b"not a gzip file"


def test_validation_split_is_seeded_disjoint_and_normalized(synthetic_arrays):
    first = build_datasets(synthetic_arrays, 100, seed=3)
    again = build_datasets(synthetic_arrays, 100, seed=3)
    other = build_datasets(synthetic_arrays, 100, seed=4)
    assert (len(first.train), len(first.val), len(first.test)) == (500, 100, 200)
    assert torch.equal(first.val.images, again.val.images)
    assert not torch.equal(first.val.images, other.val.images)
    assert first.train.images.shape == (500, 1, 28, 28) and first.train.images.dtype == torch.float32
    # the normalized background is (0 - mean) / std
    assert first.train.images.min().item() == pytest.approx(-0.1307 / 0.3081, abs=1e-5)
    train_rows = {tuple(x.flatten().tolist()[:50]) for x in first.train.images}
    assert not any(tuple(x.flatten().tolist()[:50]) in train_rows for x in first.val.images)


def test_train_samples_limits_the_training_set(synthetic_arrays):
    assert len(build_datasets(synthetic_arrays, 100, 0, train_samples=64).train) == 64


def test_batches_visit_every_example_once_per_epoch():
    split = Split(torch.arange(10.0).reshape(10, 1, 1, 1), torch.arange(10))
    seen = [y for _, labels in batches(split, 3, torch.Generator().manual_seed(0)) for y in labels.tolist()]
    assert sorted(seen) == list(range(10)) and seen != list(range(10))
    sizes = [len(y) for _, y in batches(split, 3, shuffle=False)]
    assert sizes == [3, 3, 3, 1]


def test_random_shift_moves_images_within_bounds():
    image = torch.full((1, 1, 28, 28), -0.1307 / 0.3081)
    image[0, 0, 14, 14] = 2.0
    shifted = random_shift(image.repeat(64, 1, 1, 1), 2, torch.Generator().manual_seed(0))
    assert shifted.shape == (64, 1, 28, 28)
    positions = {divmod(int(img.argmax()), 28) for img in shifted}
    assert len(positions) > 5
    assert all(abs(r - 14) <= 2 and abs(c - 14) <= 2 for r, c in positions)
    assert torch.equal(random_shift(image, 0), image)
