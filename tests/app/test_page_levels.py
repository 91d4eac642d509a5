"""The pages with a two-level model (the bundled mnist-vq2) active: both code maps, what each
level carries, a code edited in either level, each level's codebook, the walk, the Compare
table at equal code bits, and the Sample page streaming the top grid, then the bottom."""

from __future__ import annotations

import pytest
import torch
from streamlit.testing.v1 import AppTest

from conftest import REPO, small_prior_config
from vqvae.store.hub import BUNDLED_DIR
from vqvae.training.prior_trainer import train_prior

TWO_LEVELS = "mnist-vq2"


def app_on(page: str, monkeypatch, runs) -> AppTest:
    monkeypatch.setenv("VQVAE_RUNS", str(runs))
    monkeypatch.chdir(REPO)
    app = AppTest.from_file(str(REPO / "app.py"), default_timeout=180)
    app.run()
    app.sidebar.selectbox(key="active_vqvae_widget").set_value(TWO_LEVELS).run()
    app.switch_page(f"pages/{page}.py").run()
    assert not app.exception, app.exception
    assert not app.error, [e.value for e in app.error]
    return app


def captions(app: AppTest) -> list[str]:
    return [caption for image in app.get("image") for caption in image.captions]


def test_overview_shows_both_code_maps_and_what_each_level_carries(monkeypatch, tmp_path):
    app = app_on("overview", monkeypatch, tmp_path)
    assert "the top codes alone" in captions(app) and "the bottom codes alone" in captions(app)
    titles = [chart.proto.spec for chart in app.get("plotly_chart")]
    assert any("top: 4 x 4 codes" in spec for spec in titles) and any("bottom: 7 x 7 codes" in spec for spec in titles)
    assert {m.label: m.value for m in app.metric}["bits"] == "342"  # 49 x 6 + 16 x 3


def test_a_top_code_edited_on_reconstruct_changes_the_picture_and_undo_restores(monkeypatch, tmp_path):
    app = app_on("reconstruct", monkeypatch, tmp_path)
    assert {m.label: m.value for m in app.metric}["Code grid"] == "7 x 7 + 4 x 4"
    assert "the top codes alone" in captions(app)
    app.radio(key="level").set_value("top").run()
    edits = app.session_state["reconstruct-edits"][1]["top"]
    before = edits.codes.clone()
    app.session_state["reconstruct-cell"] = (1, 2)  # as a click on the top code map selects it
    app.run()
    assert not app.exception, app.exception
    choice = [e for e in app.selectbox if e.label.startswith("Replacement code")][0]
    new = next(int(o.split()[1]) for o in choice.options if int(o.split()[1]) != int(before[1, 2]))
    assert len(choice.options) == 8  # the top codebook's K
    choice.set_value(new)
    unedited = next(m for m in app.metric if m.label == "PSNR").value
    [b for b in app.button if b.label == "Put it there"][0].click().run()
    assert not app.exception, app.exception
    assert int(edits.codes[1, 2]) == new and int(edits.changed.sum()) == 1
    psnr = next(m for m in app.metric if m.label == "PSNR")
    assert psnr.value != unedited and psnr.delta.endswith("dB from the edits")
    [b for b in app.button if b.label == "Undo"][0].click().run()
    assert torch.equal(edits.codes, before)


def test_the_codebook_page_shows_each_levels_codebook(monkeypatch, tmp_path):
    app = app_on("codebook", monkeypatch, tmp_path)
    assert {m.label: m.value for m in app.metric}["codes used"].endswith("of 64")
    app.radio(key="codebook-level").set_value("top").run()
    assert not app.exception, app.exception
    assert {m.label: m.value for m in app.metric}["codes used"].endswith("of 8")
    assert "(8 x 8 pixels)" in captions(app)[0]  # a top code covers 2 x 2 bottom cells of 4 pixels
    assert any(h.value.endswith("(the top level)") for h in app.subheader)  # the projection of the top codes


