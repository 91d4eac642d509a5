"""The dashboard's pages under Streamlit's AppTest (no browser): they render with the
bundled models and do their job."""

from __future__ import annotations

import json

import pytest
import torch
from streamlit.testing.v1 import AppTest

from conftest import REPO, tiny_run_config, wait_for
from pages.catalog import PAGES as CATALOG
from vqvae.dashboard.run_manager import RunManager


@pytest.fixture
def app(tmp_path, monkeypatch):
    monkeypatch.setenv("VQVAE_RUNS", str(tmp_path / "runs"))  # no runs of the developer's leak in
    monkeypatch.chdir(REPO)
    return AppTest.from_file(str(REPO / "app.py"), default_timeout=120)


def test_overview_shows_image_codes_and_reconstruction(app):
    app.run()
    assert not app.exception, app.exception
    assert app.title[0].value == "What a VQ-VAE does"
    metrics = {m.label: m for m in app.metric}
    codes = metrics["codes"]
    distinct = int(codes.delta.split()[0])
    assert codes.value == "7 x 7 = 49" and codes.delta.endswith("distinct of K = 128") and 1 < distinct < 49
    metrics = {label: m.value for label, m in metrics.items()}
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
    assert app.number_input[0].value == 20  # two rows of the ten digits
    app.number_input[0].set_value(10)
    app.button[-1].click().run()  # "Sample"
    assert not app.exception, app.exception
    assert app.get("progress")[0].proto.value == 100
    assert app.get("download_button")
    _, images, caption, _ = app.session_state["sample-last-grid"]
    assert len(images) == 10 and "10 samples, the digits in turn (named under each)" in caption
    # every sample its own picture (rows that wrap, not one squeezed grid), its digit under it
    assert app.get("image")[-1].captions == [str(d) for d in range(10)]


def test_top_k_1_on_the_sample_page_draws_the_likeliest_codes_whatever_the_seed(app):
    app.run()
    app.switch_page("pages/sample.py").run()
    grids = []
    for seed in (0, 1):
        by_label(app.number_input, "Images").set_value(3)
        by_label(app.number_input, "Top-k").set_value(1)
        by_label(app.number_input, "Seed").set_value(seed)
        by_label(app.button, "Sample").click().run()
        assert not app.exception, app.exception
        _, images, caption, _ = app.session_state["sample-last-grid"]
        assert "top-k 1" in caption and f"seed {seed}" in caption
        grids.append(images)
    assert torch.equal(*grids)  # greedy: the seed no longer matters


def test_step_mode_draws_position_by_position_and_takes_the_users_pick(app):
    from vqvae.store.load import load_prior, load_vqvae
    from vqvae.store.hub import BUNDLED_DIR
    from vqvae.models.stepping import StepSampler

    app.run()
    app.switch_page("pages/sample.py").run()
    by_label(app.radio, "Mode").set_value("step").run()
    for _ in range(5):
        by_label(app.button, "Next").click().run()
        assert not app.exception, app.exception
    stepper = app.session_state["sample-stepper"][1]
    assert stepper.done == 5
    # the same five codes the library draws with the page's settings (seed 0, class 0)
    folder = BUNDLED_DIR / "mnist-ema-prior"
    reference = StepSampler(load_prior(folder), load_vqvae(folder / "vqvae"), seed=0, label=0)
    reference.run(5)
    assert torch.equal(stepper.codes, reference.codes)
    pick = by_label(app.selectbox, "Take instead")
    choice = pick.options[-1]  # the least likely of those shown
    code = int(choice.split()[1])
    pick.set_value(code)
    by_label(app.button, "Take this code").click().run()
    assert not app.exception, app.exception
    assert int(stepper.codes[0, 0, 5]) == code and bool(stepper.picked[0, 5])
    by_label(app.button, "Next row").click().run()
    assert stepper.done == 7 and stepper.position == (1, 0)
    by_label(app.button, "To the end").click().run()
    assert stepper.done == 49 and not app.exception and app.success
    by_label(app.button, "Start again").click().run()
    assert app.session_state["sample-stepper"][1].done == 0


def by_label(elements, label):
    found = [e for e in elements if e.label == label]
    assert found, f"no widget labelled {label!r}"
    return found[0]


def run_folders(tmp_path):
    return sorted(p for p in (tmp_path / "runs").iterdir() if p.is_dir() and not p.name.startswith("."))


def settings_of(run, timeout=120):
    """A run's config.json, once the background process has written it."""
    assert wait_for(lambda: (run / "config.json").is_file(), timeout), f"{run} wrote no config"
    return json.loads((run / "config.json").read_text())




