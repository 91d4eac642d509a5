"""The Reconstruct page under Streamlit's AppTest: an uploaded picture is shown as the model
sees it, with its codes, its reconstruction and their numbers; a bad file gets one line of
st.error and the page goes on working."""

from __future__ import annotations

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest
from test_images import BAD_FILES, encoded

from conftest import REPO


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
    app.file_uploader(key="upload").set_value((name, data, mime)).run()
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
    upload(page, "upload.png", make())
    assert len(page.error) == 1 and expected in page.error[0].value
    assert "\n" not in page.error[0].value
    assert not page.selectbox(key="sample").disabled  # a held-out digit is shown meanwhile
    assert_reconstruction_shown(page, min_psnr=20)

    upload(page, "seven.png", digit_png)  # the next, good, upload is read as usual
    assert not page.error
    assert_reconstruction_shown(page)
