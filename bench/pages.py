"""The bench's page timings under Streamlit's AppTest (no browser): every page's rerun with
its models cached against its first run, and the Codebook page at the largest codebook.
Only the dashboard rows import this (it needs Streamlit; the library and the GPU check
do not)."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]  # where app.py and pages/ are


def page_render_times(active: str | None = None) -> dict[str, tuple[float, float]]:
    """Per page: (seconds of a rerun once its models are cached, seconds of its first run
    in a fresh process cache); with `active`, that model is picked in the sidebar first."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from pages.catalog import PAGES

    os.environ["VQVAE_RUNS"] = tempfile.mkdtemp(prefix="bench-runs-")
    st.cache_resource.clear()
    st.cache_data.clear()
    times = {}
    for page in (entry.name for entry in PAGES):
        app = AppTest.from_file(str(REPO / "app.py"), default_timeout=300)
        app.run()
        if active:
            app.sidebar.selectbox[0].set_value(active).run()
        started = time.perf_counter()
        app.switch_page(f"pages/{page}.py").run()
        first = time.perf_counter() - started
        started = time.perf_counter()
        app.run()
        times[page] = (time.perf_counter() - started, first)
        if app.exception:
            raise RuntimeError(f"page {page} raised: {app.exception}")
    return times


def largest_codebook_page() -> tuple[float, float, float]:
    """(cached rerun, first run) seconds of the Codebook page with a model of the largest K
    allowed (the MNIST preset's architecture, untrained), and the cached rerun of the same
    page with the bundled mnist-ema (K 128) for comparison."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from vqvae.config import MAX_CODEBOOK_SIZE
    from vqvae.presets import preset
    from vqvae.training.vqvae_trainer import train

    root = Path(tempfile.mkdtemp(prefix="bench-largest-k-"))
    os.environ["VQVAE_RUNS"] = str(root)
    cfg = preset("mnist")
    cfg.model.codebook_size, cfg.train.epochs, cfg.train.device = MAX_CODEBOOK_SIZE, 0, "cpu"
    train(cfg, root / "largest-k", progress=False)
    st.cache_resource.clear()
    st.cache_data.clear()
    times = []
    for active in (str(root / "largest-k"), "mnist-ema"):
        app = AppTest.from_file(str(REPO / "app.py"), default_timeout=300)
        app.session_state["active_vqvae"] = active
        app.run()
        started = time.perf_counter()
        app.switch_page("pages/codebook.py").run()
        first = time.perf_counter() - started
        started = time.perf_counter()
        app.run()
        times.append((time.perf_counter() - started, first))
        if app.exception:
            raise RuntimeError(f"the Codebook page raised: {app.exception}")
    return times[0][0], times[0][1], times[1][0]
