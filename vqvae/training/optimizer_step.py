"""The optimiser step every kind of model shares: its loss under autocast, then zero_grad,
backward and Adam's step, on the model DDP wraps under torchrun. A kind's trainer
(vqvae_trainer.Trainer, prior_trainer.PriorTrainer, classifier_trainer.ClassifierTrainer)
only says what its loss is."""

from __future__ import annotations

import torch
from torch import nn

from vqvae import distributed
from vqvae.device import autocast


class Stepper:
    """One optimiser step at a time; no files, no epochs (vqvae/training/loop.py has those)."""

    def __init__(self, model: nn.Module, lr: float, device: torch.device, amp: bool = True,
                 channels_last: bool = False, compile: bool = False):
        """channels_last and compile act on CUDA only (elsewhere they are measured not to pay,
        or need a compiler the machine may lack)."""
        self.model = model.to(device)
        self.device, self.amp = device, amp
        self.memory_format = torch.channels_last if channels_last and device.type == "cuda" else torch.contiguous_format
        if self.memory_format is torch.channels_last:
            self.model.to(memory_format=self.memory_format)
        self.train_model = distributed.wrap(self.model)  # DDP under torchrun
        if compile and device.type == "cuda":
            self.train_model = torch.compile(self.train_model)
        # Buffers (an EMA codebook) are not parameters, so the optimiser never sees them.
        self.optimizer = torch.optim.Adam([p for p in self.model.parameters() if p.requires_grad], lr=lr)

    def losses(self, model: nn.Module, *batch: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """(the loss to minimise, the numbers to log) of `model` (the wrapped one) on a batch."""
        raise NotImplementedError

    def step_stats(self, *batch: torch.Tensor) -> torch.Tensor:
        """One optimiser step on `batch`; the numbers `losses` logs as one float tensor left on
        the device, so that a loop logging every few steps never waits for the device in between."""
        self.model.train()
        with autocast(self.device, self.amp):
            loss, parts = self.losses(self.train_model, *batch)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return torch.stack([p.detach() for p in parts]).float()

    def set_lr(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr
