"""VQ-VAE-2's two levels of codes (Razavi et al. 2019), at the scale of this lab.

    images -> bottom trunk h_b (1 / 2**stages) -> top trunk h_t (a further 1/2, rounded up)
    h_t -> top quantizer -> z_t                          the top grid: the layout
    z_t -> top decoder (back to the bottom grid) -> joined to h_b -> bottom quantizer -> z_b
    [z_t upsampled, z_b] -> decoder -> images            the decoder sees both levels

The top codes condition the bottom quantisation (the bottom encoder sees what the top
decoder makes of them), so the bottom level is left to carry what the top misses: the
detail. Each level has its own codebook of any kind the library has (the top's size
`top_codebook_size`). A model's codes are a pair of grids, (top [B, h', w'], bottom
[B, h, w]) with h' = ceil(h / 2): `encode_levels` and `decode_levels`.
"""

from __future__ import annotations

import dataclasses

import torch
from einops import rearrange
from torch import nn

from vqvae.config import ModelConfig
from vqvae.errors import VQVAEError
from vqvae.models.autoencoder import ENCODE_BATCH, VQVAE, encode_images, nearest_on_grid, ResidualBlock, VQVAEOutput, conv_decoder, conv_encoder
from vqvae.models.quantizers import make_quantizer
from vqvae.models.quantizer_output import QuantizerOutput

LEVEL_NAMES = ("top", "bottom")


def trunk(c: ModelConfig, first: nn.Module) -> nn.Sequential:
    """`first`, then a 3x3 conv, the residual blocks and a ReLU, at the hidden width."""
    blocks = [ResidualBlock(c.hidden, c.res_hidden) for _ in range(c.n_res_blocks)]
    return nn.Sequential(first, nn.ReLU(), nn.Conv2d(c.hidden, c.hidden, 3, padding=1), *blocks, nn.ReLU())


