"""The Reconstruct page under Streamlit's AppTest: an uploaded picture is shown as the model
sees it, with its codes, its reconstruction and their numbers; a bad file gets one line of
st.error and the page goes on working."""

from __future__ import annotations

import pytest
import torch
from PIL import Image
from streamlit.testing.v1 import AppTest
from pictures import BAD_FILES, encoded, noise

from conftest import REPO, tiny_model_config, uploader
from vqvae import RunConfig, TrainConfig
from vqvae.training.vqvae_trainer import train


@pytest.fixture
def page(tmp_path, monkeypatch):
    monkeypatch.setenv("VQVAE_RUNS", str(tmp_path / "runs"))  # no runs of the developer's leak in
    monkeypatch.chdir(REPO)
    app = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    app.run()
    app.switch_page("pages/reconstruct.py").run()
    assert not app.exception, app.exception
    return app


@pytest.fixture(scope="module")
def digit_png(mnist) -> bytes:
    return encoded(Image.fromarray(mnist.val[0, 0].numpy()), "PNG")


def upload(app: AppTest, name: str, data: bytes, mime: str = "image/png") -> AppTest:
    uploader(app, "Upload a picture").set_value((name, data, mime)).run()
    assert not app.exception, app.exception
    return app


def metrics(app: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in app.metric}


def assert_reconstruction_shown(app: AppTest, min_psnr: float = 15) -> None:
    captions = [caption for image in app.get("image") for caption in image.captions]
    assert captions == ["as the model sees it", "reconstruction from the codes"]
    assert app.get("plotly_chart")  # the code map
    numbers = metrics(app)
    assert float(numbers["PSNR"].split()[0]) > min_psnr
    assert float(numbers["MSE"]) < 10 ** (-min_psnr / 10)
    assert numbers["Code bits"] == "343"  # 7 x 7 codes of log2(128) = 7 bits
    assert numbers["Compression"] == "18x"  # 6,272 bits of 8-bit pixels
    assert app.get("download_button")[0].proto.label == "Download the reconstruction (PNG)"


def test_without_an_upload_a_held_out_digit_is_reconstructed(page):
    assert not page.error
    assert_reconstruction_shown(page, min_psnr=20)
    page.selectbox(key="sample").select_index(3).run()
    assert not page.exception and not page.error
    assert_reconstruction_shown(page, min_psnr=15)


def test_an_uploaded_digit_is_reconstructed(page, digit_png):
    upload(page, "seven.png", digit_png)
    assert not page.error
    assert_reconstruction_shown(page)
    assert "seven.png: PNG, 28 x 28 pixels, mode L" in [caption.value for caption in page.caption]
    assert not page.info  # an MNIST-sized gray digit needs no conversion
    assert page.selectbox(key="sample").disabled  # the upload is what is shown


def test_a_dark_digit_on_paper_is_inverted_unless_asked_not_to(page, mnist):
    page.radio(key="size").set_value("model").run()  # fitted to the 28 x 28 the model trained on
    paper = Image.fromarray(255 - mnist.val[0, 0].numpy()).resize((140, 140)).convert("RGB")
    upload(page, "paper.jpg", encoded(paper, "JPEG", quality=95), "image/jpeg")
    notes = page.info[0].value
    assert "inverted: dark strokes on a light background" in notes and "scaled from 140 x 140 to 28 x 28" in notes
    assert_reconstruction_shown(page)
    page.radio(key="invert").set_value("no").run()
    assert not page.exception
    assert "inverted" not in page.info[0].value
    assert float(metrics(page)["PSNR"].split()[0]) < 15  # a white sheet is not what the model knows


@pytest.mark.parametrize("kind", list(BAD_FILES))
def test_a_bad_file_shows_one_error_line_and_the_page_keeps_working(page, digit_png, kind):
    make, expected = BAD_FILES[kind]
    if "at least 8 x 8" in expected:  # full size pads a tiny picture; only the model's size refuses it
        page.radio(key="size").set_value("model").run()
    upload(page, "upload.png", make())
    assert len(page.error) == 1 and expected in page.error[0].value
    assert "\n" not in page.error[0].value
    assert not page.selectbox(key="sample").disabled  # a held-out digit is shown meanwhile
    assert_reconstruction_shown(page, min_psnr=20)

    upload(page, "seven.png", digit_png)  # the next, good, upload is read as usual
    assert not page.error
    assert_reconstruction_shown(page)


# ---- full size (the default for uploads) against the model's size ----------------------------------


