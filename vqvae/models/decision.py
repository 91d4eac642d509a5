"""The quantizer's decision at one position of a picture's code grid, with every number in
it: the encoder's vector, its distance to every code and the nearest one, the two loss
terms there, where one EMA update would move the chosen code, FSQ's bound and rounding,
LFQ's and BSQ's bits, residual VQ's stages, and what the straight-through estimator passes back. The Overview and Codebook pages show
these beside their formulas; they are the model's own numbers, not a re-enactment.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from vqvae.errors import VQVAEError
from vqvae.models.binary import BinaryQuantizer
from vqvae.models.fsq import FSQuantizer
from vqvae.models.residual import ResidualQuantizer


@dataclass
class Decision:
    row: int
    column: int
    z_e: torch.Tensor  # [D] the encoder's output there
    z: torch.Tensor  # [S] the vector compared with the codes (z_e, or its normalised / projected form)
    distances: torch.Tensor  # [K] squared distance from z to each code, in the search space
    chosen: int  # the code the model picks there
    code: torch.Tensor  # [S] the chosen code's vector
    beta: float  # the commitment weight
    codebook_term: float | None  # ||sg(z) - e||^2 / S (the plain codebook's loss), None where no loss trains the codes
    ema_moved: torch.Tensor | None  # [S] the chosen code after one EMA update with this vector alone (EMA only)
    fsq: dict | None  # FSQ: levels, bounded [D], rounded [D] (the integers), for each dimension
    bits: list[int] | None = None  # LFQ and BSQ: each dimension's bit, 1 where z is positive
    stages: list[dict] | None = None  # residual VQ: each stage's code and the residual before and after it

    @property
    def squared_error(self) -> float:
        """||z - e||^2, what the loss terms weigh; residual VQ's, summed over its stages' own residuals."""
        if self.stages is not None:
            return sum(stage["left after"] ** 2 for stage in self.stages)
        return float(self.distances[self.chosen])

    @property
    def commitment_term(self) -> float:
        """beta ||z - sg(e)||^2 / S: this position's share of the commitment loss (its mean over S)."""
        return self.beta * self.squared_error / len(self.z)

    def order(self) -> torch.Tensor:
        """The codes from nearest to farthest."""
        return self.distances.argsort(stable=True)


def level_parts(model, level: str = "bottom"):
    """(the encoder of one level: images -> z_e, its quantizer)."""
    if level == "top":
        return (lambda x: model.encode_continuous(x, "top")), model.top_quantizer
    return model.encode_continuous, model.quantizer


@torch.no_grad()
def decide(model, image: torch.Tensor, row: int, column: int, level: str = "bottom") -> Decision:
    """The decision at (row, column) of `level`'s code grid for one picture [1, C, H, W] in [0, 1]."""
    model.eval()
    encode, quantizer = level_parts(model, level)
    z_e_grid = encode(image.to(model.codebook.device).float())
    h, w = z_e_grid.shape[-2:]
    if not (0 <= row < h and 0 <= column < w):
        raise VQVAEError(f"cell ({row}, {column}) is outside the {w} x {h} code grid")
    z_e = z_e_grid[0, :, row, column].float()
    z = quantizer.search_vectors(z_e[None])[0].float()
    codebook = quantizer.codebook.float()
    distances = (codebook - z).pow(2).sum(1)
    chosen = int(quantizer.nearest(z_e[None])[0])
    fsq = None
    if isinstance(quantizer, FSQuantizer):
        bounded = quantizer.bound(z_e[None])[0]
        fsq = {"levels": list(quantizer.levels_list), "bounded": bounded.cpu(), "rounded": bounded.round().cpu()}
    bits = (z > 0).long().tolist() if isinstance(quantizer, BinaryQuantizer) else None
    made = Decision(row, column, z_e.cpu(), z.cpu(), distances.cpu(), chosen, codebook[chosen].detach().cpu(),
                    float(getattr(quantizer, "beta", 0.0)), None, ema_moved(quantizer, z, chosen), fsq, bits,
                    residual_stages(quantizer, z_e))
    if getattr(quantizer, "learnt_by_loss", False):
        made.codebook_term = made.squared_error / len(z)
    return made


def residual_stages(quantizer, z_e: torch.Tensor) -> list[dict] | None:
    """Residual VQ: stage by stage, the code chosen for what is left and how much is left after it."""
    if not isinstance(quantizer, ResidualQuantizer):
        return None
    stages, before = [], float(z_e.float().norm())
    for n, (code, left) in enumerate(quantizer.stage_codes(z_e[None])):
        stages.append({"stage": n + 1, "code": int(code[0]), "left before": before, "left after": float(left[0].norm())})
        before = stages[-1]["left after"]
    return stages


def ema_moved(quantizer, z: torch.Tensor, chosen: int) -> torch.Tensor | None:
    """Where the EMA codebook's update would move the chosen code if this vector were the
    whole batch: the quantizer's own update, on a copy."""
    if not hasattr(quantizer, "cluster_size"):
        return None
    trial = copy.deepcopy(quantizer)
    counts = torch.zeros(trial.codebook_size, dtype=torch.long, device=z.device)
    counts[chosen] = 1
    trial._ema_update(z[None].float(), torch.tensor([chosen], device=z.device), counts)
    return trial.codebook[chosen].detach().float().cpu()


def straight_through(model, image: torch.Tensor, row: int, column: int) -> dict[str, torch.Tensor]:
    """What the straight-through estimator passes back at (row, column), for the
    reconstruction loss of one picture [1, C, H, W] in [0, 1]: the gradient at z_q (what the
    decoder asks of the code) and at z_e (what the encoder gets), each [D]; and the
    commitment term's own gradient at z_e, added on top in training (zero for FSQ)."""
    if model.config.levels != 1:
        raise VQVAEError("the straight-through view is for one-level models")
    model.eval()
    x = image.to(model.codebook.device).float()
    z_e = model.encode_continuous(x).detach().requires_grad_(True)
    out = model.quantizer(z_e)  # in eval mode: no EMA update, no restart
    reconstruction_loss = F.mse_loss(model.decode_vectors(out.z_q), x)
    at_z_q, at_z_e = torch.autograd.grad(reconstruction_loss, [out.z_q, z_e], retain_graph=True)
    beta = getattr(model.quantizer, "beta", 0.0)
    commitment = (torch.autograd.grad(beta * out.commitment_loss, z_e)[0] if out.commitment_loss.requires_grad
                  else torch.zeros_like(z_e))
    cell = (0, slice(None), row, column)
    return {"at_z_q": at_z_q[cell].cpu(), "at_z_e": at_z_e[cell].cpu(), "commitment": commitment[cell].cpu()}
