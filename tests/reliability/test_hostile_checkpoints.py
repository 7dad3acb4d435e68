"""Issue 6, case 6: a corrupt checkpoint, a truncated one, and one whose pickle would run code.
Each is refused with a clear error, and nothing is executed."""
from __future__ import annotations

import os
import pickle
import shlex
from pathlib import Path

import pytest
import torch

from core.cli import main
from core.training.checkpoints import CheckpointError, load_checkpoint, load_model, save_checkpoint
from core.training.models import build_model


class RunsCode:
    """Unpickling this runs a shell command: the classic hostile pickle."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {shlex.quote(str(self.marker))}",)


@pytest.fixture
def good(tmp_path, tiny_config) -> Path:
    path = tmp_path / "good.pt"
    save_checkpoint(path, build_model(tiny_config), None, tiny_config, 1, 0.5, 0.9)
    return path


def flip_byte(data: bytes, offset: int) -> bytes:
    return data[:offset] + bytes([data[offset] ^ 0xFF]) + data[offset + 1:]


def damaged_copies(good: Path) -> dict[str, bytes]:
    raw = good.read_bytes()
    return {
        "a flipped byte in the weights": flip_byte(raw, len(raw) // 2),  # inside the first weight tensor
        "a flipped byte in the pickle": flip_byte(raw, 100),
        "random bytes": os.urandom(len(raw)),
        "cut in half": raw[:len(raw) // 2],
        "cut before the end record": raw[:-10],
        "empty": b"",
    }


def test_corrupt_and_truncated_checkpoints_are_refused(tmp_path, good):
    load_model(good)  # the undamaged original loads
    for what, data in damaged_copies(good).items():
        path = tmp_path / "damaged.pt"
        path.write_bytes(data)
        with pytest.raises(CheckpointError, match="checkpoint is corrupt or truncated") as refused:
            load_model(path)
        assert str(path) in str(refused.value), what


def hostile_checkpoints(tmp_path: Path, tiny_config, marker: Path) -> dict[str, Path]:
    """The payload in a real torch zip next to plain weights, and as a bare pickle file."""
    in_zip, bare = tmp_path / "hostile.pt", tmp_path / "hostile-pickle.pt"
    torch.save({"model_state_dict": build_model(tiny_config).state_dict(), "config": tiny_config.to_dict(),
                "epoch": 1, "extra": RunsCode(marker)}, in_zip)
    bare.write_bytes(pickle.dumps({"model_state_dict": {}, "epoch": 1, "extra": RunsCode(marker)}))
    return {"zip": in_zip, "bare pickle": bare}


def test_a_checkpoint_that_would_run_code_is_refused_and_runs_nothing(tmp_path, tiny_config):
    marker = tmp_path / "code-ran"
    files = hostile_checkpoints(tmp_path, tiny_config, marker)
    # the payload is live: loading without weights_only runs it
    torch.load(files["zip"], weights_only=False)
    assert marker.exists()
    marker.unlink()
    with pytest.raises(CheckpointError, match="checkpoint refused: .* would run code when loaded"):
        load_checkpoint(files["zip"])
    with pytest.raises(CheckpointError, match="checkpoint is corrupt or truncated"):
        load_model(files["bare pickle"])
    assert not marker.exists()


def test_the_cli_refuses_each_with_one_clear_line(tmp_path, good, tiny_config, capsys):
    marker = tmp_path / "code-ran"
    damaged = tmp_path / "damaged.pt"
    damaged.write_bytes(flip_byte(good.read_bytes(), good.stat().st_size // 2))
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:1000])
    cases = {damaged: "fails its CRC check", truncated: "checkpoint is corrupt or truncated",
             hostile_checkpoints(tmp_path, tiny_config, marker)["zip"]: "would run code when loaded"}
    for path, message in cases.items():
        assert main(["test", "--checkpoint", str(path)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: checkpoint") and message in err and err.count("\n") == 1
    assert not marker.exists()
