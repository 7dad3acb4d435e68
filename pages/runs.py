"""Runs: every stored run in a table; manage one, compare the selected ones side by side."""
from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import streamlit as st

from core.config import MODELS, class_names, data_label, dataset_label
from core.labs.onnx_export import onnx_bytes
from core.labs.tensorboard import export_zip
from core.names import MAX_NAME_CHARS, InvalidText, checked_name
from core.runs.deletion import delete_consequences
from core.runs.final_test import describe_test, last_good_checkpoint, lost_checkpoints
from core.runs.progress import format_seconds
from core.runs.records import Run, parse_tags
from core.runs.store import RunActive, RunStore
from core.runs.supervisor import status_label
from core.status import RunStatus
from core.training.checkpoints import load_model
from core.training.data import DataError, load_test_images
from ui.charts import CONFUSION_TITLE_CHARS, confusion_figure, per_class_figure, run_styles
from ui.common import (
    data_dir,
    get_store,
    list_runs,
    percent_column,
    percent_value,
    rebuild_button,
    route_through_app,
    run_label,
    status_badge,
    store_guard,
)
from ui.continuing import continue_controls, flash
from ui.epochs import epochs_section
from ui.models import distinct_names
from ui.robustness import robustness_section
from ui.run_charts import curves, run_frame
from ui.seed_groups import groups_section
from ui.table_runs import predict_section, wrong_rows
from ui.text import file_stem, markdown_text, shortened

GALLERY_SIZE = 30
SELECTED_KEY = "runs_selected_ids"
TABLE_COLUMNS = {
    "name": st.column_config.TextColumn("Name", width="medium"),  # a long name is cut in its cell, whole on hover
    "status": st.column_config.TextColumn("Status"),
    "model": st.column_config.TextColumn("Model"),
    "optimizer": st.column_config.TextColumn("Optimizer"),
    "lr": st.column_config.NumberColumn("LR", format="%.0e"),
    "epochs": st.column_config.NumberColumn("Epochs", help="Epochs trained (the Settings tab has those planned)"),
    "batch": st.column_config.NumberColumn("Batch"),
    "best val acc": percent_column("Best val acc"),
    "test acc": percent_column("Test acc"),
    "drawn acc": percent_column(
        "Drawn-style acc",
        help="Accuracy on MNIST's test digits redrawn as the Draw page's canvas draws them (thin, even "
             "strokes), through the Draw page's preprocessing"),
    "duration (s)": st.column_config.NumberColumn("Duration (s)", format="%.1f"),
    "created": st.column_config.DatetimeColumn("Created", format="YYYY-MM-DD HH:mm"),
    "tags": st.column_config.ListColumn("Tags", width="medium"),
    "data": st.column_config.TextColumn("Data"),
}


@st.cache_resource(show_spinner="Loading the test images...")
def test_images(dataset: str, folder: str) -> np.ndarray:
    """A dataset's uint8 test images (N, 28, 28), shared read-only by every session."""
    return load_test_images(dataset, folder).numpy()


def runs_table(runs: list[Run]) -> pd.DataFrame:
    """One row per run with its settings and headline results."""
    rows = [{"name": run.name, "status": status_label(run), "data": data_label(run.config), "model": run.config.model,
             "optimizer": run.config.optimizer, "lr": run.config.lr, "batch": run.config.batch_size,
             "epochs": run.summary.epochs_completed, "best val acc": percent_value(run.summary.best_val_accuracy),
             "test acc": percent_value(run.summary.test_accuracy),
             "drawn acc": percent_value(run.summary.drawn_accuracy),
             "duration (s)": run.duration,
             "created": pd.Timestamp.fromtimestamp(run.created_at), "tags": list(run.tags)} for run in runs]
    # tags beside the name: last, they were off-screen at 1400 px, behind a horizontal scroll
    return pd.DataFrame(rows, columns=["name", "tags", "status", "data", "model", "optimizer", "lr", "batch", "epochs",
                                       "best val acc", "test acc", "drawn acc", "duration (s)", "created"])


