"""Streamlit helpers the pages share; the logic itself lives in core."""
