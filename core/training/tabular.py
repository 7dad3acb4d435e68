"""A user's CSV as training data: read and checked with clear messages, encoded, split reproducibly."""
from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from core.config import MAX_CLASSES, MAX_CSV_MB, ONE_HOT_MAX_VALUES, CsvData
from core.training.data import DataError, Datasets, Split

MAX_CSV_BYTES = MAX_CSV_MB * 1024 * 1024  # about 500,000 rows of a dozen numbers: seconds to read and train on
MIN_ROWS = 10  # enough to train, validate and test on at least one row each
SHOWN_ROWS = 5  # row numbers named in a message before "and N more"
DELIMITERS = ",;\t|"
LEFT_OUT = "left_out"  # the frame.attrs key of what reading a table left out


class CsvError(DataError):
    """The file cannot be used as a table; the message says why."""


@dataclass(frozen=True)
class Problem:
    """Why a table cannot train as chosen; fix names what the app can do about it, if anything."""
    message: str
    fix: str | None = None  # "one_hot" or "drop_missing"
    columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class TableCheck:
    """The verdict on a table and the chosen columns, with what training on it would see."""
    problems: tuple[Problem, ...]
    rows: int = 0
    class_counts: tuple[tuple[str, int], ...] = ()  # (class name, rows) in label order
    feature_names: tuple[str, ...] = ()  # after one-hot encoding

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class Table:
    """A table encoded for training: float features, integer labels, and where each row came from."""
    features: torch.Tensor  # (N, F) float32, not yet standardised (the model does it)
    labels: torch.Tensor  # (N,) int64
    classes: tuple[str, ...]
    feature_names: tuple[str, ...]
    source_rows: torch.Tensor  # (N,) int64: each row's position in the file, 0 = first below the header


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_table(data: bytes) -> pd.DataFrame:
    """The file's rows and columns; CsvError if it is too large, empty or not a CSV."""
    if len(data) > MAX_CSV_BYTES:
        raise CsvError(f"the file is {len(data) / 2**20:.1f} MB; the limit is {MAX_CSV_MB} MB")
    if not data.strip():
        raise CsvError("the file is empty")
    text = _text(data)
    sep = _delimiter(text)
    first_unnamed = _check_header(text, sep)
    try:
        frame = pd.read_csv(io.StringIO(text), sep=sep, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise CsvError("the file is empty") from None
    except (pd.errors.ParserError, ValueError) as err:
        raise CsvError(f"not a CSV file: {str(err).strip().splitlines()[-1]}") from None
    if frame.empty and len(frame.columns) > 1:
        raise CsvError("the file has a header but no rows")
    if first_unnamed:
        frame = _without_saved_index(frame)
    if len(frame.columns) < 2:
        found = "one column besides the saved row index" if first_unnamed else "one column"
        raise CsvError(f"not a CSV file with columns: found {found}; a table needs a target column and "
                       "at least one feature column, separated by commas")
    return frame


def left_out_note(frame: pd.DataFrame) -> str | None:
    """What reading the table left out of the file, said in a sentence, if anything."""
    return frame.attrs.get(LEFT_OUT)


def _without_saved_index(frame: pd.DataFrame) -> pd.DataFrame:
    """The table without its unnamed first column where that column numbers the rows (0, 1, 2, ... or 1, 2,
    3, ...): the row index that pandas' to_csv and R's write.csv save by default. Any other is refused."""
    first = frame.iloc[:, 0]
    start = first.iloc[0] if pd.api.types.is_integer_dtype(first) else None
    if start not in (0, 1) or not (first.to_numpy() == np.arange(start, start + len(first))).all():
        raise CsvError(_unnamed_message(["1"]))
    frame = frame.iloc[:, 1:].copy()
    frame.attrs[LEFT_OUT] = (f"The first column has no name and numbers the rows ({start}, {start + 1}, "
                             f"{start + 2}, ...): a saved row index, as pandas' to_csv and R's write.csv "
                             "write by default. It is left out.")
    return frame


def _text(data: bytes) -> str:
    if b"\x00" in data[:65536]:
        raise CsvError("not a CSV file: it holds binary data, and a CSV is plain text")
    for encoding in ("utf-8-sig", "cp1252"):  # cp1252: what Excel's plain "CSV" writes
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise CsvError("not a CSV file: it is not text in UTF-8 (save it as 'CSV UTF-8')")
    controls = sum(ch < " " and ch not in "\t\r\n" for ch in text[:65536])
    if controls > 8:
        raise CsvError("not a CSV file: it holds binary data, and a CSV is plain text")
    return text


def _check_header(text: str, sep: str) -> bool:
    """Every column named, each name once: pandas would name them 'Unnamed: 2' and 'a.1' in silence.

    The first column alone may have no name, as a saved row index has none: whether it has none.
    """
    header = [name.strip() for name in next(csv.reader(io.StringIO(text), delimiter=sep), [])]
    if len(header) < 2:
        return False  # one column: read_table says so
    blank = [str(i) for i, name in enumerate(header, 1) if not name]
    if blank and blank != ["1"]:
        raise CsvError(_unnamed_message(blank))
    first: dict[str, int] = {}
    for i, name in enumerate(header, 1):
        if name in first:
            raise CsvError(f"columns {first[name]} and {i} are both named {name!r}: give each column a name of "
                           "its own in the first row")
        first[name] = i
    return bool(blank)


def _unnamed_message(blank: list[str]) -> str:
    return (f"column{'s' * (len(blank) > 1)} {', '.join(blank)} of the header row "
            f"{'have' if len(blank) > 1 else 'has'} no name: name every column in the first row")


def _delimiter(text: str) -> str:
    try:
        return csv.Sniffer().sniff(text[:65536], delimiters=DELIMITERS).delimiter
    except csv.Error:  # one column, or no clear pattern: commas, and the checks say the rest
        return ","


def check_table(frame: pd.DataFrame, target: str, features: tuple[str, ...], one_hot: tuple[str, ...] = (),
                drop_missing: bool = False) -> TableCheck:
    """Every reason the chosen columns cannot train, or what training would see."""
    problems = _column_problems(frame, target, features, one_hot)
    if problems:
        return TableCheck(tuple(problems))
    used = frame[[target, *features]]
    missing = used.isna()
    if missing.any(axis=None):
        if not drop_missing:
            problems.append(_missing_problem(missing))
        used = used[~missing.any(axis=1)]
    if len(used) < MIN_ROWS:
        problems.append(Problem(f"{len(used)} rows are left to use; at least {MIN_ROWS} are needed to train, "
                                "validate and test"))
        return TableCheck(tuple(problems))
    problems += _target_problems(used[target], target)
    numeric = [c for c in features if c not in one_hot and _numeric(used[c])]
    problems += [_text_problem(used[c], c) for c in features if c not in one_hot and c not in numeric]
    problems += [_one_hot_problem(used[c], c) for c in one_hot if used[c].nunique() > ONE_HOT_MAX_VALUES]
    problems += [problem for c in numeric if (problem := _infinite_problem(used[c], c))]
    if problems:
        return TableCheck(tuple(problems))
    counts = used[target].value_counts()
    classes = _ordered_values(used[target])
    return TableCheck((), len(used), tuple((_name(v), int(counts[v])) for v in classes),
                      tuple(_feature_names(used, features, one_hot)))


def _column_problems(frame: pd.DataFrame, target: str, features: tuple[str, ...],
                     one_hot: tuple[str, ...]) -> list[Problem]:
    known = list(frame.columns)
    unknown = [c for c in (target, *features, *one_hot) if c not in known]
    if unknown:
        return [Problem(f"no column named {unknown[0]!r} (the columns are {', '.join(map(repr, known))})")]
    if not features:
        return [Problem("no feature columns: pick at least one column besides the target")]
    if target in features:
        return [Problem(f"the target {target!r} cannot be a feature too")]
    if len(set(features)) < len(features):
        return [Problem("a feature column is picked twice")]
    return [Problem(f"one-hot column {c!r} is not a feature column") for c in one_hot if c not in features]


def _missing_problem(missing: pd.DataFrame) -> Problem:
    rows = missing.any(axis=1)
    where = [f"{column!r}: {int(count)} ({_row_list(missing.index[missing[column]])})"
             for column, count in missing.sum().items() if count]
    return Problem(f"{int(missing.sum().sum())} missing values in {int(rows.sum())} of {len(missing)} rows - "
                   f"{'; '.join(where)}. Rows count from 1 below the header; leave those rows out, or fill "
                   "the values in the file", fix="drop_missing",
                   columns=tuple(missing.columns[missing.any()]))


def _row_list(positions: pd.Index) -> str:
    shown = ", ".join(str(int(i) + 1) for i in positions[:SHOWN_ROWS])
    more = len(positions) - SHOWN_ROWS
    return f"row{'s' if len(positions) > 1 else ''} {shown}" + (f" and {more} more" if more > 0 else "")


def _target_problems(values: pd.Series, target: str) -> list[Problem]:
    distinct = values.nunique()
    if distinct < 2:
        return [Problem(f"the target {target!r} has a single class ({_name(values.iloc[0])!r} in every row): "
                        "a classifier needs at least two")]
    if distinct > MAX_CLASSES:
        kind = "a number that varies continuously" if _numeric(values) else "an identifier or free text"
        return [Problem(f"the target {target!r} has {distinct:,} different values, and at most {MAX_CLASSES} "
                        f"classes are supported: it looks like {kind}, not a class label; pick another target")]
    return []


def _numeric(values: pd.Series) -> bool:
    """Numbers, booleans, or text that reads as numbers throughout."""
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return True
    return bool(pd.to_numeric(values.dropna(), errors="coerce").notna().all())


def _numbers(values: pd.Series) -> np.ndarray:
    return pd.to_numeric(values.astype(float) if pd.api.types.is_bool_dtype(values) else values).to_numpy(
        dtype="float32")


def _text_problem(values: pd.Series, column: str) -> Problem:
    distinct = values.nunique()
    numbers = pd.to_numeric(values, errors="coerce")
    bad = values[numbers.isna()]
    example = f"{str(bad.iloc[0])[:30]!r} in row {int(bad.index[0]) + 1}"
    if distinct <= ONE_HOT_MAX_VALUES:
        shown = ", ".join(repr(_name(v)) for v in _ordered_values(values)[:6])
        return Problem(f"the feature {column!r} is not numeric (e.g. {example}): it has {distinct} text "
                       f"values ({shown}{', ...' if distinct > 6 else ''}), which one-hot encoding turns into "
                       f"{distinct} columns of 0 and 1", fix="one_hot", columns=(column,))
    return Problem(f"the feature {column!r} is not numeric (e.g. {example}) and has {distinct:,} different "
                   f"values, too many to one-hot encode (at most {ONE_HOT_MAX_VALUES}): leave it out of the "
                   "features, or fix its values in the file", columns=(column,))


def _infinite_problem(values: pd.Series, column: str) -> Problem | None:
    """Values a model cannot take: infinite, or past float32's range (they become infinite in training)."""
    with np.errstate(over="ignore"):  # past float32's range is what is looked for
        infinite = np.isinf(_numbers(values))
    count = int(infinite.sum())
    if not count:
        return None
    return Problem(f"the feature {column!r} has {count} value{'s' * (count > 1)} too large "
                   f"to train on (infinite, or beyond ±3.4e38) in {_row_list(values.index[infinite])}: fix "
                   f"{'them' if count > 1 else 'it'} in the file, or leave the feature out", columns=(column,))


def _one_hot_problem(values: pd.Series, column: str) -> Problem:
    return Problem(f"{column!r} has {values.nunique():,} different values, too many to one-hot encode "
                   f"(at most {ONE_HOT_MAX_VALUES})", columns=(column,))


def _ordered_values(values: pd.Series) -> list:
    """A column's distinct values, sorted: numbers by value, anything else by its text."""
    distinct = values.dropna().unique().tolist()
    return sorted(distinct) if _numeric(values) else sorted(distinct, key=str)


def _name(value: object) -> str:
    """How a value is shown and stored as a class or category name: 1.0 is '1'."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _feature_names(used: pd.DataFrame, features: tuple[str, ...], one_hot: tuple[str, ...]) -> list[str]:
    names: list[str] = []
    for column in features:
        if column in one_hot:
            names += [f"{column}={_name(v)}" for v in _ordered_values(used[column])]
        else:
            names.append(column)
    return names


def encode(frame: pd.DataFrame, csv_data: CsvData) -> Table:
    """The checked table as tensors; DataError if it does not check out as the config says."""
    checked = check_table(frame, csv_data.target, csv_data.features, csv_data.one_hot, csv_data.drop_missing)
    if not checked.ok:
        raise DataError("the stored table does not check out: " + "; ".join(p.message for p in checked.problems))
    used = used_rows(frame, csv_data)
    classes = _ordered_values(used[csv_data.target])
    labels = used[csv_data.target].map({value: i for i, value in enumerate(classes)})
    return Table(encode_features(used, used, csv_data), torch.tensor(labels.to_numpy(dtype="int64")),
                 tuple(_name(v) for v in classes), checked.feature_names,
                 torch.tensor(used.index.to_numpy(dtype="int64")))


def encode_features(rows: pd.DataFrame, reference: pd.DataFrame, csv_data: CsvData) -> torch.Tensor:
    """Rows' feature columns as model inputs (N, F); one-hot columns take their values from reference."""
    columns = []
    for column in csv_data.features:
        if column in csv_data.one_hot:
            text = rows[column].map(_name)
            columns += [(text == _name(v)).to_numpy(dtype="float32") for v in _ordered_values(reference[column])]
        else:
            columns.append(_numbers(rows[column]))
    return torch.from_numpy(np.stack(columns, axis=1))


def used_rows(frame: pd.DataFrame, csv_data: CsvData) -> pd.DataFrame:
    """The rows a run trained and tested on: its columns, without the rows that miss a value."""
    return frame[[csv_data.target, *csv_data.features]].dropna()


def categories(frame: pd.DataFrame, csv_data: CsvData) -> dict[str, list[str]]:
    """Each one-hot column's values, as the model's inputs are ordered."""
    used = used_rows(frame, csv_data)
    return {column: [_name(v) for v in _ordered_values(used[column])] for column in csv_data.one_hot}


def describe_table(data: bytes, name: str, target: str, features: tuple[str, ...], one_hot: tuple[str, ...] = (),
             drop_missing: bool = False, test_fraction: float = 0.15) -> tuple[CsvData | None, TableCheck]:
    """A checked file's CsvData for a RunConfig (None while it has problems), and the check itself."""
    checked = check_table(read_table(data), target, tuple(features), tuple(one_hot), drop_missing)
    if not checked.ok:
        return None, checked
    classes = tuple(name for name, _ in checked.class_counts)
    return CsvData(sha256=sha256(data), name=name, target=target, features=tuple(features),
                   one_hot=tuple(c for c in features if c in one_hot), drop_missing=drop_missing,
                   rows=checked.rows, classes=classes, inputs=len(checked.feature_names),
                   test_size=split_size(checked.rows, test_fraction)), checked


def split_size(rows: int, fraction: float) -> int:
    """Rows in a split of this fraction: at least one where the fraction is above 0."""
    return max(round(rows * fraction), 1) if fraction > 0 else 0


def load_table(csv_data: CsvData, tables_dir: Path) -> tuple[pd.DataFrame, Table]:
    """A run's stored table, its checksum checked, encoded as its config says."""
    path = table_path(tables_dir, csv_data.sha256)
    if not path.is_file():
        raise DataError(f"the run's table {csv_data.name!r} is missing from the run store: {path}")
    data = path.read_bytes()
    if sha256(data) != csv_data.sha256:
        raise DataError(f"the run's stored table was changed (its sha256 no longer matches): {path}")
    frame = read_table(data)
    table = encode(frame, csv_data)
    facts = (len(table.labels), table.classes, len(table.feature_names))
    if facts != (csv_data.rows, csv_data.classes, csv_data.inputs):
        raise DataError(f"the stored table {path.name} no longer gives the rows, classes and inputs the run "
                        "was configured with")
    return frame, table


def table_path(tables_dir: Path, checksum: str) -> Path:
    return Path(tables_dir) / f"{checksum}.csv"


def split_indices(table: Table, csv_data: CsvData, val_size: int, seed: int,
                  train_samples: int | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(train, val, test) row indices: test rows picked by the file's checksum alone, so runs with other
    seeds or settings are tested on the same rows; validation rows by the seed, as for MNIST."""
    n = len(table.labels)
    by_file = torch.Generator().manual_seed(int(csv_data.sha256[:15], 16))
    order = torch.randperm(n, generator=by_file)
    test, rest = order[:csv_data.test_size].sort().values, order[csv_data.test_size:]
    rest = rest[torch.randperm(len(rest), generator=torch.Generator().manual_seed(seed))]
    val, train = rest[:val_size], rest[val_size:]
    return (train[:train_samples] if train_samples is not None else train), val, test


def validation_rows(frame: pd.DataFrame, table: Table, csv_data: CsvData, val_size: int,
                    seed: int) -> tuple[torch.Tensor, torch.Tensor, pd.DataFrame]:
    """A run's validation split: its row indices in the table, their labels, and the file's rows (numbered from 1)."""
    _, val, _ = split_indices(table, csv_data, val_size, seed)
    positions = table.source_rows[val].tolist()
    rows = frame.loc[positions, [*csv_data.features, csv_data.target]]
    return val, table.labels[val], rows.set_axis([p + 1 for p in positions]).rename_axis("row")


def table_datasets(table: Table, csv_data: CsvData, val_size: int, seed: int, train_samples: int | None = None,
                   device: str | torch.device = "cpu") -> Datasets:
    """Train, validation and test splits of an encoded table, on the device."""
    train, val, test = split_indices(table, csv_data, val_size, seed, train_samples)

    def split(idx: torch.Tensor) -> Split:
        return Split(table.features[idx].to(device), table.labels[idx].to(device))

    return Datasets(train=split(train), val=split(val), test=split(test))


def test_rows(frame: pd.DataFrame, table: Table, csv_data: CsvData) -> pd.DataFrame:
    """The file's rows of the test split, in the test split's order, with their row numbers from 1."""
    positions = _test_positions(table, csv_data)
    rows = frame.loc[positions, [*csv_data.features, csv_data.target]]
    return rows.set_axis([p + 1 for p in positions]).rename_axis("row")


def test_row_numbers(csv_data: CsvData, tables_dir: Path | str) -> list[int]:
    """The file's row numbers (from 1 below the header) of the test split, in its order: as `test` names them."""
    _, table = load_table(csv_data, tables_dir)
    return [p + 1 for p in _test_positions(table, csv_data)]


def _test_positions(table: Table, csv_data: CsvData) -> list[int]:
    _, _, test = split_indices(table, csv_data, 0, 0)
    return table.source_rows[test].tolist()
