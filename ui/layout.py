"""The app's responsive layout: page splits that stack on narrow windows, and the CSS behind them."""
from __future__ import annotations

from pathlib import Path

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

CSS = (Path(__file__).resolve().parent / "static" / "layout.css").read_text()


def apply_css() -> None:
    """The layout's CSS, once per script run (a style-only st.html takes no room on the page)."""
    st.html(f"<style>{CSS}</style>")


def split(name: str) -> tuple[DeltaGenerator, DeltaGenerator]:
    """A side column (settings, a drawing pad) and a main one, side by side on a wide window and
    stacked, side first, below about 1000 px: a row of two containers that wraps (see layout.css)."""
    row = st.container(horizontal=True, gap="large", key=f"layout_split_{name}")
    return row.container(key=f"layout_side_{name}"), row.container(key=f"layout_main_{name}")
