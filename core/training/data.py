"""MNIST from the IDX files shipped in the repo, held as tensors; batches by shuffled index."""
from __future__ import annotations

import gzip
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from core.config import TRAIN_IMAGES
from core.training.decoded import idx_dims, keep_decoded, read_decoded

MEAN, STD = 0.1307, 0.3081
DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2] / "data" / "mnist"

# md5 of the decompressed IDX bytes: the checksums published with the original files.
MNIST_FILES = {
    "train-images-idx3-ubyte.gz": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte.gz": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte.gz": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte.gz": "27ae3e4e09519cfbb04c329615203637",
}


class DataError(RuntimeError):
    """A dataset file is missing or does not match its checksum."""


# only on request (`python -m core download-mnist`), and only over https: nothing downloads by itself
MNIST_MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/",)


@dataclass(frozen=True)
class Split:
    images: torch.Tensor  # (N, 1, 28, 28) float32, normalized; or a table's rows (N, F)
    labels: torch.Tensor  # (N,) int64

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class Datasets:
    train: Split
    val: Split
    test: Split


def missing_file(path: Path) -> DataError:
    """What to say about a dataset file that is not there: which one, and how to get it back."""
    return DataError(f"MNIST file missing: {path}. Nothing is downloaded by itself: restore the shipped file "
                     f"(git checkout -- data/mnist in the repository), or download MNIST on purpose with "
                     f"`python -m core download-mnist --data-dir {path.parent}`")


def read_idx(path: Path) -> torch.Tensor:
    """Read one gzip'd IDX file into a uint8 tensor, checking its checksum (or finding its checked copy)."""
    if not path.exists():
        raise missing_file(path)
    compressed = path.read_bytes()
    expected = MNIST_FILES.get(path.name)
    raw = read_decoded(compressed, expected) if expected else None
    if raw is None:
        raw = _decompressed(path, compressed, expected)
    dims = idx_dims(raw)
    return torch.frombuffer(bytearray(raw), dtype=torch.uint8)[4 + 4 * len(dims):].reshape(dims)


def _decompressed(path: Path, compressed: bytes, expected: str | None) -> bytes:
    """The IDX bytes of a .gz file, checked against its published md5 and then kept decoded."""
    try:
        raw = gzip.decompress(compressed)
    except (OSError, EOFError) as err:
        raise DataError(f"MNIST file is corrupt (not a readable gzip file): {path}: {err}") from err
    if expected and hashlib.md5(raw).hexdigest() != expected:
        raise DataError(f"MNIST file is corrupt (checksum mismatch, expected md5 {expected}): {path}")
    if expected:
        keep_decoded(compressed, expected, raw)
    return raw


def download_mnist(data_dir: Path | str) -> list[Path]:
    """Download the four MNIST files into data_dir over https and check them; only ever on request."""
    data_dir = Path(data_dir)
    fetched = []
    for name in MNIST_FILES:
        if _intact(data_dir / name):
            continue
        _download(name, data_dir)
        fetched.append(data_dir / name)
        read_idx(data_dir / name)  # the checksum: a bad download is refused at once
    return fetched


def _intact(path: Path) -> bool:
    """Whether the file is there and passes its checksum; one that fails is renamed to <name>.corrupt, so that
    it is downloaded again (before, the download kept it and refused it again)."""
    if not path.exists():
        return False
    try:
        read_idx(path)
        return True
    except DataError:
        path.replace(path.with_name(path.name + ".corrupt"))
        return False


def _download(name: str, data_dir: Path) -> None:
    from torchvision.datasets.utils import download_url

    errors = []
    for mirror in MNIST_MIRRORS:
        try:
            download_url(mirror + name, str(data_dir), filename=name)
            return
        except Exception as err:  # urllib's many errors: say them all at the end
            errors.append(f"{mirror}{name}: {err}")
    raise DataError(f"could not download {name}: {'; '.join(errors)}")


def require_files(dataset: str, data_dir: Path | str = DEFAULT_DATA_DIR) -> None:
    """Raise the DataError naming the first file a dataset lacks, before anything is queued or trained."""
    if dataset == "mnist":
        missing = [name for name in MNIST_FILES if not (Path(data_dir) / name).exists()]
        if missing:
            raise missing_file(Path(data_dir) / missing[0])


def load_mnist_uint8(data_dir: Path | str = DEFAULT_DATA_DIR) -> dict[str, torch.Tensor]:
    """The four MNIST arrays as uint8 tensors: train/test images (N, 28, 28) and labels (N,)."""
    data_dir = Path(data_dir)
    require_files("mnist", data_dir)
    return {
        "train_images": read_idx(data_dir / "train-images-idx3-ubyte.gz"),
        "train_labels": read_idx(data_dir / "train-labels-idx1-ubyte.gz").long(),
        "test_images": read_idx(data_dir / "t10k-images-idx3-ubyte.gz"),
        "test_labels": read_idx(data_dir / "t10k-labels-idx1-ubyte.gz").long(),
    }


def normalize(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 28, 28) -> float32 (N, 1, 28, 28) with MNIST's mean and std."""
    # in place: the same operations in the same order (the same bits), without two temporary copies
    return images.float().div_(255.0).sub_(MEAN).div_(STD).unsqueeze(1).contiguous()


