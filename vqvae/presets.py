"""The tutorials' settings as named presets, for VQ-VAEs (`preset`) and their priors
(`prior_preset`); where the product differs from a tutorial, the comment says why."""

from __future__ import annotations

import copy

from vqvae.config import ModelConfig, PriorConfig, PriorRunConfig, PriorTrainConfig, RunConfig, TrainConfig
from vqvae.errors import VQVAEError

# The tutorials' settings, with the MNIST preset changed by measurement (docs/measurements.md): K = 32,
# dim 32 tops out near 23 dB on the 1,000 held-out images; K = 128 passes 24 dB;
# 8-dimensional codes keep more of the codebook in use than 32-dimensional ones (held-out
# EMA perplexity 0.65-0.71 K against 0.50-0.61 K), as Improved VQGAN found; batch 32 at
# width 48 reaches 22 dB in 2.5 epochs where batch 64 at width 64 needs 4.
PRESETS: dict[str, RunConfig] = {
    "mnist": RunConfig(
        ModelConfig(in_channels=1, image_size=28, hidden=48, res_hidden=32, codebook_size=128, code_dim=8,
                    codebook_init="data"),
        TrainConfig(dataset="mnist", epochs=20, batch_size=32, lr=1e-3),
    ),
    "fashion": RunConfig(
        ModelConfig(in_channels=1, image_size=28, hidden=48, res_hidden=32, codebook_size=128, code_dim=8,
                    codebook_init="data"),
        TrainConfig(dataset="fashion", epochs=20, batch_size=32, lr=1e-3),
    ),
    # Third tutorial: hidden 128, D 64, K 512, Adam 2e-4, batch 128, 30 epochs, L1 loss; 8x8 codes.
    "cifar10": RunConfig(
        ModelConfig(in_channels=3, image_size=32, hidden=128, res_hidden=64, codebook_size=512, code_dim=64),
        TrainConfig(dataset="cifar10", epochs=30, batch_size=128, lr=2e-4, recon_loss="l1"),
    ),
    # Second tutorial's Pokémon (bundled, 640 train / 160 held-out), in colour at 64 x 64 with
    # 16 x 16 codes; a conv model instead of the tutorial's patch MLP (docs/measurements.md). Measured
    # here: K 512, D 16 reached 22.25 dB after 60 epochs with 182 codes in use; K 256, D 8 with
    # dead-code restarts kept every code but stopped at 23.55 dB after 150 (cosine decay): the
    # 8 bits a code carry too little. K 1024 (10 bits) reached 24.18 dB, every code in use; a faster
    # codebook (EMA decay 0.95, Adam 2e-3) adds about 0.25 dB at any K, and with K 2048 (11 bits) it
    # reaches 24.64 dB with 99 % of the codes in use (docs/codebooks.md).
    "pokemon": RunConfig(
        ModelConfig(in_channels=3, image_size=64, hidden=128, res_hidden=64, codebook_size=2048, code_dim=8,
                    codebook_init="data", restart_dead_codes=True, ema_decay=0.95),
        TrainConfig(dataset="pokemon", epochs=150, batch_size=32, lr=2e-3, cosine=True, augment=True),
    ),
    # First tutorial on CelebA-HQ 256 px: center crop 168, then resize.
    "celeba64": RunConfig(
        ModelConfig(in_channels=3, image_size=64, hidden=128, res_hidden=64, codebook_size=64, code_dim=128),
        TrainConfig(dataset="folder", center_crop=168, epochs=30, batch_size=64, lr=1e-3),
    ),
    "celeba128": RunConfig(
        ModelConfig(in_channels=3, image_size=128, hidden=128, res_hidden=64, codebook_size=128, code_dim=128),
        TrainConfig(dataset="folder", center_crop=168, epochs=30, batch_size=32, lr=1e-3),
    ),
}


def preset(name: str) -> RunConfig:
    """A fresh copy of a preset (callers may change it freely)."""
    return _copy_of(PRESETS, name, "preset")