def up_to(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A map twice the top grid's side cut to the bottom grid's (an odd bottom side rounds the top's up)."""
    return x[..., : like.shape[-2], : like.shape[-1]]


class TwoLevelVQVAE(
    VQVAE,
    library_name="vqvae",
    tags=["vq-vae", "vq-vae-2", "vector-quantization", "image-autoencoder"],
    paper_url="https://arxiv.org/abs/1906.00446",
):
    """`quantizer` is the bottom level's (as a one-level model's, so code statistics, restarts
    and the codebook views read it alike), `top_quantizer` the top's."""

    def __init__(self, config: ModelConfig):
        nn.Module.__init__(self)
        if isinstance(config, dict):
            config = ModelConfig(**config)
        c = self.config = config.validate()
        if c.levels != 2:
            raise VQVAEError("TwoLevelVQVAE is built for --levels 2: build a VQVAE for one level")
        d = c.code_dim
        self.encoder = conv_encoder(c)[:-1]  # without its projection to the code: it ends at the hidden width
        self.top_encoder = trunk(c, nn.Conv2d(c.hidden, c.hidden, 3, stride=2, padding=1))
        self.top_to_code = nn.Conv2d(c.hidden, d, 1)
        self.top_quantizer = make_quantizer(c.top_level())
        # What the bottom encoder learns of the top codes: decoded back to the bottom grid.
        self.top_decoder = nn.Sequential(trunk(c, nn.Conv2d(d, c.hidden, 3, padding=1)),
                                         nn.ConvTranspose2d(c.hidden, d, 4, stride=2, padding=1))
        self.bottom_to_code = nn.Conv2d(c.hidden + d, d, 1)
        self.quantizer = make_quantizer(c)
        self.upsample_top = nn.ConvTranspose2d(d, d, 4, stride=2, padding=1)
        self.decoder = conv_decoder(c)
        self.decoder[0] = nn.Conv2d(2 * d, c.hidden, 3, padding=1)  # it takes both levels' vectors

    def _top_and_bottom_vectors(self, images: torch.Tensor) -> tuple[QuantizerOutput, torch.Tensor]:
        """(the top level quantised, the bottom level's vectors z_e [B, D, h, w] given its codes)."""
        self._check_images(images)
        h_b = self.encoder(images - 0.5)
        top = self.top_quantizer(self.top_to_code(self.top_encoder(h_b)))
        condition = up_to(self.top_decoder(top.z_q), h_b)
        return top, self.bottom_to_code(torch.cat([h_b, condition], dim=1))

    def _levels(self, images: torch.Tensor) -> tuple[QuantizerOutput, QuantizerOutput]:
        top, z_e = self._top_and_bottom_vectors(images)
        return top, self.quantizer(z_e)

    def decode_levels_vectors(self, z_t: torch.Tensor, z_b: torch.Tensor) -> torch.Tensor:
        """Both levels' vectors [B, D, h', w'] and [B, D, h, w] -> the raw reconstruction."""
        return self.decode_vectors(torch.cat([up_to(self.upsample_top(z_t), z_b), z_b], dim=1))

    def forward(self, images: torch.Tensor) -> VQVAEOutput:
        top, bottom = self._levels(images)
        both = dataclasses.replace(
            bottom, codebook_loss=bottom.codebook_loss + top.codebook_loss,
            commitment_loss=bottom.commitment_loss + top.commitment_loss, loss=bottom.loss + top.loss)
        return VQVAEOutput(self.decode_levels_vectors(top.z_q, bottom.z_q), bottom.indices, both, top=top)

    def encode_continuous(self, images: torch.Tensor, level: str = "bottom") -> torch.Tensor:
        """A level's vectors z_e before quantisation: the bottom's [B, D, h, w] (given the top's
        codes), or the top's [B, D, h', w']."""
        if level == "top":
            self._check_images(images)
            return self.top_to_code(self.top_encoder(self.encoder(images - 0.5)))
        return self._top_and_bottom_vectors(images)[1]

    @torch.no_grad()
    def mixed_codes(self, pair: torch.Tensor, weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Two images [2, C, H, W] mixed in the encoder, (1 - w) a + w b for each weight [S]:
        the top level's vectors mixed and quantised, then the bottom level's, given those top
        codes -> (top [S, h', w'], bottom [S, h, w]) code indices (the walk in code space)."""
        self._check_images(pair)
        w = weights.view(-1, 1, 1, 1)
        h_a, h_b = self.encoder(pair - 0.5)
        mixed_h = (1 - w) * h_a + w * h_b
        t_a, t_b = self.top_to_code(self.top_encoder(torch.stack([h_a, h_b])))
        top = nearest_on_grid(self.top_quantizer, (1 - w) * t_a + w * t_b)
        z_t = rearrange(self.top_quantizer.lookup(top), "s h w d -> s d h w")
        bottom = self.bottom_to_code(torch.cat([mixed_h, up_to(self.top_decoder(z_t), mixed_h)], dim=1))
        return top, self.nearest_codes(bottom)

    @torch.no_grad()
    def encode_levels(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images [B, C, H, W] in [0, 1] -> (top [B, h', w'], bottom [B, h, w]) code indices (int64)."""
        top, bottom = self._levels(images)
        return top.indices, bottom.indices

    def level_vectors(self, top: torch.Tensor, bottom: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Code indices of both levels -> the vectors the decoder gets, [B, D, h', w'] and [B, D, h, w]."""
        for name, codes, size in (("top", top, self.config.top_codes), ("bottom", bottom, self.config.codebook_size)):
            if codes.min() < 0 or codes.max() >= size:
                raise VQVAEError(f"{name} code indices must lie in 0..{size - 1}")
        if top.shape[-2:] != ((bottom.shape[-2] + 1) // 2, (bottom.shape[-1] + 1) // 2):
            raise VQVAEError(f"a top grid {tuple(top.shape[-2:])} does not fit a bottom grid "
                             f"{tuple(bottom.shape[-2:])}: the top's side is half the bottom's, rounded up")
        z_t = rearrange(self.top_quantizer.lookup(top), "b h w d -> b d h w")
        return z_t, rearrange(self.quantizer.lookup(bottom), "b h w d -> b d h w")

    @torch.no_grad()
    def decode_levels(self, top: torch.Tensor, bottom: torch.Tensor) -> torch.Tensor:
        """Code indices of both levels -> images [B, C, H, W] clamped to [0, 1]."""
        return self.decode_levels_vectors(*self.level_vectors(top, bottom)).clamp(0, 1)

    @torch.no_grad()
    def decode_level_alone(self, top: torch.Tensor, bottom: torch.Tensor, level: str) -> torch.Tensor:
        """What one level carries: the picture decoded from `level`'s codes, with every vector of
        the other level set to the mean of its codebook (the same at every position, so it
        places nothing). -> images [B, C, H, W] clamped to [0, 1]."""
        if level not in LEVEL_NAMES:
            raise VQVAEError(f"the level is top or bottom, not {level!r}")
        z_t, z_b = self.level_vectors(top, bottom)
        if level == "top":
            z_b = mean_code(self.quantizer, self.config.codebook_size).expand_as(z_b)
        else:
            z_t = mean_code(self.top_quantizer, self.config.top_codes).expand_as(z_t)
        return self.decode_levels_vectors(z_t, z_b).clamp(0, 1)

    @torch.no_grad()
    def decode_codes(self, codes: torch.Tensor | None = None, grid: int = 1, level: str = "bottom") -> torch.Tensor:
        """Each code of `level` decoded alone, filling a grid x grid map of that level, the other
        level at its mean code (the codebook atlas of one level): codes [N] (default: every
        code) -> images [N, C, S, S], S = grid x the level's downsampling."""
        size = self.config.top_codes if level == "top" else self.config.codebook_size
        if codes is None:
            codes = torch.arange(size, device=self.codebook.device)
        n = len(codes)
        other_side = 2 * grid if level == "top" else (grid + 1) // 2  # the other level's grid under this one's
        filled = rearrange(self.top_quantizer.lookup(codes) if level == "top" else self.quantizer.lookup(codes),
                           "n d -> n d 1 1").expand(-1, -1, grid, grid)
        other = (mean_code(self.quantizer, self.config.codebook_size) if level == "top"
                 else mean_code(self.top_quantizer, self.config.top_codes)).expand(n, -1, other_side, other_side)
        z_t, z_b = (filled, other) if level == "top" else (other, filled)
        return self.decode_levels_vectors(z_t, z_b).clamp(0, 1)

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        raise VQVAEError("a two-level model's codes are two grids: use encode_levels")

    def decode(self, indices: torch.Tensor) -> torch.Tensor:
        raise VQVAEError("a two-level model's codes are two grids: use decode_levels")


def mean_code(quantizer: nn.Module, size: int) -> torch.Tensor:
    """The mean of the vectors a quantizer's codes give the decoder, [1, D, 1, 1]."""
    every = quantizer.lookup(torch.arange(size, device=quantizer.codebook.device))
    return every.mean(0).view(1, -1, 1, 1)


def build_vqvae(config: ModelConfig) -> VQVAE:
    """The model a ModelConfig describes: one level or two."""
    return TwoLevelVQVAE(config) if config.levels == 2 else VQVAE(config)


@torch.no_grad()
def encode_images_levels(model: TwoLevelVQVAE, images: torch.Tensor,
                         batch_size: int = ENCODE_BATCH) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 images [N, C, H, W] -> (top [N, h', w'], bottom [N, h, w]) on the CPU, a batch at a time."""
    model.eval()
    device = model.codebook.device
    pairs = [model.encode_levels(chunk.to(device).float().div_(255)) for chunk in images.split(batch_size)]
    return torch.cat([t.cpu() for t, _ in pairs]), torch.cat([b.cpu() for _, b in pairs])


def encode_image_grids(model: VQVAE, images: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor]:
    """uint8 images [N, C, H, W] -> (top grids, or None for a one-level model, bottom grids), on the CPU."""
    if model.config.levels == 2:
        return encode_images_levels(model, images)
    return None, encode_images(model, images)
