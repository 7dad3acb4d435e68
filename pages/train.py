"""Train: a run's name and Start, presets and settings, and the live panel (from the store, not the session)."""
from __future__ import annotations

import streamlit as st

from core.config import ConfigError
from core.runs.records import parse_tags
from core.runs.supervisor import launch
from ui.common import get_store, route_through_app
from ui.layout import split
from ui.live_panel import live_panel
from ui.tabular import CsvChoice
from ui.train_form import config_from_form, form_error, init_form, settings_form, tabular


def start_run(table: CsvChoice | None) -> None:
    """Queue a run from the form and start its worker; a bad setting or an unchecked table starts
    nothing and says why."""
    if tabular() and table is None:
        st.error("Not started: upload a CSV that passes its checks first.", icon=":material/error:")
        return
    try:
        config = config_from_form(table)
    except ConfigError as err:
        st.error(f"Not started: {form_error(err)}", icon=":material/error:")
        return
    store = get_store()
    if table is not None:
        store.add_table(table.data)  # kept by checksum before the run that refers to it exists
    run_id = launch(store, config, name=st.session_state.train_name.strip(),
                    tags=parse_tags(st.session_state.train_tags))
    st.session_state["train_view"] = "current"  # the panel follows the queue, which now holds this run
    st.toast(f"Queued {get_store().get_run(run_id).name!r}.", icon=":material/check_circle:")


def start_bar(table: CsvChoice | None) -> None:
    """Name, tags and Start, over the live panel: in view with it, and first on a narrow window."""
    with st.container(key="train_start_bar"):
        name, tags, start = st.columns([5, 4, 3], vertical_alignment="bottom")
        name.text_input("Run name", key="train_name", placeholder="optional", persist_state="session")
        tags.text_input("Tags", key="train_tags", placeholder="comma, separated", persist_state="session")
        if start.button("Start", type="primary", icon=":material/play_arrow:", key="train_start", width="stretch"):
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
