"""The first tutorial's MNIST pipeline, written out as the tutorial has it: the baseline of
the bench's MNIST rows. Deliberately separate from the library (its own loop, loader and
search): it is what the library is measured against, not a copy of the library's training.

Per-item PIL transforms in a DataLoader (one worker), broadcast nearest-neighbour search,
the same conv architecture at the tutorial's size (width 32, K 32, D 32, uniform codebook
init), plain Adam at 1e-3, batch 64.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from einops import rearrange
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from bench.timing import synced
from vqvae.config import ModelConfig
from vqvae.models.autoencoder import conv_decoder, conv_encoder
from vqvae.models.metrics import psnr

BASELINE_CONFIG = ModelConfig(hidden=32, res_hidden=32, codebook_size=32, code_dim=32, quantizer="plain")


class PILDigits(Dataset):
    """Digits kept as PIL images, converted per item (as torchvision's MNIST does)."""

    def __init__(self, images: torch.Tensor):
        self.images = [Image.fromarray(im[0].numpy(), mode="L") for im in images]
        self.transform = transforms.ToTensor()

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i):
        return self.transform(self.images[i])


def broadcast_nearest(z: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """The textbook form: every distance at once through an [N, K, D] difference tensor.
    z [N, D], codebook [K, D] -> indices [N]."""
    return ((z[:, None, :] - codebook[None, :, :]) ** 2).sum(-1).argmin(1)


class BaselineVQVAE(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.encoder, self.decoder = conv_encoder(config), conv_decoder(config)
        k = config.codebook_size
        self.codebook = nn.Embedding(k, config.code_dim)
        self.codebook.weight.data.uniform_(-1 / k, 1 / k)

    def forward(self, x):
        """x [B, 1, H, W] -> (reconstruction [B, 1, H, W], codes [B*h*w], the VQ loss)."""
        z = self.encoder(x)
        h, w = z.shape[-2:]
        flat = rearrange(z, "b d h w -> (b h w) d")
        idx = broadcast_nearest(flat, self.codebook.weight)
        q = self.codebook(idx)
        vq_loss = F.mse_loss(q, flat.detach()) + 0.25 * F.mse_loss(flat, q.detach())
        q = flat + (q - flat).detach()
        recon = self.decoder(rearrange(q, "(b h w) d -> b d h w", h=h, w=w))
        return recon, idx, vq_loss


@dataclass
class Curve:
    """What a timed baseline run measured."""

    seconds_to_target: float | None
    final_psnr: float
    perplexity: float
    images_per_s: float
    epochs: int


@torch.no_grad()
def baseline_eval(model: BaselineVQVAE, val: torch.Tensor) -> tuple[float, float]:
    """Held-out (PSNR, perplexity) of uint8 images [N, 1, H, W]."""
    model.eval()
    x = val.to(model.codebook.weight.device).float() / 255
    recon, idx, _ = model(x)
    counts = torch.bincount(idx, minlength=model.codebook.num_embeddings).float()
    p = counts / counts.sum()
    ppl = math.exp(-(p[p > 0] * p[p > 0].log()).sum().item())
    model.train()
    return psnr(F.mse_loss(recon.clamp(0, 1), x).item()), ppl


def run_baseline(data, epochs: int, target_db: float, seed: int = 0, device: torch.device = torch.device("cpu"),
                 max_seconds: float | None = None) -> Curve:
    """The tutorial's pipeline on `device` (each batch copied there, as the tutorial does),
    stopped after `epochs` or once `max_seconds` of training have passed; the training time
    to `target_db` held-out (checked every quarter epoch, checks not counted)."""
    torch.manual_seed(seed)
    model = BaselineVQVAE(BASELINE_CONFIG).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = DataLoader(PILDigits(data.train), batch_size=64, shuffle=True, num_workers=1, persistent_workers=True)
    check_every = max(1, len(loader) // 4)
    trained, hit, seen, done = 0.0, None, 0, 0
    for _ in range(epochs):
        if max_seconds is not None and trained >= max_seconds:
            break
        done += 1
        started, step = time.perf_counter(), 0
        for x in loader:
            x = x.to(device)
            recon, _, vq_loss = model(x)
            loss = F.mse_loss(recon, x) + vq_loss
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            seen += len(x)
            if hit is None and step % check_every == 0:
                trained += synced(device) - started
                if baseline_eval(model, data.val)[0] >= target_db:
                    hit = trained
                started = synced(device)
        trained += synced(device) - started
        if hit is None and baseline_eval(model, data.val)[0] >= target_db:
            hit = trained
    final, ppl = baseline_eval(model, data.val)
    return Curve(hit, final, ppl, seen / trained, done)
