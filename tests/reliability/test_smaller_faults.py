"""Issue 16, case 8: a write lock held past the busy timeout, a corrupt test-images file on the Runs
page, bad counts for `python -m core test`, and a missing MNIST file (no network unless asked)."""
from __future__ import annotations

import gzip
import shutil
import socket
import sqlite3
import time

import pytest
import torch
from pages_helpers import app_store, as_shown, finished_run, open_page  # noqa: F401
from reliability_helpers import one_error_line, train_loss_steps, wait_for, wait_until_dead

from core.cli import main
from core.config import RunConfig
from core.runs.supervisor import launch
from core.training import data
from core.training.data import DEFAULT_DATA_DIR
from core.training.models import build_model

BUSY_TIMEOUT_S = 1.0


def test_a_write_lock_held_past_the_busy_timeout_delays_a_run_but_does_not_fail_it(store, endless_config, reaper,
                                                                                   monkeypatch):
    monkeypatch.setenv("MNIST_DB_BUSY_TIMEOUT_S", str(BUSY_TIMEOUT_S))  # the worker gives up a write after 1 s
    run_id = launch(store, endless_config, name="patient")
    wait_for(lambda: store.read_metrics(run_id)[0], timeout=120, what="the run to train")
    with sqlite3.connect(store.db_path, isolation_level=None) as db:
        db.execute("BEGIN IMMEDIATE")  # another process holds the write lock for 5 busy timeouts
        time.sleep(5 * BUSY_TIMEOUT_S)
        db.execute("COMMIT")
    _, cursor = store.read_metrics(run_id)
    wait_for(lambda: store.read_metrics(run_id, after=cursor)[0], timeout=60, what="rows after the lock")
    assert store.get_run(run_id).status == "running"
    assert store.request_stop(run_id) == "requested"
    wait_for(lambda: store.get_run(run_id).status != "running", timeout=60, what="the run to stop")
    wait_until_dead(store.get_run(run_id).pid, timeout=60)
    run = store.get_run(run_id)
    assert run.status == "stopped", run.message
    steps = train_loss_steps(store.read_metrics(run_id)[0])
    assert steps == list(range(1, len(steps) + 1))  # the rows held back while locked all landed, in order
    assert "locked" not in (store.root / "worker.log").read_text()


@pytest.fixture
def data_copy(tmp_path, monkeypatch):
    """A copy of the MNIST files that the app reads through MNIST_DATA_DIR."""
    copy = tmp_path / "mnist"
    shutil.copytree(DEFAULT_DATA_DIR, copy)
    monkeypatch.setenv("MNIST_DATA_DIR", str(copy))
    return copy


def test_a_corrupt_test_images_file_fails_only_the_gallery(app_store, data_copy):
    run_id = finished_run(app_store, "on mnist's pictures")
    # the gallery shows MNIST's test images for an MNIST run's mistakes: make the stored run one, with one
    wrong = '[{"index": 3, "label": 1, "predicted": 7, "confidence": 0.9}]'
    with sqlite3.connect(app_store.db_path) as db:
        db.execute("UPDATE runs SET config = json_set(config, '$.dataset', 'mnist'), "
                   "evaluation = json_set(evaluation, '$.misclassified', json(?)) WHERE id = ?", (wrong, run_id))
    images = data_copy / "t10k-images-idx3-ubyte.gz"
    raw = bytearray(gzip.decompress(images.read_bytes()))
    raw[5000] ^= 0xFF
    images.write_bytes(gzip.compress(bytes(raw)))
    at = open_page("pages/runs.py")
    at.session_state[at.dataframe[0].key] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    assert not at.exception
    shown = [as_shown(error.value) for error in at.error]
    assert any(s.startswith("Cannot show the misclassified images: MNIST file is corrupt (checksum mismatch")
               and str(images) in s for s in shown), shown
    assert at.get("plotly_chart")  # the curves and the results still show


