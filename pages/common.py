"""What every page shares: cached model loading, the sidebar (device and active VQ-VAE),
and turning tensors into pictures. Pages stay thin; the work happens in `vqvae`."""

from __future__ import annotations

import io
import time
from dataclasses import dataclass
from pathlib import Path

import streamlit as st
import torch
import torchvision.utils as vutils
from PIL import Image
from streamlit.runtime.pages_manager import PagesManager

from vqvae.config import setting_info
from vqvae.dashboard.codebook_view import enlarge
from vqvae.dashboard import url_state
from vqvae.dashboard.run_manager import RunInfo, RunManager, default_root, has_checkpoint, vqvae_of_prior_run
from vqvae.store import hub
from vqvae.store import checkpoints
from vqvae.store.load import load_classifier, load_prior, load_vqvae
from vqvae.data.datasets import DATASET_TITLES, class_kind, class_names, load_data
from vqvae.device import pick_device
from vqvae.errors import VQVAEError
from vqvae.models.autoencoder import VQVAE, encode_images
from vqvae.models.metrics import code_usage
from vqvae.store import run_folder
from vqvae.training.evaluate import evaluate
from vqvae.store.provenance import dataset_of_prior, vqvae_of_prior
from vqvae.training.sample_quality import classifier_for
from vqvae.store.provenance import dataset_of_vqvae, held_out_of_vqvae
from vqvae.store import layout

# A deep link (say /train) opened before any session has run app.py finds Streamlit still
# in its old pages/-folder mode, which runs the page file alone (no layout, every module in
# pages/ listed as a page). app.py's st.navigation ends that mode for the whole server;
# end it here too and run again, now through app.py, on the same page.
if PagesManager.uses_pages_directory:
    PagesManager.uses_pages_directory = False
    st.rerun()

ACTIVE = "active_vqvae"  # the active VQ-VAE's reference, shared by every page
ACTIVE_WIDGET = "active_vqvae_widget"
SHOWN_PIXELS = 280  # single pictures are enlarged by whole pixels to about this, so they stay crisp


def weights_version(ref: str) -> int | None:
    """When a run's best checkpoint was last written (ns), None for a bundled or Hub model: a
    run resumed in the same folder gets new weights, which the caches must not hide."""
    folder = checkpoints.resolve_checkpoint_or_none(Path(ref), "best") if Path(ref).is_dir() else None
    try:
        return (folder / layout.WEIGHTS).stat().st_mtime_ns if folder else None
    except OSError:
        return None


def cached_vqvae(ref: str, device: str):
    """(model, where it came from) for a model reference; cached per reference, device and
    version of its weights."""
    return _vqvae(ref, device, weights_version(ref))


@st.cache_resource(show_spinner="Loading the model...", max_entries=32)
def _vqvae(ref: str, device: str, version: int | None):
    found = hub.locate(ref, "vqvae")
    return load_vqvae(found.path, device), found


@st.cache_resource(show_spinner="Loading the prior...")
def cached_prior(ref: str, device: str):
    """(prior, its VQ-VAE, where it came from)."""
    found = hub.locate(ref, "prior")
    return load_prior(found.path, device), load_vqvae(vqvae_of_prior(found.path), device), found


@st.cache_resource(show_spinner="Loading the classifier...")
def cached_classifier(dataset: str, device: str):
    """The bundled classifier of a data set (MNIST's digits), or None when it has none."""
    try:
        return load_classifier(classifier_for(dataset), device)
    except VQVAEError:
        return None


@dataclass
class HeldOut:
    """The held-out split of a model's data set, fitted to the model: what its pages show and measure."""
    images: torch.Tensor  # uint8 [M, C, H, W]
    labels: list[int] | None
    classes: list[str] | None  # label -> name (a digit, a Pokémon type, ...)
    dataset: str  # "mnist", "pokemon", ...
    notice: str | None  # when another data set stands in for the model's own

    @property
    def title(self) -> str:
        return DATASET_TITLES.get(self.dataset, self.dataset)

    @property
    def kind(self) -> str:
        return class_kind(self.dataset)

    def examples(self) -> list[int]:
        """The held-out images a picker offers: the first of each class, or the first 20."""
        if self.labels is None:
            return list(range(min(20, len(self.images))))
        firsts = {label: index for index, label in reversed(list(enumerate(self.labels)))}
        return sorted(firsts.values(), key=lambda index: self.labels[index])

    def name_of(self, index: int) -> str:
        """How a page names one held-out image: its class, when the data set has them."""
        if self.labels is not None and self.classes and 0 <= self.labels[index] < len(self.classes):
            return f"{self.classes[self.labels[index]]} (held-out image {index})"
        return f"held-out image {index}"


