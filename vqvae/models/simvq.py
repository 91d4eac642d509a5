"""SimVQ (Zhu et al. 2024, "Addressing representation collapse in vector quantized models
with one linear layer"): the codes are a frozen random basis through one learnt linear map.

    e_k = W c_k + b,  c_k ~ N(0, 1/D) frozen

and the loss is the plain codebook's, ||sg[z] - e||^2 + beta ||z - sg[e]||^2. A gradient that
would move one chosen code moves W instead, and with it every code, chosen or not: the whole
codebook follows the encoder, which is why the paper finds every code in use at large K.
"""

from __future__ import annotations

import torch
from torch import nn

from vqvae.models.quantize import Quantizer


class SimVQuantizer(Quantizer):
    """A frozen basis [K, S] and a learnt map S -> S; everything else as the plain codebook.

    The map starts as any linear layer does (random), not at the identity: started at the
    identity, the Pokémon model (at K 1,024) kept 34 of its 1,024 codes after 10 epochs, against 703 from a
    random map (docs/codebooks.md). A restarted code's basis row is solved for through the map
    (its pseudo-inverse), so the code lands on the encoder output it restarts at."""

    def __init__(self, codebook_size: int, code_dim: int, **kwargs):
        super().__init__(codebook_size, code_dim, **kwargs)
        self.register_buffer("basis", torch.randn(codebook_size, self.search_dim) * self.search_dim**-0.5)
        self.map = nn.Linear(self.search_dim, self.search_dim)

    @property
    def stored_codebook(self) -> torch.Tensor:
        return self.map(self.basis)

    def _set_codes(self, which: torch.Tensor, vectors: torch.Tensor) -> None:
        weight, bias = self.map.weight.float(), self.map.bias.float()
        rows = (vectors.float() - bias) @ torch.linalg.pinv(weight).T  # W c + b = v, for c
        # a new tensor, not an update in place: this step's backward still needs the old basis
        self.basis = torch.where(which.unsqueeze(1), rows.to(self.basis.dtype), self.basis)
