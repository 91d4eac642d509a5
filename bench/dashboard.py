"""The bench's dashboard rows (--dashboard, --reliability, and the Pokémon pages): an upload
reconstructed, page renders under AppTest (bench/pages.py), the browser test's timings, a
retrain as a background run, and the Codebook page at the largest codebook."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image
from torchvision import transforms

from bench.baseline import run_baseline
from bench.pages import REPO, largest_codebook_page, page_render_times
from bench.table import compare, row
from bench.timing import median_seconds
from vqvae.data.datasets import bundled_mnist
from vqvae.presets import preset
from vqvae.store.hub import BUNDLED_DIR
from vqvae.store.run_folder import RunFolder

UNDER_2_S = compare("<", 2, "s")


def upload_speed(repeats: int = 20) -> tuple[float, float]:
    """Median seconds to turn an uploaded 28x28 PNG into a reconstruction: ours with the
    model cached (as the page has it) against a page that loads the model per upload and
    converts with PIL + torchvision transforms."""
    from vqvae.data.uploads import read_image
    from vqvae.store.load import load_vqvae
    from vqvae.training.evaluate import reconstruct

    buffer = io.BytesIO()
    Image.fromarray(bundled_mnist().val[0, 0].numpy()).save(buffer, format="PNG")
    png = buffer.getvalue()
    folder = BUNDLED_DIR / "mnist-ema"
    model = load_vqvae(folder)

    def ours():
        upload = read_image(png, 1, 28)
        reconstruct(model, upload.images)

    def baseline():
        fresh = load_vqvae(folder).eval()
        x = transforms.ToTensor()(Image.open(io.BytesIO(png)).convert("L").resize((28, 28))).unsqueeze(0)
        with torch.no_grad():
            fresh.decode(fresh.encode(x))

    return median_seconds(ours, repeats), median_seconds(baseline, repeats)


def retrain_speed(target_db: float = 18.0) -> float | None:
    """Seconds from pressing retrain (RunManager.start_like with another K, as the Train
    page does) to the first epoch of the new background run at >= target_db held-out."""
    from vqvae.dashboard.run_manager import RunManager

    manager = RunManager(tempfile.mkdtemp(prefix="bench-retrain-"))
    cfg = preset("mnist")
    cfg.train.epochs, cfg.train.device = 5, "cpu"
    first = manager.start(cfg, name="mnist-K128")
    if manager.wait(first, timeout=900).state != "done":
        raise RuntimeError(f"the first run failed: {manager.info(first).message}")
    started = time.perf_counter()
    second = manager.start_like(first, name="mnist-K64", codebook_size=64)
    try:
        while time.perf_counter() - started < 300:
            if any(r["val_psnr"] >= target_db for r in RunFolder(second).metrics("epoch")):
                return time.perf_counter() - started
            if not manager.info(second).active:
                return None
            time.sleep(0.05)
        return None
    finally:
        manager.cancel(second)
        manager.wait(second, timeout=60)


def browser_timings() -> dict:
    """The delays the browser test measures (tests/browser/test_browser.py: Chromium via Playwright)."""
    folder = Path(tempfile.mkdtemp(prefix="bench-browser-"))
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/browser/test_browser.py"],
                            cwd=REPO, env={**os.environ, "VQVAE_SCREENSHOTS": str(folder)}, capture_output=True,
                            text=True)
    if result.returncode != 0 or not (folder / "timings.json").is_file():
        print(result.stdout[-2000:], file=sys.stderr)
        return {}
    return json.loads((folder / "timings.json").read_text())


def page_rows(name: str, active: str | None = None) -> list[dict]:
    """The slowest page's rerun with its models cached, against its own first run."""
    pages = page_render_times(active)
    slowest = max(pages, key=lambda p: pages[p][0])
    cached, first = pages[slowest]
    return [row(name, cached, first, "s", bigger_is_better=False, target=UNDER_2_S,
                note="AppTest, no browser; baseline: the same page's first run; per page cached/first: "
                     + ", ".join(f"{p} {c:.2f}/{f:.2f}" for p, (c, f) in pages.items()))]


def pokemon_page_rows() -> list[dict]:
    return page_rows("page render with pokemon-ema, models cached (slowest page)", active="pokemon-ema")


def browser_rows() -> list[dict]:
    browser = browser_timings()
    rendered = {k.split()[2]: v for k, v in browser.items() if k.startswith("navigate")}
    rows = [row("curves after the first logged step", browser.get("curves after the first logged step"), None, "s",
                bigger_is_better=False, target=UNDER_2_S,
                note=("Chromium + Playwright (tests/browser/test_browser.py); sidebar navigation with models cached: "
                      + ", ".join(f"{k} {v:.2f}" for k, v in rendered.items()))
                if browser else "not measured: the browser test did not run (no chromium?)")]
    if rendered:
        rows.append(row("page navigation in the browser, models cached (slowest)", max(rendered.values()), None, "s",
                        bigger_is_better=False, target=UNDER_2_S))
    psnr = browser.get("held-out PSNR after that epoch")
    shown = psnr if psnr is not None else float("nan")
    rows.append(row("one MNIST epoch from the Train page, watched live",
                    browser.get("one MNIST epoch started from the Train page, watched live"), None, "s",
                    bigger_is_better=False, target=compare("<=", 60, "s") & compare(">=", 18, "dB", of="psnr"),
                    note="Chromium: from pressing Start (K 128) to the progress line's end of epoch 1, with the page "
                         f"polling and drawing the curves; held-out PSNR then {shown:.2f} dB",
                    psnr=psnr))
    return rows


def dashboard_rows(data) -> list[dict]:
    ours, base = upload_speed()
    rows = [row("reconstruct an upload", ours * 1000, base * 1000, "ms", bigger_is_better=False,
                target=compare("<", 500, "ms"),
                note="28x28 PNG, median of 20; baseline loads the model per upload and converts with PIL + "
                     "torchvision")]
    rows += page_rows("page render, models cached (slowest page)")
    rows += browser_rows()
    retrain = retrain_speed()
    base = run_baseline(data, 8, 18.0)
    rows.append(row("retrain to 18 dB (K 128 -> 64)", retrain, base.seconds_to_target, "s", bigger_is_better=False,
                    target=compare("<=", 60, "s"), note="ours: from pressing retrain to the first epoch at >= 18 dB, "
                    "background process start included; baseline: the tutorial recipe's training time to 18 dB, "
                    "in process"))
    return rows


def reliability_rows() -> list[dict]:
    from vqvae.config import MAX_CODEBOOK_SIZE

    cached, first, small = largest_codebook_page()
    return [row(f"Codebook page at K = {MAX_CODEBOOK_SIZE:,}, models cached", cached, small, "s",
                bigger_is_better=False, target=UNDER_2_S,
                note=f"AppTest, no browser; baseline: the same page on the bundled mnist-ema (K 128), "
                                       f"cached; first (uncached) render at K = {MAX_CODEBOOK_SIZE:,}: {first:.1f} s")]
