"""The quantizers: nearest-code search, straight-through gradients, codebook learning
(loss-trained and EMA) and dead-code restarts."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from vqvae import VQVAE, EMAVectorQuantizer, VectorQuantizer, nearest_code
from vqvae.training.vqvae_trainer import Trainer


def brute_force_nearest(z: torch.Tensor, codebook: torch.Tensor) -> list[int]:
    """argmin_k ||z - e_k||^2 by broadcasting, ties to the lowest index (decided in Python)."""
    d = ((z[:, None, :].double() - codebook[None, :, :].double()) ** 2).sum(-1)
    out = []
    for row in d.tolist():
        best = min(row)
        out.append(row.index(best))
    return out


def rows_to_map(rows: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Rows [h*w, D] -> an encoder output [1, D, h, w] whose (b h w) flattening is `rows`."""
    return rows.reshape(1, h, w, rows.shape[1]).permute(0, 3, 1, 2).contiguous()


# --- 1. nearest_code ------------------------------------------------------------------


def test_nearest_code_matches_brute_force_on_exact_integers():
    g = torch.Generator().manual_seed(0)
    z = torch.randint(-3, 4, (300, 4), generator=g).float()
    codebook = torch.randint(-3, 4, (10, 4), generator=g).float()
    codebook[7] = codebook[2]  # an exact duplicate code: 7 must never win over 2

    # With small integers every distance is exact, so ties are real ties.
    d = ((z[:, None, :] - codebook[None]) ** 2).sum(-1)
    ties = ((d == d.min(1, keepdim=True).values).sum(1) > 1).sum()
    assert ties > 0, "the data should contain ties for this test to mean anything"

    expected = brute_force_nearest(z, codebook)
    for chunk in (4096, 64, 7, 1):
        got = nearest_code(z, codebook, chunk=chunk)
        assert got.dtype == torch.int64 and got.shape == (300,)
        assert got.tolist() == expected, f"chunk={chunk}"
    assert 7 not in nearest_code(z, codebook).tolist()


def test_nearest_code_breaks_designed_ties_to_lowest_index():
    codebook = torch.tensor([
        [2.0, 0.0],   # 0
        [9.0, 9.0],   # 1
        [0.0, 0.0],   # 2
        [0.0, 2.0],   # 3
        [2.0, 0.0],   # 4 duplicate of 0
        [-1.0, 1.0],  # 5
    ])
    z = torch.tensor([
        [1.0, 0.0],  # equidistant from 0, 2 and 4 -> 0
        [0.0, 1.0],  # equidistant from 2, 3 and 5 -> 2
        [1.0, 1.0],  # equidistant from 0, 2, 3, 4 -> 0
        [2.0, 0.0],  # exactly on 0 and 4 -> 0
        [-0.5, 1.5],  # nearest 5 (distance 0.5) vs 3 (0.5): tie -> 3
    ])
    assert nearest_code(z, codebook).tolist() == [0, 2, 0, 0, 3]
    assert nearest_code(z, codebook).tolist() == brute_force_nearest(z, codebook)


def test_nearest_code_matches_brute_force_on_random_floats_in_chunks():
    g = torch.Generator().manual_seed(1)
    n, k, dim = 3000, 512, 64
    z = torch.randn(n, dim, generator=g)
    codebook = torch.randn(k, dim, generator=g) * 0.5
    got = nearest_code(z, codebook, chunk=777)  # 777 < N and does not divide it
    assert got.shape == (n,) and got.dtype == torch.int64
    assert int(got.min()) >= 0 and int(got.max()) < k

    d = torch.cdist(z.double(), codebook.double()).pow(2)  # float64 reference
    ref = d.argmin(1)
    rows = torch.arange(n)
    d_got, d_ref = d[rows, got], d[rows, ref]
    mismatch = got != ref
    # A different pick is only allowed where the two codes are equally near to float32 precision.
    assert torch.all((d_got[mismatch] - d_ref[mismatch]) < 1e-4 * d_ref[mismatch])
    assert torch.all(d_got >= d_ref - 1e-9)
    # Same answer whatever the chunk size, the default one (a CPU's cache-sized blocks) too.
    assert torch.equal(nearest_code(z, codebook, chunk=n), got)
    assert torch.equal(nearest_code(z, codebook), got)


