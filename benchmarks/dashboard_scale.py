"""The dashboard at scale: the Runs page over 1,000 runs (server side), and 20 long runs compared (in Chromium).

    python -m benchmarks.dashboard_scale                       # both parts, the issue's sizes
    python -m benchmarks.dashboard_scale --skip-browser --profile 25
    python -m benchmarks.dashboard_scale --skip-table --compare 20 --points 10000

Table (target: opens in under 1 s): a store with --runs finished-looking runs, written straight into
runs.db in bulk (one transaction): varied settings, tags, summaries, a test evaluation shaped like a
real one (confusion matrix, 200 misclassified), and per-batch metrics for one run in --metrics-every.
Under Streamlit's AppTest the Runs page's script run is timed: cold (its first run in this process,
which pays for the page's own imports and first reads) and warm (the median of --repeats reruns, as
on any widget change or a return to the page). AppTest runs the script as the server does but draws
nothing. --profile N prints the N costliest functions of one warm run (cProfile).

Compare (target: the chart renders in under 300 ms): another store with --compare runs of --points
per-batch steps each (loss, accuracy, lr and samples/s every step, the epoch and validation rows).
The app is started (`streamlit run streamlit_app.py` on a free port) and driven by headless
Chromium through Playwright: open Runs, tick one run, then tick them all with the table's
select-all box. Measured in the browser with performance.now():
  render: from the moment the chart component is handed its data (ui/static/live_chart.js records
    it on the chart as data-arrived-at) to Plotly's 'plotly_afterplot' event for the 20-run figure:
    parsing the payload, building and drawing every trace;
  click to chart: from the click on select-all to that same event: the server's script run (reading
    and smoothing the 20 runs, building the figure), the transfer, Streamlit's own rendering and the
    chart's.
The fastest and the median of --tries selections (each from one run ticked to all ticked) are given.
"""
from __future__ import annotations

import argparse
import cProfile
import json
import math
import os
import pstats
import random
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from benchmarks.dashboard_speed import evaluation_like
from core.config import RunConfig
from core.runs.records import Environment, RunSummary
from core.runs.store import RunStore, forget_parsed, new_run_id
from core.status import RunStatus
from tests.app_server import start as start_app
from tests.app_server import stop as stop_app

REPO = Path(__file__).resolve().parent.parent
APP = REPO / "streamlit_app.py"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ENDED = [RunStatus.FINISHED] * 6 + [RunStatus.EARLY_STOPPED, RunStatus.STOPPED, RunStatus.DIVERGED,
                                    RunStatus.INTERRUPTED, RunStatus.FAILED, RunStatus.PRUNED]
RUN_COLUMNS = ("id", "name", "config", "status", "created_at", "started_at", "ended_at", "environment", "tags",
               "notes", "summary", "evaluation", "message", "pid", "heartbeat_at", "stop_requested")
METRIC_SQL = "INSERT INTO metrics (run_id, step, epoch, split, name, value, wall_time) VALUES (?,?,?,?,?,?,?)"
TABLE_TARGET_S, RENDER_TARGET_MS = 1.0, 300.0


# --- filling a store in bulk ----------------------------------------------------------------------
def varied_config(rng: random.Random, i: int, epochs: int) -> RunConfig:
    return RunConfig(model=rng.choice(["mlp", "cnn", "fastcnn"]), optimizer=rng.choice(["adam", "sgd", "adamw"]),
                     lr=rng.choice([1e-3, 3e-3, 1e-2, 3e-2]), batch_size=rng.choice([32, 64, 128]),
                     epochs=epochs, seed=i, device="cpu", label_smoothing=rng.choice([0.0, 0.0, 0.1]))


