"""The quantizer a ModelConfig asks for: a plain, EMA or SimVQ codebook (vqvae/models/quantize.py,
simvq.py), a residual stack of them (residual.py), FSQ (fsq.py), or LFQ and BSQ (binary.py)."""

from __future__ import annotations

from torch import nn

from vqvae.models.binary import BinaryQuantizer
from vqvae.models.fsq import FSQuantizer
from vqvae.models.quantize import EMAVectorQuantizer, VectorQuantizer
from vqvae.models.residual import ResidualQuantizer
from vqvae.models.simvq import SimVQuantizer


def make_quantizer(config) -> nn.Module:
    """The quantizer a ModelConfig asks for (its residual stages when residual_depth > 1)."""
    if config.quantizer == "fsq":
        return FSQuantizer(config.fsq_levels, config.dead_code_window)
    if config.quantizer in ("lfq", "bsq"):
        return BinaryQuantizer(config.code_dim, spherical=config.quantizer == "bsq", beta=config.beta,
                               entropy_weight=config.entropy_weight, dead_code_window=config.dead_code_window)
    if config.residual_depth > 1:
        return ResidualQuantizer([codebook(config, config.stage_codebook_size) for _ in range(config.residual_depth)])
    return codebook(config, config.codebook_size)


def codebook(config, size: int) -> nn.Module:
    """One learnt codebook of `size` codes, of the config's kind and variant settings."""
    common = dict(beta=config.beta, straight_through=config.straight_through, codebook_init=config.codebook_init,
                  dead_code_window=config.dead_code_window, restart_dead_codes=config.restart_dead_codes,
                  cosine=config.cosine_codebook, lookup_dim=config.lookup_dim)
    if config.quantizer == "ema":
        return EMAVectorQuantizer(size, config.code_dim, decay=config.ema_decay, eps=config.ema_eps,
                                  bias_correction=config.ema_bias_correction, **common)
    if config.quantizer == "simvq":
        return SimVQuantizer(size, config.code_dim, **common)
    return VectorQuantizer(size, config.code_dim, **common)