# --- 2. straight-through estimator -----------------------------------------------------


@pytest.mark.parametrize("quantizer", ["plain", "ema"])
@pytest.mark.parametrize("straight_through", ["ze", "zq"])
def test_straight_through_gradient_reaches_encoder(tiny_config, mnist_batch, quantizer, straight_through):
    torch.manual_seed(0)
    model = VQVAE(tiny_config(quantizer=quantizer, straight_through=straight_through)).train()
    x = mnist_batch
    codes_before = model.codebook.detach().clone()

    z_e = model.encode_continuous(x)
    z_e.retain_grad()
    q = model.quantizer(z_e)
    q.z_q.retain_grad()
    recon = model.decode_vectors(q.z_q)
    F.mse_loss(recon, x).backward()  # the reconstruction loss alone

    # Forward: the decoder sees the chosen codes...
    chosen = codes_before[q.indices].permute(0, 3, 1, 2)
    torch.testing.assert_close(q.z_q.detach(), chosen, rtol=0, atol=1e-6)
    # ...backward: the decoder-input gradient is copied to the encoder output unchanged.
    assert z_e.grad is not None and q.z_q.grad is not None
    assert q.z_q.grad.abs().sum() > 0
    torch.testing.assert_close(z_e.grad, q.z_q.grad, rtol=1e-6, atol=0)
    for name, p in model.encoder.named_parameters():
        assert p.grad is not None, f"encoder.{name} got no gradient"
        assert p.grad.abs().sum() > 0, f"encoder.{name} got a zero gradient"


# --- 3. which codebook gets a gradient ---------------------------------------------------


def test_plain_codebook_gets_gradient_from_the_loss(tiny_config, mnist_batch):
    torch.manual_seed(0)
    model = VQVAE(tiny_config(quantizer="plain", straight_through="ze", codebook_init="data")).train()
    out = model(mnist_batch)
    loss = F.mse_loss(out.reconstruction, mnist_batch) + out.quantized.loss
    loss.backward()
    weight = model.quantizer.embedding.weight
    assert weight.grad is not None
    used = torch.bincount(out.indices.reshape(-1), minlength=16) > 0
    assert used.sum() >= 2
    assert torch.all(weight.grad[used].abs().sum(1) > 0)
    assert torch.all(weight.grad[~used] == 0)


def test_plain_codebook_gradient_is_that_of_the_codebook_loss(tiny_config, mnist_batch):
    """With 'ze', only ||sg[z_e] - e||^2 moves the codes: d/de_k = 2 (n_k e_k - sum z) / (N D)."""
    torch.manual_seed(0)
    model = VQVAE(tiny_config(quantizer="plain", straight_through="ze", codebook_init="data")).train()
    z_e = model.encode_continuous(mnist_batch).detach()
    q = model.quantizer(z_e)
    weight = model.quantizer.embedding.weight
    q.codebook_loss.backward()
    z = z_e.permute(0, 2, 3, 1).reshape(-1, z_e.shape[1])
    idx = q.indices.reshape(-1)
    n, dim = z.shape
    counts = torch.bincount(idx, minlength=16).float()
    sums = torch.zeros_like(weight).index_add_(0, idx, z)
    expected = 2 * (counts[:, None] * weight.detach() - sums) / (n * dim)
    torch.testing.assert_close(weight.grad, expected, rtol=1e-4, atol=1e-7)
    # and the commitment term is ||z_e - sg[e]||^2
    torch.testing.assert_close(q.commitment_loss, ((z - weight.detach()[idx]) ** 2).mean())
    torch.testing.assert_close(q.loss, q.codebook_loss + 0.25 * q.commitment_loss)


