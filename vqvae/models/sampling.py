"""Sampling code grids from the PixelCNN prior, one position at a time, as a generator of
progress so a page can draw the picture forming.

Two samplers draw the same codes for the same seed:
- `sample_naive` runs the whole network on the whole grid once per position (h*w passes);
- `sample` does not recompute what cannot change: rows below the current one never matter,
  the vertical stack of finished rows is computed once per row and kept, and the
  horizontal stack runs one column at a time, each block keeping the few columns its
  kernel reads (on CUDA, each position's work is one replayed graph).
Both draw one uniform number per image and position from the same generator and invert
the same CDF, so their codes agree wherever their logits agree.

`stream_samples` is the front end every caller uses (the CLI, the Sample page, each epoch's
sample grid): the fast sampler on a VQ-VAE's code grid, its settings checked first.

Beside the temperature, top-k keeps only the k likeliest codes at each position and top-p
(nucleus sampling) the fewest likeliest codes whose probabilities reach p; both renormalise
what they keep, and both with k = 1 or a tiny p become the argmax.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from vqvae.errors import VQVAEError
from vqvae.models.autoencoder import VQVAE
from vqvae.models.column_step import give_back, take_step
from vqvae.models.pixelcnn import GatedPixelCNN, gate


@dataclass
class Progress:
    done: int  # positions filled (of both levels)
    total: int  # h * w (plus h' * w' for two levels)
    codes: torch.Tensor  # [N, h, w] int64, the grid being filled; positions not yet filled hold 0
    level: str | None = None  # two levels: "top" while the top grid fills, then "bottom"
    top: torch.Tensor | None = None  # two levels, while the bottom fills: the finished top grid [N, h', w']

    @property
    def grid_done(self) -> int:
        """Positions filled of the grid being filled."""
        return self.done - (self.top[0].numel() if self.top is not None else 0)


def sample_labels(n_classes: int, n: int, label: int | None, device) -> torch.Tensor | None:
    """The class of each of n samples: `label` for all, or the classes in turn (0, 1, ...);
    None for an unconditional prior."""
    if n_classes == 0:
        if label is not None:
            raise VQVAEError("this prior is not class-conditional: drop the label")
        return None
    if label is None:
        return torch.arange(n, device=device) % n_classes
    if not 0 <= label < n_classes:
        raise VQVAEError(f"the label must lie in 0..{n_classes - 1}, not {label}")
    return torch.full((n,), label, dtype=torch.long, device=device)


@dataclass(frozen=True)
class Sampling:
    """How a code is drawn from the prior's logits at each position."""

    temperature: float = 1.0
    top_k: int | None = None  # keep the k likeliest codes (None: all)
    top_p: float | None = None  # keep the fewest likeliest codes whose probability reaches p (None: all)

    def check(self) -> "Sampling":
        if not self.temperature > 0:
            raise VQVAEError(f"temperature must be positive (1 samples the prior as trained), not {self.temperature}")
        if self.top_k is not None and self.top_k < 1:
            raise VQVAEError(f"top-k must be at least 1 (1 always takes the likeliest code), not {self.top_k}")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise VQVAEError(f"top-p must lie in (0, 1] (1 keeps every code), not {self.top_p}")
        return self

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """logits [N, K] -> the probabilities [N, K] (float64, rows summing to 1) codes are drawn from."""
        logits = logits.double()
        # The best logit is subtracted before dividing: a tiny temperature then tends to the
        # argmax instead of turning every logit into inf (and the softmax into NaN).
        probs = F.softmax((logits - logits.amax(-1, keepdim=True)) / self.temperature, dim=-1)
        if self.top_k is None and self.top_p is None:
            return probs
        # Sorted likeliest first (stable: among equal codes the lowest index, as argmax takes).
        ranked, order = probs.sort(dim=-1, descending=True, stable=True)
        keep = torch.ones_like(ranked, dtype=torch.bool)
        if self.top_k is not None:
            keep[:, self.top_k:] = False
        if self.top_p is not None:  # a code stays while the mass before it is still short of p
            keep &= (ranked.cumsum(-1) - ranked) < self.top_p
        kept = torch.zeros_like(probs).scatter(-1, order, ranked * keep)
        return kept / kept.sum(-1, keepdim=True)


