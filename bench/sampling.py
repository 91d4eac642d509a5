"""The bench's sampling rows: the streaming sampler against the naive one (the whole network
once per position), same prior with random weights (speed does not depend on them), same
batch and seed; and whether they drew the same codes (the fast sampler is exact)."""

from __future__ import annotations

import time

import torch

from bench.table import ratio, row
from vqvae.models.pixelcnn import GatedPixelCNN
from vqvae.models.sampling import Sampling, sample, sample_naive
from vqvae.presets import prior_preset

SAMPLING_PRIOR = prior_preset("mnist").prior  # K 128, as the mnist VQ-VAE preset
TARGETS = {7: 1.7, 16: 4.0}  # the speed-up each grid side must reach


def sampling_speed(side: int, batch: int) -> tuple[float, float, bool]:
    """Seconds for the fast and the naive sampler to fill a side x side grid for `batch`
    images, same model, same seed; and whether they drew the same codes."""
    torch.manual_seed(0)
    model = GatedPixelCNN(SAMPLING_PRIOR).eval()
    timings, grids = [], []
    for sampler in (sample_naive, sample):
        started = time.perf_counter()
        for progress in sampler(model, batch, side, side, Sampling(), torch.Generator().manual_seed(1)):
            pass
        timings.append(time.perf_counter() - started)
        grids.append(progress.codes.clone())
    return timings[1], timings[0], bool(torch.equal(*grids))


def sampling_rows(quick: bool) -> list[dict]:
    p, rows = SAMPLING_PRIOR, []
    for side, batch in ((7, 8 if quick else 64), (16, 2 if quick else 32)):
        fast, naive, identical = sampling_speed(side, batch)
        rows.append(row(f"sampling {side}x{side}", fast, naive, "s", bigger_is_better=False,
                        target=None if quick else ratio(">=", TARGETS[side]),
                        note=f"batch {batch}, prior K {p.codebook_size}, {p.channels} channels, {p.n_blocks} blocks, "
                             f"random weights; {batch / fast:.1f} images/s fast, {batch / naive:.2f} naive; "
                             + ("identical codes" if identical else "WARNING: the samplers drew different codes"),
                        identical=identical))
    return rows
