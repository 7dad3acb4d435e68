"""Insight: what a trained model makes of an input (predictions, saliency, drawn-digit preprocessing)."""
