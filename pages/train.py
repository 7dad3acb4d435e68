"""Train: a run's name and Start, presets and settings, and the live panel (from the store, not the session)."""
from __future__ import annotations

import streamlit as st

from core.comparison.groups import parse_seeds, repeat_over_seeds
from core.config import ConfigError, RunConfig
from core.names import MAX_NAME_CHARS, InvalidText, checked_name, derived_name
from core.runs.records import parse_tags
from core.runs.store import RunStore
from core.runs.supervisor import LaunchFailed, launch, start_worker
from core.training.data import DataError, require_files
from ui.common import data_dir, get_store, route_through_app, store_guard
from ui.layout import split
from ui.live_panel import live_panel
from ui.tabular import CsvChoice
from ui.text import markdown_text
from ui.train_form import config_from_form, form_error, init_form, settings_form, tabular


def queue_runs(store: RunStore, configs: list[RunConfig], seeds: list[int], name: str,
               tags: tuple[str, ...]) -> list[str]:
    """One run, or one per seed (a seed group), queued with a worker started for them."""
    if configs[0].csv is None:
        require_files(configs[0].dataset, data_dir())
    if not seeds:
        return [launch(store, configs[0], name=name, tags=tags, data_dir=data_dir())]
    run_ids = [store.create_run(each, name=derived_name(name or each.model, f"seed {each.seed}"), tags=tags)
               for each in configs]
    start_worker(store, run_ids, data_dir())
    return run_ids


def checked_form(table: CsvChoice | None) -> tuple[list[RunConfig], list[int], str, tuple[str, ...]] | None:
    """The form's configs (one per seed), seeds, name and tags; None, having said why, where one is wrong."""
    try:
        config = config_from_form(table)
        seeds = parse_seeds(st.session_state.get("train_seeds", ""))
        configs = repeat_over_seeds(config, seeds) if seeds else [config]
        name, tags = checked_name(st.session_state.train_name, "Run name"), parse_tags(st.session_state.train_tags)
    except ConfigError as err:
        st.error(f"Not started: {markdown_text(form_error(err))}", icon=":material/error:")
        return None
    except InvalidText as err:
        st.error(f"Not started: {markdown_text(err)}", icon=":material/error:")
        return None
    return configs, seeds, name, tags


def start_run(table: CsvChoice | None) -> None:
    """Queue a run (or one per seed) from the form and start its worker; a bad setting, missing data or an
    unchecked table starts nothing and says why."""
    if tabular() and table is None:
        st.error("Not started: upload a CSV that passes its checks first.", icon=":material/error:")
        return
    form = checked_form(table)
    if form is None:
        return
    configs, seeds, name, tags = form
    store = get_store()
    if table is not None:
        store.add_table(table.data)  # kept by checksum before the run that refers to it exists
    try:
        run_ids = queue_runs(store, configs, seeds, name, tags)
    except (DataError, LaunchFailed) as err:
        st.error(f"Not started: {markdown_text(err)}", icon=":material/error:")
        return
    st.session_state["train_view"] = "current"  # the panel follows the queue, which now holds these runs
    queued = (f"Queued {store.get_run(run_ids[0]).name!r}." if len(run_ids) == 1 else
              f"Queued {len(run_ids)} runs, one per seed: {' '.join(map(str, seeds))}.")
    st.toast(markdown_text(queued), icon=":material/check_circle:")


def start_bar(table: CsvChoice | None) -> None:
    """Name, tags and Start, over the live panel: in view with it, and first on a narrow window."""
    with st.container(key="train_start_bar"):
        name, tags, start = st.columns([5, 4, 3], vertical_alignment="bottom")
        name.text_input("Run name", key="train_name", placeholder="optional", persist_state="session",
                        max_chars=MAX_NAME_CHARS)
        tags.text_input("Tags", key="train_tags", placeholder="comma, separated", persist_state="session")
        if start.button("Start", type="primary", icon=":material/play_arrow:", key="train_start", width="stretch"):
            with store_guard("train_start"):
                start_run(table)


route_through_app()
st.header("Train", divider="gray")
init_form()
settings, monitor = split("train")
with settings:
    checked_table = settings_form()
with monitor:
    start_bar(checked_table)
    live_panel()
