"""Checkpoints: written atomically, read with weights_only so a file cannot run code."""
from __future__ import annotations

import io
import os
import pickle
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from core.config import ConfigError, RunConfig
from core.training.models import build_model


class CheckpointError(RuntimeError):
    """A checkpoint is missing, truncated, corrupt or not a plain-weights file."""


def checkpoint_payload(model: nn.Module, optimizer: torch.optim.Optimizer | None, config: RunConfig,
                       epoch: int, loss: float, accuracy: float, training_state: dict | None = None) -> dict:
    """The labs' checkpoint fields plus the config, which alone rebuilds the model.

    An epoch checkpoint also holds `training_state` (core.training.resume): what else it takes to
    continue the run as if it had never stopped. Checkpoints without it still load for prediction.
    """
    payload = {
        "model_state_dict": model.state_dict(),
        "optimizer_state_dict": optimizer.state_dict() if optimizer is not None else {},
        "epoch": epoch,
        "loss": loss,
        "accuracy": accuracy,
        "config": config.to_dict(),
    }
    if training_state is not None:
        payload["training_state"] = training_state
    return payload


def save_checkpoint(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer | None,
                    config: RunConfig, epoch: int, loss: float, accuracy: float) -> None:
    """Write a checkpoint; the old file survives a failed write."""
    write_atomically(path, checkpoint_payload(model, optimizer, config, epoch, loss, accuracy))


def write_atomically(path: Path, payload: dict) -> None:
    # serialize in memory, then write: torch turns a failed write (a full disk) into an opaque
    # RuntimeError, where a plain write raises the OSError that says what went wrong
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    write_bytes_atomically(path, buffer.getbuffer())


def write_bytes_atomically(path: Path, data: bytes | memoryview) -> None:
    """Write beside the target, fsync, then rename: readers see the old file or the new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(path: Path | str, device: str | torch.device = "cpu") -> dict:
    """Read a checkpoint with weights_only=True; any problem is a CheckpointError naming the file."""
    path = Path(path)
    if path.is_dir():  # a run's folder, say: it read "not found"
        raise CheckpointError(f"{path} is a folder; give a checkpoint file in it (best.pt) or a run's id")
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    if path.suffix.lower() == ".onnx":  # an export of a checkpoint, not one: it read as corrupt
        raise CheckpointError(f"{path} is an ONNX model; give the .pt checkpoint it was exported from")
    _check_crcs(path)
    try:
        data = torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError as err:
        reason = _unpickler_reason(err)
        if "global" in reason.lower():  # torch's advice to allow it is left out: that would run the code
            raise CheckpointError(f"checkpoint refused: {path} holds more than plain weights and would run code "
                                  f"when loaded ({reason.split(' was not an allowed global')[0]}); a whole model "
                                  "saved with torch.save(model) is one: save model.state_dict() instead") from err
        raise CheckpointError(f"checkpoint is corrupt or truncated: {path} ({reason})") from err
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError) as err:
        raise CheckpointError(f"checkpoint is corrupt or truncated: {path}: {err}") from err
    data = _from_the_labs(data, path)
    validate_checkpoint(data, path)
    return data


def _from_the_labs(data: Any, path: Path) -> Any:
    """A checkpoint without settings, as the labs' scripts save one, given the settings of the model its weights
    fit; for weights that fit none, a CheckpointError saying what the checkpoint lacks and what would load."""
    if not isinstance(data, Mapping) or "config" in data:
        return data
    from core.labs.lab_checkpoint import adopted

    found = adopted(data)
    if found is None and not data:
        raise CheckpointError(f"checkpoint {path} holds nothing: no weights, no settings")
    if found is None and ("model_state_dict" in data or all(isinstance(v, torch.Tensor) for v in data.values())):
        raise CheckpointError(f"checkpoint {path} holds weights but no settings (config), and they are neither the "
                              "labs' SimpleCNN nor an MLP from 784 inputs to 10 classes (1 to 4 hidden layers of "
                              "at most 4,096 units), so no model here fits them; checkpoints written by MNIST Lab "
                              "(python -m core train, or the app) carry their settings")
    return data if found is None else found


def validate_checkpoint(data: Any, path: Path) -> None:
    """Refuse, naming the field, a checkpoint whose fields have the wrong type or whose weights are not finite."""
    if not isinstance(data, dict):
        raise CheckpointError(f"checkpoint {path} is a {type(data).__name__}, not a checkpoint's dict of fields")
    missing = {"model_state_dict", "config", "epoch"} - set(data)
    if missing:
        raise CheckpointError(f"checkpoint {path} lacks {', '.join(sorted(missing))}")
    _check_weights(data["model_state_dict"], path)
    if not isinstance(data["config"], dict):
        raise CheckpointError(f"checkpoint {path}: config must be a dict of settings, got {data['config']!r:.60}")
    epoch = data["epoch"]
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        raise CheckpointError(f"checkpoint {path}: epoch must be a whole number from 0, got {epoch!r:.60}")
    for key in ("loss", "accuracy"):
        value = data.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise CheckpointError(f"checkpoint {path}: {key} must be a number, got {value!r:.60}")
    if not isinstance(data.get("optimizer_state_dict", {}), dict):
        raise CheckpointError(f"checkpoint {path}: optimizer_state_dict must be a dict")


def _check_weights(state: Any, path: Path) -> None:
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        kind = type(state).__name__ if not isinstance(state, Mapping) else "a dict with values other than tensors"
        raise CheckpointError(f"checkpoint {path}: model_state_dict must map layer names to tensors, got {kind}")
    for name, tensor in state.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise CheckpointError(f"checkpoint {path} has non-finite weights (NaN or inf) in {name}: it cannot "
                                  f"predict anything; use an earlier epoch's checkpoint of that run")


def _check_crcs(path: Path) -> None:
    """Refuse a damaged file: torch.load does not check the CRCs, so flipped bits would load silently."""
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
        raise CheckpointError(f"checkpoint is corrupt or truncated: {path}: {err}") from err
    if damaged is not None:
        raise CheckpointError(f"checkpoint is corrupt or truncated: {path} ({damaged} fails its CRC check)")


def _unpickler_reason(err: Exception) -> str:
    """The one informative line of torch's long weights_only error."""
    noise = ("Weights only load failed", "Check the documentation", "Please file an issue")
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    named = [line for line in lines if line.startswith("WeightsUnpickler error: ")]  # torch 2.6 and later
    useful = named or [line for line in lines if not line.startswith(noise)]
    return (useful or lines or [type(err).__name__])[0].removeprefix("WeightsUnpickler error: ")


def load_model(path: Path | str, device: str | torch.device = "cpu") -> tuple[nn.Module, RunConfig, dict]:
    """The model saved in a checkpoint, in eval mode, with its config and the raw checkpoint."""
    data = load_checkpoint(path, device)
    try:
        config = RunConfig.from_dict(data["config"])
    except ConfigError as err:
        raise CheckpointError(f"checkpoint {path} has settings that are not valid: {err}") from err
    except (TypeError, ValueError) as err:  # e.g. hidden_sizes stored as a number
        raise CheckpointError(f"checkpoint {path} has malformed settings: {err}") from err
    model = build_model(config)
    try:
        model.load_state_dict(data["model_state_dict"])
    except RuntimeError as err:
        raise CheckpointError(f"checkpoint {path} does not fit model {config.model!r}: {_one_line(err)}") from err
    return model.to(device).eval(), config, data


def _one_line(err: Exception) -> str:
    return " ".join(str(err).split()) or type(err).__name__
