"""A first-time user's view under AppTest: the view survives a reload and a copied link (the
choices live in the URL), results made with other settings are not shown beside new ones, a
prior always draws a class the user can see, and runs are handled whole in the browser."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from conftest import REPO, tiny_folder_run_config
from vqvae.dashboard import url_state
from vqvae.training.vqvae_trainer import train
from vqvae.store.run_folder import RunFolder


@pytest.fixture
def app(tmp_path, monkeypatch):
    monkeypatch.setenv("VQVAE_RUNS", str(tmp_path / "runs"))
    monkeypatch.chdir(REPO)
    return AppTest.from_file(str(REPO / "app.py"), default_timeout=120)


def reopened(app: AppTest, page: str) -> AppTest:
    """A new session (a reload, or the link opened in another browser) on `page`, with only
    the URL's query parameters carried over."""
    again = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    again.query_params.update(dict(app.query_params))
    again.switch_page(page)
    again.run()
    assert not again.exception, again.exception
    return again


def labelled(elements, label: str):
    return next(e for e in elements if e.label == label)


@pytest.mark.parametrize("value", ["mnist-ema", "123", "runs/2026 a,b", 3, 0.25, True, ["a", "b"], [1, 2.5]])
def test_every_value_a_page_keeps_round_trips_through_the_url(value):
    assert url_state.decode(url_state.encode(value)) == value
    assert type(url_state.decode(url_state.encode(value))) is type(value)


def test_a_reload_keeps_the_active_model_and_the_train_settings_and_the_link_is_short(app):
    app.run()
    app.sidebar.selectbox[0].set_value("pokemon-ema").run()
    app.switch_page("pages/train.py").run()
    app.select_slider(key="train-mnist-codebook_size").set_value(32).run()
    assert not app.exception, app.exception
    assert dict(app.query_params) == {"active_vqvae": "pokemon-ema", "train-mnist-codebook_size": "32"}
    again = reopened(app, "pages/train.py")
    assert again.session_state["active_vqvae"] == "pokemon-ema"
    assert again.select_slider(key="train-mnist-codebook_size").value == 32  # was reset to 128


def test_the_sample_pages_choices_survive_leaving_the_page_and_a_reload(app):
    app.run()
    app.switch_page("pages/sample.py").run()
    labelled(app.selectbox, "Prior").set_value("pokemon-ema-prior").run()
    labelled(app.number_input, "Seed").set_value(7).run()
    labelled(app.slider, "Temperature").set_value(0.8).run()
    labelled(app.selectbox, "Type").set_value(3).run()
    app.switch_page("pages/overview.py").run()
    app.switch_page("pages/sample.py").run()
    assert not app.exception, app.exception
    assert labelled(app.selectbox, "Prior").value == "pokemon-ema-prior"  # reset to mnist-ema-prior before
    again = reopened(app, "pages/sample.py")
    assert labelled(again.selectbox, "Prior").value == "pokemon-ema-prior"
    assert labelled(again.number_input, "Seed").value == 7
    assert labelled(again.slider, "Temperature").value == pytest.approx(0.8)
    assert labelled(again.selectbox, "Type").value == 3


def test_a_damaged_url_falls_back_to_the_defaults(app):
    app.query_params.update({"active_vqvae": "no-such-model", "sample-seed": "-5", "sample-temperature": "hot"})
    app.switch_page("pages/sample.py")
    app.run()
    assert not app.exception, app.exception
    assert app.session_state["active_vqvae"] == "mnist-ema"
    assert labelled(app.number_input, "Seed").value == 0 and labelled(app.slider, "Temperature").value == 1.0


def test_a_grid_of_one_prior_is_not_shown_beside_another_priors_score(app):
    app.run()
    app.switch_page("pages/sample.py").run()
    labelled(app.selectbox, "Prior").set_value("pokemon-ema-prior").run()
    labelled(app.number_input, "Images").set_value(2).run()
    labelled(app.button, "Sample").click().run()
    assert "sample-last-grid" in app.session_state and app.get("download_button")
    labelled(app.selectbox, "Prior").set_value("mnist-ema-prior").run()
    assert not app.exception, app.exception
    assert "sample-last-grid" not in app.session_state and not app.get("download_button")


