"""The dashboard in a real browser: `streamlit run app.py` on a free localhost port, driven
by Playwright through Debian's Chromium (never a downloaded browser). It uploads an image,
starts a tiny training run and samples, and saves a screenshot of every page to
docs/screenshots/ (or $VQVAE_SCREENSHOTS; the committed ones are the docs' pictures) with the measured delays in timings.json."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from PIL import Image

from conftest import REPO
from pages.catalog import PAGES as CATALOG

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).is_file(), reason="needs Debian's chromium (apt-get install -y chromium)")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
CONNECTED = '[data-testid="stApp"][data-test-connection-state="CONNECTED"]'
CURVE = '[data-testid="stPlotlyChart"] .scatterlayer .trace'  # a drawn line, not an empty chart
PAGES = [("" if entry is CATALOG[0] else entry.name) for entry in CATALOG]  # the first is the default page
TITLES = {entry.title: entry.heading for entry in CATALOG}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory):
    """The base URL of a dashboard started as a user would, with its own runs folder."""
    port, runs = free_port(), tmp_path_factory.mktemp("runs")
    env = {**os.environ, "VQVAE_RUNS": str(runs)}
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                             "--server.address", "127.0.0.1", "--server.headless", "true"],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if urllib.request.urlopen(f"{base}/_stcore/health", timeout=2).read() == b"ok":
                break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail(f"streamlit did not start: {proc.stdout.read()}")
    yield base, runs
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def shots():
    folder = Path(os.environ.get("VQVAE_SCREENSHOTS", REPO / "docs" / "screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    yield folder, timings
    (folder / "timings.json").write_text(json.dumps(timings, indent=2))


def open_page(browser, base: str, path: str, height: int = 1000):
    page = browser.new_page(viewport={"width": 1400, "height": height})
    page.goto(f"{base}/{path}")
    page.wait_for_selector(CONNECTED, timeout=60_000)
    page.get_by_role("heading", level=1).first.wait_for(timeout=120_000)
    settle(page)
    return page


IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
# Every Plotly chart drawn, and no element still a grey skeleton (a widget whose code is
# still loading, on the first page that uses it).
CHARTS_DRAWN = ("() => [...document.querySelectorAll('[data-testid=stPlotlyChart]')].every(c => c.querySelector('.main-svg'))"
                " && !document.querySelector('[data-testid=stSkeleton]')")


def settle(page, timeout_ms: int = 120_000) -> None:
    """Until the script run has finished, every Plotly chart is drawn and no skeleton is
    left (the pause lets a rerun that was just asked for begin)."""
    page.wait_for_selector(IDLE, timeout=timeout_ms)
    page.wait_for_function(CHARTS_DRAWN, timeout=timeout_ms)


def finish(page, shot: Path) -> None:
    """Once the page has settled: no traceback on it, a screenshot saved, the tab closed."""
    settle(page)
    assert page.locator('[data-testid="stException"]').count() == 0, f"{page.url} shows a traceback"
    page.screenshot(path=str(shot), full_page=True)
    page.close()


def digit_png() -> bytes:
    from vqvae.data.datasets import bundled_mnist

    buffer = io.BytesIO()
    Image.fromarray(bundled_mnist().val[0, 0].numpy()).resize((112, 112)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_every_page_renders_without_an_exception(dashboard, browser, shots):
    base, _ = dashboard
    folder, timings = shots
    for path in PAGES:  # a deep link to each page, as a bookmark opens it
        finish(open_page(browser, base, path), folder / f"{path or 'overview'}.png")
    # navigation from the sidebar, once every page's models are cached
    page = open_page(browser, base, "")
    for title in TITLES:
        started = time.monotonic()
        page.locator('[data-testid="stSidebarNav"] a', has_text=title).click()
        page.get_by_role("heading", level=1, name=TITLES[title]).wait_for(timeout=60_000)
        page.wait_for_selector(IDLE, timeout=60_000)
        page.wait_for_function(CHARTS_DRAWN, timeout=60_000)
        timings[f"navigate to {title} (cached)"] = round(time.monotonic() - started, 3)
        assert page.locator('[data-testid="stException"]').count() == 0
    page.close()


def test_upload_shows_the_reconstruction(dashboard, browser, shots):
    base, _ = dashboard
    folder, _ = shots
    page = open_page(browser, base, "reconstruct")
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(
        files=[{"name": "digit.png", "mimeType": "image/png", "buffer": digit_png()}])
    page.get_by_text("digit.png").first.wait_for(timeout=30_000)
    settle(page)
    psnr = page.locator('[data-testid="stMetric"]', has_text="PSNR").first
    psnr.wait_for(timeout=30_000)
    assert float(psnr.locator('[data-testid="stMetricValue"]').inner_text().split()[0]) > 15
    finish(page, folder / "reconstruct-upload.png")


def test_a_tiny_training_run_shows_its_curves(dashboard, browser, shots):
    base, runs = dashboard
    folder, timings = shots
    page = open_page(browser, base, "train")
    page.get_by_role("spinbutton", name="Epochs").fill("1")
    page.get_by_role("button", name="Start a run").click()
    clicked = time.monotonic()
    # measure how long the curves take to show once the run has logged its first step
    first_step = chart = None
    deadline = time.monotonic() + 300
    while chart is None and time.monotonic() < deadline:
        if first_step is None and any('"kind": "step"' in p.read_text() for p in runs.glob("*/metrics.jsonl")):
            first_step = time.monotonic()
        if first_step is not None and page.locator(CURVE).count() > 0:
            chart = time.monotonic()
        page.wait_for_timeout(50)
    assert chart is not None, "no curve appeared within 5 minutes of starting the run"
    timings["curves after the first logged step"] = round(chart - first_step, 3)
    page.get_by_text("1 of 1, held-out PSNR").first.wait_for(timeout=300_000)  # the epoch ended
    timings["one MNIST epoch started from the Train page, watched live"] = round(time.monotonic() - clicked, 3)
    line = page.get_by_text("1 of 1, held-out PSNR").first.inner_text()
    timings["held-out PSNR after that epoch"] = float(re.search(r"held-out PSNR ([\d.]+) dB", line).group(1))
    finish(page, folder / "train-run.png")


def test_sampling_reaches_every_code(dashboard, browser, shots):
    base, _ = dashboard
    folder, _ = shots
    page = open_page(browser, base, "sample")
    page.get_by_role("button", name="Sample", exact=True).click()
    page.get_by_text("49 of 49 codes").first.wait_for(timeout=120_000)
    page.get_by_role("button", name="Download the grid (PNG)").wait_for(timeout=60_000)
    with page.expect_download(timeout=60_000) as download:  # the sampling to take away, as a GIF
        page.get_by_role("button", name="Download the sampling (GIF)").click()
    with Image.open(download.value.path()) as gif:
        assert gif.format == "GIF" and gif.n_frames == 7  # a frame a row of the 7 x 7 codes
    finish(page, folder / "sample-done.png")


def colour_jpeg() -> bytes:
    """A 300 x 200 photo-like picture: a red disc on a blue-to-green sky."""
    from PIL import ImageDraw

    picture = Image.new("RGB", (300, 200))
    for y in range(200):
        ImageDraw.Draw(picture).line([(0, y), (299, y)], fill=(40, 80 + y // 2, 220 - y // 2))
    ImageDraw.Draw(picture).ellipse([100, 50, 200, 150], fill=(230, 30, 30))
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def pick_pokemon(page) -> None:
    """Make pokemon-ema the active model in the sidebar."""
    page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]', has_text="Active VQ-VAE").click()
    page.get_by_role("option", name="pokemon-ema (Pokémon)").click()
    settle(page)


def upload_photo(page) -> None:
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(
        files=[{"name": "photo.jpg", "mimeType": "image/jpeg", "buffer": colour_jpeg()}])


def own_reconstruction(page, name: str) -> Image.Image:
    """The reconstruction of the upload `name` (a landscape photo), once the page shows it: the
    page names the file, and the reconstruction has the photo's landscape shape, which the
    held-out picture shown before (a square) has not. Any picture will not do: under load the
    held-out image's reconstruction can still be on the page when the file's name appears."""
    page.get_by_text(f"{name}:").first.wait_for(timeout=60_000)
    page.wait_for_function("""() => [...document.querySelectorAll('[data-testid=stImage]')]
        .filter(e => e.innerText.includes('reconstruction from the codes')).map(e => e.querySelector('img'))
        .some(img => img && img.complete && img.naturalWidth > img.naturalHeight)""", timeout=120_000)
    settle(page)
    shown = page.locator('[data-testid="stImage"]', has_text="reconstruction from the codes").locator("img").first
    reply = page.request.get(urllib.parse.urljoin(page.url, shown.get_attribute("src")))
    painted = Image.open(io.BytesIO(reply.body())).convert("RGB")
    assert painted.width > painted.height, "the full-size reconstruction keeps the photo's landscape shape"
    return painted


def test_a_colour_model_reconstructs_an_upload_in_colour(dashboard, browser, shots):
    base, _ = dashboard
    folder, _ = shots
    page = open_page(browser, base, "reconstruct")
    pick_pokemon(page)
    page.get_by_text("colour, encoded to a grid").first.wait_for(timeout=60_000)
    upload_photo(page)
    painted = own_reconstruction(page, "photo.jpg")
    r, g, b = (sum(channel.histogram()[v] * v for v in range(256)) / (painted.width * painted.height) for channel in painted.split())
    assert max(r, g, b) - min(r, g, b) > 20, f"the reconstruction looks grey: channel means {r:.0f}, {g:.0f}, {b:.0f}"
    finish(page, folder / "reconstruct-colour.png")


def test_step_mode_steps_five_positions(dashboard, browser, shots):
    base, _ = dashboard
    folder, _ = shots
    page = open_page(browser, base, "sample")
    page.get_by_text("Step through").click()
    settle(page)
    for drawn in range(1, 6):
        page.get_by_role("button", name="Next", exact=True).click()
        page.get_by_text(f"{drawn} of 49 codes drawn").first.wait_for(timeout=30_000)
    settle(page)
    assert page.get_by_text("Next: row 0, column 5.").count() == 1
    finish(page, folder / "sample-step.png")


def test_clicking_a_code_and_picking_another_changes_the_picture(dashboard, browser, shots):
    base, _ = dashboard
    folder, _ = shots
    page = open_page(browser, base, "reconstruct")
    chart = page.locator('[data-testid="stPlotlyChart"]', has_text="click one to edit it").first
    area = chart.locator(".nsewdrag").first.bounding_box()  # the 7 x 7 plot area of the held-out digit's codes
    page.mouse.click(area["x"] + area["width"] * 4.5 / 7, area["y"] + area["height"] * 3.5 / 7)
    page.locator("strong", has_text="Row 3, column 4").first.wait_for(timeout=30_000)  # the selected cell
    settle(page)
    before = page.locator('[data-testid="stImage"] img').nth(1).get_attribute("src")
    choice = page.get_by_role("combobox", name="Replacement code (most used first; type a number)")
    choice.click()
    page.keyboard.press("ArrowDown")  # opens the list
    page.get_by_role("option").nth(1).click()  # the second most used code
    settle(page)
    page.get_by_role("button", name="Put it there").click()
    page.get_by_text("edited codes (1 changed)").first.wait_for(timeout=30_000)
    settle(page)
    assert page.locator('[data-testid="stImage"] img').nth(1).get_attribute("src") != before
    finish(page, folder / "reconstruct-edit.png")


def test_clicking_a_code_on_the_overview_shows_the_quantizer_choosing_it(dashboard, browser, shots):
    base, _ = dashboard
    folder, _ = shots
    page = open_page(browser, base, "", height=2400)
    page.get_by_role("heading", name="The quantizer deciding: row 3, column 3").wait_for(timeout=60_000)
    chart = page.locator('[data-testid="stPlotlyChart"]', has_text="click a code to see it chosen").first
    cell = chart.locator(".scatterlayer .point").nth(1 * 7 + 5).bounding_box()  # each cell's point, row by row
    page.mouse.click(cell["x"] + cell["width"] / 2, cell["y"] + cell["height"] / 2)  # row 1, column 5
    page.get_by_role("heading", name="The quantizer deciding: row 1, column 5").wait_for(timeout=30_000)
    settle(page)
    assert page.get_by_text("squared distance to each of the 128 codes").count() == 1
    assert page.get_by_text("decoded alone").count() >= 1  # the chosen code's tile
    finish(page, folder / "overview-quantizer.png")


def test_a_stroke_drawn_on_the_canvas_is_reconstructed_at_once(dashboard, browser, shots):
    base, _ = dashboard
    folder, _ = shots
    page = open_page(browser, base, "", height=1800)
    reconstruction = page.locator('[data-testid="stImage"]', has_text="reconstruction from the codes").locator("img")
    before = reconstruction.get_attribute("src")
    page.get_by_text("Draw your own").click()
    canvas = page.locator("canvas").last
    canvas.wait_for(timeout=60_000)
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + 140, box["y"] + 40)
    page.mouse.down()
    for step in range(1, 26):  # a vertical stroke: a one
        page.mouse.move(box["x"] + 140, box["y"] + 40 + step * 8)
    page.mouse.up()
    page.get_by_text("your drawing, as the model sees it").wait_for(timeout=60_000)
    settle(page)
    assert reconstruction.get_attribute("src") != before  # the drawing's reconstruction, not the held-out digit's
    finish(page, folder / "overview-drawing.png")


def settings_shown(page) -> dict[str, str]:
    """What the Sample page's view is: the active model, the prior and the seed as drawn."""
    sidebar = page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]', has_text="Active VQ-VAE")
    prior = page.locator('[data-testid="stSelectbox"]', has_text="Prior")
    shown = "e => [e.innerText, ...[...e.querySelectorAll('input')].map(i => i.value)].join(' ')"  # label and value
    return {"model": sidebar.evaluate(shown), "prior": prior.first.evaluate(shown),
            "seed": page.get_by_role("spinbutton", name="Seed").input_value()}


