"""Named starting points for the Train page and the CLI; times are measured by benchmarks/."""
from __future__ import annotations

from dataclasses import dataclass

from core.config import RunConfig


@dataclass(frozen=True)
class Preset:
    title: str
    description: str  # what it trains, and what was measured with it (benchmarks/ say how)
    config: RunConfig


PRESETS: dict[str, Preset] = {
    "seed-lab": Preset(
        "Seed lab", "The labs' recipe: SimpleCNN, Adam 1e-3, batch 64, 5 epochs.",
        RunConfig(model="cnn", optimizer="adam", lr=1e-3, batch_size=64, epochs=5)),
    "quick-mlp": Preset(
        "Quick MLP", "784-128-10 MLP, one epoch, one-cycle schedule, label smoothing 0.1: "
        "97.2-97.4% test accuracy on seeds 0-2 in about 2 s.",
        RunConfig(model="mlp", optimizer="adam", lr=5e-3, batch_size=32, epochs=1, scheduler="onecycle",
                  label_smoothing=0.1)),
    # one epoch on all 60,000 images: no validation split, so the one epoch is the best and the last
    "fast-99": Preset(
        "Fast 99%", "FastCNN24, one epoch of all 60,000 training images (no validation split), one-cycle "
        "schedule to lr 0.01, label smoothing 0.1: 99.11-99.17% test accuracy on seeds 0-2 in 4.0-4.9 s "
        "for the whole CLI process on a 2-core CPU (up to 7.9 s when that shared machine ran slow).",
        RunConfig(model="fastcnn24", optimizer="adam", lr=1e-2, batch_size=128, epochs=1, scheduler="onecycle",
                  label_smoothing=0.1, val_size=0)),
    "best": Preset(
        "Best accuracy", "FastCNN, 11 epochs of images shifted by up to 2 pixels, one-cycle schedule to "
        "lr 0.01, label smoothing 0.1: 99.51-99.55% test accuracy on seeds 0-2 in 40-44 s on a 2-core CPU "
        "(55-59 s when it ran slow).",
        RunConfig(model="fastcnn", optimizer="adam", lr=1e-2, batch_size=128, epochs=11, scheduler="onecycle",
                  augment_shift=2, label_smoothing=0.1)),
    "drawn": Preset(
        "Drawn digits", "FastCNN24 for digits drawn on the Draw page: 15 epochs of MNIST with strokes thinned "
        "and thickened, rotated, zoomed, bent and shifted; one-cycle schedule to lr 0.01: 99.50-99.54% test "
        "and 98.05-98.15% drawn-style accuracy on seeds 0-2 (they move by about 0.1 point from one CPU to "
        "another) in 54-59 s on a 2-core CPU.",
        RunConfig(model="fastcnn24", optimizer="adam", lr=1e-2, batch_size=128, epochs=15, scheduler="onecycle",
                  augment_shift=2, augment_rotate=10.0, augment_scale=0.1, augment_thickness=0.7,
                  augment_elastic=1.0)),
}


def preset_of(config: RunConfig) -> str | None:
    """The name of the preset whose settings the config has, whatever its seed and device; None if none."""
    def settings(of: RunConfig) -> dict:
        return {key: value for key, value in of.to_dict().items() if key not in ("seed", "device")}

    return next((name for name, preset in PRESETS.items() if settings(preset.config) == settings(config)), None)
