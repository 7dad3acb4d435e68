"""Train: settings or a preset, Start, and the current run live (from the store, not the session)."""
from __future__ import annotations

import time

import pandas as pd
import streamlit as st

from core.comparison.groups import parse_seeds, repeat_over_seeds
from core.config import (
    IMAGE_AUGMENTATIONS,
    IMAGE_DATASETS,
    MODELS,
    OPTIMIZERS,
    SCHEDULERS,
    ConfigError,
    RunConfig,
    nesterov_applies,
)
from core.devices import available_devices, resolve_device
from core.presets import PRESETS
from core.runs.progress import StepTime, describe, format_seconds, progress
from core.runs.queue import queue_order
from core.runs.records import Run, parse_tags
from core.runs.series import downsample_minmax, metric_series, metrics_frame
from core.runs.store import RunStore
from core.runs.supervisor import (
    HEARTBEAT_TIMEOUT_S,
    LaunchFailed,
    launch,
    not_responding,
    start_worker,
    status_label,
    stop_run,
)
from core.status import RunStatus
from core.training.data import DataError, require_files
from core.training.models import MODEL_DESCRIPTIONS
from ui.charts import Curve, color, curves_figure
from ui.common import (
    data_dir,
    format_time,
    get_store,
    list_runs,
    route_through_app,
    run_label,
    status_badge,
    store_guard,
)
from ui.tabular import CsvChoice, csv_section
from ui.text import markdown_text

PREFIX = "train_"
LR_CHOICES = sorted({float(f"{m}e{e}") for e in range(-5, 0) for m in (1, 2, 3, 5)}
                    | {1.0} | {p.config.lr for p in PRESETS.values()})
BATCH_CHOICES = sorted({16, 32, 64, 128, 256, 512, 1024} | {p.config.batch_size for p in PRESETS.values()})
WEIGHT_DECAY_CHOICES = sorted({0.0, 1e-6, 1e-5, 1e-4, 5e-4, 1e-3, 1e-2, 5e-2, 1e-1}
                              | {p.config.weight_decay for p in PRESETS.values()})
RECENT_RUNS = 20
STOP_MESSAGES = {"requested": "Stop requested: the run ends at its next flush and keeps its checkpoints.",
                 "cancelled": "Cancelled: the run had not started yet.",
                 "not active": "Nothing to stop: the run had already ended.",
                 "signalled": "Its worker was not responding, so its process was sent SIGTERM and the run is "
                              "marked stopped; the checkpoints it saved are kept."}


def form_values(config: RunConfig) -> dict[str, object]:
    """The form's widget values (by field name) for a config; the device stays the machine's."""
    values = config.to_dict()
    values.pop("device")
    values.pop("csv")  # a table comes from the CSV section, not from a widget
    values["hidden_sizes"] = ", ".join(str(size) for size in config.hidden_sizes)
    values["train_samples"] = config.train_samples or 0
    return values


def init_form() -> None:
    """Fill the form with the defaults the first time this session sees it."""
    for field, value in form_values(RunConfig()).items():
        st.session_state.setdefault(PREFIX + field, value)
    st.session_state.setdefault("train_device", resolve_device("auto").type)
    st.session_state.setdefault("train_name", "")
    st.session_state.setdefault("train_tags", "")


def apply_preset(name: str) -> None:
    """Button callback: a preset fills the form (before its widgets are drawn)."""
    for field, value in form_values(PRESETS[name].config).items():
        st.session_state[PREFIX + field] = value
    st.session_state["train_preset"] = name


def parse_sizes(text: str) -> tuple[int, ...]:
    """'256, 128' -> (256, 128)."""
    try:
        return tuple(int(part) for part in text.replace(" ", "").split(",") if part)
    except ValueError:
        raise ConfigError("hidden_sizes", f"write whole numbers separated by commas, e.g. 256, 128 "
                                          f"(got {text!r})") from None