def test_uploads_are_read_at_full_size_by_default_and_the_switch_fits_them_to_the_model(page, mnist):
    size = page.radio(key="size")
    assert size.value == "full" and size.options == ["Full size (up to 256 px)", "Model's size (28 x 28)"]
    wide = Image.new("L", (301, 97), 0)
    wide.paste(Image.fromarray(mnist.val[0, 0].numpy()).resize((90, 90)), (100, 3))  # a large digit on a black strip
    upload(page, "strip.png", encoded(wide, "PNG"))
    assert not page.error
    notes = page.info[0].value
    assert "scaled from 301 x 97 to 256 x 82" in notes and "(256 x 82 -> 256 x 84)" in notes
    numbers = metrics(page)
    assert numbers["Code grid"] == "64 x 21"  # 256 x 84 pixels, a code per 4 x 4
    assert numbers["Code bits"] == f"{64 * 21 * 7:,}"
    assert numbers["Compression"] == f"{256 * 82 * 8 / (64 * 21 * 7):.0f}x"  # the picture's bits, not the padding's
    assert float(numbers["PSNR"].split()[0]) > 10

    page.radio(key="size").set_value("model").run()
    assert not page.exception and not page.error
    assert "scaled from 301 x 301 to 28 x 28" in page.info[0].value
    assert metrics(page)["Code grid"] == "7 x 7"
    assert_reconstruction_shown(page, min_psnr=10)


def test_held_out_images_stay_at_the_models_size_in_either_mode(page):
    for mode in ("full", "model"):
        page.radio(key="size").set_value(mode).run()
        assert not page.exception and not page.error
        assert metrics(page)["Code grid"] == "7 x 7"
        assert_reconstruction_shown(page, min_psnr=20)


def test_a_one_pixel_wide_upload_is_padded_at_full_size_and_refused_at_the_models_size(page):
    strip = encoded(Image.new("L", (1, 500), 200), "PNG")
    upload(page, "strip.png", strip)
    assert not page.error and metrics(page)["Code grid"] == "1 x 64"  # 4 x 256 pixels
    page.radio(key="size").set_value("model").run()
    assert len(page.error) == 1 and "at least 8 x 8" in page.error[0].value


@pytest.fixture(scope="module")
def colour_run(tmp_path_factory):
    """An untrained tiny colour model (epochs 0 keeps the initial weights): enough for the page's shapes."""
    out = tmp_path_factory.mktemp("runs") / "colour"
    cfg = RunConfig(tiny_model_config(in_channels=3, image_size=16, hidden=8, res_hidden=4, code_dim=4),
                    TrainConfig(dataset="pokemon", epochs=0, device="cpu"))
    assert train(cfg, out, progress=False)["state"] == "done"
    return out


@pytest.fixture
def colour_page(colour_run, monkeypatch):
    monkeypatch.setenv("VQVAE_RUNS", str(colour_run.parent))
    monkeypatch.chdir(REPO)
    app = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    app.session_state["active_vqvae"] = str(colour_run)
    app.run()
    app.switch_page("pages/reconstruct.py").run()
    assert not app.exception, app.exception
    return app


def test_a_transparent_upload_goes_on_the_colour_models_own_white_background(colour_page):
    sprite = Image.new("RGBA", (32, 32), (0, 0, 0, 0))
    sprite.paste((200, 30, 30, 255), (8, 8, 24, 24))
    upload(colour_page, "sprite.png", encoded(sprite, "PNG"))
    assert "transparent pixels put on white, the model's background" in colour_page.info[0].value


def test_a_colour_model_reconstructs_colour_and_gray_uploads_at_full_size(colour_page):
    upload(colour_page, "photo.jpg", encoded(noise(150, 200), "JPEG", quality=90), "image/jpeg")
    assert not colour_page.error
    # A colour picture on a colour model: no conversion, only the padding of 150 rows to 152.
    assert colour_page.info[0].value == ("- padded on the right and bottom with its background colour "
                                         "(200 x 150 -> 200 x 152), as the model takes sides in multiples of 4")
    assert metrics(colour_page)["Code grid"] == "50 x 38"  # 200 x 152 pixels
    upload(colour_page, "gray.png", encoded(noise(40, 40, channels=1), "PNG"))
    assert not colour_page.error
    assert "grayscale copied into the three channels of this colour model" in colour_page.info[0].value
    assert metrics(colour_page)["Code grid"] == "10 x 10"


def test_a_selected_cell_takes_another_code_the_picture_follows_and_undo_restores(page):
    from vqvae.models.editing import CodeEdits

    edits: CodeEdits = page.session_state["reconstruct-edits"][1]["bottom"]
    before = edits.codes.clone()
    page.session_state["reconstruct-cell"] = (3, 4)  # as a click on the code map selects it
    page.run()
    assert not page.exception, page.exception
    choice = [e for e in page.selectbox if e.label.startswith("Replacement code")][0]
    new = next(int(o.split()[1]) for o in choice.options if int(o.split()[1]) != int(before[3, 4]))
    choice.set_value(new)
    unedited = metrics(page)
    [b for b in page.button if b.label == "Put it there"][0].click().run()
    assert not page.exception, page.exception
    assert int(edits.codes[3, 4]) == new and int(edits.changed.sum()) == 1
    # the numbers and the download are the edited picture's, and say what the edit cost
    psnr = next(m for m in page.metric if m.label == "PSNR")
    assert psnr.value != unedited["PSNR"] and psnr.delta.endswith("dB from the edits")
    assert float(psnr.value.split()[0]) - float(unedited["PSNR"].split()[0]) == pytest.approx(float(psnr.delta.split()[0]), abs=0.011)
    assert page.get("download_button")[0].proto.label == "Download the edited picture (PNG)"
    undo = [b for b in page.button if b.label == "Undo"][0]
    assert not undo.disabled
    undo.click().run()
    assert torch.equal(edits.codes, before)
    assert metrics(page) == unedited and not next(m for m in page.metric if m.label == "PSNR").delta


