"""Editing a code grid by hand: each change remembered so it can be undone, the changed
cells known so a page can outline them on the decoded picture."""

from __future__ import annotations

import torch

from vqvae.errors import VQVAEError


class CodeEdits:
    """A code grid [h, w] and the user's changes to it, newest last."""

    def __init__(self, codes: torch.Tensor, codebook_size: int):
        self.original = codes.detach().clone()
        self.codes = codes.detach().clone()
        self.codebook_size = codebook_size
        self.history: list[torch.Tensor] = []  # the grid before each change, newest last

    def set(self, row: int, column: int, code: int) -> None:
        h, w = self.codes.shape
        if not (0 <= row < h and 0 <= column < w):
            raise VQVAEError(f"cell ({row}, {column}) is outside the {w} x {h} code grid")
        if not 0 <= code < self.codebook_size:
            raise VQVAEError(f"code {code} is not in the codebook: pick 0..{self.codebook_size - 1}")
        self.history.append(self.codes.clone())
        self.codes[row, column] = code

    def replace(self, codes: torch.Tensor) -> None:
        """The whole grid at once (a completion by the prior), undone in one step."""
        if codes.shape != self.codes.shape or codes.min() < 0 or codes.max() >= self.codebook_size:
            raise VQVAEError(f"a replacement must be a {tuple(self.codes.shape)} grid of codes 0..{self.codebook_size - 1}")
        self.history.append(self.codes.clone())
        self.codes = codes.detach().clone()

    def undo(self) -> None:
        if self.history:
            self.codes = self.history.pop()

    def reset(self) -> None:
        self.codes = self.original.clone()
        self.history.clear()

    @property
    def changed(self) -> torch.Tensor:
        """Where the grid differs from the original [h, w] (bool); a cell changed and changed back is not."""
        return self.codes != self.original


def outline_cells(images: torch.Tensor, cells: torch.Tensor, cell_pixels: int, width: int = 1,
                  colour: tuple[float, float, float] = (0.84, 0.15, 0.16)) -> torch.Tensor:
    """images [N, C, H, W] in [0, 1] -> RGB [N, 3, H, W] with a border drawn inside every cell
    (cell_pixels a side, the code grid's cells) marked in cells [h, w]."""
    rgb = images.expand(-1, 3, -1, -1).clone() if images.shape[1] == 1 else images.clone()
    paint = torch.tensor(colour, dtype=rgb.dtype).view(1, 3, 1, 1)
    for row, column in cells.nonzero().tolist():
        top, left = row * cell_pixels, column * cell_pixels
        box = rgb[:, :, top : top + cell_pixels, left : left + cell_pixels]
        box[..., :width, :] = box[..., -width:, :] = paint
        box[..., :, :width] = box[..., :, -width:] = paint
    return rgb


MIN_OUTLINED_CELL = 8  # pixels on screen: a smaller cell cannot hold a visible outline and its inside


def mark_cells(images: torch.Tensor, cells: torch.Tensor, cell_pixels: int,
               colour: tuple[float, float, float] = (0.84, 0.15, 0.16)) -> torch.Tensor:
    """The changed cells made visible at any scale: images [N, C, H, W] in [0, 1] -> RGB
    [N, 3, H, W] with each cell marked in cells [h, w] outlined (a border an eighth of the cell
    wide) when a cell spans at least MIN_OUTLINED_CELL pixels, else tinted half-way to the
    colour, as a 1-pixel border on a 4-pixel cell would hide the cell it marks."""
    if cell_pixels >= MIN_OUTLINED_CELL:
        return outline_cells(images, cells, cell_pixels, max(1, cell_pixels // 8), colour)
    rgb = images.expand(-1, 3, -1, -1).clone() if images.shape[1] == 1 else images.clone()
    mask = cells.repeat_interleave(cell_pixels, 0).repeat_interleave(cell_pixels, 1)
    mask = mask[: rgb.shape[-2], : rgb.shape[-1]].to(rgb.device)
    paint = torch.tensor(colour, dtype=rgb.dtype, device=rgb.device).view(1, 3, 1, 1)
    return torch.where(mask, (rgb + paint) / 2, rgb)


@torch.no_grad()
def candidates_in_place(vqvae, codes: torch.Tensor, row: int, column: int, candidates: torch.Tensor,
                        window: int = 3, decode=None, cell: int | None = None) -> torch.Tensor:
    """What the picture would be with each candidate code at (row, column): codes [h, w] ->
    tiles [k, C, window * f, window * f] in [0, 1] on the CPU (f the model's downsampling, or
    `cell` pixels), each the decoded grid with candidates[i] put there, cropped to the window
    x window cells around it (shifted inwards at the grid's edges). A code alone is often
    plain background; among its neighbours it shows what it adds. decode: grids [k, h, w] ->
    pictures, the model's own decode unless given (one level of a two-level model's, the
    other level held)."""
    h, w = codes.shape
    device = vqvae.codebook.device
    grids = codes.to(device).expand(len(candidates), h, w).clone()
    grids[:, row, column] = candidates.to(device)
    pictures = (decode or vqvae.decode)(grids).clamp(0, 1).cpu()
    f = cell or vqvae.config.downsample
    window_h, window_w = min(window, h), min(window, w)
    top = min(max(row - window_h // 2, 0), h - window_h)
    left = min(max(column - window_w // 2, 0), w - window_w)
    return pictures[:, :, top * f : (top + window_h) * f, left * f : (left + window_w) * f]