@pytest.mark.usefixtures("tiny_presets")
def test_train_form_launches_a_run_and_its_metrics_appear(app, tmp_path):
    app.run()
    app.switch_page("pages/train.py").run()
    assert not app.exception, app.exception
    by_label(app.number_input, "Epochs").set_value(1)
    by_label(app.select_slider, "Codebook size K").set_value(32)
    by_label(app.button, "Start a run").click().run()
    assert not app.exception, app.exception
    [run] = run_folders(tmp_path)
    assert settings_of(run)["model"]["codebook_size"] == 32
    assert RunManager(tmp_path / "runs").wait(run, timeout=300).state == "done"
    app.run()  # AppTest never ticks run_every: poll by hand
    assert not app.exception, app.exception
    assert len(app.get("plotly_chart")) >= 5  # the live curves (no codebook loss for EMA)
    titles = [json.loads(c.proto.spec)["layout"].get("title", {}).get("text", "") for c in app.get("plotly_chart")]
    assert any("held-out code use by epoch" in t for t in titles)  # each code's use, epoch by epoch
    table = app.dataframe[0].value
    assert list(table["state"]) == ["done"] and table["val_psnr"][0] > 10
    # a finished run can become the active model
    by_label(app.button, "Make it the active model").click().run()
    assert app.sidebar.selectbox[0].value == str(run)


@pytest.mark.usefixtures("tiny_presets")
def test_the_train_page_starts_a_codebook_variant_and_refuses_bad_levels_before_any_run(app, tmp_path):
    app.run()
    app.switch_page("pages/train.py").run()
    by_label(app.radio, "Quantizer").set_value("fsq")
    by_label(app.text_input, "FSQ levels").set_value("8,1").run()
    by_label(app.button, "Start a run").click().run()
    assert not app.exception and "at least 2" in app.error[0].value
    assert not (tmp_path / "runs").exists() or not run_folders(tmp_path)  # nothing was started
    by_label(app.text_input, "FSQ levels").set_value("5,4,3").run()
    by_label(app.number_input, "Epochs").set_value(1)
    by_label(app.button, "Start a run").click().run()
    assert not app.exception, app.exception
    [run] = run_folders(tmp_path)
    model = settings_of(run)["model"]
    assert (model["quantizer"], model["fsq_levels"], model["codebook_size"], model["code_dim"]) == ("fsq", [5, 4, 3], 60, 3)
    assert model["lookup_dim"] is None  # 0 in the box means none
    RunManager(tmp_path / "runs").cancel(run)


@pytest.mark.usefixtures("tiny_presets")
def test_the_train_page_trains_a_two_level_model(app, tmp_path):
    app.run()
    app.switch_page("pages/train.py").run()
    by_label(app.radio, "Code levels (2: VQ-VAE-2)").set_value(2)
    by_label(app.number_input, "Top codebook size").set_value(8)
    by_label(app.number_input, "Epochs").set_value(1)
    by_label(app.button, "Start a run").click().run()
    assert not app.exception, app.exception
    [run] = run_folders(tmp_path)
    model = settings_of(run)["model"]
    assert (model["levels"], model["top_codebook_size"]) == (2, 8)
    assert RunManager(tmp_path / "runs").wait(run, timeout=300).state == "done"


@pytest.mark.usefixtures("tiny_presets")
def test_retrain_changes_only_the_codebook_size_and_overlays(app, tmp_path):
    app.run()
    app.switch_page("pages/train.py").run()
    by_label(app.number_input, "Epochs").set_value(1)
    by_label(app.button, "Start a run").click().run()
    [first] = run_folders(tmp_path)
    by_label(app.select_slider, "Codebook size K").set_value(16)
    by_label(app.button, "Retrain the last run with this K").click().run()
    assert not app.exception, app.exception
    second = next(p for p in run_folders(tmp_path) if p != first)
    a, b = settings_of(first), settings_of(second)
    assert b["model"].pop("codebook_size") == 16 and a["model"].pop("codebook_size") == 128
    assert a == b
    manager = RunManager(tmp_path / "runs")
    for run in (first, second):
        manager.wait(run, timeout=300)
    app.run()
    names = {trace.get("name") or "" for chart in app.get("plotly_chart") for trace in json.loads(chart.proto.spec)["data"]}
    # both runs' curves on the same charts, named by their settings and start time (the code-use maps: unnamed)
    assert any(name.startswith("mnist-conv-ema-K128, ") for name in names), names
    assert any(name.startswith("mnist-conv-ema-K16, ") for name in names), names