def test_the_walk_runs_through_both_levels(monkeypatch, tmp_path):
    app = app_on("walk", monkeypatch, tmp_path)
    assert app.get("image")


def test_compare_sets_one_level_beside_two_at_equal_code_bits(monkeypatch, tmp_path):
    app = app_on("compare", monkeypatch, tmp_path)
    app.multiselect(key="compare-models").set_value(["mnist-ema", TWO_LEVELS]).run()
    assert not app.exception, app.exception
    table = app.dataframe[-1].value
    assert list(table["code bits"]) == [343, 342]
    assert "two levels" in table["codebook"].iloc[1]


@pytest.fixture(scope="module")
def two_level_prior_runs(tmp_path_factory):
    """A small prior run on mnist-vq2's codes, in a runs folder the Sample page lists."""
    runs = tmp_path_factory.mktemp("runs")
    status = train_prior(small_prior_config(BUNDLED_DIR / TWO_LEVELS, epochs=1, shift=0), runs / "prior-of-mnist-vq2",
                         progress=False)
    assert status["state"] == "done", status
    return runs


def test_sample_streams_the_top_grid_then_the_bottom(monkeypatch, two_level_prior_runs):
    app = app_on("sample", monkeypatch, two_level_prior_runs)
    app.number_input(key="sample-n").set_value(10).run()
    [b for b in app.button if b.label == "Sample"][0].click().run()
    assert not app.exception, app.exception
    assert len(captions(app)) == 10  # the finished grid, a digit each
    assert app.session_state["sample-last-grid"][1].shape == (10, 1, 28, 28)
    labels = [b.label for b in app.get("download_button")]
    assert "Download the grid (PNG)" in labels and "Download the sampling (GIF)" in labels
    assert app.session_state["sample-last-grid"][3][:6] == b"GIF89a"


def test_step_mode_steps_through_the_top_grid_then_the_bottom(monkeypatch, two_level_prior_runs):
    app = app_on("sample", monkeypatch, two_level_prior_runs)
    app.radio(key="sample-mode").set_value("step").run()
    [b for b in app.button if b.label == "Next row"][0].click().run()
    assert not app.exception, app.exception
    stepper = app.session_state["sample-stepper"][1]
    assert (stepper.level, stepper.done, stepper.position) == ("top", 4, (1, 0))
    assert "the top grid (4 x 4, the layout)" in captions(app)[0]
    assert any("how sure the prior was (top grid)" in chart.proto.spec for chart in app.get("plotly_chart"))
    assert 0 < len([c for c in captions(app) if c.endswith("%")]) <= 8  # top candidates (K = 8), each in place
    for _ in range(3):
        [b for b in app.button if b.label == "Next row"][0].click().run()
    assert (stepper.level, stepper.done) == ("bottom", 16)
    [b for b in app.button if b.label == "To the end"][0].click().run()
    assert not app.exception, app.exception
    assert stepper.done == stepper.total == 16 + 49 and app.success


def test_reconstruct_completes_from_a_top_cell_with_the_two_level_prior(monkeypatch, tmp_path):
    app = app_on("reconstruct", monkeypatch, tmp_path)
    app.radio(key="level").set_value("top").run()
    grids = app.session_state["reconstruct-edits"][1]
    top, bottom = grids["top"].codes.clone(), grids["bottom"].codes.clone()
    app.session_state["reconstruct-cell"] = (1, 2)
    app.run()
    button = [b for b in app.button if b.label.startswith("Complete")][0]
    assert "from row 1, column 2 of the top grid" in button.label
    button.click().run()
    assert not app.exception, app.exception
    assert torch.equal(grids["top"].codes.view(-1)[:6], top.view(-1)[:6])  # the codes before the cell kept
    assert not torch.equal(grids["bottom"].codes, bottom)  # the whole bottom grid drawn again
    assert grids["top"].history and grids["bottom"].history  # each level's change can be undone

