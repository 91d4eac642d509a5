"""SimVQ, lookup-free (LFQ) and binary spherical (BSQ) quantisation, and residual VQ: each
one's forward against its formula, its gradient path, index round trips, save/load and the
settings it refuses."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from vqvae.config import ModelConfig
from vqvae.errors import VQVAEError
from vqvae.models.autoencoder import VQVAE
from vqvae.models.binary import BinaryQuantizer
from vqvae.models.quantizers import make_quantizer
from vqvae.models.residual import ResidualQuantizer
from vqvae.models.simvq import SimVQuantizer


def grid(n: int, d: int, seed: int = 0) -> torch.Tensor:
    """Encoder outputs [1, d, 1, n]: n vectors of d numbers."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g).T.reshape(1, d, 1, n)


def rows(z: torch.Tensor) -> torch.Tensor:
    return z.reshape(z.shape[1], -1).T


@pytest.mark.parametrize("spherical", [False, True], ids=["lfq", "bsq"])
def test_binary_codes_are_the_signs_scaled_and_their_index_reads_the_bits(spherical):
    q = BinaryQuantizer(5, spherical=spherical).eval()
    z = grid(40, 5)
    out = q(z)
    u = F.normalize(rows(z), dim=1) if spherical else rows(z)
    scale = 1 / math.sqrt(5) if spherical else 1.0
    assert torch.allclose(rows(out.z_q), torch.sign(u) * scale)
    expected = ((rows(z) > 0).long() * torch.tensor([1, 2, 4, 8, 16])).sum(1)
    assert torch.equal(out.indices.flatten(), expected)
    assert torch.equal(q.nearest(rows(z)), expected)
    every = torch.arange(32)
    assert torch.equal(q.indices_from_codes(q.lookup(every)), every)  # index -> corner -> index
    assert torch.allclose(q.codebook.norm(dim=1), torch.full((32,), math.sqrt(5) * scale))
    # the nearest corner of the codebook is the one the signs give
    assert torch.equal(torch.cdist(q.search_vectors(rows(z)), q.codebook).argmin(1), expected)


@pytest.mark.parametrize("spherical", [False, True], ids=["lfq", "bsq"])
def test_binary_loss_is_commitment_plus_weighted_entropy_and_reaches_the_encoder(spherical):
    q = BinaryQuantizer(4, spherical=spherical, beta=0.25, entropy_weight=0.1).train()
    z = grid(64, 4, seed=1).requires_grad_(True)
    out = q(z)
    u = F.normalize(rows(z), dim=1) if spherical else rows(z)
    scale = 0.5 if spherical else 1.0
    probs = torch.softmax(-torch.cdist(u, q.codebook) ** 2 / 0.01, dim=1)  # q(c | u) over all 16 codes

    def entropy_of(p):
        return -(p * p.clamp_min(1e-12).log()).sum(-1)

    entropy = entropy_of(probs).mean() - entropy_of(probs.mean(0))
    commitment = F.mse_loss(u, torch.sign(u) * scale)
    assert torch.allclose(out.loss, 0.25 * commitment + 0.1 * entropy, atol=1e-5)
    upstream = torch.randn_like(out.z_q)
    (out.z_q * upstream).sum().backward()  # straight through: the decoder's gradient reaches z
    if not spherical:
        assert torch.allclose(z.grad, upstream)
    assert z.grad.abs().sum() > 0 and torch.isfinite(z.grad).all()
    z.grad = None
    out = q(z * 1000)  # saturated bits: the entropy's gradient stays finite
    out.loss.backward()
    assert torch.isfinite(z.grad).all()


def test_the_entropy_loss_prefers_codes_spread_over_the_codebook():
    q = BinaryQuantizer(3).train()
    spread = torch.tensor([[s1, s2, s3] for s1 in (-1, 1) for s2 in (-1, 1) for s3 in (-1, 1)], dtype=torch.float)
    collapsed = torch.ones(8, 3)
    assert q.entropy_loss(spread) < q.entropy_loss(collapsed) - 1.0


def test_simvq_codes_are_the_frozen_basis_through_one_learnt_map():
    torch.manual_seed(0)
    q = SimVQuantizer(16, 4, codebook_init="uniform").train()
    with torch.no_grad():
        q.map.weight.copy_(torch.randn(4, 4))
        q.map.bias.copy_(torch.randn(4))
    assert torch.allclose(q.codebook, q.basis @ q.map.weight.T + q.map.bias)
    z = grid(30, 4).requires_grad_(True)
    out = q(z)
    nearest = torch.cdist(rows(z), q.codebook).argmin(1)
    assert torch.equal(out.indices.flatten(), nearest)
    e = q.codebook[nearest]
    assert torch.allclose(out.loss, F.mse_loss(e, rows(z)) * 1.25, atol=1e-6)  # codebook + 0.25 commitment
    out.loss.backward()
    assert q.map.weight.grad.abs().sum() > 0 and z.grad.abs().sum() > 0  # the map learns, the encoder is pulled
    assert not q.basis.requires_grad  # the basis never does


def test_a_simvq_restart_lands_the_code_on_the_encoder_output():
    torch.manual_seed(0)
    q = SimVQuantizer(8, 3, codebook_init="uniform", restart_dead_codes=True, dead_code_window=1).train()
    with torch.no_grad():
        q.map.weight.copy_(torch.randn(3, 3) + 2 * torch.eye(3))
    q.steps_unused.fill_(5)
    which = torch.zeros(8, dtype=torch.bool)
    which[2] = True
    target = torch.randn(8, 3)
    with torch.no_grad():
        q._set_codes(which, target)
    assert torch.allclose(q.codebook[2], target[2], atol=1e-4)


