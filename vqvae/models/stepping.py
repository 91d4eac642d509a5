"""Sampling one position at a time under the user's hand (the Sample page's step mode):
the prior's distribution over the K codes at the next position, the draw or the user's
own pick from it, and the entropy of every decision taken so far.

One image, drawn in the fast sampler's order (row by row) with the same generator calls,
so with the same seed and no picks it draws the fast sampler's codes. A pick still uses up
its random number: the later draws do not shift because the user chose once.
"""

from __future__ import annotations

import torch

from vqvae.errors import VQVAEError
from vqvae.models.autoencoder import VQVAE
from vqvae.models.pixelcnn import GatedPixelCNN
from vqvae.models.sampling import Sampling, check_same_codebook, draw_from, sample_labels


class StepSampler:
    """A code grid filled one position at a time; `distribution()` is what the next code
    will be drawn from, `step()` draws it (or takes the user's pick).

    The grid is the model's square grid_size x grid_size, or the shape of `keep` for a
    completion: the prior is convolutional, so a full-size picture's h x w codes work too."""

    def __init__(self, prior: GatedPixelCNN, vqvae: VQVAE, sampling: Sampling = Sampling(), seed: int = 0,
                 label: int | None = None, keep: torch.Tensor | None = None, kept: int = 0):
        """keep [h, w] and kept: start from the first `kept` positions of the code grid `keep`
        (row by row), as a completion does: the prior draws only what follows them, on an
        h x w grid."""
        check_same_codebook(prior, vqvae)
        self.prior, self.vqvae, self.sampling = prior.eval(), vqvae.eval(), sampling.check()
        device = prior.embedding.weight.device
        if keep is not None and (keep.dim() != 2 or keep.numel() == 0):
            raise VQVAEError(f"a completion keeps codes of an [h, w] grid, not one shaped {list(keep.shape)}")
        self.height, self.width = keep.shape if keep is not None else (vqvae.config.grid_size,) * 2
        self.labels = sample_labels(prior.config.n_classes, 1, label, device)
        self.generator = torch.Generator(device).manual_seed(seed)
        self.codes = torch.zeros(1, self.height, self.width, dtype=torch.long, device=device)  # unfilled: 0
        self.entropy = torch.full((self.height, self.width), float("nan"))  # nats, of each filled position
        self.picked = torch.zeros(self.height, self.width, dtype=torch.bool)  # the user's own choices
        self.done = 0
        if keep is not None:
            if not 0 <= kept <= self.total:
                raise VQVAEError(f"a completion keeps 0..{self.total} positions of a {self.height} x {self.width} grid")
            kept_codes = keep.reshape(-1)[:kept]
            if kept and (kept_codes.min() < 0 or kept_codes.max() >= vqvae.config.codebook_size):
                raise VQVAEError(f"the codes kept must lie in 0..{vqvae.config.codebook_size - 1}")
            self.codes.view(-1)[:kept] = kept_codes.to(device)
            self.done = kept
        self._probs: torch.Tensor | None = None  # the distribution at position `done`, once computed

    @property
    def side(self) -> int:
        """The row length (the width); kept for callers written when every grid was square."""
        return self.width

    @property
    def total(self) -> int:
        return self.height * self.width

    @property
    def position(self) -> tuple[int, int]:
        """(row, column) of the next code to draw."""
        return divmod(self.done, self.width)

    @torch.no_grad()
    def distribution(self) -> torch.Tensor:
        """The probabilities [K] (float64, summing to 1) of the next code, after temperature,
        top-k and top-p."""
        if self.done >= self.total:
            raise VQVAEError("every position is drawn: start again for a new sample")
        if self._probs is None:
            i, j = self.position
            self._probs = self.sampling.probabilities(self.prior(self.codes, self.labels)[:, :, i, j])[0]
        return self._probs

    def top(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The k likeliest next codes and their probabilities, likeliest first."""
        probs = self.distribution()
        values, codes = probs.topk(min(k, len(probs)))
        return codes, values

    @torch.no_grad()
    def step(self, code: int | None = None) -> int:
        """Fill the next position: drawn from the distribution, or `code` when the user
        picked one (any code the filters kept). Returns the code."""
        probs = self.distribution()
        drawn = int(draw_from(probs[None], self.generator)[0])  # drawn even when picked
        if code is not None:
            if not 0 <= code < len(probs) or probs[code] <= 0:
                raise VQVAEError(f"code {code} cannot be drawn here: pick one of the codes the prior offers")
            drawn = code
        i, j = self.position
        self.codes[0, i, j] = drawn
        nonzero = probs[probs > 0]
        self.entropy[i, j] = float(-(nonzero * nonzero.log()).sum())
        self.picked[i, j] = code is not None
        self.done += 1
        self._probs = None
        return drawn

    def run(self, steps: int) -> None:
        """Up to `steps` more draws (fewer at the end of the grid)."""
        for _ in range(min(steps, self.total - self.done)):
            self.step()

    def to_row_end(self) -> None:
        """Draw the rest of the current row."""
        self.run(self.width - self.position[1])

    @torch.no_grad()
    def decoded(self, blank: bool = False, fill: float | tuple[float, ...] = 0.5) -> torch.Tensor:
        """The picture [1, C, h * f, w * f] in [0, 1] of the codes so far, f the model's
        downsampling. Unfilled positions hold code 0, and decode as it; with blank, their
        f x f cells are painted `fill` instead (one value, or one a channel: the model's
        background, say), so a person sees what is still to come rather than code 0's picture.
        The drawn cells are the plain decode's pixels (near an undrawn cell, a conv decoder's
        pixels there still depend on the code 0 it holds)."""
        pictures = self.vqvae.decode(self.codes).clamp(0, 1)
        if not blank or self.done >= self.total:
            return pictures
        f = self.vqvae.config.downsample
        undrawn = torch.arange(self.total, device=pictures.device).view(self.height, self.width) >= self.done
        cells = undrawn.repeat_interleave(f, 0).repeat_interleave(f, 1)  # [h * f, w * f]
        paint = torch.as_tensor(fill, dtype=pictures.dtype, device=pictures.device).reshape(-1, 1, 1)
        return torch.where(cells, paint, pictures)
