"""Entry point: `streamlit run streamlit_app.py`. Only routes to the pages."""
import streamlit as st

st.set_page_config(page_title="MNIST Lab", page_icon=":material/neurology:", layout="wide")
pages = [
    st.Page("pages/train.py", title="Train", icon=":material/model_training:", default=True),
    st.Page("pages/runs.py", title="Runs", icon=":material/table_chart:"),
    st.Page("pages/draw.py", title="Draw", icon=":material/draw:"),
]
st.navigation(pages).run()