@pytest.mark.parametrize("straight_through, reaches_codebook", [("ze", False), ("zq", True)])
def test_reconstruction_alone_trains_plain_codebook_only_with_zq(tiny_config, mnist_batch, straight_through,
                                                                 reaches_codebook):
    torch.manual_seed(0)
    model = VQVAE(tiny_config(quantizer="plain", straight_through=straight_through, codebook_init="data")).train()
    out = model(mnist_batch)
    F.mse_loss(out.reconstruction, mnist_batch).backward()
    grad = model.quantizer.embedding.weight.grad
    used = torch.bincount(out.indices.reshape(-1), minlength=16) > 0
    if reaches_codebook:
        assert grad is not None
        assert torch.all(grad[used].abs().sum(1) > 0)
        assert torch.all(grad[~used] == 0)
    else:
        assert grad is None or torch.all(grad == 0)


def test_ema_codebook_is_a_buffer_outside_the_optimizer(tiny_config, mnist_batch):
    torch.manual_seed(0)
    model = VQVAE(tiny_config(quantizer="ema"))
    embed = model.quantizer.embed
    assert isinstance(model.quantizer, EMAVectorQuantizer)
    assert not embed.requires_grad
    assert all(p is not embed for p in model.parameters())
    assert dict(model.named_buffers())["quantizer.embed"] is embed
    assert model.codebook is embed

    trainer = Trainer(model, 1e-3, torch.device("cpu"))
    held = [p for group in trainer.optimizer.param_groups for p in group["params"]]
    assert all(p is not embed for p in held)
    assert {id(p) for p in held} == {id(p) for p in model.parameters()}  # everything else is trained

    out = model.train()(mnist_batch)
    assert float(out.quantized.codebook_loss) == 0.0
    (F.mse_loss(out.reconstruction, mnist_batch) + out.quantized.loss).backward()
    assert embed.grad is None


def test_trainer_optimizer_holds_the_plain_codebook(tiny_config):
    model = VQVAE(tiny_config(quantizer="plain"))
    trainer = Trainer(model, 1e-3, torch.device("cpu"))
    held = [p for group in trainer.optimizer.param_groups for p in group["params"]]
    assert any(p is model.quantizer.embedding.weight for p in held)
    assert {id(p) for p in held} == {id(p) for p in model.parameters()}


# --- 4. the EMA update ------------------------------------------------------------------


def make_ema(codebook: torch.Tensor, decay: float, eps: float, **kwargs) -> EMAVectorQuantizer:
    k, dim = codebook.shape
    q = EMAVectorQuantizer(k, dim, decay=decay, eps=eps, **kwargs)
    with torch.no_grad():
        q.embed.copy_(codebook)
        q.embed_sum.copy_(codebook)
    return q


