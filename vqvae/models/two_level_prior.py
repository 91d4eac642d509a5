"""The prior of a two-level VQ-VAE: two Gated PixelCNNs, as in VQ-VAE-2.

- `top` models the top grid (the layout), class-conditional like a one-level prior;
- `bottom` models the bottom grid given the top one: the top codes are embedded, passed
  through two 3x3 convs, spread over the 2 x 2 bottom positions below each and added to
  every gate (GatedPixelCNN.grid_conditions), so each bottom code sees the whole top grid
  and, causally, the bottom codes before it.

The likelihood of an image's codes is p(top) p(bottom | top): their NLLs add up.
"""

from __future__ import annotations

import torch
from torch import nn

from vqvae.config import PriorConfig
from vqvae.errors import VQVAEError
from vqvae.models.hub_mixin import SafetensorsHubMixin
from vqvae.models.pixelcnn import GatedPixelCNN


class TwoLevelPrior(
    nn.Module,
    SafetensorsHubMixin,
    library_name="vqvae",
    tags=["pixelcnn", "vq-vae-prior", "vq-vae-2"],
    paper_url="https://arxiv.org/abs/1906.00446",
):
    """(bottom codes [B, h, w], labels, top codes [B, h', w']) -> (top logits, bottom logits)."""

    def __init__(self, config: PriorConfig):
        super().__init__()
        if isinstance(config, dict):
            config = PriorConfig(**config)
        self.config = config.validate()
        if config.levels != 2:
            raise VQVAEError("TwoLevelPrior models two code grids: build a GatedPixelCNN for one")
        self.top = GatedPixelCNN(config.level("top"))
        self.bottom = GatedPixelCNN(config.level("bottom"))

    @property
    def embedding(self) -> nn.Embedding:
        """The top PixelCNN's (where its weights live: device and dtype)."""
        return self.top.embedding

    def forward(self, codes: torch.Tensor, labels: torch.Tensor | None = None,
                top: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        if top is None:
            raise VQVAEError("a two-level prior models the top codes with the bottom ones: pass both")
        return self.top(top, labels), self.bottom(codes, labels, top)


def build_prior(config: PriorConfig) -> GatedPixelCNN | TwoLevelPrior:
    """The prior a PriorConfig describes: over one code grid or two."""
    return TwoLevelPrior(config) if config.levels == 2 else GatedPixelCNN(config)
