"""Sweeps: many settings searched with Optuna, their trials run here or on a Ray cluster."""