@pytest.mark.usefixtures("tiny_presets")
def test_compare_button_trains_a_pair_that_differs_only_in_the_quantizer(app, tmp_path):
    app.run()
    app.switch_page("pages/compare.py").run()
    assert not app.exception, app.exception
    assert len(app.dataframe[-1].value) == 4  # the bundled comparison, compared at once
    by_label(app.number_input, "Epochs").set_value(1)
    by_label(app.button, "Train the matched set").click().run()
    assert not app.exception, app.exception
    runs = run_folders(tmp_path)
    assert len(runs) == 2
    plain, ema = (settings_of(r) for r in runs)
    assert {plain["model"].pop("quantizer"), ema["model"].pop("quantizer")} == {"plain", "ema"}
    assert plain == ema
    manager = RunManager(tmp_path / "runs")
    assert all(manager.wait(r, timeout=300).state == "done" for r in runs)
    app.run()
    assert not app.exception, app.exception
    table = app.dataframe[-1].value
    assert sorted(table["quantizer"]) == ["ema", "plain"] and (table["PSNR (dB)"] > 10).all()
    assert (table["training (min)"] > 0).all()


def test_compare_opens_on_the_bundled_comparison_with_its_curves_and_numbers(app):
    app.run()
    app.switch_page("pages/compare.py").run()
    assert not app.exception, app.exception
    names = ["mnist-compare-plain", "mnist-compare-ema", "mnist-compare-ema-rotation-trick", "mnist-compare-fsq"]
    assert app.session_state["compare-models"] == names
    assert any("bundled comparison" in c.value for c in app.caption)
    assert not any("No training curves" in c.value for c in app.caption)  # all four carry their curves
    traces = {trace.get("name") for chart in app.get("plotly_chart") for trace in json.loads(chart.proto.spec)["data"]}
    assert {f"{letter}: {name}" for letter, name in zip("ABCD", names)} <= traces  # every model's curves, before any training
    table = app.dataframe[-1].value
    assert list(table["quantizer"]) == ["plain", "ema", "ema", "fsq"] and set(table["K"]) == {128}
    assert table["codebook"][2] == "ema codebook, rotation trick" and table["codebook"][3] == "FSQ, levels 8,4,4"
    assert (table["PSNR (dB)"] >= 22).all() and (table["training (min)"] > 0).all()


@pytest.mark.usefixtures("tiny_presets")
def test_compare_trains_up_to_four_variants_at_equal_bits(app, tmp_path):
    app.run()
    app.switch_page("pages/compare.py").run()
    by_label(app.multiselect, "Variants").set_value(["ema", "fsq", "ema, k-means init"]).run()
    assert not app.exception, app.exception
    plan = app.dataframe[0].value
    assert list(plan["variant"]) == ["ema", "fsq", "ema, k-means init"]
    assert list(plan["codes"]) == [128, 128, 128] and plan["FSQ levels"][1] == "8,4,4"
    assert len(set(plan["code bits per image"])) == 1  # 49 codes of 7 bits each
    by_label(app.number_input, "Epochs").set_value(1)
    by_label(app.button, "Train the matched set").click().run()
    assert not app.exception, app.exception
    started = run_folders(tmp_path)
    settings = [settings_of(r)["model"] for r in started]
    assert sorted(m["quantizer"] for m in settings) == ["ema", "ema", "fsq"]
    assert sorted(m["codebook_init"] for m in settings if m["quantizer"] == "ema") == ["data", "kmeans"]
    assert sorted(app.session_state["compare-models"]) == sorted(map(str, started))  # the set takes the page
    manager = RunManager(tmp_path / "runs")
    for run in started:
        manager.cancel(run)
    by_label(app.multiselect, "Variants").set_value(["ema"]).run()  # one is not a comparison
    assert "2 to 4" in app.caption[0].value and by_label(app.button, "Train the matched set").disabled


def test_a_data_set_that_is_missing_says_what_to_place_where(app, tmp_path, monkeypatch):
    monkeypatch.setenv("VQVAE_DATA", str(tmp_path / "no-data"))
    app.run()
    app.switch_page("pages/train.py").run()
    by_label(app.selectbox, "Data set").set_value("Fashion-MNIST").run()
    assert not app.exception, app.exception
    assert "FashionMNIST" in app.warning[0].value and "place" in app.warning[0].value
    assert by_label(app.button, "Start a run").disabled


def test_the_sample_page_starts_on_the_prior_of_the_active_model(app):
    app.run()
    app.sidebar.selectbox[0].set_value("mnist-plain").run()
    app.switch_page("pages/sample.py").run()
    assert not app.exception, app.exception
    assert by_label(app.selectbox, "Prior").value == "mnist-plain-prior"


