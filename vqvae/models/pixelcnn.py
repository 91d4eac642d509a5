"""The prior: a Gated PixelCNN over a grid of code indices.

Strictly causal by construction, in train and eval mode alike: every convolution sees
only what its padding lets it see, and nothing pools statistics across positions (no
BatchNorm). With row-major order, the logits at (i, j) depend only on codes at rows < i,
and on codes (i, j') with j' < j.

- The vertical stack at row i sees rows <= i (all columns its kernel spans); it reaches
  the horizontal stack shifted down one row, so through it (i, j) sees only rows < i.
- The horizontal stack sees its own row, columns <= j (mask B), or < j in the first
  block (mask A, which also drops the residual: its input is the code at (i, j) itself).
- The input is a learnt embedding of the code index, never the index scaled like a
  pixel colour (the first tutorial's weeks-long bug).
"""

import torch
import torch.nn.functional as F
from torch import nn

from vqvae.config import PriorConfig
from vqvae.models.hub_mixin import SafetensorsHubMixin


def gate(x: torch.Tensor) -> torch.Tensor:
    """tanh(a) * sigmoid(b) over the two halves of the channels."""
    a, b = x.chunk(2, dim=1)
    return torch.tanh(a) * torch.sigmoid(b)


def shift_down(x: torch.Tensor) -> torch.Tensor:
    """Row i takes row i - 1 (row 0 gets zeros)."""
    return F.pad(x, (0, 0, 1, 0))[..., :-1, :]


def shift_right(x: torch.Tensor) -> torch.Tensor:
    """Column j takes column j - 1 (column 0 gets zeros)."""
    return F.pad(x, (1, 0))[..., :-1]


class GatedBlock(nn.Module):
    """One gated layer of both stacks: (v, h) [B, C, H, W] -> (v, h)."""

    def __init__(self, channels: int, kernel: int, mask_a: bool, n_classes: int = 0):
        super().__init__()
        self.half = kernel // 2
        self.mask_a = mask_a
        # Vertical: rows i - half .. i (top padding only), columns j - half .. j + half.
        self.vertical = nn.Conv2d(channels, 2 * channels, (self.half + 1, kernel))
        # Horizontal: columns j - half .. j of row i (left padding only).
        self.horizontal = nn.Conv2d(channels, 2 * channels, (1, self.half + 1))
        self.vertical_to_horizontal = nn.Conv2d(2 * channels, 2 * channels, 1)
        self.horizontal_out = nn.Conv2d(channels, channels, 1)
        self.condition = nn.Embedding(n_classes, 2 * channels) if n_classes else None

    def forward(self, v: torch.Tensor, h: torch.Tensor, labels: torch.Tensor | None = None,
                grid: torch.Tensor | None = None):
        """grid [B, 2C, H, W]: what a conditioning code grid adds at each position (or None)."""
        k = self.half
        v_pre = self.vertical(F.pad(v, (k, k, k, 0)))
        h_pre = self.horizontal(F.pad(h, (k, 0, 0, 0)))
        if self.mask_a:
            h_pre = shift_right(h_pre)
        h_pre = h_pre + self.vertical_to_horizontal(shift_down(v_pre))
        if self.condition is not None:
            c = self.condition(labels)[:, :, None, None]
            v_pre, h_pre = v_pre + c, h_pre + c
        if grid is not None:
            v_pre, h_pre = v_pre + grid, h_pre + grid
        h_out = self.horizontal_out(gate(h_pre))
        return gate(v_pre), (h_out if self.mask_a else h + h_out)


class GatedPixelCNN(
    nn.Module,
    SafetensorsHubMixin,
    library_name="vqvae",
    tags=["pixelcnn", "vq-vae-prior"],
    paper_url="https://arxiv.org/abs/1606.05328",
):
    """Codes [B, H, W] (int64) -> logits [B, K, H, W] for the code at every position."""

    def __init__(self, config: PriorConfig):
        super().__init__()
        if isinstance(config, dict):
            config = PriorConfig(**config)
        self.config = config.validate()
        c = config
        self.embedding = nn.Embedding(c.codebook_size, c.channels)
        self.blocks = nn.ModuleList(
            [GatedBlock(c.channels, c.first_kernel, mask_a=True, n_classes=c.n_classes)]
            + [GatedBlock(c.channels, c.kernel, mask_a=False, n_classes=c.n_classes) for _ in range(c.n_blocks - 1)]
        )
        self.head = nn.Sequential(nn.ReLU(), nn.Conv2d(c.channels, c.head, 1), nn.ReLU(), nn.Conv2d(c.head, c.codebook_size, 1))
        if c.condition_codebook_size:  # a bottom prior: the top codes embedded, at the bottom grid, into every gate
            self.condition_embedding = nn.Embedding(c.condition_codebook_size, c.channels)
            self.condition_net = nn.Sequential(nn.Conv2d(c.channels, c.channels, 3, padding=1), nn.ReLU(),
                                               nn.Conv2d(c.channels, c.channels, 3, padding=1), nn.ReLU())
            self.condition_gates = nn.ModuleList([nn.Conv2d(c.channels, 2 * c.channels, 1) for _ in self.blocks])

    def embed(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes [B, H, W] -> embedded input [B, C, H, W]."""
        return self.embedding(codes).permute(0, 3, 1, 2)

    def grid_conditions(self, condition: torch.Tensor | None, height: int, width: int) -> list[torch.Tensor | None]:
        """What the conditioning code grid condition [B, h', w'] (h' = ceil(height / 2)) adds to
        each block's gates: [B, 2C, height, width] a block (each top code spreads over the 2 x 2
        bottom positions below it, as in the VQ-VAE); Nones when the prior has no such grid."""
        if (condition is None) != (self.config.condition_codebook_size == 0):
            raise ValueError("a code grid is required by a prior conditioned on one, and only by one")
        if condition is None:
            return [None] * len(self.blocks)
        x = self.condition_net(self.embedding_of_condition(condition))
        x = x.repeat_interleave(2, dim=-2).repeat_interleave(2, dim=-1)[..., :height, :width]
        return [gates(x) for gates in self.condition_gates]

    def embedding_of_condition(self, condition: torch.Tensor) -> torch.Tensor:
        return self.condition_embedding(condition).permute(0, 3, 1, 2)

    def logits_from_embedding(self, x: torch.Tensor, labels: torch.Tensor | None = None,
                              condition: torch.Tensor | None = None) -> torch.Tensor:
        if (labels is None) != (self.config.n_classes == 0):
            raise ValueError("class labels are required by a class-conditional prior, and only by one")
        grids = self.grid_conditions(condition, x.shape[-2], x.shape[-1])
        v = h = x
        for block, grid in zip(self.blocks, grids):
            v, h = block(v, h, labels, grid)
        return self.head(h)

    def forward(self, codes: torch.Tensor, labels: torch.Tensor | None = None,
                condition: torch.Tensor | None = None) -> torch.Tensor:
        """condition: the top codes [B, h', w'] a bottom prior is conditioned on."""
        return self.logits_from_embedding(self.embed(codes), labels, condition)
