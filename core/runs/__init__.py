"""Runs: the store and its typed records, the recorder, the trial generator and the worker supervisor."""
