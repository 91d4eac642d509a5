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
    will be drawn from, `step()` draws it (or takes the user's pick)."""

    def __init__(self, prior: GatedPixelCNN, vqvae: VQVAE, sampling: Sampling = Sampling(), seed: int = 0,
                 label: int | None = None, keep: torch.Tensor | None = None, kept: int = 0):
        """keep [h, w] and kept: start from the first `kept` positions of the code grid `keep`
        (row by row), as a completion does: the prior draws only what follows them."""
        check_same_codebook(prior, vqvae)
        self.prior, self.vqvae, self.sampling = prior.eval(), vqvae.eval(), sampling.check()
        device = prior.embedding.weight.device
        self.side = vqvae.config.grid_size
        self.labels = sample_labels(prior.config.n_classes, 1, label, device)
        self.generator = torch.Generator(device).manual_seed(seed)
        self.codes = torch.zeros(1, self.side, self.side, dtype=torch.long, device=device)  # unfilled: 0
        self.entropy = torch.full((self.side, self.side), float("nan"))  # nats, of each filled position
        self.picked = torch.zeros(self.side, self.side, dtype=torch.bool)  # the user's own choices
        self.done = 0
        if keep is not None:
            if keep.shape != (self.side, self.side) or not 0 <= kept <= self.total:
                raise VQVAEError(f"a completion keeps 0..{self.total} positions of a {self.side} x {self.side} grid")
            self.codes.view(-1)[:kept] = keep.reshape(-1)[:kept].to(device)
            self.done = kept
        self._probs: torch.Tensor | None = None  # the distribution at position `done`, once computed

    @property
    def total(self) -> int:
        return self.side * self.side

    @property
    def position(self) -> tuple[int, int]:
        """(row, column) of the next code to draw."""
        return divmod(self.done, self.side)

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
        self.run(self.side - self.position[1])

    @torch.no_grad()
    def decoded(self) -> torch.Tensor:
        """The picture [1, C, H, W] in [0, 1] of the codes so far (unfilled positions hold code 0)."""
        return self.vqvae.decode(self.codes).clamp(0, 1)