def test_ema_update_follows_the_formula_on_a_hand_made_batch():
    e0 = torch.tensor([[0.0, 0.0], [4.0, 0.0], [0.0, 4.0], [10.0, 10.0]])
    g, eps = 0.8, 1e-3  # a large eps so the smoothing is visible
    q = make_ema(e0, g, eps).train()
    assert torch.equal(q.cluster_size, torch.ones(4))  # initial state: N = 1, m = e
    rows = torch.tensor([
        [0.5, 0.0], [-0.5, 0.5],            # -> code 0
        [4.0, 1.0], [3.0, 0.0], [5.0, -1.0],  # -> code 1
        [0.0, 3.0],                          # -> code 2; code 3 unused
    ])
    out = q(rows_to_map(rows, 2, 3))

    assert out.indices.tolist() == [[[0, 0, 1], [1, 1, 2]]]
    # The batch is quantised with the codes as they were before the update.
    torch.testing.assert_close(out.z_q, rows_to_map(e0[[0, 0, 1, 1, 1, 2]], 2, 3))
    assert float(out.codebook_loss) == 0.0
    expected_commit = ((rows - e0[[0, 0, 1, 1, 1, 2]]) ** 2).mean()
    torch.testing.assert_close(out.commitment_loss, expected_commit)
    torch.testing.assert_close(out.loss, 0.25 * expected_commit)

    # By hand: n_k = [2, 3, 1, 0]; sums = [(0, .5), (12, 0), (0, 3), (0, 0)].
    # N_k = .8 * 1 + .2 * n_k ; m_k = .8 * e_k + .2 * sum_k
    n_k = torch.tensor([1.2, 1.4, 1.0, 0.8], dtype=torch.float64)
    m_k = torch.tensor([[0.0, 0.1], [5.6, 0.0], [0.0, 3.8], [8.0, 8.0]], dtype=torch.float64)
    total = n_k.sum()  # 4.4
    smoothed = (n_k + eps) / (total + 4 * eps) * total
    expected_embed = m_k / smoothed[:, None]

    torch.testing.assert_close(q.cluster_size.double(), n_k, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(q.embed_sum.double(), m_k, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(q.embed.double(), expected_embed, rtol=1e-6, atol=1e-7)
    # The unused code stays (almost exactly) where it was.
    torch.testing.assert_close(q.embed[3], e0[3], rtol=1e-3, atol=0)


def test_ema_update_accumulates_over_steps():
    e0 = torch.tensor([[0.0, 0.0], [4.0, 0.0], [0.0, 4.0], [10.0, 10.0]])
    g, eps = 0.9, 1e-5
    q = make_ema(e0, g, eps).train()
    batches = [
        torch.tensor([[0.5, 0.0], [-0.5, 0.5], [4.0, 1.0], [3.0, 0.0], [5.0, -1.0], [0.0, 3.0]]),
        torch.tensor([[1.0, 1.0], [3.5, 0.5], [3.5, -0.5], [0.5, 4.5], [9.0, 9.0], [0.2, 0.1]]),
    ]
    n_k = torch.ones(4, dtype=torch.float64)
    m_k = e0.double().clone()
    embed = e0.double().clone()
    for rows in batches:
        idx = brute_force_nearest(rows, embed.float())
        out = q(rows_to_map(rows, 2, 3))
        assert out.indices.reshape(-1).tolist() == idx
        counts = torch.bincount(torch.tensor(idx), minlength=4).double()
        sums = torch.zeros(4, 2, dtype=torch.float64).index_add_(0, torch.tensor(idx), rows.double())
        n_k = g * n_k + (1 - g) * counts
        m_k = g * m_k + (1 - g) * sums
        smoothed = (n_k + eps) / (n_k.sum() + 4 * eps) * n_k.sum()
        embed = m_k / smoothed[:, None]
        torch.testing.assert_close(q.cluster_size.double(), n_k, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(q.embed_sum.double(), m_k, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(q.embed.double(), embed, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cls", [VectorQuantizer, EMAVectorQuantizer])
def test_eval_mode_forward_changes_no_state(cls):
    torch.manual_seed(0)
    q = cls(8, 4, restart_dead_codes=True, dead_code_window=1).eval()
    before = {k: v.clone() for k, v in q.state_dict().items()}
    q(torch.randn(2, 4, 3, 3))
    for k, v in q.state_dict().items():
        assert torch.equal(v, before[k]), k


# --- 12. dead-code restarts -------------------------------------------------------------


def clustered_rows(seed: int = 0) -> torch.Tensor:
    """12 distinct rows, 6 near the origin and 6 near (10, 10, 10, 10)."""
    g = torch.Generator().manual_seed(seed)
    noise = torch.rand(12, 4, generator=g) * 0.5
    centers = torch.cat([torch.zeros(6, 4), torch.full((6, 4), 10.0)])
    return centers + noise


def far_codebook() -> torch.Tensor:
    codes = torch.zeros(8, 4)
    codes[1] = 10.0
    for k in range(2, 8):
        codes[k] = -100.0 * k  # never the nearest to any row above
    return codes


def set_codebook(q, codes: torch.Tensor) -> None:
    with torch.no_grad():
        if isinstance(q, EMAVectorQuantizer):
            q.embed.copy_(codes)
            q.embed_sum.copy_(codes)
        else:
            q.embedding.weight.copy_(codes)


def is_some_row(vector: torch.Tensor, rows: torch.Tensor) -> bool:
    return bool((rows == vector).all(1).any())


@pytest.mark.parametrize("cls", [VectorQuantizer, EMAVectorQuantizer])
def test_dead_codes_are_reseeded_from_encoder_outputs(cls):
    torch.manual_seed(0)
    q = cls(8, 4, restart_dead_codes=True, dead_code_window=1).train()
    codes = far_codebook()
    set_codebook(q, codes)
    rows = clustered_rows()
    out = q(rows_to_map(rows, 3, 4))
    assert sorted(set(out.indices.reshape(-1).tolist())) == [0, 1]

    after = q.codebook.detach()
    new = after[2:]
    for k, vector in enumerate(new, start=2):
        assert is_some_row(vector, rows), f"code {k} was not re-seeded to an encoder output: {vector.tolist()}"
    # six distinct dead codes from twelve rows: drawn without repetition
    assert len({tuple(v.tolist()) for v in new}) == 6
    assert torch.all(q.steps_unused == 0)
    assert int(out.dead_codes) == 0
    if cls is VectorQuantizer:
        assert torch.equal(after[:2], codes[:2])  # the live codes are left alone
    else:
        assert torch.equal(q.embed_sum[2:], new)  # the averages restart at the new code
        assert torch.equal(q.cluster_size[2:], torch.ones(6))
    # The next batch can now use the re-seeded codes.
    again = q.eval()(rows_to_map(rows, 3, 4))
    assert len(set(again.indices.reshape(-1).tolist()) - {0, 1}) > 0


@pytest.mark.parametrize("cls", [VectorQuantizer, EMAVectorQuantizer])
def test_dead_codes_stay_put_without_restarts(cls):
    torch.manual_seed(0)
    q = cls(8, 4, restart_dead_codes=False, dead_code_window=1).train()
    codes = far_codebook()
    set_codebook(q, codes)
    out = q(rows_to_map(clustered_rows(), 3, 4))
    after = q.codebook.detach()
    if cls is VectorQuantizer:
        assert torch.equal(after, codes)
    else:
        torch.testing.assert_close(after[2:], codes[2:], rtol=1e-4, atol=0)
    assert q.steps_unused.tolist() == [0, 0, 1, 1, 1, 1, 1, 1]
    assert int(out.dead_codes) == 6


def test_restart_waits_for_the_dead_code_window():
    torch.manual_seed(0)
    q = VectorQuantizer(8, 4, restart_dead_codes=True, dead_code_window=3).train()
    codes = far_codebook()
    set_codebook(q, codes)
    z = rows_to_map(clustered_rows(), 3, 4)
    for step in (1, 2):
        out = q(z)
        assert torch.equal(q.codebook.detach(), codes), f"restarted after {step} step(s) of a window of 3"
        assert q.steps_unused[2:].tolist() == [step] * 6
        assert int(out.dead_codes) == 0
    q(z)
    assert not torch.equal(q.codebook.detach()[2:], codes[2:])
    assert all(is_some_row(v, clustered_rows()) for v in q.codebook.detach()[2:])


@pytest.mark.parametrize("quantizer", ["plain", "ema"])
def test_training_steps_with_restarts_work(tiny_config, mnist_batch, quantizer):
    """Restarting codes inside forward must not break backward or the optimiser step."""
    torch.manual_seed(0)
    model = VQVAE(tiny_config(quantizer=quantizer, restart_dead_codes=True, dead_code_window=1))
    trainer = Trainer(model, 1e-3, torch.device("cpu"))
    for _ in range(3):
        losses = trainer.train_step(mnist_batch)
        assert all(math.isfinite(v) for v in losses.values())
        assert losses["dead_codes"] == 0
    assert torch.all(model.quantizer.steps_unused == 0)
