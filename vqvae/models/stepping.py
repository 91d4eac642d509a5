"""Sampling one position at a time under the user's hand (the Sample page's step mode, and
completing a picture's codes on Reconstruct): the prior's distribution over the codes at
the next position, the draw or the user's own pick from it, and the entropy of every
decision taken so far.

One image, drawn in the fast sampler's order (row by row; for a two-level prior the top
grid, then the bottom one given it) with the same generator calls, so with the same seed
and no picks it draws the fast sampler's codes. A pick still uses up its random number: the
later draws do not shift because the user chose once.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vqvae.errors import VQVAEError
from vqvae.models.autoencoder import VQVAE
from vqvae.models.editing import candidates_in_place
from vqvae.models.pixelcnn import GatedPixelCNN
from vqvae.models.sampling import Sampling, check_same_codebook, draw_from, sample_labels


@dataclass
class Grid:
    """One code grid the stepper fills, with what it keeps of each decision."""

    level: str | None  # "top" or "bottom" for a two-level prior, None for one level
    prior: GatedPixelCNN  # the PixelCNN that models this grid
    codes: torch.Tensor  # [1, h, w] int64; positions not yet drawn hold 0
    codebook_size: int
    offset: int  # positions of the grids before this one

    def __post_init__(self):
        h, w = self.codes.shape[-2:]
        self.entropy = torch.full((h, w), float("nan"))  # nats, of each drawn position
        self.picked = torch.zeros(h, w, dtype=torch.bool)  # the user's own choices

    @property
    def height(self) -> int:
        return self.codes.shape[-2]

    @property
    def width(self) -> int:
        return self.codes.shape[-1]

    @property
    def size(self) -> int:
        return self.height * self.width


class StepSampler:
    """Code grids filled one position at a time; `distribution()` is what the next code will
    be drawn from, `step()` draws it (or takes the user's pick).

    The grid is the model's grid_size x grid_size (and its top grid for two levels), or the
    shape of `keep` for a completion: the prior is convolutional, so a full-size picture's
    h x w codes work too. `codes`, `entropy` and `picked` are the bottom grid's (the only one
    of a one-level model), `top` the top grid's codes; `grid` is the one filling now."""

    def __init__(self, prior: GatedPixelCNN, vqvae: VQVAE, sampling: Sampling = Sampling(), seed: int = 0,
                 label: int | None = None, keep: torch.Tensor | None = None, kept: int = 0,
                 keep_top: torch.Tensor | None = None):
        """keep [h, w] (and for two levels keep_top [h', w']) and kept: start from the first
        `kept` positions (row by row; for two levels, the top grid's first) of those grids, as
        a completion does: the prior draws only what follows them."""
        check_same_codebook(prior, vqvae)
        self.prior, self.vqvae, self.sampling = prior.eval(), vqvae.eval(), sampling.check()
        device = prior.embedding.weight.device
        self.labels = sample_labels(prior.config.n_classes, 1, label, device)
        self.generator = torch.Generator(device).manual_seed(seed)
        shapes = _grid_shapes(vqvae, keep, keep_top)
        c = vqvae.config
        if c.levels == 1:
            self.grids = [Grid(None, prior, torch.zeros(1, *shapes[0], dtype=torch.long, device=device),
                               c.codebook_size, 0)]
        else:
            top_size = shapes[0][0] * shapes[0][1]
            self.grids = [Grid("top", prior.top, torch.zeros(1, *shapes[0], dtype=torch.long, device=device),
                               c.top_codes, 0),
                          Grid("bottom", prior.bottom, torch.zeros(1, *shapes[1], dtype=torch.long, device=device),
                               c.codebook_size, top_size)]
        self.done = 0
        if keep is not None:
            self._keep([keep_top, keep] if c.levels == 2 else [keep], kept)
        self._probs: torch.Tensor | None = None  # the distribution at position `done`, once computed

    @classmethod
    def completing(cls, prior, vqvae: VQVAE, grids: dict[str, torch.Tensor], level: str, row: int, column: int,
                   seed: int = 0, label: int | None = None) -> "StepSampler":
        """A completion from (row, column) of `level`'s grid ({"bottom": [h, w], "top": [h', w']
        for two levels}): the codes before that cell are kept, row by row, and so is the whole
        top grid from a bottom cell; from a top cell the rest of the top grid and then the whole
        bottom grid are drawn again."""
        width = grids[level].shape[-1]
        kept = row * width + column + (grids["top"].numel() if level == "bottom" and "top" in grids else 0)
        return cls(prior, vqvae, seed=seed, label=label, keep=grids["bottom"], kept=kept, keep_top=grids.get("top"))

    def _keep(self, grids: list[torch.Tensor], kept: int) -> None:
        if not 0 <= kept <= self.total:
            shapes = " and ".join(f"{g.height} x {g.width}" + (f" {g.level}" if g.level else "") for g in self.grids)
            raise VQVAEError(f"a completion keeps 0..{self.total} positions of a {shapes} grid")
        for grid, given in zip(self.grids, grids):
            n = min(max(kept - grid.offset, 0), grid.size)
            kept_codes = given.reshape(-1)[:n]
            if n and (kept_codes.min() < 0 or kept_codes.max() >= grid.codebook_size):
                which = f"{grid.level} codes" if grid.level else "codes"
                raise VQVAEError(f"the {which} kept must lie in 0..{grid.codebook_size - 1}")
            grid.codes.view(-1)[:n] = kept_codes.to(grid.codes.device)
        self.done = kept

    @property
    def grid(self) -> Grid:
        """The grid the next code goes into (the last one once every position is drawn)."""
        return next((g for g in self.grids if self.done < g.offset + g.size), self.grids[-1])

    @property
    def level(self) -> str | None:
        return self.grid.level

    @property
    def codes(self) -> torch.Tensor:
        return self.grids[-1].codes

    @property
    def top(self) -> torch.Tensor | None:
        return self.grids[0].codes if len(self.grids) == 2 else None

    @property
    def entropy(self) -> torch.Tensor:
        return self.grids[-1].entropy

    @property
    def picked(self) -> torch.Tensor:
        return self.grids[-1].picked

    @property
    def picks(self) -> int:
        """How many codes the user picked, over every grid."""
        return sum(int(g.picked.sum()) for g in self.grids)

    @property
    def height(self) -> int:
        return self.grids[-1].height

    @property
    def width(self) -> int:
        return self.grids[-1].width

    @property
    def side(self) -> int:
        """The row length of the grid filling now; kept for callers written when every grid was square."""
        return self.grid.width

    @property
    def total(self) -> int:
        return sum(g.size for g in self.grids)

    @property
    def position(self) -> tuple[int, int]:
        """(row, column) of the next code to draw, in the grid filling now."""
        grid = self.grid
        return divmod(self.done - grid.offset, grid.width)

    @torch.no_grad()
    def distribution(self) -> torch.Tensor:
        """The probabilities [K] (float64, summing to 1) of the next code, after temperature,
        top-k and top-p."""
        if self.done >= self.total:
            raise VQVAEError("every position is drawn: start again for a new sample")
        if self._probs is None:
            grid, (i, j) = self.grid, self.position
            condition = self.top if grid.level == "bottom" else None
            self._probs = self.sampling.probabilities(grid.prior(grid.codes, self.labels, condition)[:, :, i, j])[0]
        return self._probs

    def likeliest(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
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
        grid, (i, j) = self.grid, self.position
        grid.codes[0, i, j] = drawn
        nonzero = probs[probs > 0]
        grid.entropy[i, j] = float(-(nonzero * nonzero.log()).sum())
        grid.picked[i, j] = code is not None
        self.done += 1
        self._probs = None
        return drawn

    @torch.no_grad()
    def in_place(self, candidates: torch.Tensor, window: int = 3) -> torch.Tensor:
        """What the picture would be with each candidate code at the next position, cropped to
        the window x window cells around it (vqvae.models.editing.candidates_in_place); for
        the top grid of two levels, what the top codes carry alone."""
        grid, (i, j) = self.grid, self.position
        f = self.vqvae.config.downsample
        if self.top is None:
            decode = self.vqvae.decode
        elif grid.level == "top":
            f *= 2
            def decode(tops):
                return self.vqvae.decode_level_alone(tops, self.codes.expand(len(tops), -1, -1), "top")
        else:
            def decode(bottoms):
                return self.vqvae.decode_levels(self.top.expand(len(bottoms), -1, -1), bottoms)
        return candidates_in_place(self.vqvae, grid.codes[0], i, j, candidates, window, decode, f)

    def run(self, steps: int) -> None:
        """Up to `steps` more draws (fewer at the end of the grids)."""
        for _ in range(min(steps, self.total - self.done)):
            self.step()

    def to_row_end(self) -> None:
        """Draw the rest of the current row."""
        self.run(self.grid.width - self.position[1])

    @torch.no_grad()
    def decoded(self, blank: bool = False, fill: float | tuple[float, ...] = 0.5) -> torch.Tensor:
        """The picture [1, C, H, W] in [0, 1] of the codes so far. Undrawn positions hold
        code 0, and decode as it; with blank, their cells are painted `fill` instead (one
        value, or one a channel: the model's background, say), so a person sees what is still
        to come rather than code 0's picture. While a two-level model's top grid fills, the
        picture is what the top codes carry alone (decode_level_alone: the bottom level set
        to its mean code), its cells twice the bottom's. The drawn cells are the plain
        decode's pixels (near an undrawn cell, a conv decoder's pixels there still depend on
        the code 0 it holds)."""
        grid, f = self.grid, self.vqvae.config.downsample
        if self.top is None:
            pictures = self.vqvae.decode(self.codes)
        elif grid.level == "top" and self.done < self.total:
            pictures, f = self.vqvae.decode_level_alone(self.top, self.codes, "top"), 2 * f
        else:
            pictures = self.vqvae.decode_levels(self.top, self.codes)
        pictures = pictures.clamp(0, 1)
        if not blank or self.done >= self.total:
            return pictures
        drawn_here = self.done - grid.offset
        undrawn = torch.arange(grid.size, device=pictures.device).view(grid.height, grid.width) >= drawn_here
        cells = undrawn.repeat_interleave(f, 0).repeat_interleave(f, 1)[: pictures.shape[-2], : pictures.shape[-1]]
        paint = torch.as_tensor(fill, dtype=pictures.dtype, device=pictures.device).reshape(-1, 1, 1)
        return torch.where(cells, paint, pictures)


def _grid_shapes(vqvae: VQVAE, keep: torch.Tensor | None, keep_top: torch.Tensor | None) -> list[tuple[int, int]]:
    """The [h, w] of each grid to fill, top first: the model's own, or those of the grids kept."""
    c = vqvae.config
    if keep is None:
        return [(c.top_grid_size,) * 2, (c.grid_size,) * 2] if c.levels == 2 else [(c.grid_size,) * 2]
    if keep.dim() != 2 or keep.numel() == 0:
        raise VQVAEError(f"a completion keeps codes of an [h, w] grid, not one shaped {list(keep.shape)}")
    if c.levels == 1:
        return [tuple(keep.shape)]
    h, w = keep.shape
    fits = ((h + 1) // 2, (w + 1) // 2)
    if keep_top is None or tuple(keep_top.shape) != fits:
        raise VQVAEError(f"a two-level completion keeps a top grid of {fits[0]} x {fits[1]} codes with a bottom "
                         f"grid of {h} x {w}")
    return [fits, (h, w)]
