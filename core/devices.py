"""Which devices this machine has, and the one a run asks for."""
from __future__ import annotations

import torch

from core.config import DEVICES


def available_devices() -> list[str]:
    """'cpu', plus this machine's accelerator (cuda or mps) where it has one."""
    devices = ["cpu"]
    if torch.accelerator.is_available():
        accelerator = torch.accelerator.current_accelerator().type
        if accelerator in DEVICES:
            devices.append(accelerator)
    return devices


def resolve_device(name: str) -> torch.device:
    """'auto' picks the accelerator if there is one, else the CPU; an unavailable device is a clear error."""
    available = available_devices()
    if name == "auto":
        return torch.device(available[-1])
    if name not in available:
        raise RuntimeError(f"device: {name!r} is not available here (available: {', '.join(available)})")
    return torch.device(name)
