"""Watching training runs live (Train and Compare pages): progress, overlaid curves and the
newest reconstruction grid, read from the run folders.

A fragment polls the folders every second while any watched run is active and stops
polling (one full rerun) once they have all ended; no thread ever calls Streamlit.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from pages.common import run_manager
from vqvae import files
from vqvae.dashboard.plots import curves
from vqvae.dashboard.run_manager import RunInfo
from vqvae.training import runs

POLL_S = 1.0  # the curves of a running job show within about a second of its newest line
# (metrics key, chart title, record kind, log scale)
CHARTS = [
    ("recon", "reconstruction loss", "step", True),
    ("val_psnr", "held-out PSNR (dB)", "epoch", False),
    ("commitment", "commitment loss", "step", True),
    ("perplexity", "perplexity (per batch)", "step", False),
    ("codebook", "codebook loss (plain codebook)", "step", True),
    ("codes_used", "codes used (per batch)", "step", False),
    ("dead_codes", "dead codes (unused for the dead-code window)", "step", False),
]


def progress_line(info: RunInfo) -> None:
    s = info.status
    total, step = s.get("total_steps") or 0, s.get("step") or 0
    text = f"{info.name}: {info.state}"
    if s.get("epochs"):
        epoch = s.get("epoch", 0) + (1 if info.active and s.get("epoch", 0) < s["epochs"] else 0)  # the one under way
        text += f", epoch {epoch} of {s['epochs']}"
    if s.get("val_psnr") is not None:
        text += f", held-out PSNR {s['val_psnr']:.2f} dB"
    if info.state == "failed":
        st.error(f"{info.name} failed: {info.message}")
    elif info.state == "queued":
        st.info(f"{info.name} is queued: it starts when the run before it on the GPU ends.")
    else:
        st.progress(min(step / total, 1.0) if total else 0.0, text=text)


def short_label(info: RunInfo) -> str:
    """The name a run was started under and its folder's tag, which tells apart two runs of one name."""
    return f"{info.label} ({info.name.rsplit('-', 1)[-1]})"


def metrics_size(run_dir: Path) -> int:
    try:
        return (run_dir / runs.METRICS).stat().st_size
    except FileNotFoundError:
        return 0


@st.cache_resource(max_entries=64)
def records_by_kind(path: str, size: int) -> dict[str, list[dict]]:
    """A run's metrics.jsonl read once per size: a poll re-reads only the runs that grew."""
    by_kind: dict[str, list[dict]] = {"step": [], "epoch": []}
    for record in runs.read_metrics(Path(path)):
        by_kind.setdefault(record.get("kind"), []).append(record)
    return by_kind


@st.cache_resource(max_entries=32)
def figures(sources: tuple[tuple[str, str, int], ...]) -> list:
    """[(metric, figure)] for runs given as (label, folder, size of its metrics.jsonl): the
    size keys the cache, so a poll that finds nothing new costs no figure building. Once
    there is data, a chart no run has a nonzero value for (the codebook loss of EMA runs)
    is left out."""
    steps = {label: records_by_kind(path, size)["step"] for label, path, size in sources}
    epochs = {label: records_by_kind(path, size)["epoch"] for label, path, size in sources}
    started = any(steps.values())
    shown = []
    for metric, title, kind, log_y in CHARTS:
        series = steps if kind == "step" else epochs
        if started and not any(r.get(metric) for records in series.values() for r in records):
            continue
        shown.append((metric, curves(series, metric, title, log_y=log_y)))
    return shown


def newest_preview(run_dir: Path) -> tuple[str, bytes] | None:
    """(name, PNG bytes) of the newest readable reconstruction grid; a damaged one is passed over."""
    for png in sorted((run_dir / "previews").glob("epoch_*.png"), reverse=True)[:3]:
        try:
            version = png.stat()
        except OSError:
            continue
        data = readable_png(str(png), version.st_size, version.st_mtime_ns)
        if data is not None:
            return png.stem.replace("_", " "), data
    return None


@st.cache_resource(max_entries=64)
def readable_png(path: str, size: int, mtime_ns: int) -> bytes | None:
    """files.read_png once per version of a file (size and mtime key it): a poll finds the same grid."""
    return files.read_png(Path(path))


def watch(paths: list[Path], key: str, labels: dict[Path, str] | None = None,
          histories: dict[str, Path] | None = None) -> None:
    """Progress bars, the six curves of every run in `paths` on shared axes, and the newest
    reconstruction grid of each; live while any of them is active. `histories` (label ->
    folder) adds the curves a finished model carries in its folder (a bundled one's)."""
    manager = run_manager()
    labels, histories = labels or {}, histories or {}
    polling = any(manager.info(p).active for p in paths)

    @st.fragment(run_every=POLL_S if polling else None)
    def live():
        infos = [manager.info(p) for p in paths]
        for info in infos:
            progress_line(info)
        names = [labels.get(i.path) or short_label(i) for i in infos]
        sources = tuple((name, str(i.path), metrics_size(i.path)) for name, i in zip(names, infos))
        sources += tuple((label, str(folder), metrics_size(folder)) for label, folder in histories.items())
        if not any(size for _, _, size in sources):
            st.caption("The curves fill in from the first logged steps.")
        # drawn empty too, so the browser has loaded Plotly before the first point arrives
        columns = st.columns(2)
        for n, (metric, figure) in enumerate(figures(sources)):
            columns[n % 2].plotly_chart(figure, key=f"{key}-{metric}")
        grids = [(name, newest_preview(i.path)) for name, i in zip(names, infos)]
        grids = [(label, preview) for label, preview in grids if preview is not None]
        if grids:
            st.caption("Newest reconstructions of held-out images (top row: originals)")
            for label, (name, png) in grids:
                st.image(png, caption=f"{label}: {name}", width="stretch")
        if polling and not any(i.active for i in infos):
            st.rerun()  # all ended: redraw the page once, without polling

    live()
