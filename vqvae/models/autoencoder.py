"""The VQ-VAE: an encoder to a grid of vectors, a quantizer, a decoder back to pixels.

Two families, chosen by ModelConfig.arch:
- "conv": the first tutorial's convolutional model (stride-2 4x4 convs, a 3x3 conv,
  residual blocks; the decoder mirrors it). Neighbouring codes share receptive fields.
- "patch": the second tutorial's patch MLP (a conv with kernel = stride = patch, then a
  Linear; the decoder mirrors it with a sigmoid). Each code sees only its own patch.

Images enter and leave in [0, 1], shape [B, C, H, W].
"""


from dataclasses import dataclass

import torch
from einops import rearrange
from einops.layers.torch import Rearrange
from torch import nn

from vqvae.config import ModelConfig
from vqvae.errors import VQVAEError
from vqvae.models.hub_mixin import SafetensorsHubMixin
from vqvae.models.quantizers import make_quantizer
from vqvae.models.quantizer_output import QuantizerOutput

# Images encoded, decoded or evaluated at once outside training (a data set's worth, a batch
# at a time): memory stays flat however many images there are.
ENCODE_BATCH = 500


class ResidualBlock(nn.Module):
    """x + Conv1x1(ReLU(Conv3x3(ReLU(x)))), as in the first tutorial (no BatchNorm)."""

    def __init__(self, channels: int, hidden: int):
        super().__init__()
        self.block = nn.Sequential(
            nn.ReLU(),
            nn.Conv2d(channels, hidden, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(hidden, channels, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


def conv_encoder(c: ModelConfig) -> nn.Sequential:
    """[B, C, H, W] -> [B, D, H / 2**stages, W / 2**stages]."""
    layers: list[nn.Module] = []
    channels = c.in_channels
    for stage in range(c.stages):
        out = c.hidden if stage == c.stages - 1 else c.hidden // 2
        layers += [nn.Conv2d(channels, out, 4, stride=2, padding=1), nn.ReLU()]
        channels = out
    layers.append(nn.Conv2d(c.hidden, c.hidden, 3, padding=1))
    layers += [ResidualBlock(c.hidden, c.res_hidden) for _ in range(c.n_res_blocks)]
    layers.append(nn.ReLU())
    layers.append(nn.Conv2d(c.hidden, c.code_dim, 1) if c.code_dim != c.hidden else nn.Identity())
    return nn.Sequential(*layers)


def conv_decoder(c: ModelConfig) -> nn.Sequential:
    """[B, D, h, w] -> [B, C, h * 2**stages, w * 2**stages]; no output squashing (tutorial 1)."""
    layers: list[nn.Module] = [nn.Conv2d(c.code_dim, c.hidden, 3, padding=1)]
    layers += [ResidualBlock(c.hidden, c.res_hidden) for _ in range(c.n_res_blocks)]
    layers.append(nn.ReLU())
    channels = c.hidden
    for stage in range(c.stages):
        last = stage == c.stages - 1
        out = c.in_channels if last else c.hidden // 2
        layers.append(nn.ConvTranspose2d(channels, out, 4, stride=2, padding=1))
        if not last:
            layers.append(nn.ReLU())
        channels = out
    return nn.Sequential(*layers)


def patch_encoder(c: ModelConfig) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c.in_channels, c.hidden, c.patch, stride=c.patch),
        nn.ReLU(),
        Rearrange("b c h w -> b h w c"),
        nn.Linear(c.hidden, c.code_dim),
        Rearrange("b h w d -> b d h w"),
    )


def patch_decoder(c: ModelConfig) -> nn.Sequential:
    return nn.Sequential(
        Rearrange("b d h w -> b h w d"),
        nn.Linear(c.code_dim, c.hidden),
        nn.ReLU(),
        Rearrange("b h w c -> b c h w"),
        nn.ConvTranspose2d(c.hidden, c.in_channels, c.patch, stride=c.patch),
    )


@dataclass
class VQVAEOutput:
    reconstruction: torch.Tensor  # [B, C, H, W], not clamped (the loss sees the raw output)
    indices: torch.Tensor  # [B, h, w]
    quantized: QuantizerOutput  # loss terms (of every level) and code statistics (of the bottom level)
    top: QuantizerOutput | None = None  # a two-level model's top level


class VQVAE(
    nn.Module,
    SafetensorsHubMixin,
    library_name="vqvae",
    tags=["vq-vae", "vector-quantization", "image-autoencoder"],
    paper_url="https://arxiv.org/abs/1711.00937",
):
    """Saved and loaded in Hugging Face Hub layout (config.json + model.safetensors)."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        if isinstance(config, dict):
            config = ModelConfig(**config)
        config = self.config = config.validate()
        if config.arch == "conv":
            self.encoder, self.decoder = conv_encoder(config), conv_decoder(config)
        else:
            self.encoder, self.decoder = patch_encoder(config), patch_decoder(config)
        self.quantizer = make_quantizer(config)

    @property
    def codebook(self) -> torch.Tensor:
        return self.quantizer.codebook

    def encode_continuous(self, images: torch.Tensor) -> torch.Tensor:
        """Encoder outputs z_e [B, D, h, w] before quantisation."""
        self._check_images(images)
        # Centre the input so the first layer starts symmetric around zero.
        return self.encoder(images - 0.5)

    def decode_vectors(self, z_q: torch.Tensor) -> torch.Tensor:
        out = self.decoder(z_q)
        if self.config.arch == "patch":
            return torch.sigmoid(out)
        return out + 0.5

    def forward(self, images: torch.Tensor) -> VQVAEOutput:
        q = self.quantizer(self.encode_continuous(images))
        return VQVAEOutput(self.decode_vectors(q.z_q), q.indices, q)

    @torch.no_grad()
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Images [B, C, H, W] in [0, 1] -> code indices [B, h, w] (int64)."""
        return self.nearest_codes(self.encode_continuous(images))

    @torch.no_grad()
    def nearest_codes(self, z: torch.Tensor) -> torch.Tensor:
        """Vectors z [B, D, h, w] (encoder outputs, or any point between them) -> the index of
        the nearest code at each position [B, h, w] (int64)."""
        return nearest_on_grid(self.quantizer, z)

    @torch.no_grad()
    def decode(self, indices: torch.Tensor) -> torch.Tensor:
        """Code indices [B, h, w] -> images [B, C, H, W] clamped to [0, 1]."""
        if indices.min() < 0 or indices.max() >= self.config.codebook_size:
            raise VQVAEError(f"code indices must lie in 0..{self.config.codebook_size - 1}")
        z_q = rearrange(self.quantizer.lookup(indices), "b h w d -> b d h w")
        return self.decode_vectors(z_q).clamp(0, 1)

    @torch.no_grad()
    def decode_codes(self, codes: torch.Tensor | None = None, grid: int = 1) -> torch.Tensor:
        """Each code decoded alone, filling a grid x grid code map (the codebook atlas).

        codes [N] (default: every code) -> images [N, C, grid * f, grid * f], f the downsampling.
        """
        if codes is None:
            codes = torch.arange(self.config.codebook_size, device=self.codebook.device)
        indices = codes.view(-1, 1, 1).expand(-1, grid, grid)
        return self.decode(indices)

    def _check_images(self, images: torch.Tensor) -> None:
        c = self.config
        if images.dim() != 4 or images.shape[1] != c.in_channels:
            raise VQVAEError(
                f"expected images shaped [B, {c.in_channels}, H, W], got {list(images.shape)}: "
                f"convert to {'grayscale' if c.in_channels == 1 else 'RGB'} first"
            )
        if images.shape[-1] % c.downsample or images.shape[-2] % c.downsample:
            raise VQVAEError(f"image sides must be multiples of {c.downsample}, got {tuple(images.shape[-2:])}: resize first")


def nearest_on_grid(quantizer: nn.Module, z: torch.Tensor) -> torch.Tensor:
    """Vectors z [B, D, h, w] -> the index of `quantizer`'s nearest code at each position [B, h, w]."""
    b, _, h, w = z.shape
    flat = rearrange(z, "b d h w -> (b h w) d")
    return rearrange(quantizer.nearest(flat), "(b h w) -> b h w", b=b, h=h, w=w)


@torch.no_grad()
def encode_images(model: VQVAE, images: torch.Tensor, batch_size: int = ENCODE_BATCH) -> torch.Tensor:
    """uint8 images [N, C, H, W] -> code indices [N, h, w] on the CPU, a batch at a time."""
    model.eval()
    device = model.codebook.device
    return torch.cat([model.encode(chunk.to(device).float().div_(255)).cpu() for chunk in images.split(batch_size)])
