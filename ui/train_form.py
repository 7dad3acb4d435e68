"""The Train page's settings: presets, the form's widgets, and the RunConfig they make."""
from __future__ import annotations

import re

import streamlit as st

from core.config import (
    IMAGE_AUGMENTATIONS,
    IMAGE_DATASETS,
    MAX_EPOCHS,
    MODELS,
    OPTIMIZERS,
    SCHEDULERS,
    TRAIN_IMAGES,
    ConfigError,
    RunConfig,
    default_val_size,
    nesterov_applies,
)
from core.devices import available_devices, resolve_device
from core.presets import PRESETS
from core.training.models import MODEL_DESCRIPTIONS
from ui.tabular import CsvChoice, csv_section

PREFIX = "train_"
LR_CHOICES = sorted({float(f"{m}e{e}") for e in range(-5, 0) for m in (1, 2, 3, 5)}
                    | {1.0} | {p.config.lr for p in PRESETS.values()})
BATCH_CHOICES = sorted({16, 32, 64, 128, 256, 512, 1024} | {p.config.batch_size for p in PRESETS.values()})
WEIGHT_DECAY_CHOICES = sorted({0.0, 1e-6, 1e-5, 1e-4, 5e-4, 1e-3, 1e-2, 5e-2, 1e-1}
                              | {p.config.weight_decay for p in PRESETS.values()})
# what the form calls each setting: an error names the widget the user sees, not the field
LABELS = {"model": "Model", "hidden_sizes": "Hidden layer sizes", "optimizer": "Optimizer", "lr": "Learning rate",
          "momentum": "Momentum", "nesterov": "Nesterov", "weight_decay": "Weight decay", "batch_size": "Batch size",
          "epochs": "Epochs", "scheduler": "LR schedule", "step_size": "Step every (epochs)", "gamma": "Gamma",
          "plateau_patience": "Plateau patience", "plateau_factor": "Plateau factor",
          "patience": "Early stopping patience", "min_delta": "Min delta", "val_size": "Validation images",
          "train_samples": "Training examples", "augment_shift": "Shift", "augment_rotate": "Rotation",
          "augment_scale": "Zoom", "augment_thickness": "Stroke thickness", "augment_elastic": "Elastic distortion",
          "label_smoothing": "Label smoothing", "seed": "Seed", "seeds": "Repeat over seeds", "device": "Device",
          "dataset": "Dataset", "csv": "CSV file"}
FIELD_NAMES = re.compile(r"\b(" + "|".join(sorted(LABELS, key=len, reverse=True)) + r")\b")


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


def matching_preset() -> str | None:
    """The preset the form holds right now, if it holds one: an edited form matches none."""
    state = st.session_state
    for name, preset in PRESETS.items():
        if all(state.get(PREFIX + field) == value for field, value in form_values(preset.config).items()):
            return name
    return None


def fit_dataset() -> None:
    """Dataset callback: a validation split that fits the chosen dataset (the synthetic one has 600 images)."""
    state = st.session_state
    if state.train_val_size >= TRAIN_IMAGES[state.train_dataset] or state.train_val_size in (
            default_val_size(dataset) for dataset in IMAGE_DATASETS):
        state.train_val_size = default_val_size(state.train_dataset)


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


def form_error(err: ConfigError) -> str:
    """A config error as the form puts it: 'Validation images: must be below ...', in the form's words."""
    reason = FIELD_NAMES.sub(lambda match: LABELS[match.group(1)], err.reason)
    return f"{LABELS.get(err.field, err.field)}: {reason}"


def preset_buttons() -> None:
    """One button per preset, in a row that wraps; the one the form holds is highlighted and described."""
    current = matching_preset()
    with st.container(horizontal=True, gap="small", key="train_presets"):
        for name, preset in PRESETS.items():
            st.button(preset.title, key=f"train_preset_{name}", on_click=apply_preset, args=(name,),
                      help=preset.description, type="primary" if name == current else "secondary")
    st.caption(PRESETS[current].description if current else "Your own settings (no preset).")


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
    left.slider("Epochs", 1, MAX_EPOCHS, key="train_epochs", persist_state="session")  # as the CLI allows
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
    """Seed and device, seeds to repeat over, then the advanced settings."""
    left, right = st.columns(2)
    left.number_input("Seed", 0, 2**32 - 1, key="train_seed", persist_state="session")
    right.selectbox("Device", available_devices(), key="train_device", persist_state="session")
    st.text_input("Repeat over seeds", key="train_seeds", placeholder="optional, e.g. 0-4 or 0 1 2",
                  persist_state="session", help="Queue these settings once per seed (a seed group), instead of "
                  "once with the seed above; the Runs page draws a seed group as a mean line with a band")
    # keyed and tracked: a widget appearing above (momentum for SGD) would otherwise close it
    with st.expander("Advanced", key="train_advanced", on_change="rerun"):
        left, right = st.columns(2)
        if not tabular():
            left.selectbox("Dataset", IMAGE_DATASETS, key="train_dataset", persist_state="session",
                           on_change=fit_dataset,
                           help=f"synthetic: 600 tiny bar images, a stand-in that trains in a second (with "
                                f"{default_val_size('synthetic')} of them for validation)")
            right.number_input("Validation images", 0, 30_000, step=100, key="train_val_size",
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


def settings_form() -> CsvChoice | None:
    """The data (MNIST or a CSV), presets for MNIST, then every setting in a bordered box; returns the
    checked table of a CSV run once there is one."""
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
    return checked_table