@pytest.mark.parametrize(("flag", "value", "says"), [
    ("--batch-size", "0", "--batch-size: must be from 1 to 8192, got 0"),
    ("--batch-size", "-1", "--batch-size: must be from 1 to 8192, got -1"),
    ("--show-samples", "-1", "--show-samples: must be 0 or more, got -1"),
])
def test_bad_counts_for_the_test_command_get_one_line(store, capsys, flag, value, says):
    run_id = finished_run(store, "tested")
    capsys.readouterr()
    assert main(["test", "--checkpoint", str(store.checkpoint_path(run_id, "best")), flag, value]) == 2
    assert one_error_line(capsys.readouterr().err) == f"error: {says}"


def test_more_samples_than_test_images_shows_them_all_once(store, capsys):
    run_id = finished_run(store, "tested")
    capsys.readouterr()
    assert main(["test", "--checkpoint", str(store.checkpoint_path(run_id, "best")), "--show-samples", "100000"]) == 0
    out = capsys.readouterr().out
    assert "first 200 test images:" in out and out.count("  #") == 200  # the synthetic test set's 200


def test_a_missing_mnist_file_is_named_and_nothing_is_fetched(app_store, data_copy, capsys, monkeypatch):
    missing = data_copy / "train-labels-idx1-ubyte.gz"
    missing.unlink()
    tried = []
    monkeypatch.setattr(socket.socket, "connect", lambda self, address: tried.append(address))
    says = f"MNIST file missing: {missing}. Nothing is downloaded by itself"
    code = main(["train", "--model", "mlp", "--epochs", "1", "--data-dir", str(data_copy),
                 "--runs", str(app_store.root)])
    assert code == 2 and one_error_line(capsys.readouterr().err).startswith(f"error: {says}")
    at = open_page("pages/train.py")  # the app reads the same copy through MNIST_DATA_DIR
    at.button(key="train_start").click().run()
    assert not at.exception
    assert any(as_shown(error.value).startswith(f"Not started: {says}") and "download-mnist" in as_shown(error.value)
               for error in at.error)
    assert app_store.list_runs() == [] and tried == []  # nothing stored, nothing fetched


def test_testing_an_mnist_checkpoint_needs_only_the_test_files(tmp_path, data_copy, capsys):
    torch.manual_seed(0)
    config = RunConfig(model="mlp")
    path = tmp_path / "mnist-mlp.pt"
    torch.save({"model_state_dict": build_model(config).state_dict(), "config": config.to_dict(), "epoch": 1}, path)
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"):
        (data_copy / name).unlink()  # it named the training images as missing
    assert main(["test", "--checkpoint", str(path), "--data-dir", str(data_copy), "--show-samples", "0"]) == 0
    assert "(model mlp, epoch 1)" in capsys.readouterr().out
    (data_copy / "t10k-labels-idx1-ubyte.gz").unlink()
    assert main(["test", "--checkpoint", str(path), "--data-dir", str(data_copy)]) == 2
    missing = data_copy / "t10k-labels-idx1-ubyte.gz"
    assert one_error_line(capsys.readouterr().err).startswith(f"error: MNIST file missing: {missing}.")


def test_a_download_happens_only_when_asked_and_only_over_https(tmp_path, capsys, monkeypatch):
    asked = []

    def offline(url, root, filename=None, **kwargs):
        asked.append(url)
        raise OSError("no network here")

    import torchvision.datasets.utils as tv_utils
    monkeypatch.setattr(tv_utils, "download_url", offline)
    assert main(["download-mnist", "--data-dir", str(tmp_path / "mnist")]) == 2
    assert "could not download train-images-idx3-ubyte.gz" in one_error_line(capsys.readouterr().err)
    assert asked and all(url.startswith("https://") for url in asked)
    assert set(data.MNIST_MIRRORS) == {url.rsplit("/", 1)[0] + "/" for url in asked}
    assert asked[0].endswith("train-images-idx3-ubyte.gz")
