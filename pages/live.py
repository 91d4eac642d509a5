"""Watching training runs live (Train and Compare pages): progress, overlaid curves and the
newest reconstruction grid, read from the run folders.

A fragment polls the folders every second while any watched run is active and stops
polling (one full rerun) once they have all ended; no thread ever calls Streamlit.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from pages.common import run_manager
from vqvae.dashboard.catalog import short_label
from vqvae import files
from vqvae.dashboard.code_use import code_use_map, usage_history
from vqvae.dashboard.plots import curves
from vqvae.dashboard.runs import RunInfo
from vqvae.store import layout
from vqvae.store.run_folder import RunFolder

WATCHED = "train_watched"  # the run folders on the Train page's charts, in the order started
POLL_S = 1.0  # the curves of a running job show within about a second of its newest line
# run kind -> its charts: (metrics key, chart title, record kind, log scale)
CHARTS = {
    "vqvae": [
        ("recon", "reconstruction loss", "step", True),
        ("val_psnr", "held-out PSNR (dB)", "epoch", False),
        ("commitment", "commitment loss", "step", True),
        ("perplexity", "perplexity (per batch)", "step", False),
        ("codebook", "codebook loss (plain codebook)", "step", True),
        ("codes_used", "codes used (per batch)", "step", False),
        ("dead_codes", "dead codes (unused for the dead-code window)", "step", False),
    ],
    "prior": [
        ("val_nll", "prior: held-out NLL (nats per code; lower is better)", "epoch", False),
        ("loss", "prior: training NLL (nats per code)", "step", False),
    ],
}
# Lines a prior's held-out NLL is read against: what it must beat to have learnt anything.
BASELINES = {"unigram_nll": "codes' own frequencies (unigram)", "uniform_nll": "uniform over K"}


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


def metrics_size(run_dir: Path) -> int:
    try:
        return (run_dir / layout.METRICS).stat().st_size
    except FileNotFoundError:
        return 0


@st.cache_resource(max_entries=64)
def records_by_kind(path: str, size: int) -> dict[str, list[dict]]:
    """A run's metrics.jsonl read once per size: a poll re-reads only the runs that grew."""
    by_kind: dict[str, list[dict]] = {"step": [], "epoch": []}
    for record in RunFolder(Path(path)).metrics():
        by_kind.setdefault(record.get("kind"), []).append(record)
    return by_kind


@st.cache_resource(max_entries=32)
def figures(sources: tuple[tuple[str, str, int, str], ...], colours: tuple[tuple[str, str], ...] = ()) -> list:
    """[(metric, figure)] for runs given as (label, folder, size of its metrics.jsonl, kind):
    the size keys the cache, so a poll that finds nothing new costs no figure building. The
    charts are those of the kinds shown (VQ-VAE, prior); once there is data, a chart no run
    has a nonzero value for (the codebook loss of EMA runs) is left out. A prior's held-out
    NLL is drawn beside its unigram and uniform baselines. colours: (label, colour) pairs, so a
    page keeps one colour per model across all its charts."""
    shown = []
    for kind in dict.fromkeys(kind for *_, kind in sources):
        # each kind's charts from its own runs: a VQ-VAE's "loss" is not a prior's NLL
        steps = {label: records_by_kind(path, size)["step"] for label, path, size, of in sources if of == kind}
        epochs = {label: records_by_kind(path, size)["epoch"] for label, path, size, of in sources if of == kind}
        started = any(steps.values())
        for metric, title, record_kind, log_y in CHARTS[kind]:
            series = steps if record_kind == "step" else epochs
            if started and not any(r.get(metric) for records in series.values() for r in records):
                continue
            if metric == "val_nll":
                series = dict(series)
                for label, records in epochs.items():
                    for key, name in BASELINES.items():
                        lines = [{"step": r["step"], metric: r[key]} for r in records if key in r and "step" in r]
                        if lines:
                            series[f"{label}: {name}"] = lines
            shown.append((metric, curves(series, metric, title, log_y=log_y, colours=dict(colours) or None)))
    return shown


@st.cache_resource(max_entries=32)
def code_use_maps(sources: tuple[tuple[str, str, int, str], ...]) -> list[tuple[str, object]]:
    """[(label, figure)]: the code-use-by-epoch map of each VQ-VAE whose epoch lines record
    each code's held-out use (those trained before it was recorded have none)."""
    maps = []
    for label, path, size, kind in sources:
        history = usage_history(records_by_kind(path, size)["epoch"]) if kind == "vqvae" else None
        if history is not None:
            maps.append((label, code_use_map(label, *history)))
    return maps


PREVIEWS = {"vqvae": ("previews", "reconstructions of held-out images (top row: originals)"),
            "prior": ("samples", "samples, the codes drawn by the prior")}  # kind -> (folder, what its grids show)


def newest_preview(run_dir: Path, kind: str = "vqvae") -> tuple[str, bytes] | None:
    """(name, PNG bytes) of the newest readable grid a run saved (a VQ-VAE's reconstructions,
    a prior's samples); a damaged one is passed over."""
    for png in sorted((run_dir / PREVIEWS[kind][0]).glob("epoch_*.png"), reverse=True)[:3]:
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
          histories: dict[str, Path] | None = None, colours: dict[str, str] | None = None) -> None:
    """Progress bars, the curves of every run in `paths` on shared axes (VQ-VAEs' and priors'),
    and the newest reconstruction or sample grid of each; live while any of them is active. `histories` (label ->
    folder) adds the curves a finished model carries in its folder (a bundled one's); colours
    (label -> colour) keeps a page's colours."""
    manager = run_manager()
    labels, histories = labels or {}, histories or {}
    polling = any(manager.info(p).active for p in paths)

    @st.fragment(run_every=POLL_S if polling else None)
    def live():
        infos = [manager.info(p) for p in paths]
        for info in infos:
            progress_line(info)
        names = [labels.get(i.path) or short_label(i) for i in infos]
        # two runs of one name started in the same second: their folders' tags tell them apart
        names = [f"{n} ({i.name.rsplit('-', 1)[-1]})" if names.count(n) > 1 else n for n, i in zip(names, infos)]
        sources = tuple((name, str(i.path), metrics_size(i.path), i.kind) for name, i in zip(names, infos))
        sources += tuple((label, str(folder), metrics_size(folder), "vqvae") for label, folder in histories.items())
        if not any(size for _, _, size, _ in sources):
            st.caption("The curves fill in from the first logged steps.")
        # drawn empty too, so the browser has loaded Plotly before the first point arrives
        columns = st.columns(2)
        for n, (metric, figure) in enumerate(figures(sources, tuple((colours or {}).items()))):
            columns[n % 2].plotly_chart(figure, key=f"{key}-{metric}")
        for n, (label, figure) in enumerate(code_use_maps(sources)):
            if n % 2 == 0:
                columns = st.columns(2)
            columns[n % 2].plotly_chart(figure, key=f"{key}-use-{n}")
        grids = [(name, i.kind, newest_preview(i.path, i.kind)) for name, i in zip(names, infos)]
        for label, kind, (name, png) in [grid for grid in grids if grid[2] is not None]:
            st.image(png, caption=f"{label}: newest {PREVIEWS[kind][1]}, {name}", width="stretch")
        if polling and not any(i.active for i in infos):
            st.rerun()  # all ended: redraw the page once, without polling

    live()