def config_from_form(table: CsvChoice | None = None) -> RunConfig:
    """The form's RunConfig, on the checked table if there is one; raises ConfigError naming the field."""
    state = st.session_state
    values = {field: state[PREFIX + field] for field in form_values(RunConfig())}
    values.update(hidden_sizes=parse_sizes(state.train_hidden_sizes), device=state.train_device,
                  nesterov=bool(state.train_nesterov) and nesterov_applies(state.train_optimizer,
                                                                           state.train_momentum),
                  train_samples=int(state.train_train_samples) or None)
    if table is not None:
        values.update(dataset="csv", csv=table.table, model="mlp", val_size=table.val_size,
                      **dict.fromkeys(IMAGE_AUGMENTATIONS, 0))
    return RunConfig(**values)


def tabular() -> bool:
    """Whether the form trains on an uploaded CSV rather than images."""
    return st.session_state.get("train_source") == "CSV file"


def preset_buttons() -> None:
    """One button per preset with its description under it."""
    st.markdown("**Presets**")
    presets = list(PRESETS.items())
    # two to a row: four across cut their titles off in the settings column
    columns = [column for _ in range(0, len(presets), 2) for column in st.columns(2)]
    for column, (name, preset) in zip(columns, presets):
        with column:
            st.button(preset.title, key=f"train_preset_{name}", on_click=apply_preset, args=(name,),
                      width="stretch", type="primary" if st.session_state.get("train_preset") == name
                      else "secondary")
            st.caption(preset.description)


def model_and_optimizer() -> None:
    """Model, optimizer and the optimizer's own options; a table trains an MLP."""
    left, right = st.columns(2)
    if tabular():
        left.selectbox("Model", ["mlp"], key="train_table_model", help="A table's columns -> hidden layers "
                       "(ReLU) -> its classes, its inputs standardised with the training rows' mean and std")
    else:
        left.selectbox("Model", MODELS, key="train_model", help="\n\n".join(MODEL_DESCRIPTIONS.values()),
                       persist_state="session")
    if tabular() or st.session_state.train_model == "mlp":
        right.text_input("Hidden layer sizes", key="train_hidden_sizes", help="e.g. 256, 128",
                         persist_state="session")
    left, right = st.columns(2)
    optimizer = left.selectbox("Optimizer", OPTIMIZERS, key="train_optimizer", persist_state="session")
    right.select_slider("Weight decay", WEIGHT_DECAY_CHOICES, key="train_weight_decay",
                        format_func=lambda v: f"{v:g}", persist_state="session")
    if optimizer in ("sgd", "rmsprop"):
        left, right = st.columns(2)
        left.slider("Momentum", 0.0, 0.99, step=0.01, key="train_momentum", persist_state="session")
        if optimizer == "sgd":
            right.checkbox("Nesterov", key="train_nesterov", persist_state="session")
    st.select_slider("Learning rate (log scale)", LR_CHOICES, key="train_lr", format_func=lambda v: f"{v:g}",
                     persist_state="session")


def schedule_and_stopping() -> None:
    """Epochs, batch size, the learning-rate schedule and early stopping."""
    left, right = st.columns(2)
    left.slider("Epochs", 1, 50, key="train_epochs", persist_state="session")
    right.select_slider("Batch size", BATCH_CHOICES, key="train_batch_size", persist_state="session")
    scheduler = st.selectbox("LR schedule", SCHEDULERS, key="train_scheduler", persist_state="session",
                             help="cosine and onecycle step every batch; step and plateau once an epoch")
    left, right = st.columns(2)
    if scheduler == "step":
        left.number_input("Step every (epochs)", 1, 100, key="train_step_size", persist_state="session")
        right.number_input("Gamma", 0.01, 1.0, step=0.05, key="train_gamma", persist_state="session")
    elif scheduler == "plateau":
        left.number_input("Plateau patience", 0, 100, key="train_plateau_patience", persist_state="session")
        right.slider("Plateau factor", 0.05, 0.95, step=0.05, key="train_plateau_factor",
                     persist_state="session")
    left, right = st.columns(2)
    left.number_input("Early stopping patience", 0, 100, key="train_patience", persist_state="session",
                      help="Epochs without a better validation loss before stopping; 0 turns it off")
    right.number_input("Min delta", 0.0, 1.0, step=0.001, format="%.4f", key="train_min_delta",
                       persist_state="session", help="The least drop in validation loss that counts")


