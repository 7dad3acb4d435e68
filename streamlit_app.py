"""Entry point: `streamlit run streamlit_app.py`. Only routes to the pages."""
from pathlib import Path

import streamlit as st

from core.runs import launcher
from ui.layout import apply_css

# runs, sweeps and evaluations start with torch already imported (see core.runs.launcher)
launcher.use_fork_server()

# a file of our own: a :material/...: page icon is fetched from a font server, which fails offline
ICON = Path(__file__).resolve().parent / "ui" / "static" / "icon.png"
st.set_page_config(page_title="MNIST Lab", page_icon=str(ICON), layout="wide")
pages = [
    st.Page("pages/train.py", title="Train", icon=":material/model_training:", default=True),
    st.Page("pages/runs.py", title="Runs", icon=":material/table_chart:"),
    st.Page("pages/sweeps.py", title="Sweeps", icon=":material/tune:"),
    st.Page("pages/draw.py", title="Draw", icon=":material/draw:"),
    st.Page("pages/inside.py", title="Inside", icon=":material/neurology:"),
    st.Page("pages/losses.py", title="Losses & optimizers", icon=":material/function:"),
]
apply_css()
# pages along the top: a sidebar would take a third of an 800 px window
st.navigation(pages, position="top").run()