@st.cache_resource(show_spinner="Loading the held-out images...")
def held_out(ref: str, device: str) -> HeldOut:
    """The held-out images of the data set the model `ref` was trained on."""
    model, found = cached_vqvae(ref, device)
    data, dataset, notice = held_out_of_vqvae(found.path, model)
    labels = data.val_labels.tolist() if data.val_labels is not None else None
    return HeldOut(data.val, labels, class_names(dataset) if labels is not None else None, dataset, notice)


def held_out_usage(ref: str, device: str) -> torch.Tensor:
    """How often each code of the model `ref` occurs on its held-out split, [K]."""
    return _usage(ref, device, weights_version(ref))


@st.cache_resource(show_spinner="Counting code usage on the held-out images...", max_entries=32)
def _usage(ref: str, device: str, version: int | None) -> torch.Tensor:
    model, _ = cached_vqvae(ref, device)
    return code_usage(encode_images(model, held_out(ref, device).images), model.config.codebook_size)


def held_out_metrics(ref: str, device: str) -> dict:
    """Held-out MSE, PSNR, perplexity and codes used of the model `ref` on its held-out split."""
    return _metrics(ref, device, weights_version(ref))


@st.cache_resource(show_spinner="Evaluating on the held-out images...", max_entries=32)
def _metrics(ref: str, device: str, version: int | None) -> dict:
    model, _ = cached_vqvae(ref, device)
    return evaluate(model, held_out(ref, device).images)


@st.cache_data(show_spinner=False)
def dataset_title(ref: str) -> str | None:
    """The name of the data set a local model was trained on ("Pokémon"), for pickers; None
    for a Hub model not yet fetched, or when unknown."""
    path = hub.BUNDLED_DIR / ref if ref in hub.bundled_models() else Path(ref)
    dataset = (dataset_of_vqvae(path) or dataset_of_prior(path)) if path.is_dir() else None
    return DATASET_TITLES.get(dataset, dataset) if dataset else None


def short_label(info: RunInfo) -> str:
    """The name a run was started under (made from its settings) and when it started, from its
    folder's time stamp ("mnist-conv-ema-K32, Dec 3 21:05:17"); the folder's own name where
    it has no stamp."""
    try:
        started = time.strptime(info.name[:15], "%Y%m%d-%H%M%S")
    except ValueError:  # a folder named by hand: its name tells it apart
        return info.name if info.label == info.name else f"{info.label} ({info.name})"
    # a folder without its job's name (started from the command line): the name between stamp and tag
    label = info.name[16:].rsplit("-", 1)[0] if info.label == info.name else info.label
    return f"{label}, {time.strftime('%b', started)} {started.tm_mday} {time.strftime('%H:%M:%S', started)}"


def model_label(ref: str) -> str:
    """A model's name in a picker, with its data set: "pokemon-ema (Pokémon)"; a run's by the
    name it was started under and when ("mnist-conv-ema-K32, Dec 3 21:05:17 (MNIST)")."""
    title = dataset_title(ref)
    return f"{model_name(ref)} ({title})" if title else model_name(ref)


def model_name(ref: str) -> str:
    """A model's name: a bundled or Hub model's own, a run's as short_label gives it."""
    return short_label(run_manager().info(ref)) if run_folder.kind_of_run(Path(ref)) else Path(ref).name


@st.cache_data(ttl=30, show_spinner="Looking for the data set...")
def data_problem(dataset: str, folder: str | None) -> str | None:
    """Why a data set cannot be trained on here (one line saying what to place where), or None."""
    try:
        load_data(dataset, 1, 28, folder)
    except VQVAEError as exc:
        return str(exc)
    return None


def run_manager() -> RunManager:
    """The run manager of the runs folder (VQVAE_RUNS, default runs/), one per folder."""
    return _manager(str(default_root()))


@st.cache_resource
def _manager(root: str) -> RunManager:
    return RunManager(root)


def priors_trained_for(listed: list | None = None) -> dict[str, str]:
    """Each prior -> the VQ-VAE it was trained on, as the sidebar names it: the bundled ones
    first (pretrained/NAME-prior holds NAME's prior), then the finished prior runs (of
    `listed`, the run manager's list when the page already has it)."""
    trained_for = {name: name.removesuffix("-prior") for name in hub.bundled_models("prior")}
    runs = [i for i in (run_manager().list() if listed is None else listed) if i.kind == "prior" and i.state == "done"]
    return trained_for | {str(i.path): vqvae_of_prior_run(i.path) for i in runs}


def prior_of(active: "Active") -> str | None:
    """A prior trained on the active VQ-VAE's codes, when there is one."""
    return next((prior for prior, vqvae in priors_trained_for().items()
                 if vqvae in (active.ref, str(active.found.path))), None)


def device() -> str:
    return str(pick_device())


