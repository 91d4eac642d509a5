"""What every page shares: cached model loading, the sidebar (device and active VQ-VAE),
the choices kept in the URL and the settings' widgets. Pages stay thin; the work happens
in `vqvae` (vqvae.dashboard: the catalog of models, widgets, pictures)."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

from pages.cached import cached_vqvae
from vqvae.dashboard import catalog, url_state
from vqvae.dashboard.run_manager import RunManager
from vqvae.dashboard.runs import default_root
from vqvae.dashboard.widgets import setting_value, widget_for
from vqvae.data.datasets import load_data
from vqvae.device import pick_device
from vqvae.errors import VQVAEError
from vqvae.models.autoencoder import VQVAE
from vqvae.store import hub

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


@st.cache_data(show_spinner=False)
def dataset_title(ref: str) -> str | None:
    """The title of the data set a local model was trained on (catalog.dataset_title), cached."""
    return catalog.dataset_title(ref)


def model_label(ref: str) -> str:
    """A model's name in a picker, with its data set: "pokemon-ema (Pokémon)"; a run's by the
    name it was started under and when ("mnist-conv-ema-K32, Dec 3 21:05:17 (MNIST)")."""
    return catalog.model_label(model_name(ref), dataset_title(ref))


def model_name(ref: str) -> str:
    """A model's name: a bundled or Hub model's own, a run's as catalog.short_label gives it."""
    return catalog.model_name(ref, run_manager().info)


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
    """Each prior -> the VQ-VAE it was trained on (catalog.priors_trained_for), of `listed`,
    the run manager's list when the page does not have it already."""
    return catalog.priors_trained_for(run_manager().list() if listed is None else listed)


def prior_of(active: "Active") -> str | None:
    """A prior trained on the active VQ-VAE's codes, when there is one."""
    return catalog.prior_of(active.ref, active.found.path, priors_trained_for())


def device() -> str:
    return str(pick_device())


def vqvae_choices(unfinished: bool = False) -> list[str]:
    """The VQ-VAEs a picker offers (catalog.vqvae_choices): the bundled ones, then the runs."""
    return catalog.vqvae_choices(run_manager().list(), unfinished)


@dataclass
class Active:
    """The VQ-VAE the sidebar chose: the model, its reference (key of the caches) and where it came from."""
    model: VQVAE
    ref: str
    found: hub.Located


IN_URL = "url-keys"  # the keys this session keeps in the page's query parameters -> their defaults


def keep_choices() -> None:
    """Streamlit forgets a widget's value when a page without that widget runs; writing the
    value back into session state on every page keeps the user's choices (their settings on
    Train, Compare, Codebook, Sample) for when they come back. The choices bound to the URL
    (`remember`) are written to the query parameters here too: every run starts with the
    values the last interaction left, so the URL always holds the current view."""
    in_url = st.session_state.get(IN_URL, {})
    for key in url_state.kept_keys(list(st.session_state.keys()), in_url):
        st.session_state[key] = st.session_state[key]
    for key, default in in_url.items():
        _to_url(key, st.session_state.get(key), default)


def _to_url(key: str, value, default) -> None:
    text = url_state.shown_in_url(value, default)
    if text is None:  # a short link: defaults left out
        if key in st.query_params:
            del st.query_params[key]
    elif st.query_params.get(key) != text:
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
        if url_state.accepts(allowed, value):
            st.session_state[key] = value
    if key not in st.session_state or not url_state.accepts(allowed, st.session_state[key]):
        st.session_state[key] = default
    _to_url(key, st.session_state[key], default)
    return st.session_state[key]


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
    st.sidebar.caption(f"{c.codebook_words}, K = {c.codebook_size}, {c.grids_words}, "
                       f"{'colour' if c.in_channels == 3 else 'grayscale'} {c.image_size} px"
                       f"{f', trained on {title}' if title else ''}, from {found.source}")
    return Active(model, ref, found)


def setting_widget(where, section, name: str, value, key: str):
    """The widget of a config setting (vqvae.dashboard.widgets.widget_for: its kind, title,
    help and range), starting from `value`; the user's value is kept in the URL (remember).
    Returns its value as the setting takes it."""
    w = widget_for(section, name, value)
    remember(key, w.start, w.takes)
    if w.kind == "toggle":
        return where.toggle(w.title, key=key, help=w.tip)
    if w.kind == "radio":
        return where.radio(w.title, list(w.options), horizontal=True, key=key, help=w.tip)
    if w.kind == "select_slider":
        return where.select_slider(w.title, list(w.options), key=key, help=w.tip, format_func=lambda v: f"{v:g}")
    if w.kind == "text":
        return setting_value(section, name, where.text_input(w.title, key=key, help=w.tip))
    if w.kind == "slider":
        return where.slider(w.title, float(w.low), float(w.high), step=float(w.step), key=key, help=w.tip)
    high = int(w.high) if w.high is not None else None
    return setting_value(section, name, where.number_input(w.title, int(w.low), high, key=key, help=w.tip))


def widget_value(section, name: str, key: str):
    """What a setting_widget's key holds, as the setting takes it (0 is None for an optional number)."""
    return setting_value(section, name, st.session_state[key])


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
