"""The Reconstruct page's codec: opened, it shows the picture's coded size (the file
`compress` writes for the same picture), where the bits go, and the rate-distortion plot
beside JPEG and WebP; closed, it codes nothing."""

from __future__ import annotations

import json

from conftest import dashboard_on
from vqvae.store.codec import compress
from vqvae.store.hub import BUNDLED_DIR
from vqvae.store.load import load_prior, load_vqvae


def reconstruct_page(monkeypatch, tmp_path, model: str = "mnist-ema"):
    return dashboard_on(monkeypatch, tmp_path, model, "reconstruct")


def test_the_codec_opens_on_the_pictures_own_file_size(monkeypatch, tmp_path):
    app = reconstruct_page(monkeypatch, tmp_path)
    assert "Coded file" not in [m.label for m in app.metric]  # closed: nothing coded
    app.session_state["reconstruct-codec"] = True  # as a click opens it
    app.run()
    assert not app.exception, app.exception
    metrics = {m.label: m for m in app.metric}
    codes = app.session_state["reconstruct-edits"][1]["bottom"].original  # the picture's own codes
    prior = load_prior(BUNDLED_DIR / "mnist-ema-prior")
    coded = compress(prior, load_vqvae(BUNDLED_DIR / "mnist-ema"), codes)
    assert metrics["Coded file"].value == f"{len(coded.data):,} bytes"
    assert metrics["Without the prior"].value == "43 bytes"  # 49 codes x 7 bits
    assert any(label.startswith("JPEG at") for label in metrics) and any(label.startswith("WebP at") for label in metrics)
    specs = [json.loads(chart.proto.spec) for chart in app.get("plotly_chart")]
    names = {trace.get("name") for spec in specs for trace in spec["data"]}
    assert {"JPEG", "WebP", "this model + its prior"} <= names
    assert any("bits at each position" in spec["layout"]["title"]["text"] for spec in specs if "title" in spec["layout"])


def test_a_two_level_models_file_shows_both_grids_bits(monkeypatch, tmp_path):
    app = reconstruct_page(monkeypatch, tmp_path, "mnist-vq2")
    app.session_state["reconstruct-codec"] = True
    app.run()
    assert not app.exception, app.exception
    titles = [json.loads(c.proto.spec)["layout"].get("title", {}).get("text", "") for c in app.get("plotly_chart")]
    assert any(t.startswith("top grid: bits") for t in titles) and any(t.startswith("bottom grid: bits") for t in titles)
    assert {m.label: m.value for m in app.metric}["Without the prior"] == "43 bytes"  # 49 x 6 + 16 x 3 = 342 bits
