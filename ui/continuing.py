"""Runs page controls for runs that go on: resume, fork from an epoch, repeat over seeds, and lineage."""
from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import streamlit as st

from core.comparison.groups import parse_seeds, repeat_over_seeds
from core.config import MAX_EPOCHS, OPTIMIZERS, SCHEDULERS, ConfigError
from core.names import MAX_NAME_CHARS, InvalidText, derived_name, kept_tags
from core.runs import continuation, supervisor
from core.runs.continuation import CannotContinue
from core.runs.final_test import lost_checkpoints
from core.runs.records import Run
from core.runs.store import RunActive, RunStore
from core.training.checkpoints import CheckpointError
from ui.charts import Branch, Curve, run_color
from ui.common import data_dir, format_time
from ui.text import markdown_text

REFUSALS = (RunActive, CannotContinue, ConfigError, CheckpointError, InvalidText)
LR_CHOICES = sorted({float(f"{m}e{e}") for e in range(-5, 0) for m in (1, 2, 3, 5)} | {1.0})


def flash(kind: str, text: str) -> None:
    """Keep a message for the Runs page's next rerun."""
    st.session_state["runs_flash"] = (kind, text)


def start_worker(store: RunStore, run_ids: list[str]) -> bool:
    """A worker for runs just queued; False, with the reason shown, if none could start (the runs are failed)."""
    try:
        supervisor.start_worker(store, run_ids, data_dir())
    except supervisor.LaunchFailed as err:
        st.error(f"Not started: {markdown_text(err)}", icon=":material/error:")
        return False
    return True


def lineage_table(store: RunStore, run: Run) -> None:
    """The run's parent and the runs forked from it, as a small table of plain text."""
    family = continuation.lineage(store, run)
    rows = []
    if run.parent_id is not None:
        parent = family.parent
        rows.append({"relation": "parent", "run": parent.name if parent else f"{run.parent_id} (deleted)",
                     "epoch": run.parent_epoch, "status": parent.status.label if parent else "",
                     "created": format_time(parent.created_at) if parent else ""})
    rows += [{"relation": "child", "run": child.name, "epoch": child.parent_epoch, "status": child.status.label,
              "created": format_time(child.created_at)} for child in family.children]
    if not rows:
        st.caption("Lineage: not a fork, and nothing forked from it yet.")
        return
    with st.container(key=f"runs_lineage_{run.id}"):
        st.markdown("**Lineage** (epoch: where the fork branched)")
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")


def resume_control(store: RunStore, run: Run) -> None:
    """Continue the run in place, from its last epoch checkpoint, to its planned epochs or more."""
    st.markdown("**Resume**")
    done = continuation.last_epoch(store, run.id)
    planned = run.config.epochs
    epochs = st.number_input("Train to epoch", 1, MAX_EPOCHS, value=max(planned, min(done + 1, MAX_EPOCHS)),
                             key=f"runs_resume_epochs_{run.id}",
                             help=f"{done} of {planned} planned epochs are done; the run goes on after the last")
    if run.is_active:
        st.caption("It is queued or running: stop it first to resume it.")
    if st.button("Resume", key=f"runs_resume_{run.id}", icon=":material/resume:", disabled=run.is_active):
        try:
            resumed = continuation.resume(store, run.id, None if epochs == planned else int(epochs))
        except REFUSALS as err:
            st.error(markdown_text(err))
            return
        if not start_worker(store, [resumed.id]):
            return
        flash("success", f"Resumed: the run goes on after epoch {done}, to epoch {resumed.config.epochs}.")
        st.rerun()


def fork_form(store: RunStore, run: Run) -> None:
    """A new run from one of this run's epoch checkpoints, with the settings a fork may change."""
    st.markdown("**Fork**")
    epochs = continuation.checkpointed_epochs(store, run.id)
    if not epochs:
        lost = lost_checkpoints(store, run)
        st.caption(markdown_text(f"Nothing to fork from: {lost}.") if lost else "No epoch checkpoint to fork from yet.")
        return
    epoch = st.selectbox("From epoch", epochs, index=len(epochs) - 1, key=f"runs_fork_epoch_{run.id}")
    with st.form(f"runs_fork_{run.id}", border=False):
        changes = _fork_changes(run, epoch)
        name = st.text_input("Name of the fork", key=f"runs_fork_name_{run.id}", placeholder="optional",
                             max_chars=MAX_NAME_CHARS)
        submitted = st.form_submit_button("Fork", icon=":material/call_split:")
    if submitted:
        _fork(store, run, epoch, changes, name.strip())


