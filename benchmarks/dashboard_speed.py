"""The dashboard's server-side cost: the Runs page comparing stored runs, and one Draw-page prediction.

    python -m benchmarks.dashboard_speed                 # 20 runs of 5 MNIST epochs, compare 5 of them
    python -m benchmarks.dashboard_speed --runs 200 --compare 5

Runs page: the store is filled as benchmarks.store_scale does (every per-batch row a 5-epoch run at
batch 64 leaves, 17,227 rows a run) plus an evaluation shaped like a real one (per-class accuracy,
confusion matrix, 200 misclassified images) and each epoch's validation predictions (5,000 bytes).
Under Streamlit's AppTest the page is opened, then --compare rows are selected; the time is that
script run, cold (first look at those runs: metrics read from SQLite, smoothed, downsampled, figures
built) and warm (a widget change afterwards, and the seed groups turned on).
AppTest runs the script as the server does but draws nothing: browser rendering is not included.

Draw page: what the server does for one drawing and one model, timed separately for each model:
MNIST-style preprocessing of a 280x280 RGBA canvas, the forward pass with probabilities, and the
saliency map's backward pass. The model is loaded once beforehand, as st.cache_resource keeps it.
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.store_scale import fill_store
from core.config import RunConfig
from core.insight.inference import predict
from core.insight.preprocess import preprocess
from core.runs.records import EpochValidation
from core.runs.store import RunStore
from core.training.evaluation import Evaluation, Misclassified
from core.training.models import build_model

APP = Path(__file__).resolve().parent.parent / "streamlit_app.py"


def evaluation_like(rng: random.Random, wrong: int = 200) -> Evaluation:
    """A test evaluation with the sizes a real one has."""
    confusion = [[rng.randint(0, 5) if t != p else 980 for p in range(10)] for t in range(10)]
    mistakes = [Misclassified(rng.randrange(10_000), rng.randrange(10), rng.randrange(10), rng.random())
                for _ in range(wrong)]
    return Evaluation(0.03, 0.99, [0.99] * 10, confusion, mistakes)


def validations_like(rng: random.Random, epochs: int, images: int = 5000) -> list[EpochValidation]:
    """Each epoch's validation predictions, one byte per image of MNIST's default 5,000, and a confusion."""
    confusion = [[images // 10 - 9 if t == p else 1 for p in range(10)] for t in range(10)]
    return [EpochValidation(epoch, confusion, rng.randbytes(images)) for epoch in range(1, epochs + 1)]


def filled_store(root: Path, runs: int, epochs: int, steps: int) -> RunStore:
    store = RunStore(root)
    rng = random.Random(0)
    for run_id in fill_store(store, runs, epochs, steps):
        store.set_evaluation(run_id, evaluation_like(rng))
        for validation in validations_like(rng, epochs):
            store.add_validation(run_id, validation)
    return store


def timed_run(at, **kwargs) -> float:
    started = time.perf_counter()
    at.run(**kwargs)
    assert not at.exception, at.exception
    return time.perf_counter() - started


def runs_page_seconds(root: Path, compare: int) -> dict[str, float]:
    """Open the Runs page, select rows, change the smoothing: seconds for each script run."""
    from streamlit.testing.v1 import AppTest

    os.environ["MNIST_RUNS_DIR"] = str(root)
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.run()
    at.switch_page("pages/runs.py")
    seconds = {"open the page (table of all runs)": timed_run(at)}
    rows = {"selection": {"rows": list(range(compare)), "columns": [], "cells": []}}
    at.session_state[at.dataframe[0].key] = rows
    seconds[f"select {compare} runs: compare, cold"] = timed_run(at)
    assert len(at.get("plotly_chart")) >= 2, "the comparison did not render"
    at.slider(key="runs_smoothing").set_value(0.9)
    seconds[f"change smoothing: compare {compare}, warm"] = timed_run(at)
    at.toggle(key="runs_grouped").set_value(True)
    seconds[f"seed groups on: compare {compare}, warm"] = timed_run(at)
    return seconds


def canvas_with_a_digit(seed: int) -> np.ndarray:
    """A 280x280 RGBA canvas with a thick white loop on black, as the Draw page receives it."""
    canvas = np.zeros((280, 280, 4), np.uint8)
    canvas[..., 3] = 255
    yy, xx = np.mgrid[:280, :280]
    jitter = random.Random(seed).uniform(-10, 10)
    ring = np.abs(np.hypot((xx - 140 - jitter) / 55, (yy - 140) / 90) - 1) < 0.18
    canvas[ring, :3] = 255
    return canvas


def prediction_ms(model_name: str, repeats: int) -> dict[str, float]:
    """Median milliseconds of preprocessing, and of prediction with saliency, for one model."""
    model = build_model(RunConfig(model=model_name, device="cpu")).eval()
    canvases = [canvas_with_a_digit(i) for i in range(repeats)]
    preprocess_s, predict_s = [], []
    predict(model, preprocess(canvases[0]))  # the first call pays for lazy initialisation
    for canvas in canvases:
        started = time.perf_counter()
        image = preprocess(canvas)
        between = time.perf_counter()
        predict(model, image)
        preprocess_s.append(between - started)
        predict_s.append(time.perf_counter() - between)
    return {"preprocess": 1000 * statistics.median(preprocess_s),
            "predict + saliency": 1000 * statistics.median(predict_s)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--steps", type=int, default=860, help="steps per epoch (MNIST at batch 64)")
    parser.add_argument("--compare", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=50, help="drawings per model")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "runs"
        started = time.perf_counter()
        filled_store(root, args.runs, args.epochs, args.steps)
        print(f"Runs page: {args.runs} runs x {args.epochs} epochs x {args.steps} steps "
              f"(filled in {time.perf_counter() - started:.1f} s); script run times under AppTest:")
        for label, seconds in runs_page_seconds(root, args.compare).items():
            verdict = "" if "compare" not in label else f"  (target < 2 s: {'ok' if seconds < 2 else 'MISSED'})"
            print(f"  {label:<42} {seconds:6.2f} s{verdict}")
    print(f"Draw page, one prediction, median of {args.repeats} drawings (target < 100 ms in all):")
    for model_name in ("mlp", "cnn", "fastcnn"):
        ms = prediction_ms(model_name, args.repeats)
        total = sum(ms.values())
        print(f"  {model_name:<8} " + ", ".join(f"{k} {v:6.2f} ms" for k, v in ms.items())
              + f", total {total:6.2f} ms  ({'ok' if total < 100 else 'MISSED'})")


if __name__ == "__main__":
    main()
