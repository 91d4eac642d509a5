"""The second tutorial's patch-MLP VQ-VAE and its training, written out as the tutorial has
them: the baseline of the Pokémon row. Deliberately separate from the library (its own model,
loop and search): it is what the `pokemon` preset is measured against.

Conv2d(kernel = stride = 2) + ReLU + Linear per patch, a plain codebook (nn.Embedding,
codebook + 0.25 commitment loss), Linear + ReLU + ConvTranspose2d(kernel = stride = 2) and
a sigmoid, hidden 256, K 128, D 32 (the CLI's default), Adam 1e-3, batch 128, MSE. It gets
the same in-memory uint8 tensors as ours (no per-item PIL), so the row compares the models,
not the loaders.
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from vqvae.models.metrics import perplexity, psnr
from vqvae.training.loop import epoch_order
from vqvae.models.metrics import code_bits

PATCH, HIDDEN, K, D, BATCH, LR = 2, 256, 128, 32, 128, 1e-3  # the tutorial's Pokémon recipe (D: the CLI's default)


class PatchMLP(nn.Module):
    """The second tutorial's patch-MLP VQ-VAE."""

    def __init__(self):
        super().__init__()
        self.patchify = nn.Conv2d(3, HIDDEN, PATCH, stride=PATCH)
        self.to_code = nn.Linear(HIDDEN, D)
        self.from_code = nn.Linear(D, HIDDEN)
        self.unpatchify = nn.ConvTranspose2d(HIDDEN, 3, PATCH, stride=PATCH)
        self.codebook = nn.Embedding(K, D)
        self.codebook.weight.data.uniform_(-1 / K, 1 / K)

    def forward(self, x):
        """x [B, 3, H, W] -> (reconstruction [B, 3, H, W], codes [B*h*w], the VQ loss)."""
        z = self.to_code(rearrange(F.relu(self.patchify(x)), "b c h w -> b h w c"))  # [B, h, w, D]
        flat = rearrange(z, "b h w d -> (b h w) d")
        idx = torch.cdist(flat, self.codebook.weight).argmin(1)
        q = self.codebook(idx)
        vq_loss = F.mse_loss(q, flat.detach()) + 0.25 * F.mse_loss(flat, q.detach())
        q = (flat + (q - flat).detach()).view_as(z)
        recon = torch.sigmoid(self.unpatchify(rearrange(F.relu(self.from_code(q)), "b h w c -> b c h w")))
        return recon, idx, vq_loss


def image_code_bits(side: int, downsample: int, codebook_size: int) -> float:
    """The bits of one side x side image's codes, its grid downsample times smaller."""
    return code_bits(side // downsample, side // downsample, codebook_size)


@torch.no_grad()
def patch_mlp_eval(model: PatchMLP, val: torch.Tensor) -> tuple[float, float, int]:
    """Held-out (PSNR, perplexity, codes used) of uint8 images [N, 3, H, W]."""
    model.eval()
    x = val.float() / 255
    recon, idx, _ = model(x)
    usage = torch.bincount(idx, minlength=K)
    model.train()
    return psnr(F.mse_loss(recon, x).item()), float(perplexity(usage)), int((usage > 0).sum())


def train_patch_mlp(data, seconds: float, seed: int = 0) -> dict:
    """The recipe for `seconds` of wall time; its held-out numbers and code bits per image."""
    torch.manual_seed(seed)
    model = PatchMLP()
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    started, epoch, steps = time.perf_counter(), 0, 0
    while time.perf_counter() - started < seconds:
        order = epoch_order(len(data.train), seed, epoch)
        for b in range(0, len(order), BATCH):
            x = data.train[order[b : b + BATCH]].float() / 255
            recon, _, vq_loss = model(x)
            loss = F.mse_loss(recon, x) + vq_loss
            opt.zero_grad()
            loss.backward()
            opt.step()
            steps += 1
            if time.perf_counter() - started >= seconds:
                break
        epoch += 1
    value, ppl, used = patch_mlp_eval(model, data.val)
    return {"psnr": value, "perplexity": ppl, "codes_used": used, "steps": steps,
            "bits": image_code_bits(data.val.shape[-1], PATCH, K)}
