"""TensorBoard event files read back with TensorBoard's own reader and server; ONNX run with onnxruntime."""
from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections import defaultdict
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
import torch
from pages_helpers import finished_run
from tabular_helpers import CLASSES, pets_config
from tensorboard.backend.event_processing import event_accumulator

from core.cli import main
from core.config import MODELS, RunConfig
from core.labs.confusion_image import confusion_image
from core.labs.onnx_export import TOLERANCE, example_input, max_difference, onnx_bytes
from core.labs.tensorboard import CONFUSION_TAG, export_runs, hparam_values
from core.runs.supervisor import execute_run
from core.training.checkpoints import load_model
from core.training.datasets import load_datasets
from core.training.models import build_model
from tests.cli_helpers import cli

REPO = Path(__file__).resolve().parent.parent


def read_events(folder: Path) -> event_accumulator.EventAccumulator:
    """Everything in a run's folder, nothing sampled away."""
    guidance = {event_accumulator.SCALARS: 0, event_accumulator.IMAGES: 0, event_accumulator.TENSORS: 0}
    accumulator = event_accumulator.EventAccumulator(str(folder), size_guidance=guidance)
    return accumulator.Reload()


def stored_series(store, run_id) -> dict[str, list[tuple[int, float, float]]]:
    """The store's metric rows by TensorBoard tag: (step, value as float32, wall time)."""
    series = defaultdict(list)
    for m in store.read_metrics(run_id)[0]:
        series[f"{m.split}/{m.name}"].append((m.step, float(np.float32(m.value)), m.wall_time))
    return dict(series)


def scalar_series(events, tags) -> dict[str, list[tuple[int, float, float]]]:
    return {tag: [(e.step, e.value, e.wall_time) for e in events.Scalars(tag)] for tag in tags}


@pytest.fixture
def two_runs(store):
    """A synthetic MNIST stand-in run and a run on a small CSV, both to their end."""
    image_run = finished_run(store, "bars", epochs=2)
    table_run = store.create_run(pets_config(store, epochs=2), name="pets <b>table</b>")
    assert execute_run(store, table_run) == "finished"
    return image_run, table_run


def test_exported_events_hold_every_stored_value(store, tmp_path, two_runs):
    folders = export_runs(store, two_runs, tmp_path / "tb")
    assert [f.parent for f in folders] == [tmp_path / "tb"] * 2
    assert folders[1].name == f"pets_b_table_b_{two_runs[1]}"
    for run_id, folder in zip(two_runs, folders):
        run = store.get_run(run_id)
        events = read_events(folder)
        stored = stored_series(store, run_id)
        scalar_tags = [tag for tag in events.Tags()["scalars"] if not tag.startswith("hparams/")]
        # the same tags for every run, and every stored row, value for value
        assert sorted(scalar_tags) == sorted(stored)
        assert {"train/loss", "train/accuracy", "train/lr", "val/loss", "val/accuracy", "test/accuracy"} <= set(stored)
        assert scalar_series(events, scalar_tags) == stored
        # the final results for the HParams tab, beside the settings
        final = {tag: events.Scalars(tag)[-1].value for tag in events.Tags()["scalars"] if tag.startswith("hparams/")}
        assert final["hparams/test_accuracy"] == pytest.approx(run.summary.test_accuracy, abs=1e-7)
        assert final["hparams/best_val_loss"] == pytest.approx(run.summary.best_val_loss, rel=1e-6)
        assert set(events.PluginTagToContent("hparams")) == {"_hparams_/experiment", "_hparams_/session_start_info",
                                                             "_hparams_/session_end_info"}
        # the final confusion matrix, as an image of the stored counts with the run's class names
        (image,) = events.Images(CONFUSION_TAG)
        classes = run.config.csv.classes if run.config.csv else tuple(str(d) for d in range(10))
        expected = confusion_image(run.evaluation.confusion, classes)
        assert (image.height, image.width) == expected.shape[:2]
    assert hparam_values(store.get_run(two_runs[1]))["csv_target"] == "animal"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str):
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def test_tensorboard_itself_serves_the_exported_runs(store, tmp_path, two_runs):
    export_runs(store, two_runs, tmp_path / "tb")
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "tensorboard.main", "--logdir", str(tmp_path / "tb"),
                               "--host", "127.0.0.1", "--port", str(port)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/data/plugin/scalars/scalars?"
    try:
        for run_id in two_runs:
            (folder,) = (tmp_path / "tb").glob(f"*_{run_id}")
            url = base + urllib.parse.urlencode({"run": folder.name, "tag": "train/loss"})
            stored = [(step, value) for step, value, _ in stored_series(store, run_id)["train/loss"]]
            served = poll_json(url, server, len(stored))
            assert [(step, value) for _, step, value in served] == stored
    finally:
        server.terminate()
        server.wait(10)