def matches(run: Run, statuses: list[str], models: list[str], tags: list[str], text: str) -> bool:
    """Whether a run passes the filters; an empty filter lets everything through."""
    haystack = " ".join([run.name, run.id, run.notes, *run.tags]).lower()
    return ((not statuses or run.status in statuses) and (not models or run.config.model in models)
            and (not tags or bool(set(tags) & set(run.tags))) and text.lower().strip() in haystack)


def filtered_runs(runs: list[Run]) -> list[Run]:
    """The filter widgets, in a row that wraps on a narrow window, and the runs that pass them."""
    with st.container(horizontal=True, gap="medium", key="runs_filters"):
        statuses = st.multiselect("Status", list(RunStatus), format_func=lambda s: s.label, key="runs_status",
                                  persist_state="session", width=220)
        models = st.multiselect("Model", MODELS, key="runs_model", persist_state="session", width=220)
        all_tags = sorted({t for run in runs for t in run.tags})
        tags = st.multiselect("Tag", all_tags, key="runs_tag", persist_state="session", width=220,
                              placeholder="Choose tags" if all_tags else "No tags yet")
        text = st.text_input("Search", key="runs_search", placeholder="name, id, tag or note",
                             persist_state="session")
    return [run for run in runs if matches(run, statuses, models, tags, text)]


def default_rows(runs: list[Run]) -> dict | None:
    """Rows ticked when the table is drawn anew: those ticked before the rows changed (a run queued elsewhere
    cleared the selection, and with it a note half typed in Manage), and the runs a link names (?run=ID, from
    the Sweeps page, say), once: unticked, they stay so."""
    wanted = set(st.session_state.get(SELECTED_KEY, ())) | set(st.query_params.get_all("run"))
    if "run" in st.query_params:
        del st.query_params["run"]  # applied: a later change of rows must not tick them again
    rows = [i for i, run in enumerate(runs) if run.id in wanted]
    return {"selection": {"rows": rows}} if rows else None


def selected_runs(runs: list[Run]) -> list[Run]:
    """The table, and the runs selected in it (remembered by id for the next time the rows change; a run a filter
    hides stays remembered, ticked again when it shows)."""
    # the key follows the rows shown, so a selection never points at rows that moved
    key = "runs_table_" + hashlib.md5(" ".join(run.id for run in runs).encode()).hexdigest()[:10]
    event = st.dataframe(runs_table(runs), key=key, on_select="rerun", selection_mode="multi-row",
                         hide_index=True, column_config=TABLE_COLUMNS, width="stretch",
                         selection_default=default_rows(runs), placeholder="-")
    chosen = [runs[i] for i in event.selection.rows if i < len(runs)]
    shown = {run.id for run in runs}
    hidden = [run_id for run_id in st.session_state.get(SELECTED_KEY, ()) if run_id not in shown]
    st.session_state[SELECTED_KEY] = [run.id for run in chosen] + hidden
    return chosen


def show_flash() -> None:
    """The message an action kept for this rerun, at the top; a success is also a toast, seen however far down
    the page the action's button was (Manage's Save left "Saved" out of sight above)."""
    kind, text = st.session_state.pop("runs_flash", (None, None))
    if kind:
        getattr(st, kind)(text)
    if kind == "success":
        st.toast(text, icon=":material/check_circle:")


def edit_form(store: RunStore, run: Run) -> None:
    """Rename, tag and annotate a run. Save writes only the fields edited here: another tab's edits made
    since this form opened stay (Save wrote all three, and undid a rename made elsewhere)."""
    keys = {field: f"runs_{field}_{run.id}" for field in ("name", "tags", "notes")}
    opened = st.session_state.setdefault(f"runs_edit_opened_{run.id}",
                                         {"name": run.name, "tags": ", ".join(run.tags), "notes": run.notes})
    with st.form(f"runs_edit_{run.id}", border=False):
        edited = {"name": st.text_input("Name", opened["name"], key=keys["name"],
                                             max_chars=max(MAX_NAME_CHARS, len(opened["name"]))),
                  "tags": st.text_input("Tags", opened["tags"], key=keys["tags"], help="comma separated"),
                  "notes": st.text_area("Notes", opened["notes"], key=keys["notes"])}
        if st.form_submit_button("Save", icon=":material/save:"):
            if not edited["name"].strip():
                st.error("A run needs a name.")
                return
            try:
                save_edits(store, run.id, {field: value for field, value in edited.items() if value != opened[field]})
            except InvalidText as err:
                st.error(markdown_text(err))
                return
            for key in (*keys.values(), f"runs_edit_opened_{run.id}"):  # the form opens again on what is stored
                st.session_state.pop(key, None)
            flash("success", f"Saved {markdown_text(repr(store.get_run(run.id).name))}.")
            st.rerun()


