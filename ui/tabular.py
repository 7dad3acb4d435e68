"""The Train page's CSV section: upload, columns, preview, class balance, split, and the checks' verdict.

Column names and values are the user's text: they are shown only in dataframes and select lists,
which Streamlit draws as plain text, never in markdown.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import streamlit as st

from core.config import CsvData
from core.training.tabular import (
    MAX_CSV_MB,
    CsvError,
    TableCheck,
    check_table,
    left_out_note,
    read_table,
    sha256,
    split_size,
)
from ui.text import markdown_text

PREVIEW_ROWS = 20
FIX_LABELS = {"one_hot": "One-hot encode the text columns named above (one 0/1 column per value)",
              "drop_missing": "Leave out the rows with missing values"}


@dataclass(frozen=True)
class CsvChoice:
    """A checked table ready to train on: the file's bytes (to keep in the store) and its settings."""
    data: bytes
    table: CsvData
    val_size: int


@st.cache_data(max_entries=4, show_spinner="Reading the CSV...")
def read_upload(data: bytes) -> pd.DataFrame:
    return read_table(data)


@st.cache_data(max_entries=32, show_spinner=False)
def check_upload(data: bytes, target: str, features: tuple[str, ...], one_hot: tuple[str, ...],
                 drop_missing: bool) -> TableCheck:
    return check_table(read_upload(data), target, features, one_hot, drop_missing)


def upload() -> tuple[str, bytes] | None:
    """The uploader; the file's name and bytes once there is one."""
    uploaded = st.file_uploader("CSV file", type=["csv", "tsv", "txt"], key="train_csv_file",
                                max_upload_size=MAX_CSV_MB,
                                help=f"One row per example, a header row of column names; at most {MAX_CSV_MB} MB. "
                                     "The file is checked, then kept in the run store with its checksum.")
    if uploaded is None:
        st.caption("Upload a table with a column of class labels and columns of numbers (or a few text values) "
                   "to predict them from. An MLP trains on it.")
        return None
    return uploaded.name, uploaded.getvalue()


def columns(frame: pd.DataFrame, key: str) -> tuple[str, tuple[str, ...]]:
    """The target column (the last by default) and the feature columns (all others by default)."""
    names = [str(c) for c in frame.columns]
    target = st.selectbox("Target column (the class to predict)", names, index=len(names) - 1,
                          key=f"train_csv_target_{key}")
    others = [c for c in names if c != target]
    features = st.multiselect("Feature columns", others, default=others,
                              key=f"train_csv_features_{key}_{sha256(target.encode())[:8]}")
    return target, tuple(features)


def fixes(data: bytes, target: str, features: tuple[str, ...], key: str) -> tuple[tuple[str, ...], bool]:
    """Checkboxes for the fixes this table needs, kept while ticked; (one-hot columns, drop rows)."""
    offered = {p.fix: p.columns for p in check_upload(data, target, features, (), False).problems if p.fix}
    one_hot, drop = (), False
    if "one_hot" in offered and st.checkbox(FIX_LABELS["one_hot"], key=f"train_csv_onehot_{key}"):
        one_hot = tuple(c for c in features if c in offered["one_hot"])
    if "drop_missing" in offered:
        drop = st.checkbox(FIX_LABELS["drop_missing"], key=f"train_csv_drop_{key}")
    return one_hot, drop


def show_problems(checked: TableCheck) -> None:
    count = len(checked.problems)
    st.error(f"This table cannot train yet: {count} problem{'s' * (count > 1)}, listed below.",
             icon=":material/error:")
    # a list, not a table: a table's cell cut a long problem's sentence off before its advice
    with st.container(key="train_csv_problems"):
        st.markdown("\n".join(f"- {markdown_text(p.message)}" for p in checked.problems))


def class_balance(checked: TableCheck) -> None:
    rows = pd.DataFrame(checked.class_counts, columns=["class", "rows"])
    rows["share"] = rows["rows"] / rows["rows"].sum()
    st.dataframe(rows, hide_index=True, width="stretch", key="train_csv_balance", column_config={
        "share": st.column_config.ProgressColumn("share", format="percent", min_value=0.0, max_value=1.0)})


def split_sizes(rows: int, key: str) -> tuple[int, int]:
    """Test and validation rows from two percentages; says how many rows each split gets."""
    left, right = st.columns(2)
    test = split_size(rows, left.slider("Test rows (%)", 5, 40, 15, key=f"train_csv_test_{key}") / 100)
    val = split_size(rows, right.slider("Validation rows (%)", 5, 40, 15, key=f"train_csv_val_{key}") / 100)
    train = rows - test - val
    st.caption(f"Split: {train:,} training, {val:,} validation and {test:,} test rows; the test rows are "
               "picked by the file's checksum alone, so every run on this file is tested on the same rows.")
    return test, val


def show_preview(frame: pd.DataFrame) -> None:
    """The file's size and first rows, numbered from 1 below the header as the checks and the Runs page count."""
    if note := left_out_note(frame):
        st.info(note, icon=":material/info:")
    st.caption(f"{len(frame):,} rows and {len(frame.columns)} columns; the first {min(PREVIEW_ROWS, len(frame))}, "
               "numbered from 1 below the header as the checks and the Runs page number them:")
    preview = frame.head(PREVIEW_ROWS)
    st.dataframe(preview.set_axis(range(1, len(preview) + 1)).rename_axis("row"), width="stretch", height=220,
                 key="train_csv_preview")


def csv_section() -> CsvChoice | None:
    """Upload, pick and check a table; the checked choice, or None while there is nothing to train on."""
    uploaded = upload()
    if uploaded is None:
        return None
    name, data = uploaded
    try:
        frame = read_upload(data)
    except CsvError as err:  # it may name a column: as typed, not as markup
        st.error(markdown_text(f"Not usable: {err}."), icon=":material/error:")
        return None
    key = sha256(data)[:12]  # a new file starts with fresh column choices
    show_preview(frame)
    target, features = columns(frame, key)
    one_hot, drop = fixes(data, target, features, key)
    checked = check_upload(data, target, features, one_hot, drop)
    if not checked.ok:
        show_problems(checked)
        return None
    class_balance(checked)
    test, val = split_sizes(checked.rows, key)
    if checked.rows - test - val < 1:
        st.error("No rows are left to train on: lower the test or validation share.", icon=":material/error:")
        return None
    table = CsvData(sha256=sha256(data), name=name, target=target, features=features, one_hot=one_hot,
                    drop_missing=drop, rows=checked.rows, classes=tuple(c for c, _ in checked.class_counts),
                    inputs=len(checked.feature_names), test_size=test)
    return CsvChoice(data, table, val)