def test_residual_vq_quantises_each_stages_remainder_and_combines_the_digits():
    torch.manual_seed(0)
    config = ModelConfig(codebook_size=25, code_dim=3, residual_depth=2, quantizer="plain").validate()
    q = make_quantizer(config).eval()
    assert isinstance(q, ResidualQuantizer) and (q.stage_size, q.codebook_size) == (5, 25)
    with torch.no_grad():
        for stage, spread in zip(q.stages, (2.0, 0.5)):
            stage.embedding.weight.copy_(torch.randn(5, 3) * spread)
    z = grid(20, 3)
    out = q(z)
    first = q.stages[0].nearest(rows(z))
    second = q.stages[1].nearest(rows(z) - q.stages[0].lookup(first))
    assert torch.equal(out.indices.flatten(), first + 5 * second)
    assert torch.allclose(rows(out.z_q), q.stages[0].lookup(first) + q.stages[1].lookup(second), atol=1e-6)
    every = torch.arange(25)
    assert torch.equal(q.digits(every)[:, 0] + 5 * q.digits(every)[:, 1], every)
    assert torch.allclose(q.codebook, q.lookup(every))
    assert torch.equal(q.nearest(rows(z)), out.indices.flatten())


def test_residual_vq_passes_its_sum_straight_through_and_each_stage_learns():
    config = ModelConfig(codebook_size=16, code_dim=3, residual_depth=2, quantizer="plain").validate()
    q = make_quantizer(config).train()
    z = grid(30, 3).requires_grad_(True)
    out = q(z)
    upstream = torch.randn_like(out.z_q)
    (out.z_q * upstream).sum().backward(retain_graph=True)
    assert torch.allclose(z.grad, upstream)  # once, not once a stage
    out.loss.backward()
    assert all(stage.embedding.weight.grad.abs().sum() > 0 for stage in q.stages)


def test_residual_restarts_revive_each_stages_dead_codes():
    config = ModelConfig(codebook_size=64, code_dim=2, residual_depth=2, quantizer="ema", restart_dead_codes=True,
                         dead_code_window=2).validate()
    torch.manual_seed(0)
    q = make_quantizer(config).train()
    for _ in range(6):
        q(grid(200, 2, seed=_))
    assert q.steps_unused.shape == (16,)
    assert all(int((stage.steps_unused >= 2).sum()) == 0 for stage in q.stages)


@pytest.mark.parametrize("settings", [dict(quantizer="lfq", codebook_size=32), dict(quantizer="bsq", codebook_size=32),
                                      dict(quantizer="simvq", codebook_size=32, codebook_init="data"),
                                      dict(quantizer="ema", codebook_size=36, residual_depth=2, restart_dead_codes=True)],
                         ids=["lfq", "bsq", "simvq", "residual"])
def test_a_vqvae_of_each_family_trains_decodes_its_codes_and_saves_itself(settings, tmp_path):
    torch.manual_seed(0)
    model = VQVAE(ModelConfig(hidden=16, res_hidden=8, code_dim=4, **settings))
    images = torch.rand(4, 1, 28, 28)
    out = model.train()(images)
    (F.mse_loss(out.reconstruction, images) + out.quantized.loss).backward()
    assert model.encoder[0].weight.grad.abs().sum() > 0
    model.eval()
    out = model(images)
    assert out.indices.max() < settings["codebook_size"]
    assert torch.allclose(model.decode(model.encode(images)), out.reconstruction.clamp(0, 1), atol=1e-5)
    model.save_pretrained(tmp_path / "m", config=model.config)
    again = VQVAE.from_pretrained(str(tmp_path / "m")).eval()
    assert torch.equal(again.encode(images), model.encode(images))
    assert again.config.codebook_words == model.config.codebook_words


@pytest.mark.parametrize("settings, said", [
    (dict(quantizer="lfq", codebook_size=100), "power of two, not 100: try 128"),
    (dict(quantizer="bsq", codebook_size=64, cosine_codebook=True), "drop --cosine-codebook"),
    (dict(quantizer="ema", codebook_size=128, residual_depth=2), "to the power 2 .* not 128: try 121"),
    (dict(quantizer="fsq", residual_depth=2), "residual VQ stacks learnt codebooks"),
    (dict(quantizer="ema", codebook_size=64, residual_depth=2, straight_through="rotation"), "straight through once"),
    (dict(quantizer="ema", codebook_size=64, residual_depth=2, levels=2), "quantise one level"),
    (dict(residual_depth=9), "use at most 8"),
])
def test_settings_a_family_cannot_take_are_refused_in_one_line(settings, said):
    with pytest.raises(VQVAEError, match=said) as refused:
        ModelConfig(**settings).validate()
    assert "\n" not in str(refused.value)


def test_simvq_keeps_its_random_basis_whatever_init_a_preset_asks_for():
    config = ModelConfig(quantizer="simvq", codebook_init="kmeans").validate()
    assert config.codebook_init == "uniform" and config.codebook_words == "SimVQ codebook"
    assert make_quantizer(config).initialized.item()  # nothing to seed from the first batch


def test_lfq_and_bsq_take_one_dimension_a_bit():
    assert ModelConfig(quantizer="lfq", codebook_size=1024, code_dim=32).validate().code_dim == 10
    assert ModelConfig(quantizer="bsq", codebook_size=128).validate().codebook_words == "BSQ, 7 bits"
    assert ModelConfig(residual_depth=2, codebook_size=1024).validate().codebook_words == \
        "residual VQ, 2 ema codebooks of 32"