def run_settings() -> None:
    """Seed, device, name and tags, then the advanced settings."""
    left, right = st.columns(2)
    left.number_input("Seed", 0, 2**32 - 1, key="train_seed", persist_state="session")
    right.selectbox("Device", available_devices(), key="train_device", persist_state="session")
    left, right = st.columns(2)
    left.text_input("Run name", key="train_name", placeholder="optional", persist_state="session")
    right.text_input("Tags", key="train_tags", placeholder="comma, separated", persist_state="session")
    st.text_input("Repeat over seeds", key="train_seeds", placeholder="optional, e.g. 0-4 or 0 1 2",
                  persist_state="session", help="Queue these settings once per seed (a seed group), instead of "
                  "once with the seed above; the Runs page draws a seed group as a mean line with a band")
    with st.expander("Advanced"):
        left, right = st.columns(2)
        if not tabular():
            left.selectbox("Dataset", IMAGE_DATASETS, key="train_dataset", persist_state="session",
                           help="synthetic: 600 tiny bar images, a stand-in that trains in a second")
            right.number_input("Validation images", 0, 30_000, step=500, key="train_val_size",
                               persist_state="session")
        left.number_input("Training examples (0 = all)", 0, 60_000, step=1000, key="train_train_samples",
                          persist_state="session")
        left.slider("Label smoothing", 0.0, 0.5, step=0.05, key="train_label_smoothing",
                    persist_state="session")
        if not tabular():  # the augmentations change images
            augmentation()


def augmentation() -> None:
    """Random changes to each training batch, drawn from the run's seed."""
    st.caption("Augmentation: each batch changed at random, differently every epoch")
    left, right = st.columns(2)
    left.slider("Shift (px)", 0, 4, key="train_augment_shift", persist_state="session")
    right.slider("Rotation (degrees)", 0.0, 45.0, step=1.0, key="train_augment_rotate", persist_state="session")
    left.slider("Zoom (±)", 0.0, 0.5, step=0.05, key="train_augment_scale", persist_state="session",
                help="each image scaled by a factor within 1 ± this")
    right.slider("Stroke thickness (±)", 0.0, 1.0, step=0.1, key="train_augment_thickness",
                 persist_state="session", help="strokes thinned or thickened by up to this share of a pixel "
                 "on each side; drawn digits have thinner, even strokes than MNIST's")
    left.slider("Elastic distortion (px)", 0.0, 4.0, step=0.25, key="train_augment_elastic",
                persist_state="session", help="smooth random bends of up to this many pixels")


def start_run(table: CsvChoice | None) -> None:
    """Queue a run (or one per seed) from the form and start its worker; a bad setting or an unchecked table
    starts nothing."""
    if tabular() and table is None:
        st.error("Not started: upload a CSV that passes its checks first.", icon=":material/error:")
        return
    try:
        config = config_from_form(table)
        seeds = parse_seeds(st.session_state.get("train_seeds", ""))
        configs = repeat_over_seeds(config, seeds) if seeds else [config]
    except ConfigError as err:
        st.error(f"Not started: {markdown_text(err)}", icon=":material/error:")
        return
    store = get_store()
    if table is not None:
        store.add_table(table.data)  # kept by checksum before the run that refers to it exists
    name, tags = st.session_state.train_name.strip(), parse_tags(st.session_state.train_tags)
    try:
        if config.csv is None:
            require_files(config.dataset, data_dir())
        if seeds:
            run_ids = [store.create_run(each, name=f"{name or each.model} seed {each.seed}", tags=tags)
                       for each in configs]
            start_worker(store, run_ids, data_dir())
        else:
            run_ids = [launch(store, config, name=name, tags=tags, data_dir=data_dir())]
    except (DataError, LaunchFailed) as err:
        st.error(f"Not started: {markdown_text(err)}", icon=":material/error:")
        return
    st.session_state["train_launched"] = run_ids[0]
    st.session_state["train_view"] = "current"
    st.success(f"Queued run {run_ids[0]}." if len(run_ids) == 1 else
               f"Queued {len(run_ids)} runs, one per seed: {' '.join(map(str, seeds))}.",
               icon=":material/check_circle:")