def test_samples_are_shown_one_picture_each_named_by_their_class(app):
    app.run()
    app.switch_page("pages/sample.py").run()
    labelled(app.selectbox, "Prior").set_value("pokemon-ema-prior").run()
    assert labelled(app.number_input, "Images").value == 18
    labelled(app.button, "Sample").click().run()
    assert not app.exception, app.exception
    shown = app.get("image")[-1]
    assert len(shown.captions) == 18 and shown.captions[:2] == ["Bug", "Dark"]  # rows that wrap, each named
    _, images, caption, _ = app.session_state["sample-last-grid"]
    assert "18 samples, the types in turn (named under each)" in caption
    labelled(app.number_input, "Images").set_value(1).run()
    labelled(app.button, "Sample").click().run()
    _, images, caption, _ = app.session_state["sample-last-grid"]
    assert caption.startswith("1 sample of the type Bug,")  # was "1 sample types in turn"


def test_step_through_draws_a_class_the_user_picked_and_says_which(app):
    app.run()
    app.switch_page("pages/sample.py").run()
    labelled(app.radio, "Mode").set_value("step").run()
    digits = labelled(app.selectbox, "Digit")
    assert "each in turn" not in digits.options and "each digit in turn" not in digits.options
    digits.set_value(4).run()
    assert not app.exception, app.exception
    captions = [c for image in app.get("image") for c in image.captions]
    assert any("of the digit 4" in c and "grey: not drawn yet" in c for c in captions)


def test_the_sample_page_logs_no_widget_state_warning(app, monkeypatch):
    from streamlit.elements.lib import policies

    warned = []
    monkeypatch.setattr(policies, "_shown_default_value_warning", False)
    monkeypatch.setattr(policies._LOGGER, "warning", lambda *args, **kwargs: warned.append(args))
    app.run()
    app.switch_page("pages/sample.py").run()
    labelled(app.number_input, "Images").set_value(2).run()
    labelled(app.button, "Sample").click().run()
    app.switch_page("pages/train.py").run()
    app.switch_page("pages/sample.py").run()
    assert not app.exception, app.exception
    assert not warned, warned


def test_no_page_logs_a_widget_state_warning_when_visited_again(app, monkeypatch):
    """Every page's kept choices are written back on every run: a widget that also names a
    default value would warn (and, in the app, show the warning) on the second visit."""
    from streamlit.elements.lib import policies

    from pages.catalog import PAGES

    warned = []
    monkeypatch.setattr(policies, "_shown_default_value_warning", False)
    monkeypatch.setattr(policies._LOGGER, "warning", lambda *args, **kwargs: warned.append(args))
    app.run()
    for _ in range(2):
        for entry in PAGES:
            app.switch_page(f"pages/{entry.name}.py").run()
            assert not app.exception, (entry.name, app.exception)
    assert not warned, warned


@pytest.fixture
def three_runs(tmp_path, tiny_image_folder):
    """Three VQ-VAE runs of one tiny matched set: one done, one cancelled after its first
    checkpoint, one that failed before any checkpoint."""
    root = tmp_path / "runs"
    done, cancelled, failed = root / "20261201-100000-set-a-0001", root / "20261201-100001-set-b-0002", \
        root / "20261201-100002-set-c-0003"
    for out in (done, cancelled):
        assert train(tiny_folder_run_config(tiny_image_folder), out, progress=False)["state"] == "done"
    RunFolder(cancelled).write_status(state="cancelled", message="cancelled")
    failed.mkdir(parents=True)
    RunFolder(failed).mark("vqvae")
    RunFolder(failed).write_status(state="failed", message="out of memory", epoch=0, epochs=1)
    return done, cancelled, failed


def test_compare_shows_a_cancelled_member_at_its_checkpoint_and_names_a_failed_one(app, three_runs):
    done, cancelled, failed = three_runs
    app.session_state["compare-models"] = [str(done), str(cancelled), str(failed)]
    app.run()
    app.switch_page("pages/compare.py").run()
    assert not app.exception, app.exception
    assert not any("has not finished" in i.value for i in app.info)  # said forever before
    assert any("C: set-c" in w.value and "failed before its first checkpoint" in w.value for w in app.warning)
    table = app.dataframe[-1].value
    assert len(table) == 2 and "(cancelled, epoch" in table["model"][1]
    again = reopened(app, "pages/compare.py")  # the set comes back after a reload
    assert again.session_state["compare-models"] == [str(done), str(cancelled), str(failed)]


