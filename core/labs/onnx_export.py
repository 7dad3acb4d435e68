"""A checkpoint's model as an ONNX file, checked with onnxruntime against torch on a batch."""
from __future__ import annotations

import io
import json
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from core.config import RunConfig, class_names, input_size
from core.training.checkpoints import load_model

TOLERANCE = 1e-5  # largest |onnxruntime - torch| allowed on a logit
INPUT, OUTPUT = "input", "logits"


class OnnxExportError(RuntimeError):
    """The model could not be exported, or the exported file does not compute what torch does."""


def example_input(config: RunConfig, batch: int = 8, seed: int = 0) -> torch.Tensor:
    """A batch shaped as the model takes it: MNIST-normalised images (B, 1, 28, 28) or table rows (B, F)."""
    gen = torch.Generator().manual_seed(seed)
    if config.csv is not None:
        return torch.randn(batch, input_size(config), generator=gen) * 3
    return torch.randn(batch, 1, 28, 28, generator=gen)


def onnx_bytes(model: nn.Module, config: RunConfig) -> bytes:
    """The model in eval mode as ONNX, any batch size; class and input names in its metadata."""
    import onnx

    model = model.eval()
    batch = torch.export.Dim("batch", min=1)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's notes on its own internals, not the user's concern
        program = torch.onnx.export(model, (example_input(config, 2),), input_names=[INPUT], output_names=[OUTPUT],
                                    dynamic_shapes=({0: batch},), dynamo=True, verbose=False)
    program.save(buffer)
    proto = onnx.load_from_string(buffer.getvalue())
    for key, value in metadata(config).items():
        proto.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(proto)
    return proto.SerializeToString()


def metadata(config: RunConfig) -> dict[str, str]:
    """What a user of the file needs to know: the classes in output order and what the input is."""
    if config.csv is not None:
        inputs = (f"table rows (batch, {config.csv.inputs}): the feature columns "
                  f"{json.dumps(list(config.csv.features))}, one-hot columns as 0/1 per value; "
                  "standardised inside the model")
    else:
        inputs = "images (batch, 1, 28, 28): pixels / 255, then (x - 0.1307) / 0.3081"
    return {"classes": json.dumps(list(class_names(config))), "input": inputs, "config": config.to_json()}


def max_difference(data: bytes, model: nn.Module, batch: torch.Tensor) -> float:
    """Largest |onnxruntime - torch| over the logits of a batch."""
    import onnxruntime

    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    (ours,) = session.run([OUTPUT], {INPUT: batch.numpy()})
    with torch.no_grad():
        theirs = model.eval()(batch).numpy()
    return float(np.abs(ours - theirs).max())


def export_checkpoint(checkpoint: Path | str, out: Path | str) -> tuple[float, str | None]:
    """Export a checkpoint's model to out, checked on a batch of 32; returns the largest difference seen, and
    the note of a checkpoint whose settings were inferred from its weights (one the labs saved)."""
    model, config, saved = load_model(checkpoint)
    data = onnx_bytes(model, config)
    difference = max_difference(data, model, example_input(config, 32, seed=1))
    if not difference <= TOLERANCE:
        raise OnnxExportError(f"the ONNX model's logits differ from torch's by {difference:.3g} "
                              f"(allowed: {TOLERANCE:g}); nothing was written")
    Path(out).write_bytes(data)
    return difference, saved.get("inferred")
