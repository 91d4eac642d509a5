"""The first tutorial's prior recipe, trained as the tutorial trains it: the baseline of the
sample-quality rows. Deliberately separate from the library's prior training (its own loop
over the unshifted codes, its best epoch kept by held-out NLL): it is what the library's
`train_prior` is measured against.

A Gated PixelCNN of 15 blocks, 128 channels and a head of 32 with a code-embedding input
(the fixed tutorial), class-conditional like ours, Adam at 1e-3, batch 64.
"""

from __future__ import annotations

import copy
import math
import time

import torch

from vqvae.config import PriorConfig
from vqvae.data.datasets import bundled_mnist
from vqvae.models.autoencoder import VQVAE
from vqvae.models.pixelcnn import GatedPixelCNN
from vqvae.training.loop import epoch_order
from vqvae.training.prior_trainer import PriorTrainer, encode_splits

TUTORIAL_PRIOR = dict(channels=128, head=32, n_blocks=15, first_kernel=7, kernel=3)
TUTORIAL_LR, TUTORIAL_BATCH = 1e-3, 64


def train_tutorial(vqvae: VQVAE, seconds: float, seed: int = 0) -> tuple[GatedPixelCNN, dict]:
    """The tutorial's recipe on the unshifted codes of the bundled MNIST training split, until
    `seconds` have passed (encoding included, as in ours); the model and what it did."""
    started = time.perf_counter()
    codes = encode_splits(vqvae, bundled_mnist())
    torch.manual_seed(seed)
    device = vqvae.codebook.device
    prior = GatedPixelCNN(PriorConfig(codebook_size=vqvae.config.codebook_size, n_classes=codes.n_classes,
                                      **TUTORIAL_PRIOR)).to(device)
    trainer = PriorTrainer(prior, TUTORIAL_LR, device)
    steps, epoch, best = 0, 0, (math.inf, None)
    while time.perf_counter() - started < seconds:
        for batch in epoch_order(len(codes.train), seed, epoch).split(TUTORIAL_BATCH):
            trainer.train_step(codes.train[batch].to(device), codes.train_labels[batch].to(device))
            steps += 1
            if time.perf_counter() - started >= seconds:
                break
        epoch += 1
        # Kept by held-out NLL after each epoch (and when time is up), as the tutorial keeps its best checkpoint.
        val_nll = trainer.nll(codes.val.to(device), codes.val_labels.to(device))
        if val_nll < best[0]:
            best = val_nll, copy.deepcopy(prior.state_dict())
    prior.load_state_dict(best[1])
    return prior.eval(), {"steps": steps, "epochs": steps * TUTORIAL_BATCH / len(codes.train), "val_nll": best[0]}
