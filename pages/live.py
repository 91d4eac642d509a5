"""Watching training runs live (Train and Compare pages): progress, overlaid curves and the
newest reconstruction grid, read from the run folders.

A fragment polls the folders every second while any watched run is active and stops
polling (one full rerun) once they have all ended; no thread ever calls Streamlit.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from pages.common import run_manager
from vqvae import runs
from vqvae.jobs import RunInfo
from vqvae.plots import curves

POLL_S = 0.5  # the curves of a running job show within a second of its newest line
# (metrics key, chart title, record kind, log scale)
CHARTS = [
    ("recon", "reconstruction loss", "step", True),
    ("val_psnr", "held-out PSNR (dB)", "epoch", False),
    ("commitment", "commitment loss", "step", True),
    ("perplexity", "perplexity (per batch)", "step", False),
    ("codebook", "codebook loss (plain codebook)", "step", True),
    ("codes_used", "codes used (per batch)", "step", False),
]


def progress_line(info: RunInfo) -> None:
    s = info.status
    total, step = s.get("total_steps") or 0, s.get("step") or 0
    text = f"{info.name}: {info.state}"
    if s.get("epochs"):
        text += f", epoch {s.get('epoch', 0)} of {s['epochs']}"
    if s.get("val_psnr") is not None:
        text += f", held-out PSNR {s['val_psnr']:.2f} dB"
    if info.state == "failed":
        st.error(f"{info.name} failed: {info.message}")
    elif info.state == "queued":
        st.info(f"{info.name} is queued: it starts when the run before it on the GPU ends.")
    else:
        st.progress(min(step / total, 1.0) if total else 0.0, text=text)


def newest_preview(run_dir: Path) -> Path | None:
    previews = sorted((run_dir / "previews").glob("epoch_*.png"))
    return previews[-1] if previews else None


def watch(paths: list[Path], key: str, labels: dict[Path, str] | None = None) -> None:
    """Progress bars, the six curves of every run in `paths` on shared axes, and the newest
    reconstruction grid of each; live while any of them is active."""
    manager = run_manager()
    labels = labels or {}
    polling = any(manager.info(p).active for p in paths)

    @st.fragment(run_every=POLL_S if polling else None)
    def live():
        infos = [manager.info(p) for p in paths]
        for info in infos:
            progress_line(info)
        steps = {labels.get(i.path, i.name): runs.read_metrics(i.path, "step") for i in infos}
        epochs = {labels.get(i.path, i.name): runs.read_metrics(i.path, "epoch") for i in infos}
        if not any(steps.values()):
            st.caption("The curves fill in from the first logged steps.")
        # the charts are drawn empty too: the browser has loaded Plotly before the first point arrives
        columns = st.columns(2)
        for n, (metric, title, kind, log_y) in enumerate(CHARTS):
            figure = curves(steps if kind == "step" else epochs, metric, title, log_y=log_y)
            columns[n % 2].plotly_chart(figure, key=f"{key}-{metric}")
        grids = [(labels.get(i.path, i.name), newest_preview(i.path)) for i in infos]
        grids = [(label, png) for label, png in grids if png is not None]
        if grids:
            st.caption("Newest reconstructions of held-out images (top row: originals)")
            for label, png in grids:
                st.image(str(png), caption=f"{label}: {png.stem.replace('_', ' ')}", width="stretch")
        if polling and not any(i.active for i in infos):
            st.rerun()  # all ended: redraw the page once, without polling

    live()