def run_row(rng: random.Random, i: int, epochs: int, steps: int, now: float) -> tuple:
    """One ended run's row in runs.db, as the recorder leaves it."""
    config = varied_config(rng, i, epochs)
    status = ENDED[i % len(ENDED)]
    created = now - 3600 * (2000 - i)
    started, duration = created + 5, epochs * rng.uniform(5, 60)
    accuracy = 0.95 + 0.045 * rng.random()
    summary = RunSummary(status, epochs_completed=epochs, steps=epochs * steps, best_epoch=epochs,
                         best_val_accuracy=accuracy, best_val_loss=0.3 * (1 - accuracy) + 0.02,
                         test_loss=0.03, test_accuracy=accuracy - 0.002, tested_checkpoint="best",
                         tested_epoch=epochs)
    environment = Environment(torch="2.14.1", device="cpu", seed=i, parameters=rng.choice([101_770, 225_034]),
                              threads=2, python="3.12", pid=10_000 + i)
    tags = sorted({config.model, f"batch-{i % 7}", *(["baseline"] if i % 5 == 0 else [])})
    evaluation = json.dumps(evaluation_like(rng).to_dict())
    return (new_run_id()[:-6] + f"{i:06d}", f"run {i:04d}", config.to_json(), status, created, started,
            started + duration, json.dumps(environment.to_dict()), json.dumps(tags),
            "a note" if i % 4 == 0 else "", json.dumps(summary.to_dict()), evaluation, "", None, None, 0)


def metric_rows(run_id: str, epochs: int, steps: int, start: float, seed: int) -> Iterator[tuple]:
    """A run's metric rows: four per step (loss, accuracy, lr, samples/s), five an epoch, two at the end."""
    rng, step = random.Random(seed), 0
    per_step_s = 0.02
    for epoch in range(1, epochs + 1):
        for _ in range(steps):
            step += 1
            now = start + step * per_step_s
            loss = 2.3 * math.exp(-step / (400 + 40 * (seed % 10))) + 0.05 + 0.1 * rng.random()
            yield from ((run_id, step, epoch, "train", "loss", loss, now),
                        (run_id, step, epoch, "train", "accuracy", 1 - loss / 2.5, now),
                        (run_id, step, epoch, "train", "lr", 1e-3, now),
                        (run_id, step, epoch, "train", "samples_per_s", 20_000 + 1000 * rng.random(), now))
        now = start + step * per_step_s
        yield from ((run_id, step, epoch, "train", name, value, now) for name, value in
                    (("epoch_loss", 0.1 / epoch), ("epoch_accuracy", 0.97), ("epoch_seconds", steps * per_step_s)))
        yield from ((run_id, step, epoch, "val", "loss", 0.08 / epoch, now),
                    (run_id, step, epoch, "val", "accuracy", 0.98 + 0.001 * epoch, now))
    yield from ((run_id, step, epochs, "test", "loss", 0.07, now),
                (run_id, step, epochs, "test", "accuracy", 0.98, now))


def fill(root: Path, runs: int, epochs: int, steps: int, metrics_every: int) -> int:
    """Write runs (and the metrics of one in metrics_every) straight into a new store; returns metric rows."""
    store = RunStore(root)
    rng, now = random.Random(0), time.time()
    rows = [run_row(rng, i, epochs, steps, now) for i in range(runs)]
    written = 0
    with store.transaction() as db:
        db.executemany(f"INSERT INTO runs ({', '.join(RUN_COLUMNS)}) VALUES ({','.join('?' * len(RUN_COLUMNS))})",
                       rows)
        for i, row in enumerate(rows):
            if i % metrics_every == 0:
                points = list(metric_rows(row[0], epochs, steps, row[5], i))
                db.executemany(METRIC_SQL, points)
                written += len(points)
    for row in rows:
        store.run_dir(row[0]).mkdir(parents=True, exist_ok=True)
    return written


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg()) + f" on {os.cpu_count()} CPUs"


# --- the table of 1,000 runs, server side ----------------------------------------------------------
def runs_page_times(root: Path, repeats: int, profile: int) -> tuple[float, list[float]]:
    """Seconds of the Runs page's script run under AppTest: the first, then each of `repeats` reruns."""
    from streamlit.testing.v1 import AppTest

    os.environ["MNIST_RUNS_DIR"] = str(root)
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.run()
    at.switch_page("pages/runs.py")
    forget_parsed()  # the landing page's live panel listed the runs: start as a first visit to /runs does
    cold = timed(at)
    assert len(at.dataframe) == 1, "the runs table is not shown"
    warm = [timed(at) for _ in range(repeats)]
    if profile:
        with profiled_script_runs() as profiler:
            timed(at)
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(profile)
    return cold, warm