def save_edits(store: RunStore, run_id: str, changed: dict[str, str]) -> None:
    """Write the edited fields; InvalidText, with none written, for a name or tag that cannot be stored."""
    name = checked_name(changed["name"]) if "name" in changed else None
    tags = parse_tags(changed["tags"]) if "tags" in changed else None
    if name is not None:
        store.rename(run_id, name)
    if tags is not None:
        store.set_tags(run_id, tags)
    if "notes" in changed:
        store.set_notes(run_id, changed["notes"])


def delete_control(store: RunStore, run: Run) -> None:
    """Delete a run after an explicit confirmation; an active run is refused with the reason."""
    for warning in delete_consequences(store, run):
        st.caption(markdown_text(warning))
    confirmed = st.checkbox("Yes, delete this run", key=f"runs_confirm_{run.id}",
                            help="Its metrics and checkpoints go with it; this cannot be undone.")
    if st.button("Delete run", key=f"runs_delete_{run.id}", disabled=not confirmed, type="primary",
                 icon=":material/delete:"):
        try:
            store.delete_run(run.id)
        except RunActive as err:
            st.error(markdown_text(err))
            return
        flash("success", f"Deleted {markdown_text(repr(run.name))}.")
        st.rerun()


def downloads(store: RunStore, run: Run) -> None:
    """The run's metrics as CSV and its checkpoints (the best, and the last of a run stopped before
    its first epoch ended), its good one as ONNX too, made only when asked for."""
    stem = file_stem(run.name, run.id)
    st.download_button("Metrics (CSV)", lambda: run_frame(store, run).to_csv(index=False),
                       file_name=f"{stem}-metrics.csv", mime="text/csv", on_click="ignore",
                       icon=":material/download:", key=f"runs_csv_{run.id}")
    for which in ("best", "last"):
        path = store.checkpoint_path(run.id, which)
        if path.exists():
            label = "Best checkpoint" if which == "best" else \
                f"Last checkpoint (stopped at epoch {run.summary.epochs_completed + 1})"
            st.download_button(label, path.read_bytes, file_name=f"{stem}-{which}.pt",
                               mime="application/octet-stream", on_click="ignore", icon=":material/download:",
                               key=f"runs_ckpt_{which}_{run.id}")
    found = last_good_checkpoint(store, run.id)
    if found is None:
        st.caption(markdown_text(f"No checkpoint: {checkpoint_absence(store, run)}."))
        return
    st.download_button("ONNX model", lambda: onnx_bytes(*load_model(found.path)[:2]),
                       file_name=f"{stem}.onnx", mime="application/octet-stream",
                       on_click="ignore", icon=":material/download:",
                       key=f"runs_onnx_{run.id}", help=f"The {found.describe(run)}'s model for onnxruntime; its "
                       "class names and what its input is are in the file's metadata")


def checkpoint_absence(store: RunStore, run: Run) -> str:
    """Why a run has no checkpoint to offer."""
    lost = lost_checkpoints(store, run)
    if lost:
        return lost
    if run.is_active:
        return "the first one is written when the first epoch ends"
    if run.status == RunStatus.DIVERGED:
        return "it diverged before its first epoch ended (weights after a divergence are never kept)"
    return f"it {run.status.label if run.started_at else 'was cancelled'} before its first epoch ended"


