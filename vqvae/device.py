"""Where tensors live: CUDA, then MPS, then CPU; and the autocast that goes with it."""

from __future__ import annotations

import contextlib
import os

import torch

from vqvae.errors import VQVAEError


def pick_device(preference: str = "auto") -> torch.device:
    """'auto' takes the best there is; a named device must exist."""
    if preference == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(preference)
    except RuntimeError:
        raise VQVAEError(f"unknown device {preference!r}: use auto, cpu, cuda or mps") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise VQVAEError("CUDA was asked for but no CUDA GPU is visible: use --device auto or cpu")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise VQVAEError("MPS was asked for but is not available here: use --device auto or cpu")
    return device


def autocast(device: torch.device, enabled: bool = True):
    """bf16 autocast on CUDA (the quantizer's distances opt out of it); nothing elsewhere."""
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def memory_bytes(device: torch.device) -> int | None:
    """The device's total memory (the machine's RAM for the CPU), or None where unknown."""
    try:
        if device.type == "cuda":
            return torch.cuda.get_device_properties(device).total_memory
        if device.type == "cpu":
            return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (OSError, ValueError, RuntimeError):
        pass
    return None


def check_fits(need: float, device: torch.device, what: str, advice: str) -> None:
    """Refuse settings whose estimated memory (`need` bytes) exceeds 80% of the device's,
    before anything is loaded or allocated. The estimates are rough on purpose: they catch
    settings that cannot work (a batch of 100,000 images of 512 px), not tight ones."""
    have = memory_bytes(device)
    if have and need > 0.8 * have:
        raise VQVAEError(f"{what} needs about {need / 2**30:,.0f} GiB, more than the {have / 2**30:,.0f} GiB of "
                         f"{device.type.upper()} memory here: {advice}")