def vqvae_choices(unfinished: bool = False) -> list[str]:
    """The default model first (the bundled mnist-ema, or the Hub's when one is set), the other
    bundled VQ-VAEs, and every finished VQ-VAE run (or ended with a checkpoint) (every VQ-VAE run with unfinished=True,
    for a page that watches them train)."""
    default = hub.default_model("vqvae")
    choices = [default] + [name for name in hub.bundled_models("vqvae") if name != default]
    manager = run_manager()
    # a run counts once it has a checkpoint (its best so far is a usable model), also while it is
    # resumed: the active model does not vanish from the sidebar because it trains on
    choices += [str(i.path) for i in manager.list() if i.kind == "vqvae" and (
        unfinished or i.state == "done" or has_checkpoint(i.path))]
    return choices


@dataclass
class Active:
    """The VQ-VAE the sidebar chose: the model, its reference (key of the caches) and where it came from."""
    model: VQVAE
    ref: str
    found: hub.Located


KEPT = ("train-", "compare-", "codebook_", "sample", "invert", "set-")  # widget keys that survive page changes
IN_URL = "url-keys"  # the keys this session keeps in the page's query parameters -> their defaults


def keep_choices() -> None:
    """Streamlit forgets a widget's value when a page without that widget runs; writing the
    value back into session state on every page keeps the user's choices (their settings on
    Train, Compare, Codebook, Sample) for when they come back. The choices bound to the URL
    (`remember`) are written to the query parameters here too: every run starts with the
    values the last interaction left, so the URL always holds the current view."""
    in_url = st.session_state.get(IN_URL, {})
    for key in list(st.session_state.keys()):
        if isinstance(key, str) and (key.startswith(KEPT) or key in in_url):  # every remembered choice too
            st.session_state[key] = st.session_state[key]
    for key, default in in_url.items():
        _to_url(key, st.session_state.get(key), default)


def _to_url(key: str, value, default) -> None:
    if value == default or value is None or not url_state.encodable(value):  # a short link: defaults left out
        if key in st.query_params:
            del st.query_params[key]
    elif st.query_params.get(key) != (text := url_state.encode(value)):
        st.query_params[key] = text


def remember(key: str, default, allowed=None):
    """The value of the widget `key`, kept in the URL: a new session (a reload, a copied link)
    starts from the URL's value when `allowed` (a collection, or a test of a value) accepts
    it, else from `default`; while the user has not changed it, it follows `default`. Call it
    before drawing the widget and draw the widget without a default of its own (the value is
    in session state). Returns the value."""
    defaults = st.session_state.get(IN_URL, {})
    if key in defaults and defaults[key] != default and st.session_state.get(key) == defaults[key]:
        st.session_state[key] = default  # a value the user never changed follows its default (another prior's N)
    st.session_state[IN_URL] = {**defaults, key: default}
    if key not in st.session_state and key in st.query_params:
        value = url_state.decode(st.query_params[key])
        if _accepts(allowed, value):
            st.session_state[key] = value
    if key not in st.session_state or not _accepts(allowed, st.session_state[key]):
        st.session_state[key] = default
    _to_url(key, st.session_state[key], default)
    return st.session_state[key]


def _accepts(allowed, value) -> bool:
    if allowed is None:
        return True
    if callable(allowed):
        try:
            return bool(allowed(value))
        except (TypeError, ValueError):
            return False
    try:
        return value in allowed
    except TypeError:
        return False


def sidebar(needs_model: bool = True) -> Active | None:
    """The device and the active VQ-VAE (which the other pages use). A model that cannot be
    loaded (a damaged checkpoint, say) is reported in the sidebar, where another can be
    picked; a page that needs it stops with the error, any other page goes on (None)."""
    keep_choices()
    st.sidebar.metric("Device", device().upper())
    choices = vqvae_choices()
    remember(ACTIVE, choices[0], choices)
    # Streamlit drops a widget's state when a page without it runs, so the choice lives under
    # ACTIVE (plain session state, which every page keeps) and the widget is set from it.
    st.session_state[ACTIVE_WIDGET] = st.session_state[ACTIVE]
    ref = st.sidebar.selectbox("Active VQ-VAE", choices, key=ACTIVE_WIDGET, format_func=model_label,
                               on_change=lambda: st.session_state.update({ACTIVE: st.session_state[ACTIVE_WIDGET]}),
                               help="A bundled model, the Hub model set by VQVAE_HUB_REPO, or a finished run")
    try:
        model, found = cached_vqvae(ref, device())
    except VQVAEError as exc:
        st.sidebar.error(f"The active model cannot be loaded: {exc}")
        if needs_model:
            st.error(f"This page needs the active VQ-VAE, which cannot be loaded: {exc}. Pick another in the sidebar.")
            st.stop()
        return None
    if found.notice:
        st.sidebar.info(found.notice)
    c = model.config
    title = dataset_title(ref)
    st.sidebar.caption(f"{c.codebook_words}, K = {c.codebook_size}, codes {c.grid_size} x {c.grid_size}, "
                       f"{'colour' if c.in_channels == 3 else 'grayscale'} {c.image_size} px"
                       f"{f', trained on {title}' if title else ''}, from {found.source}")
    return Active(model, ref, found)