def manage(store: RunStore, runs: list[Run]) -> None:
    """Edit, download or delete one of the selected runs."""
    with st.expander("Manage a run", icon=":material/edit:"):
        by_id = {run.id: run for run in runs}
        run_id = st.selectbox("Run", list(by_id), format_func=lambda i: run_label(by_id[i]),
                              key="runs_manage") if len(runs) > 1 else runs[0].id
        run = by_id[run_id]
        status_badge(run)
        edit, files = st.columns([2, 1])
        with edit:
            edit_form(store, run)
        with files:
            downloads(store, run)
            delete_control(store, run)
        st.divider()
        continue_controls(store, run)


def settings(run: Run) -> dict[str, str]:
    """A run's settings as text, a table's own settings one per row (csv.target, csv.features, ...)."""
    values = run.config.to_dict()
    table = values.pop("csv")
    if table is None:
        return {key: str(value) for key, value in {**values, "csv": None}.items()}
    flat = {f"csv.{key}": ", ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
            for key, value in table.items()}
    return {**{key: str(value) for key, value in values.items()}, **flat}


def config_section(runs: list[Run], names: list[str]) -> None:
    """The settings side by side: only those that differ unless asked for all."""
    table = pd.DataFrame({name: settings(run) for run, name in zip(runs, names)})
    differ = table.nunique(axis=1) > 1
    if len(runs) > 1 and not st.toggle("Show all settings", key="runs_all_config"):
        if not differ.any():
            st.caption("The selected runs have the same settings.")
            return
        table = table[differ]
    st.dataframe(table.replace("None", "-"), width="stretch")


def final_metrics(runs: list[Run], names: list[str]) -> None:
    """Headline results, one row per run."""
    rows = [{"run": name, "status": run.status.label,
             "end": run.summary.end_reason.label if run.summary.end_reason else "",
             "epochs": run.summary.epochs_completed, "best epoch": run.summary.best_epoch,
             "best val acc": percent_value(run.summary.best_val_accuracy), "val loss": run.summary.best_val_loss,
             "test acc": percent_value(run.summary.test_accuracy), "test loss": run.summary.test_loss,
             "drawn-style acc": percent_value(run.summary.drawn_accuracy), "tested": describe_test(run),
             "time": format_seconds(run.duration), "parameters": run.environment.parameters,
             "device": run.environment.device} for run, name in zip(runs, names)]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", placeholder="-", column_config={
        "best val acc": percent_column(),
        "test acc": percent_column(),
        "drawn-style acc": percent_column(),
        "val loss": st.column_config.NumberColumn(format="%.4f"),
        "test loss": st.column_config.NumberColumn(format="%.4f")})


def evaluation_section(runs: list[Run], names: list[str]) -> None:
    """Per-class accuracy and confusion matrices of the runs that were tested, by their classes."""
    styles = run_styles([run.id for run in runs])
    tested = [(run, name, style) for run, name, style in zip(runs, names, styles) if run.evaluation]
    if not tested:
        st.info(markdown_text("None of the selected runs has a test evaluation: "
                              + "; ".join(f"{name}: {describe_test(run)}" for run, name in zip(runs, names)) + "."))
        return
    # one chart per data set: a synthetic run's bar classes or a table's classes are not MNIST's digits
    by_data: dict[tuple[str, tuple[str, ...]], list] = {}
    for entry in tested:
        by_data.setdefault((dataset_label(entry[0].config), class_names(entry[0].config)), []).append(entry)
    for i, ((data, classes), group) in enumerate(by_data.items()):
        labels, accuracies, group_styles = zip(*[(name, run.evaluation.per_class_accuracy, style)
                                                 for run, name, style in group])
        st.plotly_chart(per_class_figure(labels, accuracies, group_styles, classes=classes,
                                         data=data if len(by_data) > 1 or data != "mnist" else ""),
                        key=f"runs_per_class_{i}")
    with st.container(horizontal=True, gap="medium", key="runs_confusions"):
        for run, name, _ in tested:
            with st.container(width=360, key=f"runs_confusion_cell_{run.id}"):
                title = shortened(name, CONFUSION_TITLE_CHARS)
                st.plotly_chart(confusion_figure(run.evaluation.confusion, title, classes=class_names(run.config)),
                                key=f"runs_confusion_{run.id}")