@contextmanager
def profiled_script_runs() -> Iterator[cProfile.Profile]:
    """cProfile of the script runs meanwhile: they happen on the script runner's thread, not this one."""
    from streamlit.runtime.scriptrunner.script_runner import ScriptRunner

    profiler, original = cProfile.Profile(), ScriptRunner._run_script

    def run_script(self, rerun_data):
        profiler.enable()
        try:
            return original(self, rerun_data)
        finally:
            profiler.disable()

    ScriptRunner._run_script = run_script
    try:
        yield profiler
    finally:
        ScriptRunner._run_script = original


def timed(at) -> float:
    started = time.perf_counter()
    at.run()
    elapsed = time.perf_counter() - started
    assert not at.exception, at.exception
    return elapsed


def table_part(args: argparse.Namespace, folder: Path) -> None:
    root = folder / "table"
    started = time.perf_counter()
    rows = fill(root, args.runs, 2, 860, args.metrics_every)
    print(f"Runs page, table of {args.runs} runs ({rows:,} metric rows, 1 run in {args.metrics_every} with "
          f"per-batch metrics; filled in {time.perf_counter() - started:.1f} s)")
    print(f"  before: {load()}")
    cold, warm = runs_page_times(root, args.repeats, args.profile)
    print(f"  after:  {load()}")
    print(f"  open the page, cold (first script run)   {cold:6.3f} s  "
          f"(target < {TABLE_TARGET_S:.0f} s: {'ok' if cold < TABLE_TARGET_S else 'MISSED'})")
    print(f"  rerun, warm (median of {len(warm)}, fastest)    {statistics.median(warm):6.3f} s, {min(warm):.3f} s  "
          f"(target < {TABLE_TARGET_S:.0f} s: {'ok' if statistics.median(warm) < TABLE_TARGET_S else 'MISSED'})")


# --- comparing 20 long runs, in Chromium -------------------------------------------------------------
@contextmanager
def app_server(runs_dir: Path) -> Iterator[str]:
    """The tests' app server (`streamlit run streamlit_app.py` on a free loopback port, its log beside
    the runs folder), stopped afterwards; yields its URL."""
    server = start_app(runs_dir)
    try:
        yield server.url
    finally:
        stop_app(server)


CHART = '.st-key-runs_curves .js-plotly-plot'
# from now on, note the time of each 'plotly_afterplot' of the chart (the one drawn for one run)
LISTEN = """gd => { window.__afterplot = []; gd.on('plotly_afterplot', () => window.__afterplot.push(
    {at: performance.now(), traces: gd._fullData.length, arrived: Number(gd.dataset.arrivedAt)})); }"""
CLICK_AT = "() => { window.__clickAt = performance.now(); }"
# the first afterplot with every run drawn: raw, smoothed and last-value marker for each
DRAWN = "traces => (window.__afterplot || []).find(e => e.traces >= traces) || null"


def table_point(page, frame, row: int) -> tuple[float, float]:
    """Where a click ticks a row's box in the table (row -1: the header's select-all box)."""
    box = frame.locator('[data-testid="stDataFrameResizable"]').bounding_box()
    return box["x"] + 18, box["y"] + 1 + 35 * (row + 1) + 35 / 2


def one_selection(page, url: str, runs: int, js_profile: int = 0) -> tuple[float, float, int]:
    """Tick one run, then all of them: (render ms, click-to-chart ms, points drawn). js_profile N: print
    the N JavaScript functions that took the most time (self) from the click to the chart."""
    page.goto(f"{url}/runs")
    frame = page.locator('[class*="st-key-runs_table_"] [data-testid="stDataFrame"]')
    frame.wait_for(timeout=120_000)
    page.mouse.click(*table_point(page, frame, 0))
    chart = page.locator(CHART)
    chart.wait_for(timeout=120_000)
    page.wait_for_function("selector => { const gd = document.querySelector(selector); return gd && gd._fullData; }",
                           arg=CHART, timeout=120_000)
    chart.evaluate(LISTEN)
    profiler = start_js_profile(page) if js_profile else None
    page.evaluate(CLICK_AT)
    page.mouse.click(*table_point(page, frame, -1))
    event = page.wait_for_function(DRAWN, arg=3 * runs, timeout=300_000).json_value()
    if profiler is not None:
        print_js_profile(profiler.send("Profiler.stop")["profile"], js_profile)
    click_at = page.evaluate("() => window.__clickAt")
    points = chart.evaluate("gd => gd._fullData.reduce((n, t) => n + (t.x ? t.x.length : 0), 0)")
    return event["at"] - event["arrived"], event["at"] - click_at, points


