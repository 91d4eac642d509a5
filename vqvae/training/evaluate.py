"""Measuring a VQ-VAE on images: the held-out metrics (`evaluate`), and one batch's codes,
reconstruction and cost in bits (`reconstruct`). Used by the trainer, the CLI, the pages
and the bench alike, so every number the product shows is computed one way."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vqvae.data.datasets import to_float
from vqvae.device import autocast
from vqvae.errors import VQVAEError
from vqvae.models.autoencoder import ENCODE_BATCH, VQVAE
from vqvae.models.metrics import code_bits, code_usage, perplexity, psnr


@torch.no_grad()
def evaluate(model: VQVAE, images: torch.Tensor, batch_size: int = ENCODE_BATCH, amp: bool = True,
             with_usage: bool = False) -> dict:
    """Held-out metrics over uint8 images [N, C, H, W], on the model's device in batches:
    MSE (mean over pixels), PSNR of that MSE, perplexity and codes used over every code
    position (of the bottom level; a two-level model's top level's as top_perplexity and
    top_codes_used). with_usage: also how often each code was chosen, `code_usage` [K] (a
    list of ints), as each epoch's line of metrics.jsonl records it."""
    model.eval()
    device = model.codebook.device
    squared_error, pixels = 0.0, 0
    c = model.config
    usage = torch.zeros(c.codebook_size, dtype=torch.long, device=device)
    top_usage = torch.zeros(c.top_codes, dtype=torch.long, device=device)
    for chunk in images.split(batch_size):
        x = to_float(chunk, device)
        with autocast(device, amp):
            out = model(x)
        squared_error += (out.reconstruction.float().clamp(0, 1) - x).pow(2).sum().item()
        pixels += x.numel()
        usage += code_usage(out.indices, c.codebook_size)
        if out.top is not None:
            top_usage += code_usage(out.top.indices, c.top_codes)
    mse = squared_error / max(pixels, 1)
    metrics = {"val_mse": mse, "val_psnr": psnr(mse), "perplexity": perplexity(usage).item(),
               "codes_used": int((usage > 0).sum())}
    if c.levels == 2:  # `perplexity` and `codes_used` are the bottom level's
        metrics.update(top_perplexity=perplexity(top_usage).item(), top_codes_used=int((top_usage > 0).sum()))
    if with_usage:
        metrics["code_usage"] = usage.cpu().tolist()
    return metrics


@dataclass
class Reconstruction:
    """The codes of a batch, the reconstruction painted from them, and their cost in bits."""
    codes: torch.Tensor  # int64 [N, h, w], on the CPU
    reconstruction: torch.Tensor  # float [N, C, H, W] in [0, 1], on the CPU; padding included, as the codes cover it
    mse: float  # mean squared error with pixels in [0, 1], over the picture (padding left out)
    psnr: float  # dB
    code_bits: float  # per image: h * w * log2(K)
    pixel_bits: int  # per image: C * H * W * 8 of the 8-bit picture (padding left out)
    picture_size: tuple[int, int] | None = None  # (height, width) of the picture at the top left; None: all of it
    top_codes: torch.Tensor | None = None  # a two-level model's top codes, int64 [N, h', w'] (`codes` are the bottom's)

    @property
    def ratio(self) -> float:
        """How many times fewer bits the codes take than the 8-bit pixels."""
        return self.pixel_bits / self.code_bits

    @property
    def picture(self) -> torch.Tensor:
        """The reconstruction cropped to the picture, without the padding: [N, C, height, width]."""
        if self.picture_size is None:
            return self.reconstruction
        height, width = self.picture_size
        return self.reconstruction[..., :height, :width]


@torch.no_grad()
def reconstruct(model: VQVAE, images: torch.Tensor, picture_size: tuple[int, int] | None = None,
                codes: torch.Tensor | None = None, top_codes: torch.Tensor | None = None) -> Reconstruction:
    """uint8 images [N, C, H, W] (the model's channels, sides multiples of its downsampling)
    -> their Reconstruction. picture_size (height, width): only that top-left part is the
    picture (the rest pads it to the multiple, as `read_image_full` does), so MSE, PSNR and
    the pixel bits count it alone: padding is easy to paint and would flatter the numbers.
    codes [N, h, w]: decode these (a user's edited grid) instead of the images' own codes,
    and measure that picture against the images. A two-level model's codes are the bottom
    grid, with the top grid top_codes [N, h', w'] (both given, or neither)."""
    x = to_float(images, model.codebook.device)
    two = model.config.levels == 2
    if codes is None:
        top_codes, codes = model.encode_levels(x) if two else (None, model.encode(x))
    else:
        grid = (x.shape[0], x.shape[-2] // model.config.downsample, x.shape[-1] // model.config.downsample)
        if tuple(codes.shape) != grid:
            raise VQVAEError(f"codes of shape {tuple(codes.shape)} do not fit these images (their grid is {grid}): "
                             f"edit the codes of this picture")
    codes = codes.to(model.codebook.device)
    if two and top_codes is None:
        raise VQVAEError("a two-level model decodes both grids: pass the top codes with the bottom ones")
    recon = (model.decode_levels(top_codes.to(codes.device), codes) if two else model.decode(codes)).float()
    height, width = picture_size or x.shape[-2:]
    if not (0 < height <= x.shape[-2] and 0 < width <= x.shape[-1]):
        raise VQVAEError(f"the picture ({height} x {width}) must lie inside the images "
                         f"({x.shape[-2]} x {x.shape[-1]}): pass the size read_image_full gave")
    picture = (slice(None), slice(None), slice(0, height), slice(0, width))
    mse = float((recon[picture] - x[picture]).pow(2).mean())
    h, w = codes.shape[-2:]
    bits = code_bits(h, w, model.config.codebook_size)
    if two:
        bits += code_bits(*top_codes.shape[-2:], model.config.top_codes)
    return Reconstruction(codes.cpu(), recon.cpu(), mse, psnr(mse), code_bits=bits,
                          pixel_bits=x.shape[1] * height * width * 8, picture_size=picture_size,
                          top_codes=None if top_codes is None else top_codes.cpu())