def setting_widget(where, section, name: str, value, key: str):
    """The widget of a config setting, made from its declaration (vqvae.config.setting): a
    toggle for a switch, a radio for choices, a select-slider for stops, a text box for
    text, else a slider or a number box within its range (0 standing for "none" when the
    setting may be None); title and help from there too. `value` is where it starts; the
    user's value is kept in the URL (remember). Returns its value as the setting takes it."""
    info = setting_info(section, name)
    title, tip = info.get("title") or info["label"], info.get("help") or None
    low, high, step = info.get("ui") or (info.get("low"), info.get("high"), None)
    if info.get("stops"):
        value = min(info["stops"], key=lambda stop: abs(stop - value))
    elif info["optional"] and info["type"] is int:
        value, low = int(value or 0), 0
    remember(key, value, lambda v: _widget_takes(info, v, low, high))
    if info["type"] is bool:
        return where.toggle(title, key=key, help=tip)
    if info.get("choices"):
        return where.radio(title, list(info["choices"]), horizontal=True, key=key, help=tip)
    if info.get("stops"):
        return where.select_slider(title, list(info["stops"]), key=key, help=tip, format_func=lambda v: f"{v:g}")
    if info["type"] is str:
        return where.text_input(title, key=key, help=tip)
    if info["type"] is float:
        return where.slider(title, float(low), float(high), step=float(step), key=key, help=tip)
    if info["optional"]:
        tip = f"{tip} (0: none)" if tip else "0: none"
        return where.number_input(title, 0, int(high) if high is not None else None, key=key, help=tip) or None
    return where.number_input(title, int(low), int(high) if high is not None else None, key=key, help=tip)


def _widget_takes(info: dict, value, low, high) -> bool:
    """Whether a setting's widget can show `value` (one read back from a URL, say)."""
    kind = info["type"]
    if info.get("choices") or info.get("stops"):
        return value in (info.get("choices") or info["stops"]) and isinstance(value, (int, float) if kind is float else kind)
    if kind is bool or kind is str:
        return isinstance(value, kind)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not isinstance(value, int)):
        return False
    return (low is None or value >= low) and (high is None or value <= high)


def widget_value(section, name: str, key: str):
    """What a setting_widget's key holds, as the setting takes it (0 is None for an optional number)."""
    value = st.session_state[key]
    return None if setting_info(section, name)["optional"] and value == 0 else value


def picture(images: torch.Tensor, nrow: int = 8, pixels: int | None = None):
    """A batch [N, C, H, W] in [0, 1] as one HWC numpy grid for st.image; with `pixels`, each
    image is first enlarged by whole pixels to about that size, so the browser does not blur it."""
    images = images.detach().float().cpu()
    if pixels:
        images = enlarge(images, pixels)
    grid = vutils.make_grid(images.clamp(0, 1), nrow=nrow, padding=2, pad_value=1.0)
    return grid.permute(1, 2, 0).numpy()


def kept_upload(where, label: str, key: str, **uploader) -> tuple[str, bytes] | None:
    """A file uploader that hands its file over and empties itself. The picture in use is
    kept in session state (its name and bytes: it stays when the user visits another page)
    and shown as one line with a Remove button; the uploader is drawn anew (a new key) after
    each file, so a file it refused (over the size limit) does not linger beside the next, and
    it never shows a list that suggests several files. Returns (name, bytes) or None."""
    kept, turn = f"{key}-kept", f"{key}-turn"
    file = where.file_uploader(label, key=f"{key}-{st.session_state.get(turn, 0)}", **uploader)
    if file is not None:
        st.session_state[kept] = (file.name, file.getvalue())
        st.session_state[turn] = st.session_state.get(turn, 0) + 1
        st.rerun()
    held = st.session_state.get(kept)
    if held is not None:
        line, remove = where.columns([3, 1], vertical_alignment="center")
        line.caption(f"In use: {held[0]} ({len(held[1]) / 1e6:.2f} MB)")
        remove.button("Remove", key=f"{key}-remove", on_click=lambda: st.session_state.pop(kept, None))
    return held


def png_bytes(images: torch.Tensor, nrow: int = 8) -> bytes:
    pixels = (picture(images, nrow) * 255).round().astype("uint8")
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()
