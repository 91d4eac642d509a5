"""The codebook variants: the rotation trick, k-means initialisation and the
bias-corrected EMA (FSQ has tests/unit/test_fsq.py)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from vqvae.config import ModelConfig
from vqvae.models.autoencoder import VQVAE
from vqvae.models.quantize import EMAVectorQuantizer, VectorQuantizer, rotation_trick


def test_the_rotation_trick_gives_z_q_forward_and_the_papers_gradient():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(6, 5, generator=g, dtype=torch.float64, requires_grad=True)
    z_q = torch.randn(6, 5, generator=g, dtype=torch.float64)
    upstream = torch.randn(6, 5, generator=g, dtype=torch.float64)
    out = rotation_trick(z, z_q)
    assert torch.allclose(out, z_q, atol=1e-12)
    out.backward(upstream)
    for i in range(6):  # closed form: dL/dz = lambda R^T dL/dz_q, R = I - 2 r r^T + 2 q e^T
        zi, qi = z[i].detach(), z_q[i]
        e, q = zi / zi.norm(), qi / qi.norm()
        r = (e + q) / (e + q).norm()
        rotation = torch.eye(5, dtype=torch.float64) - 2 * torch.outer(r, r) + 2 * torch.outer(q, e)
        assert torch.allclose(rotation @ e, q)  # it is the rotation taking e to q
        expected = (qi.norm() / zi.norm()) * rotation.T @ upstream[i]
        assert torch.allclose(z.grad[i], expected, atol=1e-10)


def test_a_vqvae_trains_through_the_rotation_trick():
    model = VQVAE(ModelConfig(hidden=16, res_hidden=8, codebook_size=16, code_dim=4, straight_through="rotation"))
    out = model(torch.rand(4, 1, 28, 28))
    F.mse_loss(out.reconstruction, torch.rand(4, 1, 28, 28)).backward()
    assert model.encoder[0].weight.grad.abs().sum() > 0  # the encoder is reached through the rotation


def clustered(n: int = 2000, k: int = 16, d: int = 4, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(k, d, generator=g) * 4
    sizes = torch.softmax(torch.randn(k, generator=g) * 2, 0)  # uneven clusters: some large, some tiny
    which = torch.multinomial(sizes, n, replacement=True, generator=g)
    return centres[which] + 0.3 * torch.randn(n, d, generator=g)


@pytest.mark.parametrize("quantizer", [VectorQuantizer, EMAVectorQuantizer])
def test_kmeans_init_lowers_the_first_batchs_quantisation_error(quantizer):
    z = clustered().view(1, 2000, 4).permute(2, 0, 1).unsqueeze(0).reshape(1, 4, 40, 50)  # [B, D, h, w]
    errors = {}
    for init in ("data", "kmeans"):
        torch.manual_seed(0)
        q = quantizer(16, 4, codebook_init=init).train()
        errors[init] = q(z).commitment_loss.item()  # ||z_e - e||^2 just after the codebook is seeded
    assert errors["kmeans"] < 0.8 * errors["data"], errors


def test_the_bias_corrected_ema_moves_codes_to_their_batch_means_at_once():
    z = clustered(400, 8, 3)
    first = {}
    for corrected in (False, True):
        torch.manual_seed(0)
        q = EMAVectorQuantizer(8, 3, decay=0.99, codebook_init="data", bias_correction=corrected).train()
        out = q(z.T.reshape(1, 3, 20, 20))
        indices = out.indices.flatten()
        means = torch.stack([z[indices == k].mean(0) if (indices == k).any() else q.embed[k] for k in range(8)])
        first[corrected] = (q.embed - means).abs().max().item()
    assert first[True] < 1e-3  # the running mean, read divided by 1 - g, is the batch's mean
    assert first[False] > 0.1  # the plain EMA stays near the first batch's sampled vectors


def test_a_bias_corrected_ema_model_saves_and_resumes_its_step_count(tmp_path):
    config = ModelConfig(hidden=16, res_hidden=8, codebook_size=16, code_dim=4, ema_bias_correction=True)
    model = VQVAE(config).train()
    model(torch.rand(4, 1, 28, 28))
    assert int(model.quantizer.ema_steps) == 1
    model.save_pretrained(tmp_path / "m", config=model.config)
    again = VQVAE.from_pretrained(str(tmp_path / "m"))
    assert int(again.quantizer.ema_steps) == 1 and torch.equal(again.codebook, model.codebook)
    assert "quantizer.ema_steps" not in VQVAE(ModelConfig(hidden=16, res_hidden=8)).state_dict()  # old checkpoints load


def test_a_cosine_codebook_picks_the_code_of_highest_cosine_similarity():
    torch.manual_seed(0)
    model = VQVAE(ModelConfig(hidden=16, res_hidden=8, codebook_size=16, code_dim=4, cosine_codebook=True)).eval()
    images = torch.rand(4, 1, 28, 28)
    out = model(images)  # in eval mode: the EMA codebook does not move after the search
    assert torch.allclose(model.codebook.norm(dim=1), torch.ones(16))
    z = model.encode_continuous(images).permute(0, 2, 3, 1).reshape(-1, 4)
    similarity = F.normalize(z, dim=1) @ model.codebook.T
    assert torch.equal(out.indices.flatten(), similarity.argmax(1))
    assert torch.allclose(out.quantized.z_q.norm(dim=1), torch.ones(4, 7, 7), atol=1e-5)  # the decoder sees unit codes
    assert torch.allclose(model.decode(model.encode(images)), model(images).reconstruction.clamp(0, 1), atol=1e-5)


@pytest.mark.parametrize("quantizer", ["plain", "ema"])
def test_a_low_dimensional_lookup_searches_in_d_numbers_and_decodes_in_D(quantizer, tmp_path):
    torch.manual_seed(0)
    config = ModelConfig(hidden=16, res_hidden=8, codebook_size=16, code_dim=8, lookup_dim=2, quantizer=quantizer,
                         cosine_codebook=True)
    model = VQVAE(config).eval()
    images = torch.rand(4, 1, 28, 28)
    out = model(images)
    assert model.codebook.shape == (16, 2) and out.quantized.z_q.shape == (4, 8, 7, 7)
    low = F.normalize(model.quantizer.down(model.encode_continuous(images).permute(0, 2, 3, 1).reshape(-1, 8)), dim=1)
    assert torch.equal(out.indices.flatten(), (low @ model.codebook.T).argmax(1))
    out = model.train()(images)
    F.mse_loss(out.reconstruction, images).backward()
    assert model.quantizer.up.weight.grad.abs().sum() > 0 and model.quantizer.down.weight.grad.abs().sum() > 0
    model.save_pretrained(tmp_path / "m", config=model.config)
    again = VQVAE.from_pretrained(str(tmp_path / "m"))
    assert torch.equal(again.encode(images), model.eval().encode(images))


@pytest.mark.parametrize("settings, said", [
    (dict(quantizer="fsq", cosine_codebook=True), "FSQ has no codebook"),
    (dict(quantizer="fsq", lookup_dim=2), "FSQ has no codebook"),
    (dict(code_dim=8, lookup_dim=8), "must be smaller than the code dimension"),
    (dict(code_dim=1, cosine_codebook=True), "at least 2 numbers"),
], ids=["cosine fsq", "lookup fsq", "lookup too wide", "cosine of one number"])
def test_settings_a_variant_cannot_serve_are_refused_in_one_line(settings, said):
    from vqvae.errors import VQVAEError

    with pytest.raises(VQVAEError, match=said):
        ModelConfig(**settings).validate()


def test_the_cli_refuses_a_cosine_fsq_with_status_2(tmp_path):
    import subprocess
    import sys

    from conftest import REPO

    result = subprocess.run([sys.executable, "-m", "vqvae", "train", "--out", str(tmp_path / "run"), "--quantizer", "fsq",
                             "--cosine-codebook"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "FSQ has no codebook" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "run").exists()
