"""The MNIST dashboard's core: data, models, the training generator, the run store and the worker.

Plain Python and PyTorch; nothing here imports Streamlit.
"""
