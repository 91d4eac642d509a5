"""Loading a model by reference: a folder, a run (its best checkpoint), a bundled name or a
Hub reference (hub.locate finds the folder). Any problem with the files is one VQVAEError line."""

from __future__ import annotations

from pathlib import Path

import torch

from vqvae.config import KIND_NAMES, run_kind
from vqvae.errors import VQVAEError
from vqvae.files import read_json
from vqvae.models.autoencoder import VQVAE
from vqvae.models.classifier import Classifier
from vqvae.models.pixelcnn import GatedPixelCNN
from vqvae.models.two_level import TwoLevelVQVAE
from vqvae.models.two_level_prior import TwoLevelPrior
from vqvae.store.checkpoints import resolve_checkpoint
from vqvae.store.hub import locate
from vqvae.store.layout import CONFIG

MODEL_WORDS = {"vqvae": "a VQ-VAE", "prior": "a PixelCNN prior", "classifier": "a classifier"}
WHAT_TO_PASS = {  # what loading one kind of model from a folder holding another says to do
    "vqvae": "pass a VQ-VAE run or checkpoint (a prior's own VQ-VAE is in its vqvae/ folder)",
    "prior": "pass a prior run folder (python -m vqvae train-prior)",
    "classifier": "pass a classifier folder such as pretrained/mnist-classifier",
}


def load_vqvae(path: str | Path, device: str | torch.device = "cpu") -> VQVAE:
    """A VQ-VAE from a checkpoint folder in Hub layout, a run folder (its best checkpoint), a
    bundled name or a Hub reference (hub.locate offers the bundled fallback)."""
    return _load(path, "vqvae", lambda config: TwoLevelVQVAE if config.get("levels", 1) == 2 else VQVAE, device)


def load_prior(path: str | Path, device: str | torch.device = "cpu") -> GatedPixelCNN:
    """A prior from a checkpoint folder in Hub layout, a prior run folder (its best
    checkpoint), a bundled name or a Hub reference."""
    return _load(path, "prior", lambda config: TwoLevelPrior if config.get("levels", 1) == 2 else GatedPixelCNN, device)


def load_classifier(path: str | Path, device: str | torch.device = "cpu") -> Classifier:
    """A sample-quality classifier from a folder in Hub layout or a bundled name."""
    return _load(path, "classifier", lambda config: Classifier, device)


def _load(path: str | Path, kind: str, model_class, device):
    """model_class(the checkpoint's config) is the class to build. Any problem with the files
    becomes one VQVAEError line."""
    folder = resolve_checkpoint(locate(path, kind, fallback=False).path)
    config = read_json(folder / CONFIG)
    found = run_kind(config)
    if found not in (kind, None):
        raise VQVAEError(f"{path} holds {MODEL_WORDS[found]}, not a {KIND_NAMES[kind]}: "
                         f"{WHAT_TO_PASS[kind]}")
    try:
        return model_class(config if isinstance(config, dict) else {}).from_pretrained(str(folder),
                                                                                      map_location=str(device))
    except VQVAEError:
        raise
    except Exception as exc:  # safetensors, JSON, shape and key errors alike
        detail = " ".join(str(exc).split()) or type(exc).__name__  # one line, naming the bad keys
        raise VQVAEError(f"{'' if kind == 'vqvae' else kind + ' '}checkpoint {folder} is corrupt or does not match its "
                         f"config ({detail[:200]}): retrain it or pick another") from None
