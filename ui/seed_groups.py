"""Runs page: seed groups as mean lines with bands, their final metrics as mean ± std, and A vs B."""
from __future__ import annotations

from collections.abc import Callable, Sequence

import pandas as pd
import streamlit as st

from core.comparison.groups import SeedGroup, Spread, band, final_spreads, seed_groups
from core.comparison.sides import caveats, seed_accuracies
from core.comparison.verdict import A_BETTER, B_BETTER, verdict
from core.runs.records import Run
from core.runs.series import is_per_epoch, metric_series, minmax_indices, smooth_ema
from ui.charts import Curve, Shade, color
from ui.text import markdown_text

BAND_LABELS = {"min-max": "min-max", "std": "±1 std"}
OUTCOME_COLORS = {A_BETTER: "green", B_BETTER: "green"}
GROUP_HELP = "The settings that set this group apart from the others; its runs differ only in their seed"


def group_controls() -> tuple[bool, str]:
    """Whether to draw seed groups instead of runs, and which band."""
    grouped_col, band_col = st.columns(2)
    grouped = grouped_col.toggle("Seed groups", key="runs_grouped",
                                 help="Group the runs by their settings minus the seed: each group is drawn as "
                                      "its mean with a band")
    kind = band_col.segmented_control("Band", list(BAND_LABELS), format_func=BAND_LABELS.get, key="runs_band",
                                      default="min-max", required=True, disabled=not grouped)
    return grouped, kind


def group_curves(runs: Sequence[Run], frame_of: Callable[[Run], pd.DataFrame], metric: tuple[str, str], x: str,
                 weight: float, kind: str) -> tuple[list[Curve], list[Shade]]:
    """Each group's mean line and band for a metric; each run smoothed first, then aggregated by x."""
    curves, shades = [], []
    for index, group in enumerate(seed_groups(runs)):
        series = []
        for run in group.runs:
            xs, ys = metric_series(frame_of(run), *metric, x=x)
            series.append((xs, smooth_ema(ys, weight) if weight else ys))
        drawn = band(series, kind)
        keep = minmax_indices(drawn.mean)
        curves.append(Curve(f"{group.label} (n={len(group.runs)})", drawn.x[keep], drawn.mean[keep], color(index),
                            markers=is_per_epoch(*metric)))
        shades.append(Shade(drawn.x[keep], drawn.low[keep], drawn.high[keep], color(index)))
    return curves, shades


def _shown(value: Spread | None, percent: bool) -> str:
    if value is None:
        return "-"
    if percent:
        return f"{value.mean:.2%}" + ("" if value.std is None else f" ± {value.std:.2%}")
    return f"{value.mean:.4g}" + ("" if value.std is None else f" ± {value.std:.2g}")


def groups_table(groups: Sequence[SeedGroup]) -> pd.DataFrame:
    """One row per group: what sets it apart, its seeds, and mean ± std of the final metrics."""
    rows = []
    for group in groups:
        spreads = final_spreads(group)
        tested = spreads["test accuracy"]
        by_seed = sorted(group.runs, key=lambda run: run.config.seed)
        rows.append({"group": group.label, "run names": ", ".join(run.name for run in by_seed),
                     "runs": len(group.runs), "tested": tested.count if tested else 0,
                     "seeds": " ".join(map(str, group.seeds)),
                     "test accuracy": _shown(tested, percent=True),
                     "best val accuracy": _shown(spreads["best val accuracy"], percent=True),
                     "test loss": _shown(spreads["test loss"], percent=False),
                     "epochs": _shown(spreads["epochs"], percent=False)})
    return pd.DataFrame(rows)


def verdict_section(groups: Sequence[SeedGroup]) -> None:
    """Pick two groups; say in words whether A's test accuracy beats B's."""
    st.markdown("**Does A beat B?** (test accuracy, 95% bootstrap interval over seeds)")
    labels = [group.label for group in groups]
    left, right = st.columns(2)
    a = left.selectbox("A", range(len(groups)), format_func=labels.__getitem__, key="runs_verdict_a")
    b = right.selectbox("B", range(len(groups)), index=1, format_func=labels.__getitem__, key="runs_verdict_b")
    if a == b:
        st.caption("Pick two different groups.")
        return
    result = verdict(seed_accuracies(groups[a].runs), seed_accuracies(groups[b].runs))
    st.badge(result.outcome, color=OUTCOME_COLORS.get(result.outcome, "gray"))
    st.info(markdown_text(result.explanation), icon=":material/balance:")
    for note in caveats({"A": groups[a].runs, "B": groups[b].runs}):
        st.caption(markdown_text(f"Note: {note}."))


def groups_section(runs: Sequence[Run]) -> None:
    """The selected runs' seed groups: a table of mean ± std, then the verdict for two of them."""
    groups = seed_groups(runs)
    # the label and the names are the long cells: wide enough to read, the rest of the row scrolls on a narrow window
    st.dataframe(groups_table(groups), hide_index=True, width="stretch", key="runs_groups_table",
                 column_config={"group": st.column_config.TextColumn(width="medium", help=GROUP_HELP),
                                "run names": st.column_config.TextColumn(width="medium")})
    if len(groups) < 2:
        st.caption("The selected runs form one group: select runs of at least two settings to compare them.")
        return
    verdict_section(groups)
