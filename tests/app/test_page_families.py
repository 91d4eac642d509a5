"""The newer quantizer families on the pages: a model of each (LFQ, BSQ, SimVQ, residual VQ)
opens on Overview with the quantizer's own step shown, and on Codebook and Reconstruct."""

from __future__ import annotations

import pytest
import torch

import vqvae
from conftest import dashboard_on, tiny_run_config

FAMILIES = {"lfq": dict(quantizer="lfq"), "bsq": dict(quantizer="bsq"), "simvq": dict(quantizer="simvq"),
            "residual": dict(quantizer="ema", residual_depth=2, restart_dead_codes=True)}


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_image_folder):
    """A one-epoch run of each family on the 20-image folder."""
    folder = tmp_path_factory.mktemp("family-runs")
    for name, settings in FAMILIES.items():
        cfg = tiny_run_config(dataset="folder", data=str(tiny_image_folder), epochs=1, batch_size=8, **settings)
        vqvae.train(cfg, folder / name, progress=False)
    return folder


def latex(app) -> str:
    return "\n".join(element.value for element in app.get("latex"))


def test_lfq_and_bsq_read_their_code_off_the_signs(monkeypatch, runs):
    for name in ("lfq", "bsq"):
        app = dashboard_on(monkeypatch, runs, str(runs / name))
        assert r"k^* = \sum_i [z_i > 0]\, 2^i" in latex(app) and "commitment" in latex(app)
        assert any("entropy loss" in caption.value for caption in app.caption)
        assert any(f"{name.upper()}, 4 bits" in caption.value for caption in app.sidebar.caption)


def test_residual_vq_shows_its_stages_and_their_combined_code(monkeypatch, runs):
    app = dashboard_on(monkeypatch, runs, str(runs / "residual"))
    stages = app.dataframe[-1].value
    assert list(stages.columns) == ["stage", "code", "left before", "left after"] and len(stages) == 2
    assert (stages["left after"] <= stages["left before"] + 1e-6).all()
    code = int(stages["code"][0]) + 4 * int(stages["code"][1])
    assert f"= {code}" in latex(app).split(r"\cdot 4^{1}")[-1]


@pytest.mark.parametrize("name", list(FAMILIES))
def test_each_family_opens_on_codebook_and_reconstruct(monkeypatch, runs, name):
    app = dashboard_on(monkeypatch, runs, str(runs / name), "codebook")
    assert any(h.value == "What the straight-through estimator passes back" for h in app.subheader)
    app.switch_page("pages/reconstruct.py").run()
    assert not app.exception, app.exception


def test_a_prior_models_residual_vq_as_one_combined_code_a_position(runs, tmp_path):
    from conftest import small_prior_config
    from vqvae.models.sampling import decode_progress, stream_samples
    from vqvae.store.load import load_prior, load_vqvae

    out = tmp_path / "prior"
    status = vqvae.train_prior(small_prior_config(runs / "residual", epochs=1, shift=0), out, progress=False)
    assert status["state"] == "done", status
    prior, model = load_prior(out), load_vqvae(runs / "residual")
    assert prior.config.codebook_size == model.config.codebook_size == 16  # 2 stages of 4 codes: 16 combinations
    *_, last = stream_samples(prior, model, 3, 1.0, 1)
    codes, images = last.codes, decode_progress(model, last)
    assert codes.max() < 16 and images.shape == (3, 1, 28, 28)
    digits = model.quantizer.digits(codes)  # each combined code is a pair of stage codes
    assert torch.equal(digits[..., 0] + 4 * digits[..., 1], codes)