def poll_json(url: str, server: subprocess.Popen, points: int, timeout: float = 120.0):
    """The server's answer once it has loaded all the points (it reads the files in the background, and
    an answer in the middle of that holds only the first of them)."""
    deadline, answer = time.monotonic() + timeout, []
    while time.monotonic() < deadline:
        assert server.poll() is None, "tensorboard exited"
        try:
            answer = get_json(url)
            if len(answer) >= points:
                return answer
        except OSError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"tensorboard served {len(answer)} of {points} points at {url} within {timeout:.0f}s")


def test_train_writes_tensorboard_events_live_as_the_run_goes(tmp_path):
    """The real command, whose process ends without Python's teardown: the events are all on disk by then."""
    runs, out = tmp_path / "runs", tmp_path / "live"
    result = cli("train", "--model", "mlp", "--dataset", "synthetic", "--val-size", "100", "--epochs", "2",
                 "--device", "cpu", "--runs", str(runs), "--name", "live", "--tensorboard", str(out))
    assert result.returncode == 0, result.stderr
    from core.runs.store import RunStore

    store = RunStore(runs)
    (run,) = store.list_runs()
    (folder,) = out.iterdir()
    assert folder.name == f"live_{run.id}" and f"TensorBoard events in {folder}" in result.stdout
    events = read_events(folder)
    stored = stored_series(store, run.id)
    scalar_tags = [tag for tag in events.Tags()["scalars"] if not tag.startswith("hparams/")]
    assert sorted(scalar_tags) == sorted(stored)
    live = scalar_series(events, scalar_tags)
    # written from the trial's items beside the recorder: the same steps and values (each side has its clock)
    assert {tag: [(s, v) for s, v, _ in rows] for tag, rows in live.items()} == \
        {tag: [(s, v) for s, v, _ in rows] for tag, rows in stored.items()}
    assert events.Images(CONFUSION_TAG) and "hparams/test_accuracy" in events.Tags()["scalars"]


def test_cli_exports_runs_and_names_an_unknown_one(store, tmp_path, capsys, two_runs):
    out = tmp_path / "tensorboard logs"  # the command it prints is one to copy, a space and all
    assert main(["export", "tensorboard", *two_runs, "--out", str(out), "--runs", str(store.root)]) == 0
    assert f"tensorboard --logdir '{out}'" in capsys.readouterr().out
    assert len(list(out.iterdir())) == 2
    assert main(["export", "tensorboard", "nope", "--out", str(tmp_path / "x"), "--runs", str(store.root)]) == 2
    assert "no run has the id 'nope'" in capsys.readouterr().err


def test_cli_export_checks_every_id_and_the_folder_first_and_replaces_an_earlier_export(store, tmp_path, capsys,
                                                                                         two_runs):
    out, runs = tmp_path / "tb", str(store.root)
    assert main(["export", "tensorboard", two_runs[0], "nope", "--out", str(out), "--runs", runs]) == 2
    assert "no run has the id 'nope'" in capsys.readouterr().err and not out.exists()  # nothing half-written
    (tmp_path / "afile").write_text("")
    assert main(["export", "tensorboard", two_runs[0], "--out", str(tmp_path / "afile"), "--runs", runs]) == 2
    assert f"cannot write TensorBoard files into {tmp_path / 'afile'}" in capsys.readouterr().err
    for _ in range(2):  # again, and the same run twice: still one event file, or TensorBoard doubles the curves
        assert main(["export", "tensorboard", *two_runs, two_runs[0], "--out", str(out), "--runs", runs]) == 0
    assert sorted(len(list(folder.glob("events.out.tfevents.*"))) for folder in out.iterdir()) == [1, 1]


# --- ONNX ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("model", MODELS)
def test_onnx_models_match_torch_on_a_batch(model):
    config = RunConfig(model=model, hidden_sizes=(64, 32))
    torch.manual_seed(0)
    net = build_model(config).eval()
    data = onnx_bytes(net, config)
    batch = example_input(config, 32, seed=3)
    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    (logits,) = session.run(None, {"input": batch.numpy()})
    with torch.no_grad():
        expected = net(batch).numpy()
    assert logits.shape == (32, 10)
    np.testing.assert_allclose(logits, expected, atol=TOLERANCE, rtol=0)
    # any batch size, and the class names in the file
    (one,) = session.run(None, {"input": batch[:1].numpy()})
    np.testing.assert_allclose(one, expected[:1], atol=TOLERANCE, rtol=0)
    meta = {p.key: p.value for p in onnx.load_from_string(data).metadata_props}
    assert json.loads(meta["classes"]) == [str(d) for d in range(10)]


