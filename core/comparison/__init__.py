"""Comparing runs: seed groups and their bands, whether one group beats another, digits that flipped."""
