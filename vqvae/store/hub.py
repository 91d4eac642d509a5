"""Where models come from: a local folder, a bundled model in pretrained/, or the Hugging
Face Hub (with its cache), and the way back up (`push`).

A model reference is one of
- a path: a run folder or a checkpoint folder in Hub layout;
- a bundled name: a folder of pretrained/ (`mnist-ema`, `mnist-ema-prior`, ...);
- a Hub reference `owner/name[/sub/folder][@revision]`: a model repo, optionally a folder
  inside it (a repo laid out like pretrained/ holds several models).

When the Hub cannot be reached, or a model is not cached while offline, `locate` falls back
to the bundled model of the same kind with a one-line notice, after a short probe (a few
seconds), never hanging on a dead network.

Models load through vqvae.models.hub_mixin (safetensors only, always strict), and by
reference through vqvae.store.load (load_vqvae, load_prior, load_classifier).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from huggingface_hub import HfApi, get_token, snapshot_download
from huggingface_hub import constants as hub_constants

from vqvae.config import run_kind
from vqvae.errors import VQVAEError
from vqvae.files import read_json
from vqvae.store.layout import CONFIG, WEIGHTS

BUNDLED_DIR = Path(__file__).resolve().parents[1] / "pretrained"  # shipped inside the package
# The Hub folder the dashboard tries first for each kind of model, before the bundled one.
HUB_REPO_ENV = "VQVAE_HUB_REPO"  # e.g. "owner/vqvae-lab-models": a repo laid out like pretrained/
DEFAULT_MODELS = {"vqvae": "mnist-ema", "prior": "mnist-ema-prior"}
PROBE_TIMEOUT_S = 3.0
_REPO_REF = re.compile(r"^(?P<repo>[\w.-]+/[\w.-]+)(?P<sub>(/[\w.-]+)*)(@(?P<rev>[\w./-]+))?$")


@dataclass
class Located:
    """A model folder on disk and how it got there."""

    path: Path
    source: str  # "local", "bundled", "hub", "hub cache", "bundled fallback"
    notice: str = ""  # one line for the user when the model is not the one asked for


def bundled_models(kind: str | None = None) -> list[str]:
    """The names of the bundled models: all of them, or those of one kind ("vqvae", "prior",
    "classifier"), as their config.json says."""
    if not BUNDLED_DIR.is_dir():
        return []
    found = sorted(p for p in BUNDLED_DIR.iterdir() if (p / WEIGHTS).is_file())
    return [p.name for p in found if kind is None or run_kind(read_json(p / CONFIG)) == kind]


def default_model(kind: str) -> str:
    """The model the dashboard opens on: the Hub folder named by VQVAE_HUB_REPO when set,
    else the bundled one."""
    repo = os.environ.get(HUB_REPO_ENV, "").strip().strip("/")
    return f"{repo}/{DEFAULT_MODELS[kind]}" if repo else DEFAULT_MODELS[kind]


def parse_hub_ref(ref: str) -> tuple[str, str, str | None] | None:
    """`owner/name[/sub/folder][@revision]` -> (repo id, subfolder, revision), or None."""
    m = _REPO_REF.match(ref)
    if not m:
        return None
    return m["repo"], m["sub"].strip("/"), m["rev"]


def locate(ref: str | Path, kind: str = "vqvae", fallback: bool = True) -> Located:
    """The folder of the model `ref` (see the module docstring); VQVAEError when it names
    nothing. Without `fallback` (training on a model must use that model) an unreachable
    Hub is an error."""
    path = Path(ref)
    if path.exists():
        return Located(path, "local")
    if (BUNDLED_DIR / str(ref)).is_dir():
        return Located(BUNDLED_DIR / str(ref), "bundled")
    if _looks_local(path):
        raise VQVAEError(f"{path} does not exist: pass a run folder or a checkpoint folder")
    parsed = parse_hub_ref(str(ref))
    if parsed is None:
        known = ", ".join(bundled_models()) or "none"
        raise VQVAEError(f"no model {ref}: pass a run folder, a bundled name ({known}) or a Hub repo id owner/name")
    try:
        folder, source = fetch(*parsed)
        return Located(folder, source)
    except _HubUnavailable as exc:
        bundled = BUNDLED_DIR / DEFAULT_MODELS[kind]
        if not fallback:
            raise VQVAEError(f"{exc}: connect to the Hub or pass a local folder") from None
        if not bundled.is_dir():
            raise VQVAEError(f"{exc}, and no bundled {kind} is there to fall back on: train one with scripts/train_all.py") from None
        return Located(bundled, "bundled fallback", f"{exc}: using the bundled {DEFAULT_MODELS[kind]} instead")


def _looks_local(path: Path) -> bool:
    """A path the user meant as a folder here: absolute, ./ or ~/, or under a folder that exists
    (runs/typo), never a Hub id."""
    text = str(path)
    return path.is_absolute() or text.startswith((".", "~")) or (len(path.parts) > 1 and Path(path.parts[0]).is_dir())


class _HubUnavailable(Exception):
    pass


def fetch(repo_id: str, subfolder: str = "", revision: str | None = None) -> tuple[Path, str]:
    """Download (or find in the cache) a model folder of a Hub repo: (folder, "hub" or "hub cache").

    A short probe decides whether the Hub answers at all: huggingface_hub's own calls may
    retry for minutes on a dead network. Offline (HF_HUB_OFFLINE=1) only the cache is read.
    """
    endpoint = os.environ.get("HF_ENDPOINT") or None  # read now, not at import
    patterns = [f"{subfolder}/*", f"{subfolder}/**"] if subfolder else None
    reason = "offline (HF_HUB_OFFLINE)" if _offline() else None
    if reason is None:
        try:
            HfApi(endpoint=endpoint).model_info(repo_id, revision=revision, timeout=PROBE_TIMEOUT_S)
        except Exception as exc:  # connection, timeout, 401/404: all mean "not from the Hub now"
            reason = f"the Hub did not give {repo_id} ({_short(exc)})"
    if reason is None:
        try:
            root = snapshot_download(repo_id, revision=revision, allow_patterns=patterns, endpoint=endpoint)
            return _model_folder(Path(root), subfolder, repo_id), "hub"
        except VQVAEError:
            raise
        except Exception as exc:
            reason = f"downloading {repo_id} failed ({_short(exc)})"
    try:
        root = snapshot_download(repo_id, revision=revision, allow_patterns=patterns, local_files_only=True)
        return _model_folder(Path(root), subfolder, repo_id), "hub cache"
    except Exception:
        raise _HubUnavailable(f"{reason}, and {repo_id}{'/' + subfolder if subfolder else ''} is not in the local cache") from None


def _model_folder(root: Path, subfolder: str, repo_id: str) -> Path:
    folder = root / subfolder if subfolder else root
    if not (folder / WEIGHTS).is_file():
        raise VQVAEError(f"{repo_id}{'/' + subfolder if subfolder else ''} holds no model.safetensors: check the repo id and folder")
    return folder


def _offline() -> bool:
    value = os.environ.get("HF_HUB_OFFLINE", "").strip().lower()
    return bool(hub_constants.HF_HUB_OFFLINE) or value in ("1", "true", "yes", "on")


def _short(exc: Exception) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:120]


def push(folder: Path, repo_id: str, path_in_repo: str | None = None, private: bool = False,
         token: str | None = None) -> str:
    """Upload a model folder (what `export_folder` staged) to a Hub model repo; its URL.

    The token comes from HF_TOKEN (or huggingface_hub's saved login)."""
    token = token or get_token()
    if not token:
        raise VQVAEError("no Hugging Face token: set HF_TOKEN (a write token from huggingface.co/settings/tokens)")
    if parse_hub_ref(repo_id) is None or "@" in repo_id or repo_id.count("/") != 1:
        raise VQVAEError(f"{repo_id!r} is not a Hub repo id: use owner/name (and --path-in-repo for a folder inside it)")
    api = HfApi(endpoint=os.environ.get("HF_ENDPOINT") or None, token=token)
    try:
        api.create_repo(repo_id, private=private, exist_ok=True)
        api.upload_folder(repo_id=repo_id, folder_path=str(folder), path_in_repo=path_in_repo or None,
                          commit_message=f"Upload {Path(folder).name} from VQ-VAE Lab")
    except Exception as exc:
        raise VQVAEError(f"upload to {repo_id} failed ({_short(exc)}): check the token's write access and the network") from None
    return f"{api.endpoint}/{repo_id}" + (f"/tree/main/{path_in_repo}" if path_in_repo else "")
