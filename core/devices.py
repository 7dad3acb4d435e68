"""Which devices this machine has, and the one a run asks for."""
from __future__ import annotations

import torch


def available_devices() -> list[str]:
    """'cpu' plus 'cuda' and 'mps' where this machine has them."""
    devices = ["cpu"]
    if torch.cuda.is_available():
        devices.append("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        devices.append("mps")
    return devices


def resolve_device(name: str) -> torch.device:
    """'auto' picks cuda, then mps, then cpu; an unavailable device is a clear error."""
    available = available_devices()
    if name == "auto":
        return torch.device(available[1] if len(available) > 1 else "cpu")
    if name not in available:
        raise RuntimeError(f"device: {name!r} is not available here (available: {', '.join(available)})")
    return torch.device(name)
