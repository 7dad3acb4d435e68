"""Runs trained on a CSV: their misclassified test rows, and a small form that predicts one row.

The table's column names and values are the user's text: shown in dataframes and data editors only.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st
import torch

from core.config import CsvData
from core.runs.records import Run
from core.runs.store import RunStore
from core.training.checkpoints import CheckpointError, load_model
from core.training.data import DataError
from core.training.evaluation import Misclassified
from core.training.tabular import categories, encode_features, load_table, table_path, test_rows, used_rows
from ui.charts import probability_figure, run_color
from ui.common import percent_column, percent_value
from ui.text import markdown_text


def table_stamp(tables_dir: str, csv_data: CsvData) -> int | None:
    """When the run's stored table file last changed, None once it is gone: part of a cached read's key, so
    that a table deleted or replaced while the server runs is noticed at the next read."""
    try:
        return table_path(Path(tables_dir), csv_data.sha256).stat().st_mtime_ns
    except OSError:
        return None


def stored_table(tables_dir: str, csv_data: CsvData) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The file's rows, and its test rows in the test split's order (row numbers from 1)."""
    return _stored_table(tables_dir, csv_data, table_stamp(tables_dir, csv_data))


@st.cache_data(max_entries=8, show_spinner="Reading the run's table...")
def _stored_table(tables_dir: str, csv_data: CsvData, stamp: int | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    frame, table = load_table(csv_data, tables_dir)
    return frame, test_rows(frame, table, csv_data)


def wrong_rows(store: RunStore, run: Run, wrong: list[Misclassified]) -> None:
    """The most confidently misclassified test rows, with their values, true and predicted classes."""
    try:
        _, tested = stored_table(str(store.tables_dir), run.config.csv)
    except DataError as err:
        st.error(f"Cannot show the test rows: {markdown_text(err)}")
        return
    classes = run.config.csv.classes
    rows = tested.iloc[[m.index for m in wrong]].copy()
    rows.insert(0, "predicted", [classes[m.predicted] for m in wrong])
    rows.insert(0, "true", [classes[m.label] for m in wrong])
    rows.insert(2, "confidence", [percent_value(m.confidence) for m in wrong])
    st.dataframe(rows, width="stretch", key=f"runs_wrong_rows_{run.id}", column_config={
        "confidence": percent_column()})


def starting_row(frame: pd.DataFrame, csv_data: CsvData) -> pd.DataFrame:
    """One row to edit: each number column's median, each text column's most common value."""
    used = used_rows(frame, csv_data)
    values = {}
    for column in csv_data.features:
        if column in csv_data.one_hot:
            values[column] = str(used[column].astype(str).mode().iloc[0])
        else:
            values[column] = float(pd.to_numeric(used[column]).median())
    return pd.DataFrame([values])


def predict_section(store: RunStore, runs: list[tuple[Run, str]]) -> None:
    """Pick a CSV run, edit one row's values, and see the class probabilities its best model gives."""
    by_id = {run.id: (run, name) for run, name in runs}
    run_id = st.selectbox("Run", list(by_id), format_func=lambda i: by_id[i][1], key="runs_predict_run")
    run = by_id[run_id][0]
    csv_data = run.config.csv
    path = store.checkpoint_path(run.id, "best")
    try:
        frame, _ = stored_table(str(store.tables_dir), csv_data)
        model = load_model(path)[0]
    except (DataError, CheckpointError) as err:
        st.error(f"Cannot predict with this run: {markdown_text(err)}")
        return
    st.caption("Edit the row's values, as they would appear in the file; the model standardises them itself.")
    options = categories(frame, csv_data)
    row = st.data_editor(starting_row(frame, csv_data), hide_index=True, width="stretch", num_rows="fixed",
                         key=f"runs_predict_row_{run.id}", column_config={
                             column: st.column_config.SelectboxColumn(options=values, required=True)
                             for column, values in options.items()})
    if row.isna().any(axis=None):
        st.warning("Fill in every value to predict.")
        return
    with torch.no_grad():
        probabilities = model(encode_features(row, used_rows(frame, csv_data), csv_data)).softmax(1)[0].tolist()
    answer = pd.DataFrame({"class": csv_data.classes, "probability": probabilities})
    answer = answer.sort_values("probability", ascending=False)
    st.dataframe(answer, hide_index=True, width="stretch", key=f"runs_predict_answer_{run.id}", column_config={
        "probability": st.column_config.ProgressColumn(format="percent", min_value=0.0, max_value=1.0)})
    st.plotly_chart(probability_figure(probabilities, run_color(run.id), classes=csv_data.classes),
                    key=f"runs_predict_bars_{run.id}")