def test_the_sample_page_scores_the_prior_once_in_the_background_and_keeps_the_score(app, tmp_path, monkeypatch):
    from vqvae.dashboard import scores
    from vqvae.dashboard.scores import read_score, score_file, score_job
    from vqvae.store.hub import BUNDLED_DIR

    monkeypatch.delenv("VQVAE_SCORES")  # not the session's kept scores: in this runs folder, computed anew
    monkeypatch.setitem(scores.SETTINGS, "n", 100)  # what the page does with a score is tested, not its size
    app.run()
    app.switch_page("pages/sample.py").run()
    assert not app.exception, app.exception
    assert any("Scoring this prior in the background" in c.value for c in app.caption)
    path = score_file(BUNDLED_DIR / "mnist-ema-prior")
    assert path.parent == tmp_path / "runs" / ".scores"
    assert score_job(path).wait(300) and read_score(path) is not None, score_job(path).message
    app.run()
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Label accuracy"].endswith("%") and float(metrics["Fréchet distance"]) > 0
    # another session (a reload, another tab) shows the kept score at once
    again = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    again.run()
    again.switch_page("pages/sample.py").run()
    assert {m.label: m.value for m in again.metric}["Label accuracy"] == metrics["Label accuracy"]
    by_label(again.selectbox, "Prior").set_value("pokemon-ema-prior").run()  # no classifier for Pokémon: said
    assert not again.exception and any("No score for this prior" in c.value for c in again.caption)


def test_the_sample_page_trains_a_prior_for_the_active_model_in_the_background(app, tmp_path, tiny_image_folder):
    manager = RunManager(tmp_path / "runs")
    vqvae = manager.start(tiny_run_config(dataset="folder", data=str(tiny_image_folder), epochs=1, batch_size=8),
                          name="tiny")
    assert manager.wait(vqvae).state == "done"
    app.run()
    app.switch_page("pages/sample.py").run()
    assert not [b for b in app.button if b.label.startswith("Train a prior")]  # mnist-ema has its bundled prior
    app.sidebar.selectbox[0].set_value(str(vqvae)).run()
    by_label(app.button, "Train a prior for the active VQ-VAE in the background").click().run()
    assert not app.exception, app.exception
    [run] = [p for p in run_folders(tmp_path) if p != vqvae]
    assert manager.info(run).kind == "prior"
    assert wait_for(lambda: manager.info(run).state in ("running", "done"), 120), manager.info(run)
    assert settings_of(run)["train"]["vqvae"] == str(vqvae)
    app.run()
    assert not app.exception, app.exception
    assert not [b for b in app.button if b.label.startswith("Train a prior")]  # one is under way: not twice
    assert any("training in the background" in i.value for i in app.info)
    manager.cancel(run)
    assert manager.wait(run, timeout=120).state == "cancelled"


def test_choices_survive_a_visit_to_another_page(app):
    app.run()
    app.switch_page("pages/train.py").run()
    by_label(app.number_input, "Epochs").set_value(2)
    by_label(app.select_slider, "Codebook size K").set_value(64)
    app.run()
    app.switch_page("pages/overview.py").run()
    app.switch_page("pages/train.py").run()
    assert not app.exception and not app.warning, (app.exception, app.warning)
    assert by_label(app.number_input, "Epochs").value == 2
    assert by_label(app.select_slider, "Codebook size K").value == 64


def test_a_failed_run_shows_its_one_line_error(app, tmp_path):
    manager = RunManager(tmp_path / "runs")
    run = manager.start(tiny_run_config(dataset="folder", data=str(tmp_path / "no-such-folder")), name="broken")
    assert manager.wait(run, timeout=120).state == "failed"
    app.run()
    app.switch_page("pages/train.py").run()
    assert not app.exception, app.exception
    errors = [e.value for e in app.error]
    assert any("broken" in e and "does not exist" in e for e in errors), errors


@pytest.mark.parametrize("entry", CATALOG, ids=lambda entry: entry.name)
def test_every_catalogued_page_renders_under_its_heading(app, entry):
    app.run()
    app.switch_page(entry.path).run()
    assert not app.exception, app.exception
    assert app.title[0].value == entry.heading


def test_the_walk_page_walks_between_two_held_out_digits(app):
    app.run()
    app.switch_page("pages/walk.py").run()
    assert not app.exception, app.exception
    to = by_label(app.selectbox, "To: a held-out MNIST image")
    assert to.options[-1].startswith("9 ")  # the first held-out image of each digit
    to.select_index(len(to.options) - 1).run()
    by_label(app.slider, "Steps (both pictures included)").set_value(5).run()
    assert not app.exception, app.exception
    summary = [c.value for c in app.main.caption if "The two pictures differ in" in c.value]
    assert summary and "codes on the way" in summary[0]