def current_run(runs: list[Run], launched: str | None) -> Run | None:
    """The running run, else the next queued one, else the last one started here, else the newest."""
    active = queue_order(runs)
    if active:
        return active[0]
    by_id = {run.id: run for run in runs}
    return by_id.get(launched) or (runs[0] if runs else None)


def shown_run(runs: list[Run]) -> Run | None:
    """The run the panel shows: the current one, or one picked from the recent runs."""
    by_id = {run.id: run for run in runs[:RECENT_RUNS]}
    choice = st.selectbox("Show", ["current", *by_id], key="train_view",
                          format_func=lambda o: "Current run (follows the queue)" if o == "current"
                          else run_label(by_id[o]))
    if choice in by_id:
        return by_id[choice]
    return current_run(runs, st.session_state.get("train_launched"))


def show_queue(runs: list[Run]) -> None:
    """The queued and running runs, in the order they run."""
    # one element whether or not the queue is empty, so that what follows keeps its place in the
    # fragment: a shift leaves the previous run's elements on screen for a moment, shown twice
    box = st.container()
    active = queue_order(runs)
    if not active:
        return
    rows = [{"name": run.name, "status": status_label(run), "model": run.config.model,
             "epochs": run.config.epochs, "queued at": format_time(run.created_at)} for run in active]
    box.markdown(f"**Queue** ({len(active)} active)")
    box.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")


def live_frame(store: RunStore, run: Run) -> pd.DataFrame:
    """The run's metrics so far, reading only rows written since the last call."""
    live = st.session_state.get("train_live", {}).get(run.id)
    if live is None or live["started_at"] != run.started_at:  # new, or resumed: its rows after the resume
        live = {"cursor": 0, "frame": metrics_frame([]), "complete": False,  # point were dropped and come again
                "started_at": run.started_at}
    if not live["complete"]:
        new, live["cursor"] = store.read_metrics(run.id, after=live["cursor"])
        if new:
            live["frame"] = pd.concat([live["frame"], metrics_frame(new)], ignore_index=True)
        # the status was read before these rows: a final one means no more rows will come
        live["complete"] = not run.is_active
    st.session_state["train_live"] = {run.id: live}  # only the shown run's points are kept
    return live["frame"]


def last_value(frame: pd.DataFrame, split: str, name: str) -> float | None:
    rows = frame[(frame["split"] == split) & (frame["name"] == name)]
    return None if rows.empty else float(rows["value"].iloc[-1])


def step_times(frame: pd.DataFrame, since: float | None = None) -> tuple[StepTime | None, StepTime | None]:
    """The first per-batch point since a time (a resume's start: the pace is this stretch's) and the latest."""
    batches = frame[(frame["split"] == "train") & (frame["name"] == "loss")]
    recent = batches if since is None else batches[batches["wall_time"] >= since]
    first = StepTime(int(recent["step"].iloc[0]), float(recent["wall_time"].iloc[0])) if len(recent) else None
    last = StepTime(int(batches["step"].iloc[-1]), float(batches["wall_time"].iloc[-1])) if len(batches) else None
    return first, last


def progress_text(run: Run, frame: pd.DataFrame) -> tuple[float, str]:
    """Progress fraction and a line with the epoch, step, throughput and ETA."""
    if run.status == RunStatus.QUEUED:
        return 0.0, "Waiting in the queue"
    epoch = int(frame["epoch"].max()) if len(frame) else 1
    shown = progress(run.config, run.status, *step_times(frame, run.started_at), epoch,
                     last_value(frame, "train", "samples_per_s"))
    if run.status != RunStatus.RUNNING:
        return shown.fraction, f"{run.status.label} after {format_seconds(run.duration)} - {shown.step:,} steps"
    return shown.fraction, describe(shown)


