"""A small CNN classifier: the independent judge of a prior's samples.

It never sees a VQ-VAE: trained on the data set's real training images only, it says which
class a sample looks like (label accuracy), and its penultimate layer gives the features in
which samples and real images are compared (the Fréchet distance, as FID does with
Inception). Images enter in [0, 1], shape [B, C, S, S].
"""

import torch
from torch import nn

from vqvae.config import ClassifierConfig
from vqvae.models.hub_mixin import SafetensorsHubMixin


def conv_stage(in_channels: int, out_channels: int) -> nn.Sequential:
    """Two 3x3 convs with BatchNorm, then a 2x2 max-pool: [B, in, S, S] -> [B, out, S/2, S/2]."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels), nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels), nn.ReLU(),
        nn.MaxPool2d(2),
    )


class Classifier(
    nn.Module,
    SafetensorsHubMixin,
    library_name="vqvae",
    tags=["image-classification", "sample-quality"],
):
    """Images [B, C, S, S] in [0, 1] -> logits [B, n_classes]; `features` gives the
    penultimate layer [B, feature_dim]."""

    def __init__(self, config: ClassifierConfig):
        super().__init__()
        if isinstance(config, dict):
            config = ClassifierConfig(**config)
        self.config = c = config.validate()
        self.trunk = nn.Sequential(
            conv_stage(c.in_channels, c.width),
            conv_stage(c.width, 2 * c.width),
            nn.MaxPool2d(2),  # 7 x 7 -> 3 x 3 for MNIST: a quarter of the weights in the next layer
            nn.Flatten(),
            nn.Dropout(0.25),
            nn.Linear(2 * c.width * (c.image_size // 8) ** 2, c.feature_dim),
            nn.ReLU(),
        )
        self.head = nn.Sequential(nn.Dropout(0.25), nn.Linear(c.feature_dim, c.n_classes))

    def features(self, images: torch.Tensor) -> torch.Tensor:
        # Centred like the training images were, so 0.5 grey is the middle of the range.
        return self.trunk(images * 2 - 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images))