def start_js_profile(page):
    """Chromium's sampling profiler (DevTools protocol), started now; returns its session."""
    session = page.context.new_cdp_session(page)
    session.send("Profiler.enable")
    session.send("Profiler.setSamplingInterval", {"interval": 200})  # microseconds
    session.send("Profiler.start")
    return session


def print_js_profile(profile: dict, top: int) -> None:
    """The functions with the most self time in a DevTools CPU profile, as ms and share of the samples."""
    nodes = {node["id"]: node for node in profile["nodes"]}
    deltas = profile.get("timeDeltas", [])
    self_ms: dict[str, float] = {}
    for sample, delta in zip(profile["samples"], deltas):
        frame = nodes[sample]["callFrame"]
        where = f"{frame['functionName'] or '(anonymous)'} {Path(frame['url']).name}:{frame['lineNumber']}"
        self_ms[where] = self_ms.get(where, 0.0) + delta / 1000
    total = sum(self_ms.values())
    print(f"  JavaScript profile, click to chart: {total:.0f} ms sampled")
    for where, ms in sorted(self_ms.items(), key=lambda item: -item[1])[:top]:
        print(f"    {ms:7.1f} ms {100 * ms / total:5.1f}%  {where}")


def compare_part(args: argparse.Namespace, folder: Path) -> None:
    from playwright.sync_api import sync_playwright

    root = folder / "compare"
    started = time.perf_counter()
    rows = fill(root, args.compare, 1, args.points, 1)
    print(f"Runs page, compare {args.compare} runs of {args.points:,} per-batch points each ({rows:,} metric rows; "
          f"filled in {time.perf_counter() - started:.1f} s), headless Chromium at 1400x1000")
    print(f"  before: {load()}")
    results = []
    with app_server(root) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for _ in range(args.tries):
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                results.append(one_selection(page, url, args.compare, args.js_profile))
                page.close()
        finally:
            browser.close()
    print(f"  after:  {load()}")
    render, click, points = zip(*results)
    print(f"  points drawn: {points[-1]:,} in {3 * args.compare} traces (raw and smoothed lines, last values)")
    print(f"  render (data in the browser to plotly_afterplot)  fastest {min(render):7.1f} ms, median "
          f"{statistics.median(render):7.1f} ms  (target < {RENDER_TARGET_MS:.0f} ms: "
          f"{'ok' if statistics.median(render) < RENDER_TARGET_MS else 'MISSED'})")
    print(f"  click to chart (incl. the server's script run)    fastest {min(click):7.1f} ms, median "
          f"{statistics.median(click):7.1f} ms")
    print("  each try: " + ", ".join(f"{r:.0f}/{c:.0f}" for r, c in zip(render, click)) + " ms (render/click)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000, help="runs in the table")
    parser.add_argument("--metrics-every", type=int, default=10, help="one run in this many has per-batch metrics")
    parser.add_argument("--repeats", type=int, default=5, help="warm reruns of the table page")
    parser.add_argument("--profile", type=int, default=0, help="print the N costliest functions of a warm rerun")
    parser.add_argument("--compare", type=int, default=20, help="runs compared in the browser")
    parser.add_argument("--points", type=int, default=10_000, help="per-batch steps of each compared run")
    parser.add_argument("--tries", type=int, default=3, help="selections timed in the browser")
    parser.add_argument("--js-profile", type=int, default=0,
                        help="print the N JavaScript functions with the most self time in each selection")
    parser.add_argument("--skip-table", action="store_true")
    parser.add_argument("--skip-browser", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        if not args.skip_table:
            table_part(args, Path(folder))
        if not args.skip_browser:
            compare_part(args, Path(folder))


if __name__ == "__main__":
    main()