def synthetic_uint8(train_size: int = TRAIN_IMAGES["synthetic"], test_size: int = 200,
                    seed: int = 0) -> dict[str, torch.Tensor]:
    """A tiny learnable stand-in for MNIST: one bright bar per class, plus noise."""
    gen = torch.Generator().manual_seed(seed)

    def make(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        labels = torch.randint(0, 10, (n,), generator=gen)
        images = torch.randint(0, 60, (n, 28, 28), generator=gen, dtype=torch.uint8)
        for i, label in enumerate(labels.tolist()):
            images[i, 2 + 2 * label: 5 + 2 * label, 4:24] = 255
        return images, labels

    train_images, train_labels = make(train_size)
    test_images, test_labels = make(test_size)
    return {"train_images": train_images, "train_labels": train_labels,
            "test_images": test_images, "test_labels": test_labels}


def split_indices(n: int, val_size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(validation, training) indices into n training images: a seeded split, the same every time."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return order[:val_size], order[val_size:]


def build_datasets(arrays: dict[str, torch.Tensor], val_size: int, seed: int,
                   train_samples: int | None = None, device: str | torch.device = "cpu") -> Datasets:
    """Normalize, carve a seeded validation split from the training images, move to the device."""
    n = len(arrays["train_labels"])
    if val_size >= n:
        raise DataError(f"val_size {val_size} leaves no training images (the set has {n})")
    val_idx, train_idx = split_indices(n, val_size, seed)
    if train_samples is not None:
        train_idx = train_idx[:train_samples]
    images, labels = arrays["train_images"], arrays["train_labels"]

    def split(idx: torch.Tensor) -> Split:  # picked as uint8, a quarter of the bytes to move
        return Split(normalize(images[idx]).to(device), labels[idx].to(device))

    return Datasets(
        train=split(train_idx),
        val=split(val_idx),
        test=Split(normalize(arrays["test_images"]).to(device), arrays["test_labels"].to(device)),
    )


def load_test_images(dataset: str, data_dir: Path | str = DEFAULT_DATA_DIR) -> torch.Tensor:
    """Only a dataset's uint8 test images (N, 28, 28), as a gallery of test examples needs them."""
    if dataset == "synthetic":
        return synthetic_uint8()["test_images"]
    return read_idx(Path(data_dir) / "t10k-images-idx3-ubyte.gz")  # a tenth of the time of all four files


def load_test_labels(dataset: str, data_dir: Path | str = DEFAULT_DATA_DIR) -> torch.Tensor:
    """Only a dataset's test labels (N,), the true digits beside load_test_images' images."""
    if dataset == "synthetic":
        return synthetic_uint8()["test_labels"]
    return read_idx(Path(data_dir) / "t10k-labels-idx1-ubyte.gz").long()


def load_validation_images(dataset: str, val_size: int, seed: int,
                           data_dir: Path | str = DEFAULT_DATA_DIR) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A run's validation images as uint8 (N, 28, 28), their labels, and their indices in the training images."""
    if dataset == "synthetic":
        arrays = synthetic_uint8()
        images, labels = arrays["train_images"], arrays["train_labels"]
    else:
        data_dir = Path(data_dir)
        images = read_idx(data_dir / "train-images-idx3-ubyte.gz")
        labels = read_idx(data_dir / "train-labels-idx1-ubyte.gz").long()
    indices, _ = split_indices(len(labels), val_size, seed)
    return images[indices], labels[indices], indices


def load_arrays(dataset: str, data_dir: Path | str = DEFAULT_DATA_DIR) -> dict[str, torch.Tensor]:
    """The raw uint8 arrays of a dataset by name ('mnist' or 'synthetic')."""
    if dataset == "synthetic":
        return synthetic_uint8()
    return load_mnist_uint8(data_dir)


def batches(split: Split, batch_size: int, generator: torch.Generator | None = None,
            shuffle: bool = True) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield (images, labels) batches by a fresh random permutation each call."""
    n = len(split)
    if shuffle:
        order = torch.randperm(n, generator=generator).to(split.labels.device)
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            yield split.images[idx], split.labels[idx]
    else:
        for start in range(0, n, batch_size):
            yield split.images[start:start + batch_size], split.labels[start:start + batch_size]


def random_shift(images: torch.Tensor, max_shift: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Shift each image by up to max_shift pixels in x and y, filling with the background value."""
    if max_shift == 0:
        return images
    b, _, h, w = images.shape
    background = -MEAN / STD
    padded = torch.nn.functional.pad(images, (max_shift,) * 4, value=background)
    offsets = torch.randint(0, 2 * max_shift + 1, (2, b), generator=generator).to(images.device)
    rows = offsets[0][:, None] + torch.arange(h, device=images.device)  # (B, H)
    cols = offsets[1][:, None] + torch.arange(w, device=images.device)  # (B, W)
    batch = torch.arange(b, device=images.device)[:, None, None]
    return padded[batch, 0, rows[:, :, None], cols[:, None, :]].unsqueeze(1)