def test_a_first_touch_end_to_end_comes_back_after_a_reload_and_from_a_copied_link(dashboard, browser, shots):
    """Open, pick pokemon-ema, upload a colour photo, hover a cell, edit a code, complete with a
    chosen type, sample 18 Pokémon in readable rows, reload, open the link in a new browser."""
    base, _ = dashboard
    folder, _ = shots
    page = open_page(browser, base, "")
    pick_pokemon(page)
    page.locator('[data-testid="stSidebarNav"] a', has_text="Reconstruct").click()
    page.get_by_role("heading", level=1, name="Reconstruct a picture").wait_for(timeout=60_000)
    page.get_by_text("colour, encoded to a grid").first.wait_for(timeout=60_000)
    upload_photo(page)
    own_reconstruction(page, "photo.jpg")
    pictures = page.locator('[data-testid="stImage"] img')
    original, reconstruction = pictures.nth(0).bounding_box(), pictures.nth(1).bounding_box()
    assert abs(original["width"] - reconstruction["width"]) < 1, "the two pictures are drawn at one scale"
    page.screenshot(path=str(folder / "first-touch-1-upload.png"), full_page=True)

    # the model's size: a 16 x 16 grid, so the completion below draws a few rows, not thousands of codes
    page.get_by_text("Model's size").first.click()
    page.get_by_text("16 x 16 codes: click one to edit it").first.wait_for(timeout=60_000)
    settle(page)
    chart = page.locator('[data-testid="stPlotlyChart"]', has_text="click one to edit it").first
    chart.scroll_into_view_if_needed()
    grid = chart.locator(".heatmaplayer image").first.bounding_box()  # the square of cells (the plot area is taller)
    at = (grid["x"] + grid["width"] * 8.5 / 16, grid["y"] + grid["height"] * 14.5 / 16)  # row 14, column 8
    page.mouse.move(at[0] - 5, at[1] - 5)
    page.mouse.move(*at, steps=5)
    hover = page.locator(".hoverlayer .hovertext").first
    hover.wait_for(timeout=30_000)
    assert "row 14, column 8" in hover.text_content(), hover.text_content()
    page.screenshot(path=str(folder / "first-touch-2-hover.png"), full_page=True)
    page.mouse.click(*at)
    page.locator("strong", has_text="Row 14, column 8").first.wait_for(timeout=30_000)
    page.get_by_text("(blue: row 14, column 8)").first.wait_for(timeout=30_000)
    settle(page)
    choice = page.get_by_role("combobox", name="Replacement code (most used first; type a number)")
    choice.click()
    page.keyboard.press("ArrowDown")
    page.get_by_role("option").nth(1).click()
    settle(page)
    page.get_by_role("button", name="Put it there").click()
    page.get_by_text("edited codes (1 changed)").first.wait_for(timeout=30_000)
    settle(page)
    page.get_by_role("combobox", name="Complete as type").click()
    page.get_by_role("option", name="Fire", exact=True).click()
    settle(page)
    page.get_by_role("button", name=re.compile(r"^Complete as type Fire with the prior from row 14, column 8")).click()
    page.wait_for_function("""() => [...document.querySelectorAll('[data-testid=stImage]')].some(
        e => /edited codes \\((\\d+) changed\\)/.test(e.innerText) && +e.innerText.match(/\\((\\d+) changed/)[1] > 1)""",
                           timeout=180_000)
    settle(page)
    page.screenshot(path=str(folder / "first-touch-3-completed.png"), full_page=True)

    page.locator('[data-testid="stSidebarNav"] a', has_text="Sample").click()
    page.get_by_role("heading", level=1, name="Sample from the prior").wait_for(timeout=60_000)
    settle(page)
    seed = page.get_by_role("spinbutton", name="Seed")
    seed.fill("7")
    seed.press("Enter")
    settle(page)
    page.get_by_role("button", name="Sample", exact=True).click()
    page.get_by_role("button", name="Download the grid (PNG)").wait_for(timeout=180_000)
    settle(page)
    samples = page.locator('[data-testid="stImage"]', has_text="Fire")  # each sample named by its type
    assert samples.count() >= 1
    tiles = page.locator('[data-testid="stMain"] [data-testid="stImage"] img')
    widths = [tiles.nth(i).bounding_box()["width"] for i in range(tiles.count())]
    assert len(widths) >= 18 and sorted(widths)[-18] >= 100, f"18 readable samples, not a squeezed row: {widths}"
    page.screenshot(path=str(folder / "first-touch-4-samples.png"), full_page=True)

    view, link = settings_shown(page), page.url
    assert "pokemon-ema" in view["model"] and "pokemon-ema-prior" in view["prior"] and view["seed"] == "7"
    page.reload()
    page.wait_for_selector(CONNECTED, timeout=60_000)
    page.get_by_role("heading", level=1, name="Sample from the prior").wait_for(timeout=60_000)
    settle(page)
    assert settings_shown(page) == view, "a reload brings the same view back"
    finish(page, folder / "first-touch-5-reloaded.png")
    other = browser.new_context(viewport={"width": 1400, "height": 1000})  # another browser: no shared state
    copied = other.new_page()
    copied.goto(link)
    copied.wait_for_selector(CONNECTED, timeout=60_000)
    copied.get_by_role("heading", level=1, name="Sample from the prior").wait_for(timeout=60_000)
    settle(copied)
    assert settings_shown(copied) == view, "the copied link opens the same view"
    finish(copied, folder / "first-touch-6-copied-link.png")
    other.close()