def test_walk_takes_a_tiny_upload_says_what_it_did_and_disables_the_picker_it_overrides(app):
    from PIL import Image
    from conftest import uploader
    from pictures import encoded

    app.run()
    app.switch_page("pages/walk.py").run()
    assert not labelled(app.selectbox, "From: a held-out MNIST image").disabled
    tiny = Image.new("L", (5, 5), 0)
    tiny.putpixel((2, 2), 255)
    uploader(app, "... or upload one (from)").set_value(("dot.png", encoded(tiny, "PNG"), "image/png")).run()
    assert not app.exception, app.exception
    assert not app.error  # refused before: "at least 8 x 8"
    assert app.selectbox(key="walk-from").disabled and not app.selectbox(key="walk-to").disabled
    assert "scaled from 5 x 5 to 28 x 28" in app.info[0].value


@pytest.mark.slow
def test_a_cancelled_run_is_made_active_and_resumed_for_more_epochs_from_the_train_page(app, tmp_path,
                                                                                        tiny_image_folder):
    from vqvae.dashboard.run_manager import RunManager

    run = tmp_path / "runs" / "20261201-100000-tiny-0001"
    assert train(tiny_folder_run_config(tiny_image_folder), run, progress=False)["state"] == "done"
    RunFolder(run).write_status(state="cancelled", message="cancelled")
    app.run()
    app.switch_page("pages/train.py").run()
    assert app.selectbox(key="train-run").value == str(run)
    make_active = labelled(app.button, "Make it the active model")
    assert not make_active.disabled  # disabled for any run not done before
    make_active.click().run()
    assert app.session_state["active_vqvae"] == str(run)
    app.number_input(key=f"resume-epochs-{run.name}").set_value(2).run()
    labelled(app.button, "Resume").click().run()
    assert not app.exception, app.exception
    info = RunManager(tmp_path / "runs").wait(run, timeout=300)
    assert info.state == "done" and info.status["epoch"] == 2, info.message
    assert run in app.session_state["train_watched"]  # on the charts at once


def test_a_prior_run_shows_its_progress_and_its_nll_beside_the_baselines(app, tmp_path):
    import json

    run = tmp_path / "runs" / "20261201-100000-prior-of-tiny-0001"
    run.mkdir(parents=True)
    RunFolder(run).mark("prior")
    RunFolder(run).write_status(state="done", epoch=2, epochs=2, step=20, total_steps=20)
    for step in (5, 10, 15, 20):
        RunFolder(run).append_metrics({"kind": "step", "step": step, "loss": 3.0 - step / 10})
    for epoch, step in ((1, 10), (2, 20)):
        RunFolder(run).append_metrics({"kind": "epoch", "epoch": epoch, "step": step, "val_nll": 2.5 - epoch / 10,
                                      "unigram_nll": 2.9, "uniform_nll": 4.85})
    app.run()
    app.switch_page("pages/train.py").run()
    show = labelled(app.button, "Show on the charts")
    assert not show.disabled  # disabled for priors before
    show.click().run()
    assert not app.exception, app.exception
    charts = [json.loads(chart.proto.spec) for chart in app.get("plotly_chart")]
    nll = next(c for c in charts if "held-out NLL" in c["layout"]["title"]["text"])
    names = [trace["name"] for trace in nll["data"]]
    assert len(names) == 3 and any("unigram" in n for n in names) and any("uniform" in n for n in names)
    assert any("done, epoch 2 of 2" in p.proto.text for p in app.get("progress"))


def test_the_size_and_walk_choices_survive_a_visit_to_another_page(app):
    app.run()
    app.switch_page("pages/reconstruct.py").run()
    app.radio(key="size").set_value("model").run()
    app.switch_page("pages/walk.py").run()
    app.slider(key="walk-steps").set_value(5).run()
    app.switch_page("pages/overview.py").run()
    assert app.query_params.get("size") == "model" and app.query_params.get("walk-steps") == "5"
    app.switch_page("pages/reconstruct.py").run()
    assert app.radio(key="size").value == "model"
    app.switch_page("pages/walk.py").run()
    assert app.slider(key="walk-steps").value == 5


def test_a_link_with_too_many_variants_falls_back_instead_of_breaking_compare(app):
    app.query_params.update({"set-mnist-variants": '["plain","ema","fsq","ema-kmeans","plain"]'})
    app.switch_page("pages/compare.py")
    app.run()
    assert not app.exception, app.exception
    assert app.session_state["set-mnist-variants"] == ["plain", "ema"]
