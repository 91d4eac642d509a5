"""The Codebook page under AppTest: the atlas, the usage metrics and the two charts, for
both bundled models; its options re-render the atlas."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from conftest import REPO
from vqvae.store.load import load_vqvae
from vqvae.data.datasets import bundled_mnist
from vqvae.models.autoencoder import encode_images
from vqvae.models.metrics import code_usage, perplexity


@pytest.fixture
def app(tmp_path, monkeypatch):
    monkeypatch.setenv("VQVAE_RUNS", str(tmp_path / "runs"))  # no runs of the developer's leak in
    monkeypatch.chdir(REPO)
    return AppTest.from_file(str(REPO / "app.py"), default_timeout=120)


def codebook_page(app: AppTest, model: str) -> AppTest:
    app.run()
    app.switch_page("pages/codebook.py").run()
    if app.sidebar.selectbox[0].value != model:
        app.sidebar.selectbox[0].set_value(model).run()
    assert not app.exception, app.exception
    return app


def atlas_image(app: AppTest):
    images = app.get("image")
    assert len(images) == 1
    return images[0].proto.imgs[0]


@pytest.mark.parametrize("name", ["mnist-ema", "mnist-plain", "mnist-compare-fsq"])  # FSQ: its implicit codes
def test_page_shows_atlas_usage_and_projection(app, name):
    codebook_page(app, name)
    assert app.title[0].value == "The codebook"
    assert "Every code decoded alone" in atlas_image(app).caption

    usage = code_usage(encode_images(load_vqvae(name), bundled_mnist().val), 128)
    used = int((usage > 0).sum())
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["codes used"] == f"{used} of 128"
    assert metrics["dead codes"] == str(128 - used)
    assert metrics["perplexity"] == f"{float(perplexity(usage)):.1f}"
    assert len(app.get("plotly_chart")) == 3  # usage bars, the projection, the straight-through gradient
    assert any("% of their variance" in c.value for c in app.caption)


def test_ordering_and_tile_size_redraw_the_atlas(app):
    codebook_page(app, "mnist-ema")
    by_id = atlas_image(app)
    assert "in id order" in by_id.caption

    app.radio(key="codebook_order").set_value("most used first").run()
    assert not app.exception, app.exception
    by_usage = atlas_image(app)
    assert "most used code top left" in by_usage.caption
    assert by_usage.url != by_id.url  # a different picture, not only a different caption

    app.select_slider(key="codebook_grid").set_value(3).run()
    assert not app.exception, app.exception
    assert "(12 x 12 pixels)" in atlas_image(app).caption
    assert atlas_image(app).url != by_usage.url
