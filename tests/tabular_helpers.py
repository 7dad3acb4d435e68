"""Small CSV files made in the tests: a learnable table of three animals, and its bad variants."""
from __future__ import annotations

import io

import numpy as np
import pandas as pd

from core.config import RunConfig
from core.runs.store import RunStore
from core.training.tabular import describe_table

CLASSES = ("bird", "cat", "dog")


def pets_frame(rows: int = 240, seed: int = 0) -> pd.DataFrame:
    """Two informative numbers, a text column of three colours, and the animal to predict."""
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 3, rows)
    return pd.DataFrame({
        "weight": label * 3.0 + rng.normal(0, 0.4, rows),
        "legs": np.where(label == 0, 2, 4) + rng.normal(0, 0.1, rows),
        "colour": np.array(["red", "green", "blue"])[rng.integers(0, 3, rows)],
        "animal": np.array(CLASSES)[label],
    })


def csv_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue().encode()


def pets_config(store: RunStore, rows: int = 240, **overrides) -> RunConfig:
    """A checked pets table kept in the store, and a small MLP run on it."""
    data = csv_bytes(pets_frame(rows))
    table, checked = describe_table(data, "pets.csv", "animal", ("weight", "legs", "colour"), one_hot=("colour",))
    assert table is not None, checked.problems
    store.add_table(data)
    values = dict(dataset="csv", csv=table, model="mlp", hidden_sizes=(32,), epochs=4, batch_size=16, lr=1e-2,
                  val_size=36, device="cpu")
    return RunConfig(**{**values, **overrides})
