"""Entry point: `streamlit run streamlit_app.py`. Only routes to the pages."""
import streamlit as st

st.set_page_config(page_title="MNIST Lab", page_icon=":material/neurology:", layout="wide")
st.title("MNIST Lab")
st.write("Train, compare and try out PyTorch models on MNIST.")