def test_pointing_at_a_cell_lights_up_the_same_place_in_all_three_views(dashboard, browser, shots):
    base, _ = dashboard
    folder, _ = shots
    page = open_page(browser, base, "reconstruct")
    view = page.frame_locator('[data-testid="stIFrame"]').first
    panels = view.locator(".panel")
    panels.nth(2).wait_for(timeout=60_000)
    settle(page)
    panels.nth(2).scroll_into_view_if_needed()
    codes = panels.nth(2).bounding_box()  # the 7 x 7 code grid
    page.mouse.move(codes["x"] + codes["width"] * 4.5 / 7, codes["y"] + codes["height"] * 2.5 / 7, steps=4)
    view.get_by_text("row 2, column 4: code").wait_for(timeout=30_000)
    marks = [panels.nth(i).locator(".mark").bounding_box() for i in range(3)]
    tops = [(m["x"] - p["x"], m["y"] - p["y"]) for m, p in zip(marks, (panels.nth(i).bounding_box() for i in range(3)))]
    assert all(abs(x - tops[0][0]) < 1 and abs(y - tops[0][1]) < 1 for x, y in tops), tops  # one place in each
    picture = panels.nth(0).bounding_box()  # and pointing at the picture finds its cell
    page.mouse.move(picture["x"] + picture["width"] * 0.5 / 7, picture["y"] + picture["height"] * 6.5 / 7, steps=4)
    view.get_by_text("row 6, column 0: code").wait_for(timeout=30_000)
    finish(page, folder / "reconstruct-linked.png")


