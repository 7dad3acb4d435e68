"""A run's data by its config: MNIST or the synthetic stand-in from files, or a table from the run store."""
from __future__ import annotations

from pathlib import Path

import torch

from core.config import RunConfig
from core.training.data import (
    DEFAULT_DATA_DIR,
    DataError,
    Datasets,
    Split,
    build_datasets,
    load_arrays,
    load_test_images,
    load_test_labels,
    normalize,
)


def load_datasets(config: RunConfig, data_dir: Path | str = DEFAULT_DATA_DIR, tables_dir: Path | None = None,
                  device: str | torch.device = "cpu") -> Datasets:
    """The config's train, validation and test splits on the device."""
    if config.csv is None:
        return build_datasets(load_arrays(config.dataset, data_dir), config.val_size, config.seed,
                              config.train_samples, device)
    from core.training.tabular import load_table, table_datasets  # pandas: a table's runs alone pay its import

    if tables_dir is None:
        raise DataError("a 'csv' run needs its run store's tables folder to load its data")
    _, table = load_table(config.csv, tables_dir)
    return table_datasets(table, config.csv, config.val_size, config.seed, config.train_samples, device)


def load_test_split(config: RunConfig, data_dir: Path | str = DEFAULT_DATA_DIR,
                    tables_dir: Path | None = None) -> Split:
    """Only the config's test split, as `test` evaluates it: MNIST's training files need not be there."""
    if config.csv is None:
        return Split(normalize(load_test_images(config.dataset, data_dir)),
                     load_test_labels(config.dataset, data_dir))
    return load_datasets(config, data_dir, tables_dir).test