def gallery(store: RunStore, run: Run) -> None:
    """The run's most confidently misclassified test images (or table rows), with true and predicted labels."""
    wrong = run.evaluation.misclassified[:GALLERY_SIZE] if run.evaluation else []
    if not wrong:
        st.caption("No misclassified test examples." if run.evaluation else describe_test(run).capitalize() + ".")
        return
    if run.config.csv is not None:
        wrong_rows(store, run, wrong)
        return
    try:
        images = test_images(run.config.dataset, str(data_dir()))
    except DataError as err:
        st.error(f"Cannot show the misclassified images: {markdown_text(err)}", icon=":material/broken_image:")
        return
    st.image([images[m.index] for m in wrong], width=84,
             caption=[f"true {m.label} -> {m.predicted} ({m.confidence:.0%})" for m in wrong])


def tensorboard_download(store: RunStore, runs: list[Run]) -> None:
    """The selected runs as TensorBoard event files, one folder per run, zipped when asked for."""
    st.download_button(f"TensorBoard logs ({len(runs)} run{'s' * (len(runs) > 1)})",
                       lambda: export_zip(store, [run.id for run in runs]), file_name="tensorboard-logs.zip",
                       mime="application/zip", on_click="ignore", icon=":material/download:",
                       key="runs_tensorboard", help="Unzip, then `tensorboard --logdir` the folder")


def compare(store: RunStore, runs: list[Run]) -> None:
    """The selected runs side by side."""
    runs = [store.get_run(run.id) for run in runs]  # with their test evaluations
    names = list(distinct_names(runs).values())
    tensorboard_download(store, runs)
    tabs = ["Curves", "Settings", "Results", "Seed groups", "Epochs", "Misclassified", "Robustness"]
    has_table = any(run.config.csv is not None for run in runs)
    charts, config, results, groups, epochs, wrong, robust, *predict = st.tabs(tabs + ["Predict a row"] * has_table)
    predict = predict[0] if predict else None
    with charts:
        curves(store, runs, names)
    with config:
        config_section(runs, names)
    with results:
        final_metrics(runs, names)
        evaluation_section(runs, names)
    with groups:
        groups_section(runs)
    with epochs:
        epochs_section(store, runs)
    with wrong:
        misclassified_section(store, runs, names)
    with robust:
        robustness_section(store, runs, names)
    if predict is not None:
        with predict:
            predict_section(store, [(run, name) for run, name in zip(runs, names) if run.config.csv is not None])


def misclassified_section(store: RunStore, runs: list[Run], names: list[str]) -> None:
    """Each run's wrongly classified test images, under its name."""
    for run, name in zip(runs, names):
        st.markdown(f"**{markdown_text(name)}**")
        gallery(store, run)


def unindexed_notice(store: RunStore) -> None:
    """Run folders the index does not know (its runs.db was replaced, say): said, with a way back."""
    folders = store.unindexed_folders()
    if folders:
        st.warning(f"{len(folders)} run folder(s) in {markdown_text(store.root)} are not in the index "
                   f"(runs.db), so they are not listed: {markdown_text(', '.join(f.name for f in folders[:5]))}"
                   f"{' ...' if len(folders) > 5 else ''}. Rebuilding the index adds them back from their "
                   f"settings and checkpoints.", icon=":material/folder_off:")
        rebuild_button("runs_add_unindexed", "Add them to the index")


def runs_page() -> None:
    """The filtered runs table; the selected runs managed and compared."""
    store = get_store()
    unindexed_notice(store)
    all_runs = list_runs(store)
    if not all_runs:
        st.info("No runs yet: start one on the Train page.", icon=":material/info:")
        st.page_link("pages/train.py", label="Go to Train", icon=":material/model_training:")
        return
    shown = filtered_runs(all_runs)
    st.caption(f"{len(shown)} of {len(all_runs)} runs - select rows to compare and manage them")
    chosen = selected_runs(shown)
    if chosen:
        manage(store, chosen)
        compare(store, chosen)


route_through_app()
st.header("Runs", divider="gray")
show_flash()
with store_guard("runs"):
    runs_page()