# Every progress text the Sample page shows, in order: a stream that fills in only while
# nobody looks is still seen whole.
RECORD_PROGRESS = """() => {
  window.seenProgress = [];
  new MutationObserver(() => {
    for (const bar of document.querySelectorAll('[data-testid="stProgress"]')) {
      const text = bar.innerText.trim();
      if (text && text !== window.seenProgress.at(-1)) window.seenProgress.push(text);
    }
  }).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


def test_a_two_level_model_shows_what_each_level_carries(dashboard, browser, shots):
    base, _ = dashboard
    folder, _ = shots
    # as a copied link opens it, in a window tall enough for the screenshot to show the levels' row
    page = open_page(browser, base, "?active_vqvae=pokemon-vq2", height=1450)
    page.get_by_role("heading", name="What each level carries").wait_for(timeout=60_000)
    for caption in ("the top codes alone", "the bottom codes alone", "reconstruction from the codes"):
        assert page.get_by_text(caption, exact=True).count() == 1, caption
    finish(page, folder / "overview-two-levels.png")


def test_a_two_level_prior_fills_the_top_grid_then_the_bottom(dashboard, browser, shots):
    base, _ = dashboard
    folder, _ = shots
    page = open_page(browser, base, "sample")
    page.locator('[data-testid="stSelectbox"]', has_text="Prior").click()
    page.get_by_role("option", name=re.compile(r"^pokemon-vq2-prior")).click()
    settle(page)
    page.evaluate(RECORD_PROGRESS)
    page.get_by_role("button", name="Sample", exact=True).click()
    page.get_by_role("button", name="Download the grid (PNG)").wait_for(timeout=300_000)
    seen = page.evaluate("window.seenProgress")
    top = [i for i, text in enumerate(seen) if "the top grid (8 x 8" in text]
    bottom = [i for i, text in enumerate(seen) if "the bottom grid (16 x 16" in text]
    assert top and bottom and max(top) < min(bottom), seen  # the layout first, then the detail
    assert any(text.startswith("320 of 320 codes") for text in seen[bottom[-1]:]), seen
    finish(page, folder / "sample-two-levels.png")