# Prior sizes per VQ-VAE preset. The tutorials used 15 blocks of 128 channels for MNIST
# (about 100 s an epoch here) and 384 channels, head 256 for faces. The MNIST prior was
# chosen by measurement (docs/measurements.md): without shifted copies a 64-channel prior overfits
# the 9,000 code grids after 6 epochs at 2.51 nats per code; with the 9 one-pixel shifts
# it reaches about 2.15 in 3 epochs. Judged by its samples (a classifier names
# the digit asked for, a Fréchet distance to real digits), 64 channels with a head of 32
# gave 0.93 label accuracy; a head of 128 (the 32-wide head squeezed 128 logits through 32
# numbers) and 8 epochs 0.95; 96 channels, head 128 and 5 epochs 0.96 at a Fréchet distance
# under 3x the VQ-VAE's own (about 17 minutes on 2 CPU cores).
PRIOR_PRESETS: dict[str, PriorRunConfig] = {
    "mnist": PriorRunConfig(PriorConfig(channels=96, head=128, n_blocks=8),
                            PriorTrainConfig(shift=1, epochs=5, batch_size=64, lr=1e-3)),
    # The bundled mnist-plain-prior: the smaller prior of the prior study (docs/measurements.md),
    # so that pretrained/ stays under 45 MiB with both MNIST priors.
    "mnist-plain": PriorRunConfig(PriorConfig(channels=64, head=32, n_blocks=8),
                                  PriorTrainConfig(shift=1, epochs=3, batch_size=64, lr=1e-3)),
    "fashion": PriorRunConfig(PriorConfig(channels=96, head=128, n_blocks=8),
                              PriorTrainConfig(shift=1, epochs=5, batch_size=64, lr=1e-3)),
    # 640 code grids of 16 x 16 are few: the 9 one-pixel shifts of each image make 5,760.
    "pokemon": PriorRunConfig(PriorConfig(channels=64, head=32, n_blocks=8),
                              PriorTrainConfig(shift=1, epochs=20, batch_size=32, lr=1e-3)),
    # Two levels (the `two levels` variant, bundled as mnist-vq2 and pokemon-vq2): two PixelCNNs
    # of the same size, over 16 top and 49 bottom codes for MNIST, 64 and 256 for Pokémon. Two
    # PixelCNNs of the one-level sizes would not fit the bundle (pretrained/ stays under 45 MiB):
    # 56 channels (first kernel 5) for MNIST, whose 4 epochs of the 81,000 shifted grids take
    # about the one-level prior's training time (about 17 minutes on 2 CPU cores), and 48 for Pokémon.
    "mnist-vq2": PriorRunConfig(PriorConfig(channels=56, head=128, n_blocks=8, first_kernel=5),
                                PriorTrainConfig(shift=1, epochs=4, batch_size=64, lr=1e-3)),
    "pokemon-vq2": PriorRunConfig(PriorConfig(channels=48, head=32, n_blocks=8),
                                  PriorTrainConfig(shift=1, epochs=20, batch_size=32, lr=1e-3)),
    "cifar10": PriorRunConfig(PriorConfig(channels=128, head=128, n_blocks=15), PriorTrainConfig(epochs=30, batch_size=64, lr=3e-4)),
    "celeba64": PriorRunConfig(PriorConfig(channels=384, head=256, n_blocks=15), PriorTrainConfig(epochs=30, batch_size=32, lr=3e-4)),
    "celeba128": PriorRunConfig(PriorConfig(channels=384, head=256, n_blocks=15), PriorTrainConfig(epochs=30, batch_size=16, lr=3e-4)),
}


def prior_preset(name: str) -> PriorRunConfig:
    """A fresh copy of a prior preset (its codebook size is set from the VQ-VAE later)."""
    return _copy_of(PRIOR_PRESETS, name, "prior preset")


def _copy_of(table: dict, name: str, what: str):
    if name not in table:
        raise VQVAEError(f"unknown {what} {name!r}: choose one of {', '.join(table)}")
    cfg = copy.deepcopy(table[name])
    cfg.preset = name
    return cfg