def stop_button(store: RunStore, run: Run) -> None:
    """Stop a running run or cancel a queued one, and say what happened."""
    if run.is_active:
        label = "Cancel" if run.status == RunStatus.QUEUED else "Stop"
        if st.button(label, key="train_stop", icon=":material/stop_circle:"):
            st.session_state["train_stop_result"] = (run.id, stop_run(store, run.id))
    result = st.session_state.get("train_stop_result")
    if result and result[0] == run.id:
        st.info(STOP_MESSAGES[result[1]], icon=":material/info:")


def run_header(store: RunStore, run: Run, frame: pd.DataFrame) -> None:
    """Name, status, message, progress and the headline numbers."""
    title, stop = st.columns([4, 1], vertical_alignment="center")
    with title:
        st.subheader(markdown_text(run.name), anchor=False)
        status_badge(run)
    with stop:
        stop_button(store, run)
    message = st.empty()  # present with or without a message: nothing below shifts
    if not_responding(run):
        message.warning(f"Its worker (pid {run.pid}) has not reported for "
                        f"{format_seconds(time.time() - run.heartbeat_at)}: it may be frozen (suspended) or the "
                        f"machine may be swapping. Queued runs no longer wait for it after "
                        f"{HEARTBEAT_TIMEOUT_S:.0f} s; Stop ends its process.", icon=":material/hourglass_disabled:")
    elif run.message and run.status in (RunStatus.FAILED, RunStatus.DIVERGED):
        message.error(markdown_text(run.message))
    elif run.message:
        message.caption(markdown_text(run.message))
    fraction, text = progress_text(run, frame)
    st.progress(fraction, text=text)
    best_val, test = run.summary.best_val_accuracy, run.summary.test_accuracy
    val = best_val if best_val is not None else last_value(frame, "val", "accuracy")
    columns = st.columns(3)
    columns[0].metric("Validation accuracy", "-" if val is None else f"{val:.2%}")
    columns[1].metric("Test accuracy", "-" if test is None else f"{test:.2%}")
    columns[2].metric("Time", format_seconds(run.duration) or "-")


def live_charts(frame: pd.DataFrame) -> None:
    """Per-batch training loss and accuracy with per-epoch validation points, by step."""
    for column, name in zip(st.columns(2), ("loss", "accuracy")):
        x, y = downsample_minmax(*metric_series(frame, "train", name))
        curves = [Curve("train (per batch)", x, y, color(0)),
                  Curve("train (epoch mean)", *metric_series(frame, "train", f"epoch_{name}"), color(2),
                        markers=True),
                  Curve("validation", *metric_series(frame, "val", name), color(1), markers=True)]
        column.plotly_chart(curves_figure(curves, name.capitalize(), "step"), key=f"train_chart_{name}")


@st.fragment(run_every=1.0)
def live_panel() -> None:
    """Reruns every second: the queue and the shown run, reading only new metric rows."""
    with store_guard("train_live"):
        show_live()


def show_live() -> None:
    """The queue, then the shown run's header and charts."""
    store = get_store()
    runs = list_runs(store)
    show_queue(runs)
    run = shown_run(runs)
    if run is None:
        st.info("No runs yet: choose settings or a preset and press Start.", icon=":material/info:")
        return
    frame = live_frame(store, run)
    run_header(store, run, frame)
    if frame.empty:
        st.caption("No metrics yet.")
        return
    live_charts(frame)


route_through_app()
st.header("Train", divider="gray")
init_form()
settings, monitor = st.columns([2, 3], gap="large")
with settings:
    st.segmented_control("Data", ["MNIST", "CSV file"], default="MNIST", required=True, key="train_source",
                         help="MNIST digits (or the synthetic stand-in), or a table of your own")
    checked_table = None
    if tabular():
        with st.container(border=True):
            checked_table = csv_section()
    else:
        preset_buttons()
    with st.container(border=True):
        model_and_optimizer()
        schedule_and_stopping()
        run_settings()
    if st.button("Start", type="primary", icon=":material/play_arrow:", key="train_start",
                 width="stretch"):
        with store_guard("train_start"):
            start_run(checked_table)
with monitor:
    live_panel()
