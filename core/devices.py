"""Which devices this machine has, and the one a run asks for."""
from __future__ import annotations

import torch

from core.config import DEVICES, ConfigError


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
    require_device(name)
    return torch.device(name)


def require_device(name: str) -> None:
    """ConfigError unless the device is 'auto' or one this machine has: checked before a run is created."""
    available = available_devices()
    if name != "auto" and name not in available:
        raise ConfigError("device", f"{name!r} is not available here (available: {', '.join(available)})")