def test_cli_exports_a_table_checkpoint_that_standardises_raw_rows(store, tmp_path, capsys):
    config = pets_config(store, epochs=2)
    run_id = store.create_run(config)
    assert execute_run(store, run_id) == "finished"
    out = tmp_path / "pets.onnx"
    assert main(["export", "onnx", "--checkpoint", str(store.checkpoint_path(run_id, "best")),
                 "--out", str(out)]) == 0
    assert "onnxruntime matches torch on a batch of 32" in capsys.readouterr().out
    model, _, _ = load_model(store.checkpoint_path(run_id, "best"))
    rows = load_datasets(config, tables_dir=store.tables_dir).test.images  # the file's values, not standardised
    session = onnxruntime.InferenceSession(out.read_bytes(), providers=["CPUExecutionProvider"])
    (logits,) = session.run(None, {"input": rows.numpy()})
    with torch.no_grad():
        np.testing.assert_allclose(logits, model(rows).numpy(), atol=TOLERANCE, rtol=0)
    assert max_difference(out.read_bytes(), model, rows) <= TOLERANCE
    meta = {p.key: p.value for p in onnx.load(out).metadata_props}
    assert tuple(json.loads(meta["classes"])) == CLASSES and "weight" in meta["input"]


def test_a_run_is_named_by_its_id_for_export_and_test(store, tmp_path, capsys):
    """--checkpoint RUN_ID: the run's best checkpoint in --runs, as the Runs page names the run (a table run's
    test rows come from the same store)."""
    run_id = store.create_run(pets_config(store, epochs=1))
    assert execute_run(store, run_id) == "finished"
    best = store.checkpoint_path(run_id, "best")
    assert main(["export", "onnx", "--checkpoint", run_id, "--runs", str(store.root),
                 "--out", str(tmp_path / "m.onnx")]) == 0
    assert f"from {best}: onnxruntime matches torch" in capsys.readouterr().out
    assert main(["test", "--checkpoint", run_id, "--runs", str(store.root), "--show-samples", "0"]) == 0
    assert f"checkpoint: {best} (model mlp, epoch 1)" in capsys.readouterr().out
    # from inside the store, where the run's folder has the id's name: the run, not the folder
    with contextlib.chdir(store.root):
        assert main(["test", "--checkpoint", run_id, "--runs", ".", "--show-samples", "0"]) == 0
    assert "(model mlp, epoch 1)" in capsys.readouterr().out
    best.rename(store.checkpoint_path(run_id, 1).with_name("kept.pt"))  # best.pt gone, as by hand
    assert main(["test", "--checkpoint", run_id, "--runs", str(store.root), "--show-samples", "0"]) == 0
    assert f"checkpoint: {store.checkpoint_path(run_id, 1)}" in capsys.readouterr().out  # its latest epoch's


def test_a_run_id_with_no_checkpoint_or_not_in_the_store_is_said_so(store, tmp_path, capsys):
    queued = store.create_run(RunConfig(model="mlp", dataset="synthetic", val_size=100), name="waiting")
    assert main(["test", "--checkpoint", queued, "--runs", str(store.root)]) == 2
    assert f"error: run {queued} (waiting, queued) has no checkpoint: its first epoch has not ended yet" in \
        capsys.readouterr().err
    assert main(["export", "onnx", "--checkpoint", "20200101-000000-abcdef", "--runs", str(store.root),
                 "--out", str(tmp_path / "m.onnx")]) == 2
    assert "error: no run has the id '20200101-000000-abcdef'" in capsys.readouterr().err
    assert not (tmp_path / "m.onnx").exists()


@pytest.mark.parametrize("out, reason", [(".", "it is a folder; give a file name"),
                                         ("nodir/m.onnx", "the folder {tmp}/nodir does not exist")])
def test_cli_names_an_onnx_path_it_cannot_write(tmp_path, capsys, out, reason):
    path = tmp_path / out
    assert main(["export", "onnx", "--checkpoint", str(tmp_path / "none.pt"), "--out", str(path)]) == 2
    assert f"cannot write the ONNX model to {path}: {reason.format(tmp=tmp_path)}" in capsys.readouterr().err


def test_a_folder_given_as_the_checkpoint_is_named_a_folder(tmp_path, capsys):
    assert main(["test", "--checkpoint", str(tmp_path)]) == 2
    assert f"error: {tmp_path} is a folder; give a checkpoint file in it (best.pt) or a run's id" in \
        capsys.readouterr().err


def test_cli_names_a_missing_checkpoint_and_writes_nothing(tmp_path, capsys):
    assert main(["export", "onnx", "--checkpoint", str(tmp_path / "none.pt"), "--out", str(tmp_path / "m.onnx")]) == 2
    assert "checkpoint not found" in capsys.readouterr().err and not (tmp_path / "m.onnx").exists()


def test_the_runs_page_download_zips_one_folder_per_run(store, tmp_path, two_runs):
    import io
    import zipfile

    from core.labs.tensorboard import export_zip

    with zipfile.ZipFile(io.BytesIO(export_zip(store, two_runs))) as archive:
        archive.extractall(tmp_path / "unzipped")
    folders = sorted(p.name for p in (tmp_path / "unzipped").iterdir())
    assert len(folders) == 2 and all(any(name.endswith(run_id) for name in folders) for run_id in two_runs)
    for run_id in two_runs:
        (folder,) = (tmp_path / "unzipped").glob(f"*_{run_id}")
        events = read_events(folder)
        assert scalar_series(events, ["train/loss"]) == {"train/loss": stored_series(store, run_id)["train/loss"]}
