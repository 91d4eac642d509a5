"""A picture's codes weighed as a codec: the bits the prior gives them, the real coded file,
the reconstruction's PSNR, and what PNG, JPEG and WebP spend on the same picture (the
lossy two at the same PSNR), so the learnt codec is one rate-distortion point beside the
classic ones.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch

from vqvae.data.classic_codecs import AtPSNR, at_psnr, curve, encode, psnr
from vqvae.models.two_level import encode_image_grids
from vqvae.store.codec import HEADER, Coded, compress
from vqvae.training.evaluate import reconstruct


@dataclass
class Weighed:
    """One picture through the learnt codec and the classic ones."""

    coded: Coded
    reconstruction: torch.Tensor  # uint8 [C, h, w]: the decoded picture, cropped to the picture
    original: torch.Tensor  # uint8 [C, h, w]: the picture as the model sees it
    prior_bits: float
    fixed_rate_bits: float  # h w log2 K (plus the top grid's for two levels): the codes without a prior
    psnr: float  # of the 8-bit reconstruction, over the picture
    png_bytes: int
    jpeg: AtPSNR
    webp: AtPSNR

    @property
    def file_bytes(self) -> int:
        return len(self.coded.data)

    @property
    def header_bytes(self) -> int:
        return HEADER.size

    def summary(self) -> dict:
        """The numbers `python -m vqvae bits` writes."""
        return {
            "prior_bits": self.prior_bits,
            "fixed_rate_bits": self.fixed_rate_bits,
            "file_bytes": self.file_bytes,
            "file_payload_bytes": self.file_bytes - self.header_bytes,
            "psnr": self.psnr,
            "png_bytes": self.png_bytes,
            "jpeg_bytes_at_equal_psnr": self.jpeg.bytes,
            "webp_bytes_at_equal_psnr": self.webp.bytes,
            "jpeg_payload_bytes_at_equal_psnr": self.jpeg.payload_bytes,
            "webp_payload_bytes_at_equal_psnr": self.webp.payload_bytes,
            "jpeg": asdict(self.jpeg),
            "webp": asdict(self.webp),
            "label": self.coded.label,
            "picture_size": list(self.original.shape[-2:]),
        }

    def curves(self) -> dict[str, list[dict]]:
        """JPEG's and WebP's rate-distortion points on the same picture."""
        return {fmt: curve(self.original, fmt) for fmt in ("jpeg", "webp")}


@torch.no_grad()
def weigh(prior, vqvae, images: torch.Tensor, picture_size: tuple[int, int] | None = None) -> Weighed:
    """A picture uint8 [1, C, H, W] (as the model sees it; picture_size its own part, as
    read_image_full gives) through the codec with the prior and through PNG, JPEG and WebP.
    Prior and VQ-VAE on the CPU."""
    top, bottom = encode_image_grids(vqvae, images)
    result = reconstruct(vqvae, images, picture_size, bottom, top)
    height, width = picture_size or images.shape[-2:]
    original = images[0, :, :height, :width].cpu()
    decoded = (result.picture[0] * 255).round().clamp(0, 255).to(torch.uint8)
    coded = compress(prior, vqvae, bottom[0], None if top is None else top[0], (height, width))
    quality = psnr(original.numpy(), decoded.numpy())
    return Weighed(coded, decoded, original, coded.bits, fixed_rate_bits(vqvae, bottom, top), quality,
                   len(encode(original, "png")), at_psnr(original, "jpeg", quality), at_psnr(original, "webp", quality))


def fixed_rate_bits(vqvae, bottom: torch.Tensor, top: torch.Tensor | None) -> float:
    """h w log2 K of each grid: what the codes cost with no prior."""
    c = vqvae.config
    bits = bottom[0].numel() * math.log2(c.codebook_size)
    return bits + (top[0].numel() * math.log2(c.top_codes) if top is not None else 0)