def _draw(logits: torch.Tensor, sampling: Sampling, generator: torch.Generator | None) -> torch.Tensor:
    """logits [N, K] -> codes [N], drawn as `sampling` says."""
    return draw_from(sampling.probabilities(logits), generator)


def draw_from(probs: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """probabilities [N, K] -> codes [N], by inverting the CDF at one uniform number per row."""
    u = torch.rand(probs.shape[0], 1, generator=generator, dtype=torch.float64, device=probs.device)
    cdf = probs.cumsum(-1)
    code = torch.searchsorted(cdf, u * cdf[:, -1:]).clamp_max(probs.shape[-1] - 1)
    # Rounding in the cumulative sum must not land on a code that was filtered out.
    return torch.where(probs.gather(-1, code) > 0, code, probs.argmax(-1, keepdim=True)).squeeze(1)


@torch.no_grad()
def sample_naive(model: GatedPixelCNN, n: int, h: int, w: int, sampling: Sampling = Sampling(),
                 generator: torch.Generator | None = None, labels: torch.Tensor | None = None,
                 condition: torch.Tensor | None = None):
    """The reference: the whole network on the whole grid for every position. condition: the
    top codes [N, h', w'] a bottom prior is conditioned on."""
    device = model.embedding.weight.device
    codes = torch.zeros(n, h, w, dtype=torch.long, device=device)
    for p in range(h * w):
        i, j = divmod(p, w)
        logits = model(codes, labels, condition)[:, :, i, j]
        codes[:, i, j] = _draw(logits, sampling, generator)
        yield Progress(p + 1, h * w, codes)


@torch.no_grad()
def sample(model: GatedPixelCNN, n: int, h: int, w: int, sampling: Sampling = Sampling(),
           generator: torch.Generator | None = None, labels: torch.Tensor | None = None, graphs: bool = True,
           condition: torch.Tensor | None = None, pick=None):
    """The fast sampler (same codes as sample_naive for the same generator). `graphs`: on
    CUDA, replay each position's work from a captured graph (kept for the next grid).
    condition: the top codes [N, h', w'] a bottom prior is conditioned on; what they add to
    each gate is computed once for the whole grid and read a row at a time. pick(logits
    [N, K], i, j) -> codes [N]: the codes to put at (i, j) instead of drawing them (the
    codec puts a picture's own codes there, or the ones its decoder reads)."""
    device = model.embedding.weight.device
    blocks = model.blocks
    conditions = [b.condition(labels)[:, :, None, None] if b.condition is not None else 0 for b in blocks]
    grids = [0 if g is None else g for g in model.grid_conditions(condition, h, w)]
    codes = torch.zeros(n, h, w, dtype=torch.long, device=device)
    x = model.embed(codes)  # [N, C, h, w], rows filled in as codes are drawn
    # streams[l] = the vertical stream entering block l, row by row (streams[0] is the input).
    streams = [x] + [torch.zeros_like(x) for _ in blocks]
    step, key = take_step(model, n, graphs and device.type == "cuda")
    step.start(conditions)
    finished = False
    try:
        for i in range(h):
            # What the horizontal stack of row i takes from above: block l's vertical
            # pre-activation at row i - 1, computed once from the finished rows.
            from_above = []
            for l, block in enumerate(blocks):
                here = row(grids[l], i)
                if i == 0:
                    from_above.append(block.vertical_to_horizontal(
                        torch.zeros(n, 2 * x.shape[1], 1, w, dtype=x.dtype, device=device)) + here)
                    continue
                k = block.half
                top = max(0, i - 1 - k)
                window = F.pad(streams[l][:, :, top:i, :], (k, k, k - (i - 1 - top), 0))
                v_pre = block.vertical(window)  # [N, 2C, 1, w]: row i - 1
                streams[l + 1][:, :, i - 1 : i, :] = gate(v_pre + conditions[l] + row(grids[l], i - 1))
                from_above.append(block.vertical_to_horizontal(v_pre) + here)
            step.new_row(from_above)
            for j in range(w):
                codes[:, i, j] = pick(step(j), i, j) if pick else _draw(step(j), sampling, generator)
                embedded = model.embedding(codes[:, i, j])
                x[:, :, i, j] = embedded
                step.drawn(embedded)
                yield Progress(i * w + j + 1, h * w, codes)
        finished = True
    finally:
        if finished:  # (a grid left half-drawn, by a page rerun say, just drops its step)
            give_back(model, step, key)


def row(grid: torch.Tensor | int, i: int) -> torch.Tensor | int:
    """Row i [N, 2C, 1, w] of what a code grid adds to a block's gates (0: nothing)."""
    return grid[:, :, i : i + 1, :] if torch.is_tensor(grid) else grid


def sample_images(prior: GatedPixelCNN, vqvae: VQVAE, n: int, temperature: float = 1.0, seed: int = 0,
                  label: int | None = None, top_k: int | None = None, top_p: float | None = None) -> torch.Tensor:
    """n images [n, C, H, W] in [0, 1] drawn from the prior and decoded (no progress)."""
    progress = None
    for progress in stream_samples(prior, vqvae, n, temperature, seed, label, top_k, top_p):
        pass
    return decode_progress(vqvae, progress)


@torch.no_grad()
def decode_progress(vqvae: VQVAE, progress: Progress) -> torch.Tensor:
    """The pictures [N, C, H, W] in [0, 1] as the codes stand: for two levels, while the top
    grid fills, what it carries alone (vqvae.models.two_level.decode_level_alone)."""
    if progress.level is None:
        return vqvae.decode(progress.codes)
    if progress.level == "top":
        top = progress.codes
        side = vqvae.config.grid_size
        bottom = torch.zeros(top.shape[0], side, side, dtype=torch.long, device=top.device)
        return vqvae.decode_level_alone(top, bottom, "top")
    return vqvae.decode_levels(progress.top, progress.codes)


def stream_samples(prior: GatedPixelCNN, vqvae: VQVAE, n: int, temperature: float = 1.0, seed: int = 0,
                   label: int | None = None, top_k: int | None = None, top_p: float | None = None):
    """The fast sampler on the VQ-VAE's code grid: a generator of Progress as the codes fill
    in. A class-conditional prior draws class `label`, or every class in turn when it is
    None; temperature, top_k and top_p as in Sampling. Bad settings raise VQVAEError here,
    before anything is drawn."""
    check_same_codebook(prior, vqvae)
    if n < 1:
        raise VQVAEError(f"the number of samples must be at least 1, not {n}")
    sampling = Sampling(temperature, top_k, top_p).check()
    device = prior.embedding.weight.device
    labels = sample_labels(prior.config.n_classes, n, label, device)
    side = vqvae.config.grid_size
    generator = torch.Generator(device).manual_seed(seed)
    prior.eval()
    if prior.config.levels == 1:
        return sample(prior, n, side, side, sampling, generator, labels)
    return _two_levels(prior, n, side, sampling, generator, labels)


def _two_levels(prior, n: int, side: int, sampling: Sampling, generator: torch.Generator, labels):
    """The top grid, then the bottom one given it: one stream of Progress over both."""
    top_side = (side + 1) // 2
    total = top_side**2 + side**2
    progress = None
    for progress in sample(prior.top, n, top_side, top_side, sampling, generator, labels):
        yield Progress(progress.done, total, progress.codes, "top")
    top = progress.codes.clone()
    for progress in sample(prior.bottom, n, side, side, sampling, generator, labels, condition=top):
        yield Progress(top_side**2 + progress.done, total, progress.codes, "bottom", top)


def check_same_codebook(prior: GatedPixelCNN, vqvae: VQVAE) -> None:
    p, m = prior.config, vqvae.config
    if p.levels != m.levels:
        raise VQVAEError(f"the prior models {p.levels} code grid(s) but the VQ-VAE has {m.levels} level(s): "
                         f"pick the VQ-VAE the prior was trained on")
    if p.codebook_size != m.codebook_size or (p.levels == 2 and p.top_codebook_size != m.top_codes):
        raise VQVAEError(f"the prior models {p.codebook_size} codes but the VQ-VAE has "
                         f"{m.codebook_size}: pick the VQ-VAE the prior was trained on")


def grid_columns(n: int, n_classes: int = 0, label: int | None = None) -> int:
    """Images per row of a grid of n samples: one column per class when a class-conditional
    prior draws the classes in turn (so each column holds one class), else about sqrt(n)."""
    if n_classes and label is None and n >= n_classes:
        return n_classes
    return max(1, round(math.sqrt(n)))