def test_completing_with_the_prior_keeps_the_codes_before_the_cell(page):
    edits = page.session_state["reconstruct-edits"][1]["bottom"]
    before = edits.codes.clone()
    page.session_state["reconstruct-cell"] = (2, 0)
    page.run()
    digit = page.session_state["sample"]  # the held-out image's own digit is where the class starts
    assert "this held-out image's own digit" in " ".join(c.value for c in page.caption)
    button = [b for b in page.button if b.label.startswith("Complete as digit")][0]
    assert button.label.startswith(f"Complete as digit {class_choice(page).value}")
    button.click().run()
    assert not page.exception, page.exception
    assert torch.equal(edits.codes[:2], before[:2]) and len(edits.history) == 1  # one step to undo
    assert digit is not None


def class_choice(app: AppTest):
    return next(box for box in app.selectbox if box.label == "Complete as digit")


def test_an_upload_is_completed_as_the_class_the_user_picks_starting_from_the_classifiers_reading(page, mnist):
    seven = next(i for i, label in enumerate(mnist.val_labels.tolist()) if label == 7)
    upload(page, "seven.png", encoded(Image.fromarray(mnist.val[seven, 0].numpy()), "PNG"))
    page.session_state["reconstruct-cell"] = (3, 0)
    page.run()
    assert "Suggested: 7 (what the bundled classifier reads in the upload)." in [c.value for c in page.caption]
    choice = class_choice(page)
    assert choice.value == 7
    choice.set_value(1).run()
    completes = [b for b in page.button if b.label.startswith("Complete as digit")]
    assert completes and completes[0].label.startswith("Complete as digit 1 with the prior from row 3, column 0")


def test_a_full_size_upload_can_be_completed_on_its_own_grid(page, mnist):
    wide = Image.fromarray(mnist.val[0, 0].numpy()).resize((60, 28))  # 15 x 7 codes: not the prior's 7 x 7
    upload(page, "wide.png", encoded(wide, "PNG"))
    edits = page.session_state["reconstruct-edits"][1]["bottom"]
    assert tuple(edits.codes.shape) == (7, 15)
    before = edits.codes.clone()
    page.session_state["reconstruct-cell"] = (4, 2)
    page.run()
    [b for b in page.button if b.label.startswith("Complete as digit")][0].click().run()
    assert not page.exception, page.exception
    assert tuple(edits.codes.shape) == (7, 15) and len(edits.history) == 1
    assert torch.equal(edits.codes.reshape(-1)[: 4 * 15 + 2], before.reshape(-1)[: 4 * 15 + 2])
    assert page.toggle(key="reconstruct-marks").value  # the changed cells marked, and the mark can be hidden


def test_the_selected_cell_is_pointed_at_in_the_picture_the_reconstruction_and_the_code_map(page):
    import json

    page.session_state["reconstruct-cell"] = (2, 3)
    page.run()
    assert not page.exception, page.exception
    captions = [caption for image in page.get("image") for caption in image.captions]
    assert "as the model sees it (blue: row 2, column 3)" in captions
    figure = json.loads(page.get("plotly_chart")[0].proto.spec)
    frames = [shape for shape in figure["layout"].get("shapes", []) if shape["line"]["color"] == "#0072B2"]
    assert [(f["x0"], f["y0"]) for f in frames] == [(2.5, 1.5)]  # column 3, row 2, in the grid's coordinates


def test_the_uploader_hands_its_file_over_and_empties_itself_and_the_upload_stays_until_removed(page, digit_png):
    upload(page, "digit.png", digit_png)
    assert uploader(page, "Upload a picture").value is None  # empty again: a refused file cannot linger beside it
    assert any(c.value.startswith("In use: digit.png") for c in page.caption)
    page.switch_page("pages/overview.py").run()
    page.switch_page("pages/reconstruct.py").run()
    assert any(c.value.startswith("digit.png: PNG") for c in page.caption)  # kept across pages
    next(b for b in page.button if b.label == "Remove").click().run()
    assert not page.exception, page.exception
    assert not any(c.value.startswith(("In use:", "digit.png")) for c in page.caption)
    assert not page.selectbox(key="sample").disabled  # the held-out picture is back