def _fork_changes(run: Run, epoch: int) -> dict:
    """The fork form's settings, each starting at the parent's."""
    config = run.config
    lr = st.select_slider("Learning rate", sorted({*LR_CHOICES, config.lr}), value=config.lr,
                          format_func=lambda v: f"{v:g}", key=f"runs_fork_lr_{run.id}")
    optimizer = st.selectbox("Optimizer", OPTIMIZERS, index=OPTIMIZERS.index(config.optimizer),
                             key=f"runs_fork_optimizer_{run.id}")
    scheduler = st.selectbox("LR schedule", SCHEDULERS, index=SCHEDULERS.index(config.scheduler),
                             key=f"runs_fork_scheduler_{run.id}")
    shift = st.slider("Random shift (px)", 0, 4, config.augment_shift, key=f"runs_fork_shift_{run.id}")
    smoothing = st.slider("Label smoothing", 0.0, max(0.5, config.label_smoothing), config.label_smoothing,
                          step=0.05, key=f"runs_fork_smoothing_{run.id}")
    total = st.number_input("Epochs in all", 1, MAX_EPOCHS, max(config.epochs, epoch + 1),
                            key=f"runs_fork_epochs_{run.id}_{epoch}",
                            help="counting the parent's epochs up to the fork")
    return dict(lr=lr, optimizer=optimizer, scheduler=scheduler, augment_shift=shift,
                label_smoothing=smoothing, epochs=int(total))


def _fork(store: RunStore, run: Run, epoch: int, changes: dict, name: str) -> None:
    """Queue the fork and start a worker for it, or say why not."""
    try:
        child = continuation.fork(store, run.id, epoch, changes, name=name, tags=kept_tags(run.tags))
    except REFUSALS as err:
        st.error(markdown_text(err))
        return
    if not start_worker(store, [child]):
        return
    flash("success", f"Forked at epoch {epoch}: the new run is queued and shown in the table.")
    st.rerun()


def repeat_control(store: RunStore, run: Run) -> None:
    """Queue the run's settings again with other seeds: a seed group."""
    st.markdown("**Repeat with seeds**")
    if run.parent_id is not None:
        st.caption("A fork keeps its parent's seed: repeat the parent instead.")
        return
    text = st.text_input("Seeds", key=f"runs_seeds_{run.id}", placeholder="e.g. 1 2 3 4, or 1-4",
                         help=f"This run has seed {run.config.seed}; each seed given queues one more run")
    if st.button("Repeat", key=f"runs_repeat_{run.id}", icon=":material/repeat:"):
        seeds: list[int] = []
        try:
            seeds = parse_seeds(text)
            configs = repeat_over_seeds(run.config, [seed for seed in seeds if seed != run.config.seed])
        except ConfigError as err:
            own = " (this run has that seed already)" if run.config.seed in seeds else ""
            st.error(markdown_text(f"Seeds: {err.reason}{own}"))
            return
        run_ids = [store.create_run(config, name=derived_name(run.name, f"seed {config.seed}"),
                                    tags=kept_tags(run.tags))
                   for config in configs]
        if not start_worker(store, run_ids):
            return
        skipped = f" (seed {run.config.seed} is this run's own)" if run.config.seed in seeds else ""
        flash("success", f"Queued {len(run_ids)} runs, one per seed{skipped}.")
        st.rerun()


def branch_x(run: Run, frame: pd.DataFrame, x: str) -> float | None:
    """Where a fork left its parent on the chart's x axis: the step before its first, or its parent's epoch."""
    if run.parent_id is None or x == "wall_time":
        return None
    if x == "epoch":
        return float(run.parent_epoch)
    steps = frame.loc[frame["split"] == "train", "step"]
    return float(steps.min() - 1) if len(steps) else None


def lineage_marks(store: RunStore, runs: list[Run], frame_of: Callable[[Run], pd.DataFrame],
                  parent_curve: Callable[[Run, pd.DataFrame], Curve | None],
                  x: str) -> tuple[list[Curve], list[Branch]]:
    """For each fork shown: a line where it branched, and its parent's run up to there if that is not shown
    (parent_curve draws a run's curve for the chart's metric, as its other curves are drawn)."""
    shown = {run.id for run in runs}
    context, branches = [], []
    for run in runs:
        at = branch_x(run, frame_of(run), x)
        if at is None:
            continue
        branches.append(Branch(at, f"{run.name} forks here"))
        parent = continuation.lineage(store, run, children=False).parent
        if parent is None or parent.id in shown:
            continue
        curve = parent_curve(parent, frame_of(parent))
        if curve is not None:
            upto = curve.x <= at
            context.append(Curve(f"{parent.name} (parent, to epoch {run.parent_epoch})", curve.x[upto],
                                 curve.y[upto], run_color(run.id)))
    return context, branches


def continue_controls(store: RunStore, run: Run) -> None:
    """Lineage, then resume, fork and repeat side by side."""
    lineage_table(store, run)
    resume, fork, repeat = st.columns(3, gap="medium")
    with resume:
        resume_control(store, run)
    with fork:
        fork_form(store, run)
    with repeat:
        repeat_control(store, run)
