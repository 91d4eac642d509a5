"""The codebook quantizers: a codebook trained by its loss (plain) and one trained by
exponential moving averages (EMA), sharing the nearest-code search, the straight-through
estimators and dead-code restarts (SimVQ, vqvae/models/simvq.py, is a third);
vqvae/models/quantizers.py picks the quantizer a ModelConfig asks for.

Each takes encoder outputs z_e [B, D, h, w] and returns the straight-through z_q, the
code indices [B, h, w], the loss terms and the code-usage statistics of the batch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from vqvae.models.code_search import KMEANS_ITERATIONS, all_reduce_sum, kmeans, nearest_code, sample_rows
from vqvae.models.quantizer_output import QuantizerOutput, counted_usage, quantizer_output


class Quantizer(nn.Module):
    """What both codebooks share: search, straight-through, statistics, dead-code restarts,
    and where the search happens.

    Codes are compared with encoder outputs in the *search space*: z_e itself; with
    `cosine`, z_e and the codes l2-normalised (the nearest code by cosine similarity); with
    `lookup_dim` d, z_e projected to d numbers by a learnt linear map (Improved VQGAN's
    low-dimensional lookup), the codebook living there too and a second map taking the
    chosen code back up to D for the decoder. The codebook, the losses and the restarts all
    live in the search space."""

    def __init__(self, codebook_size: int, code_dim: int, beta: float = 0.25, straight_through: str = "ze",
                 codebook_init: str = "uniform", dead_code_window: int = 100, restart_dead_codes: bool = False,
                 cosine: bool = False, lookup_dim: int | None = None):
        super().__init__()
        self.codebook_size = codebook_size
        self.code_dim = code_dim
        self.beta = beta
        self.straight_through = straight_through
        self.codebook_init = codebook_init
        self.dead_code_window = dead_code_window
        self.restart_dead_codes = restart_dead_codes
        self.cosine = cosine
        self.search_dim = lookup_dim or code_dim
        if lookup_dim:  # only then: checkpoints without a lookup keep their keys
            self.down = nn.Linear(code_dim, lookup_dim)
            self.up = nn.Linear(lookup_dim, code_dim)
        # Training steps since each code was last chosen (saved, so resumes count on).
        self.register_buffer("steps_unused", torch.zeros(codebook_size, dtype=torch.long))
        # Data-dependent initialisation (data, kmeans) happens on the first training batch.
        self.register_buffer("initialized", torch.tensor(codebook_init == "uniform"))
        self._host_initialized: bool | None = None  # the buffer as last read or set here (None: read it)

    # Subclasses provide the stored codebook [K, search_dim] and how it learns: by the codebook
    # loss ||sg[z] - e||^2 (learnt_by_loss), or otherwise (EMA's running averages).
    learnt_by_loss = True

    @property
    def stored_codebook(self) -> torch.Tensor:
        raise NotImplementedError

    @property
    def codebook(self) -> torch.Tensor:
        """The codes in the search space [K, search_dim] (unit length with cosine)."""
        return F.normalize(self.stored_codebook, dim=1) if self.cosine else self.stored_codebook

    def search_vectors(self, z: torch.Tensor) -> torch.Tensor:
        """Encoder outputs z [N, D] -> the vectors the codes are compared with [N, search_dim]."""
        if self.search_dim != self.code_dim:
            z = self.down(z)
        return F.normalize(z, dim=1) if self.cosine else z

    def to_decoder(self, z: torch.Tensor) -> torch.Tensor:
        """Search-space vectors [..., search_dim] -> what the decoder takes [..., D]."""
        return self.up(z) if self.search_dim != self.code_dim else z

    def nearest(self, z: torch.Tensor) -> torch.Tensor:
        """The code index of each encoder output z [N, D] -> [N] (int64)."""
        return nearest_code(self.search_vectors(z), self.codebook)

    def lookup(self, indices: torch.Tensor) -> torch.Tensor:
        """What the decoder gets for code indices [...] -> [..., D]. Through F.embedding, so a
        trainable codebook gets its gradient (never weight.data[idx], which cuts it out)."""
        return self.to_decoder(F.embedding(indices, self.codebook))

    def _set_codes(self, which: torch.Tensor, vectors: torch.Tensor) -> None:
        """Code k becomes vectors[k] where which[k] (a bool mask [K]); the others stay."""
        raise NotImplementedError

    def _ema_update(self, z: torch.Tensor, indices: torch.Tensor, counts: torch.Tensor) -> None:
        pass

    def forward(self, z_e: torch.Tensor) -> QuantizerOutput:
        z = self.search_vectors(rearrange(z_e, "b d h w -> (b h w) d"))
        if self.training and not self._is_initialized():
            self._init_from_data(z.float())
        indices = nearest_code(z, self.codebook)
        z_q = F.embedding(indices, self.codebook).to(z.dtype)

        codebook_loss = F.mse_loss(z_q, z.detach()) if self.learnt_by_loss else z.new_zeros(())
        commitment_loss = F.mse_loss(z, z_q.detach())
        loss = codebook_loss + self.beta * commitment_loss
        if self.straight_through == "zq":
            z_st = z_q + (z - z.detach())
        elif self.straight_through == "rotation":
            z_st = rotation_trick(z, z_q.detach())
        else:
            z_st = z + (z_q - z).detach()

        counts = counted_usage(indices, self.codebook_size, self.steps_unused, self.training)
        if self.training:
            with torch.no_grad():
                self._ema_update(z.float(), indices, counts)
                if self.restart_dead_codes:
                    self._restart_dead(z.float())
        return quantizer_output(self.to_decoder(z_st), indices, z_e.shape, counts,
                                dead_codes=(self.steps_unused >= self.dead_code_window).sum(),
                                codebook_loss=codebook_loss, commitment_loss=commitment_loss, loss=loss)

    @torch.no_grad()
    def _init_from_data(self, z: torch.Tensor) -> None:
        """Seed the codebook with encoder outputs of the first batch, moved by a few Lloyd
        iterations for kmeans (same on every rank)."""
        codes = sample_rows(z, self.codebook_size)
        if self.codebook_init == "kmeans":
            codes = kmeans(z, codes, KMEANS_ITERATIONS)
        self._set_codes(torch.ones(self.codebook_size, dtype=torch.bool, device=z.device), codes)
        self.initialized.fill_(True)
        self._host_initialized = True

    def _is_initialized(self) -> bool:
        """The `initialized` buffer, read from the device once instead of at every step (on
        a GPU each read waits for all the work queued before it)."""
        if self._host_initialized is None:
            self._host_initialized = bool(self.initialized)
        return self._host_initialized

    def _load_from_state_dict(self, *args, **kwargs):
        self._host_initialized = None  # a loaded checkpoint brings its own flag
        super()._load_from_state_dict(*args, **kwargs)

    @torch.no_grad()
    def _restart_dead(self, z: torch.Tensor) -> None:
        """Each dead code moves to an encoder output of this batch (distinct ones while the
        batch has enough). Masked rather than indexed by the dead codes: finding which codes
        are dead (nonzero) would wait for the GPU at every step."""
        dead = self.steps_unused >= self.dead_code_window
        self._set_codes(dead, sample_rows(z, self.codebook_size))
        self.steps_unused.masked_fill_(dead, 0)


def rotation_trick(z: torch.Tensor, z_q: torch.Tensor) -> torch.Tensor:
    """z [N, D] -> z_q in value, with the gradient of the rotation trick (Fifty et al. 2024):
    lambda R z, where R (taken as a constant) rotates z's direction e onto z_q's direction q,
    R = I - 2 r r^T + 2 q e^T with r = (e + q) / |e + q|, and lambda = |z_q| / |z|. So
    dL/dz = lambda R^T dL/dz_q: the gradient turns with the code instead of being copied."""
    with torch.no_grad():
        z_norm = z.norm(dim=1, keepdim=True).clamp_min(1e-12)
        q_norm = z_q.norm(dim=1, keepdim=True).clamp_min(1e-12)
        e, q = z / z_norm, z_q / q_norm
        r = e + q
        r = r / r.norm(dim=1, keepdim=True).clamp_min(1e-12)  # e = -q: r = 0, and R z is still |z| q
        scale = q_norm / z_norm
    rotated = z - 2 * (z * r).sum(1, keepdim=True) * r + 2 * (z * e).sum(1, keepdim=True) * q
    return scale * rotated


class VectorQuantizer(Quantizer):
    """Plain codebook, learnt by gradient: loss = ||sg[z_e] - e||^2 + beta ||z_e - sg[e]||^2."""

    def __init__(self, codebook_size: int, code_dim: int, **kwargs):
        super().__init__(codebook_size, code_dim, **kwargs)
        self.embedding = nn.Embedding(codebook_size, self.search_dim)
        nn.init.uniform_(self.embedding.weight, -1 / codebook_size, 1 / codebook_size)

    @property
    def stored_codebook(self) -> torch.Tensor:
        return self.embedding.weight

    def _set_codes(self, which: torch.Tensor, vectors: torch.Tensor) -> None:
        weight = self.embedding.weight
        weight.copy_(torch.where(which.unsqueeze(1), vectors.to(weight.dtype), weight))


class EMAVectorQuantizer(Quantizer):
    """Codebook learnt by moving averages; only the commitment loss remains.

    N_k <- g N_k + (1-g) n_k,  m_k <- g m_k + (1-g) sum(z_e assigned to k),
    e_k = m_k / N~_k with N~ the Laplace-smoothed N. The codebook is a buffer, so no
    optimiser ever touches it.

    N starts at 1 and m at the initial codes (not both at 0): a code that is never
    chosen then keeps its place, where with N = 0 it would be divided by eps and
    fly off to a point no encoder output can reach.

    With bias_correction (the fourth tutorial) N and m start at 0 and are read divided by
    1 - g^t, as Adam reads its moments, so the first steps follow the data instead of being
    held near the initial codes; a code no vector has reached keeps its place.
    """

    learnt_by_loss = False

    def __init__(self, codebook_size: int, code_dim: int, decay: float = 0.99, eps: float = 1e-5,
                 bias_correction: bool = False, **kwargs):
        super().__init__(codebook_size, code_dim, **kwargs)
        self.decay = decay
        self.eps = eps
        self.bias_correction = bias_correction
        embed = torch.empty(codebook_size, self.search_dim).uniform_(-1 / codebook_size, 1 / codebook_size)
        self.register_buffer("embed", embed)
        start = 0.0 if bias_correction else 1.0
        self.register_buffer("cluster_size", torch.full((codebook_size,), start))
        self.register_buffer("embed_sum", embed * start)
        if bias_correction:  # only then: checkpoints of the plain EMA keep their keys
            self.register_buffer("ema_steps", torch.zeros((), dtype=torch.long))

    @property
    def stored_codebook(self) -> torch.Tensor:
        return self.embed

    def _set_codes(self, which: torch.Tensor, vectors: torch.Tensor) -> None:
        vectors = vectors.to(self.embed.dtype)  # encoder outputs are bf16 under CUDA autocast
        start = 0.0 if self.bias_correction else 1.0  # bias-corrected: the code's averages start afresh
        rows = which.unsqueeze(1)
        self.embed.copy_(torch.where(rows, vectors, self.embed))
        self.embed_sum.copy_(torch.where(rows, vectors * start, self.embed_sum))
        self.cluster_size.masked_fill_(which, start)

    def _ema_update(self, z: torch.Tensor, indices: torch.Tensor, counts: torch.Tensor) -> None:
        sums = torch.zeros_like(self.embed).index_add_(0, indices, z)
        counts, sums = all_reduce_sum(counts.float()), all_reduce_sum(sums)
        g = self.decay
        self.cluster_size.mul_(g).add_(counts, alpha=1 - g)
        self.embed_sum.mul_(g).add_(sums, alpha=1 - g)
        sizes, sums = self.cluster_size, self.embed_sum
        if self.bias_correction:
            self.ema_steps.add_(1)
            correction = 1 - g ** self.ema_steps.double()
            sizes, sums = (sizes / correction).to(sizes.dtype), (sums / correction).to(sums.dtype)
        n = sizes.sum()
        smoothed = (sizes + self.eps) / (n + self.codebook_size * self.eps) * n
        codes = sums / smoothed.unsqueeze(1)
        if self.bias_correction:  # a code no vector has reached yet has no average: it stays
            codes = torch.where(self.cluster_size.unsqueeze(1) > 0, codes, self.embed)
        self.embed.copy_(codes)
