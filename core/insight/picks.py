"""Which models to show first for digits drawn by hand."""
from __future__ import annotations

from core.presets import preset_of
from core.runs.records import Run

DRAWN_PRESET = "drawn"


def rank_for_drawing(runs: list[Run]) -> list[Run]:
    """Best first: MNIST models; a completed run of the `drawn` preset; then drawn-style, then test accuracy."""
    def key(run: Run) -> tuple:
        # a synthetic-data model scores 100% on its own bars but has never seen a digit
        drawn_preset = run.status.completed and preset_of(run.config) == DRAWN_PRESET
        return (run.config.dataset == "mnist", drawn_preset, run.summary.drawn_accuracy or 0.0,
                run.summary.test_accuracy or 0.0)

    return sorted(runs, key=key, reverse=True)
