"""Finite scalar quantisation: the paper's formula, the index <-> code mapping,
the straight-through gradient, the model around it and the settings it refuses."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
import torch

from conftest import REPO
from vqvae.config import ModelConfig
from vqvae.errors import VQVAEError
from vqvae.models.autoencoder import VQVAE
from vqvae.models.fsq import FSQuantizer


def paper_fsq(z: float, levels: int, eps: float = 1e-3) -> float:
    """One number through the formula, written out with the math module."""
    half = (levels - 1) * (1 - eps) / 2
    offset = 0.5 if levels % 2 == 0 else 0.0
    bounded = math.tanh(z + math.tan(offset / half)) * half - offset
    return round(bounded) / (levels // 2)


@pytest.mark.parametrize("levels", [(8, 5, 5, 5), (7, 6), (2, 3, 4), (5,)], ids=str)
def test_fsq_matches_the_formula_on_random_inputs(levels):
    fsq = FSQuantizer(levels)
    z = torch.randn(500, len(levels), generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 2
    got = fsq.quantize(z)
    expected = torch.tensor([[paper_fsq(float(v), levels[d]) for d, v in enumerate(row)] for row in z], dtype=torch.float64)
    assert torch.allclose(got.double(), expected, atol=1e-12)
    # every dimension takes exactly its L values
    for d, level in enumerate(levels):
        assert got[:, d].unique().numel() <= level


@pytest.mark.parametrize("levels", [(8, 5, 5, 5), (7, 6), (2, 3, 4)], ids=str)
def test_every_fsq_index_round_trips_through_its_code(levels):
    fsq = FSQuantizer(levels)
    every = torch.arange(math.prod(levels))
    codes = fsq.codes_from_indices(every)
    assert codes.shape == (math.prod(levels), len(levels))
    assert torch.equal(fsq.indices_from_codes(codes), every)
    assert torch.unique(codes, dim=0).shape[0] == len(every)  # distinct grid points
    assert codes.abs().max() <= 1
    # a quantised vector's index names the same grid point
    z = torch.randn(200, len(levels)) * 3
    assert torch.equal(fsq.codebook[fsq.nearest(z)], fsq.quantize(z))


def test_fsq_passes_the_gradient_straight_through_the_rounding():
    fsq = FSQuantizer((8, 5))
    z = torch.randn(64, 2, dtype=torch.float64, requires_grad=True)
    fsq.quantize(z).sum().backward()
    zd = z.detach().requires_grad_(True)
    (fsq.bound(zd) / (fsq.levels // 2)).sum().backward()  # the same without the rounding
    assert torch.allclose(z.grad, zd.grad) and z.grad.abs().min() > 0


def test_a_vqvae_with_fsq_decodes_its_own_codes_and_saves_itself(tmp_path):
    config = ModelConfig(hidden=16, res_hidden=8, quantizer="fsq", fsq_levels="5,4,3").validate()
    assert (config.codebook_size, config.code_dim) == (60, 3)
    model = VQVAE(config).eval()
    images = torch.rand(3, 1, 28, 28)
    out = model(images)
    assert out.quantized.loss == 0 and out.indices.max() < 60
    assert torch.allclose(model.decode(model.encode(images)), out.reconstruction.clamp(0, 1), atol=1e-6)
    model.save_pretrained(tmp_path / "m", config=model.config)
    again = VQVAE.from_pretrained(str(tmp_path / "m"))
    assert torch.equal(again.encode(images), model.encode(images))


@pytest.mark.parametrize("levels, said", [("8,1,5", "at least 2"), ("", "at least one level"), (",", "at least one level"),
                                           ("8,five", "whole numbers"), ("64,64,64", "more than the")])
def test_bad_fsq_levels_are_refused_in_one_line(levels, said):
    with pytest.raises(VQVAEError, match=said):
        ModelConfig(quantizer="fsq", fsq_levels=levels).validate()


def test_the_cli_refuses_bad_fsq_levels_with_status_2(tmp_path):
    result = subprocess.run([sys.executable, "-m", "vqvae", "train", "--out", str(tmp_path / "run"), "--quantizer", "fsq",
                             "--fsq-levels", "8,1", "--epochs", "1"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "at least 2" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("saved", ["5,4,3", " 5, 4,3 ", [5, 4, 3], (5, 4, 3)], ids=repr)
def test_fsq_levels_are_a_tuple_however_a_config_json_holds_them(saved):
    from vqvae.config import RunConfig

    cfg = RunConfig.from_dict({"model": {"quantizer": "fsq", "fsq_levels": saved}}).validate()
    assert cfg.model.fsq_levels == (5, 4, 3) and (cfg.model.codebook_size, cfg.model.code_dim) == (60, 3)
    assert cfg.model.codebook_words == "FSQ, levels 5,4,3"
    assert cfg.to_dict()["model"]["fsq_levels"] == [5, 4, 3]  # as config.json holds it


def test_validate_leaves_the_config_it_checks_as_it_was_and_returns_the_derived_one():
    from vqvae.config import RunConfig

    cfg = RunConfig()
    cfg.model.quantizer, cfg.model.fsq_levels = "fsq", "5,4"  # set after construction, as a flag or a widget does
    checked = cfg.validate()
    assert (checked.model.codebook_size, checked.model.code_dim, checked.model.fsq_levels) == (20, 2, (5, 4))
    assert (cfg.model.codebook_size, cfg.model.code_dim, cfg.model.fsq_levels) == (128, 32, "5,4")
    assert checked is not cfg and checked.model is not cfg.model


def test_the_cli_reads_fsq_levels_as_text_and_the_types_are_real():
    from dataclasses import fields

    from vqvae.config import ModelConfig, TrainConfig, flag_name, value_type

    kinds = {f.name: value_type(f) for f in fields(ModelConfig)}
    assert kinds["fsq_levels"] is str and kinds["lookup_dim"] is int and kinds["beta"] is float
    assert kinds["cosine_codebook"] is bool and {flag_name(f) for f in fields(TrainConfig)} >= {"lr", "batch-size"}
    assert ModelConfig().fsq_levels == (8, 5, 5, 5)
    with pytest.raises(VQVAEError, match="must be a whole number"):
        TrainConfig(epochs="20").validate()
