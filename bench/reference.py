"""The reference rows: each quantizer the library shares with vector-quantize-pytorch
(lucidrains; EMA with k-means init and expiry, FSQ, residual VQ, SimVQ, LFQ and BSQ) trained
in the same model and loop twice, with ours and with theirs, at the same K, code dimension,
commitment weight and EMA decay.

Theirs is a bench-only dependency (`pip install -e .[reference]`): the app and the tests
never need it, and without it these rows say how to get it. Their module takes our
quantizer's place inside the VQ-VAE the library builds (the encoder, decoder, optimiser,
data and loop are the library's own, through vqvae.train), wrapped to return what ours
return; where their defaults differ from ours and no setting matches them, the row says so.
"""

from __future__ import annotations

import contextlib
import importlib.util
from unittest import mock

import torch
from einops import rearrange
from torch import nn

from bench.table import against_baseline, row
from bench.variants import base_settings, train_variant
from vqvae.config import RunConfig
from vqvae.data.datasets import bundled_data
from vqvae.errors import VQVAEError
from vqvae.models.quantizer_output import QuantizerOutput, counted_usage, quantizer_output
from vqvae.training import vqvae_trainer
from vqvae.training.variants import matched_variant, VARIANTS

# name -> (our settings: a codebook variant of that name, else these changes to the EMA reference;
#          what differs between ours and theirs, where no setting of theirs matches ours)
PAIRS: dict[str, tuple[dict, str]] = {
    "EMA, k-means init, expiry": (dict(quantizer="ema", codebook_init="kmeans", restart_dead_codes=True),
                                  "expiry: ours restarts a code unused for 100 steps, theirs one whose running "
                                  "count falls under 2"),
    "fsq": ({}, ""),
    "residual VQ, restarts": ({}, "expiry as above; theirs seeds its codebooks by k-means, ours from data"),
    "SimVQ": ({}, "theirs without its rotation trick (on by default), so both pass z_e's gradient straight through"),
    "LFQ": ({}, ""),
    "BSQ": ({}, ""),
}


def their_quantizer(m) -> nn.Module:
    """vector-quantize-pytorch's module for ModelConfig m, on sequences [B, N, D] (its residual
    VQ's image mode mistakes the channel axis)."""
    import vector_quantize_pytorch as vq

    if m.quantizer == "fsq":
        return vq.FSQ(levels=list(m.fsq_levels))
    if m.quantizer in ("lfq", "bsq"):
        return vq.LFQ(dim=m.code_dim, codebook_size=m.codebook_size, entropy_loss_weight=m.entropy_weight,
                      commitment_loss_weight=m.beta, diversity_gamma=1.0, spherical=m.quantizer == "bsq")
    if m.quantizer == "simvq":
        return vq.SimVQ(dim=m.code_dim, codebook_size=m.codebook_size, rotation_trick=False,
                        input_to_quantize_commit_loss_weight=m.beta)
    expiry = dict(kmeans_init=m.codebook_init == "kmeans" or m.residual_depth > 1,
                  threshold_ema_dead_code=2 if m.restart_dead_codes else 0)
    common = dict(dim=m.code_dim, decay=m.ema_decay, commitment_weight=m.beta, **expiry)
    if m.residual_depth > 1:
        return vq.ResidualVQ(num_quantizers=m.residual_depth, codebook_size=m.stage_codebook_size, **common)
    return vq.VectorQuantize(codebook_size=m.codebook_size, **common)


