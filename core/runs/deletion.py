"""Deleting runs: what else it changes, said before anything is deleted (the Runs page and `delete`)."""
from __future__ import annotations

from core.runs.records import Run
from core.runs.store import RunActive, RunStore


def delete_consequences(store: RunStore, run: Run) -> list[str]:
    """What else deleting a run changes: a sweep's table and charts, forks' link to their branch point."""
    found = []
    if run.sweep_id is not None:
        found.append(f"It is trial #{run.trial_number} of a sweep: the sweep's table and charts lose it.")
    forks = store.children(run.id)
    if forks:
        many = len(forks) > 1
        found.append(f"{len(forks)} run{'s were' if many else ' was'} forked from it "
                     f"({', '.join(fork.name for fork in forks)}): {'they keep their' if many else 'it keeps its'} "
                     f"own checkpoints, but {'lose their' if many else 'loses its'} parent's curve and the link to it.")
    return found


def deletable_runs(store: RunStore, run_ids: list[str]) -> list[Run]:
    """The runs to delete, each once; RunNotFound or RunActive before any is deleted."""
    runs = [store.get_run(run_id) for run_id in dict.fromkeys(run_ids)]
    active = [run for run in runs if run.is_active]
    if active:
        raise RunActive("stop these runs before deleting them: "
                        + ", ".join(f"{run.id} ({run.name!r}, {run.status})" for run in active))
    return runs
