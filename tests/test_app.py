"""The dashboard's pages under Streamlit's AppTest (no browser): they render with the
bundled models and do their job."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from conftest import REPO


@pytest.fixture
def app(tmp_path, monkeypatch):
    monkeypatch.setenv("VQVAE_RUNS", str(tmp_path / "runs"))  # no runs of the developer's leak in
    monkeypatch.chdir(REPO)
    return AppTest.from_file(str(REPO / "app.py"), default_timeout=120)


def test_overview_shows_image_codes_and_reconstruction(app):
    app.run()
    assert not app.exception, app.exception
    assert app.title[0].value == "What a VQ-VAE does"
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["codes"] == "49 of 128"
    assert float(metrics["PSNR"].split()[0]) > 20  # the bundled model reconstructs well
    assert app.sidebar.selectbox[0].value == "mnist-ema"
    app.slider[0].set_value(3).run()
    assert not app.exception


def test_switching_the_active_model_changes_the_overview(app):
    app.run()
    app.sidebar.selectbox[0].set_value("mnist-plain").run()
    assert not app.exception
    assert "plain codebook" in app.sidebar.caption[0].value


def test_sampling_reaches_every_code_and_offers_the_grid(app):
    app.run()
    app.switch_page("pages/sample.py").run()
    assert not app.exception, app.exception
    app.number_input[0].set_value(10)
    app.button[-1].click().run()  # "Sample"
    assert not app.exception, app.exception
    assert app.get("progress")[0].proto.value == 100
    assert app.get("download_button")
