"""Inside-the-model views and robustness curves: server-side time for one model, one checkpoint.

    python -m benchmarks.insight_speed                  # views (core and the Inside page) and curves, 3 models
    python -m benchmarks.insight_speed --skip-curves

Views: `core.insight.inside.look_inside` for one MNIST test image (class evidence by the gradient,
integrated gradients with 32 steps and 13x13 occlusion patches; every layer's output; the first
layer's weights), median of --repeats images, then the Inside page under Streamlit's AppTest with
that one model: the script run after the input changes (the model already loaded, as the server's
cache keeps it). Target: under 300 ms. AppTest runs the script as the server does but draws nothing.

Curves: `core.insight.robustness_jobs.compute` on a checkpoint of each model, as the background job
runs it: loading the checkpoint and MNIST, then 48 perturbation levels on 2,000 test images (FGSM
with a backward pass). Target: under 60 s. Weights do not change the cost, so the checkpoints hold
freshly initialised models. Run it on a quiet machine: `flock -x /work/cpu.lock python -m ...`.
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

from core.config import MODELS, RunConfig
from core.insight import robustness_jobs
from core.insight.inside import look_inside
from core.runs.store import RunStore
from core.training.checkpoints import save_checkpoint
from core.training.data import load_test_images, normalize
from core.training.models import build_model

APP = Path(__file__).resolve().parent.parent / "streamlit_app.py"


def stored_run(store: RunStore, model_name: str) -> str:
    """A finished run of the model with a best checkpoint."""
    config = RunConfig(model=model_name, device="cpu")
    run_id = store.create_run(config, name=model_name)
    save_checkpoint(store.checkpoint_path(run_id, "best"), build_model(config).eval(), None, config, 1, 0.1, 0.9)
    store.finish(run_id, "finished")
    return run_id


def views_ms(model_name: str, repeats: int) -> float:
    """Median milliseconds of look_inside over test images."""
    model = build_model(RunConfig(model=model_name)).eval()
    images = normalize(load_test_images("mnist")[:repeats + 1])
    look_inside(model, images[:1])  # the first call pays for lazy initialisation
    times = []
    for index in range(1, repeats + 1):
        started = time.perf_counter()
        look_inside(model, images[index:index + 1])
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times)


def page_ms(root: Path, run_id: str, repeats: int) -> float:
    """Median milliseconds of the Inside page's script run for one model as the test image changes."""
    from streamlit.testing.v1 import AppTest

    os.environ["MNIST_RUNS_DIR"] = str(root)
    at = AppTest.from_file(str(APP), default_timeout=120).run()
    at.switch_page("pages/inside.py").run()
    at.multiselect(key="inside_runs").set_value([run_id]).run()
    at.segmented_control(key="inside_source").set_value("Test image").run()
    times = []
    for index in range(1, repeats + 1):
        at.number_input(key="inside_test_index").set_value(index)
        started = time.perf_counter()
        at.run()
        times.append(time.perf_counter() - started)
        assert not at.exception, at.exception
    assert len(at.get("image")) > 0, "no views were drawn"
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--skip-curves", action="store_true")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "runs"
        store = RunStore(root)
        runs = {name: stored_run(store, name) for name in MODELS}
        print(f"Inside-the-model views for one model, median of {args.repeats} test images (target < 300 ms):")
        for name, run_id in runs.items():
            core_ms, page = views_ms(name, args.repeats), page_ms(root, run_id, args.repeats)
            print(f"  {name:<8} look_inside {core_ms:7.1f} ms, Inside page script run {page:7.1f} ms "
                  f"({'ok' if page < 300 else 'MISSED'})")
        if args.skip_curves:
            return
        print("Robustness curves for one checkpoint, 2,000 test images (target < 60 s):")
        for name, run_id in runs.items():
            started = time.perf_counter()
            result = robustness_jobs.compute(store, run_id)
            seconds = time.perf_counter() - started
            print(f"  {name:<8} {seconds:6.1f} s for {sum(len(c.levels) for c in result.curves)} levels "
                  f"({'ok' if seconds < 60 else 'MISSED'})")


if __name__ == "__main__":
    main()