class Theirs(nn.Module):
    """Their quantizer behind ours' interface: [B, D, h, w] in, a QuantizerOutput out (residual
    codes combined into one index as ours are, first stage lowest)."""

    def __init__(self, module: nn.Module, m):
        super().__init__()
        self.module, self.codebook_size, self.code_dim = module, m.codebook_size, m.code_dim
        self.stage_size, self.dead_code_window = m.stage_codebook_size, m.dead_code_window
        self.register_buffer("steps_unused", torch.zeros(m.codebook_size, dtype=torch.long))

    @property
    def codebook(self) -> torch.Tensor:
        """Only its device is read here (the bench reads held-out metrics, not codes)."""
        return self.steps_unused

    def forward(self, z_e: torch.Tensor) -> QuantizerOutput:
        out = self.module(rearrange(z_e.float(), "b d h w -> b (h w) d"))
        quantized, indices = out[0], out[1]
        loss = out[2].sum() if len(out) > 2 and torch.is_tensor(out[2]) else z_e.new_zeros(())
        if indices.dim() == 3:  # residual: [B, N, stages]
            indices = (indices * self.stage_size ** torch.arange(indices.shape[-1], device=indices.device)).sum(-1)
        flat = rearrange(indices.long(), "b n -> (b n)")
        counts = counted_usage(flat, self.codebook_size, self.steps_unused, self.training)
        return quantizer_output(rearrange(quantized, "b n d -> (b n) d"), flat, z_e.shape, counts,
                                dead_codes=(self.steps_unused >= self.dead_code_window).sum(),
                                codebook_loss=loss.new_zeros(()), commitment_loss=loss, loss=loss)


@contextlib.contextmanager
def their_quantizer_inside():
    """While open, the VQ-VAEs vqvae.train builds carry their quantizer instead of ours."""
    build = vqvae_trainer.build_vqvae

    def build_with_theirs(m):
        model = build(m)
        model.quantizer = Theirs(their_quantizer(model.config), model.config)
        return model

    with mock.patch.object(vqvae_trainer, "build_vqvae", build_with_theirs):
        yield


def pair_config(base: RunConfig, name: str) -> RunConfig:
    """Our settings of a pair: the matched variant of that name, or the EMA reference changed."""
    changes, _ = PAIRS[name]
    if name in VARIANTS:
        return matched_variant(base, name).config
    cfg = matched_variant(base, "ema").config
    for key, value in changes.items():
        setattr(cfg.model, key, value)
    return cfg.validate()


def reference_available() -> bool:
    """Whether vector-quantize-pytorch is installed (the optional `reference` group)."""
    return importlib.util.find_spec("vector_quantize_pytorch") is not None


def reference_rows(epochs: int, dataset: str = "mnist", names: list[str] | None = None, seeds: int = 1) -> list[dict]:
    """Ours against theirs, pair by pair, `epochs` on `dataset` (see the module docstring); with
    several seeds (0, 1, ...), each side's mean over them, and every seed's pair in the note."""
    if not reference_available():
        raise VQVAEError("the reference rows need vector-quantize-pytorch: pip install -e '.[reference]'")
    data, base = bundled_data(dataset), base_settings(dataset, epochs)
    title, span = ("" if dataset == "mnist" else "Pokémon "), f"{epochs} epoch{'s' if epochs != 1 else ''}"
    rows = []
    for name in names or list(PAIRS):
        ours, theirs = [], []
        for seed in range(seeds):
            cfg = pair_config(base, name)
            cfg.train.seed = seed
            ours.append(train_variant(cfg, data))
            with their_quantizer_inside():
                theirs.append(train_variant(cfg, data))
        o, t = mean_of(ours), mean_of(theirs)
        mean = by_seed = ""
        if seeds > 1:
            mean = f", mean of {seeds} seeds"
            by_seed = "; by seed, ours / theirs: " + ", ".join(f"{a['psnr']:.2f} / {b['psnr']:.2f} dB"
                                                              for a, b in zip(ours, theirs))
        differs = PAIRS[name][1]
        rows.append(row(f"{title}reference {name}: held-out PSNR after {span}{mean}, ours against vector-quantize-pytorch",
                        o["psnr"], t["psnr"], "dB", target=against_baseline(">=", plus=-0.05, unit="dB"),
                        note=f"ours: perplexity / K {o['usage']:.2f}, {o['codes_used']:.0f} of {ours[0]['k']} codes in "
                             f"use; theirs: {t['usage']:.2f}, {t['codes_used']:.0f} in use" + by_seed
                             + (f"; {differs}" if differs else ""),
                        ours_usage=o["usage"], theirs_usage=t["usage"], ours_codes_used=o["codes_used"],
                        theirs_codes_used=t["codes_used"], seeds=seeds))
    return rows


def mean_of(results: list[dict]) -> dict:
    """The mean PSNR, perplexity / K and codes in use of one side's runs."""
    return {key: sum(r[key] for r in results) / len(results) for key in ("psnr", "usage", "codes_used")}
