"""How good a prior's samples are, judged by an independent classifier (`python -m vqvae score`).

A class-conditional prior draws n samples, the classes in turn (n/10 per digit for MNIST).
The bundled classifier, trained on real training images only, then says
- label_accuracy: how often it names the class that was asked for;
- frechet_distance: the Fréchet distance between its penultimate features of the samples
  and of the real held-out images (FID's formula, on a judge that knows the data set);
- reconstruction_label_accuracy / reconstruction_frechet_distance: the same two for the
  held-out images' VQ-VAE reconstructions: the ceiling a prior over those codes can reach;
- classifier_accuracy: on the real held-out images.

Held-out NLL says how well the prior predicts codes, but depends on how much each code
carries; these numbers say whether the pictures it draws look like the class asked for.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from vqvae.store.load import load_classifier, load_prior, load_vqvae
from vqvae.data.datasets import DATASET_TITLES, bundled_data
from vqvae.store.hub import BUNDLED_DIR, locate
from vqvae.device import pick_device
from vqvae.errors import VQVAEError
from vqvae.models.autoencoder import ENCODE_BATCH, VQVAE
from vqvae.models.classifier import Classifier
from vqvae.models.pixelcnn import GatedPixelCNN
from vqvae.models.sampling import sample_images
from vqvae.training.classifier_trainer import predict
from vqvae.training.evaluate import reconstruct
from vqvae.store.provenance import dataset_of_prior, vqvae_of_prior

CLASSIFIERS = {"mnist": "mnist-classifier"}  # data set -> its bundled classifier
DEFAULT_N = 1000
SAMPLE_BATCH = 500  # samples drawn at once: memory stays flat for any n


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2)) between two sets of features
    [N, F] and [M, F], each taken as a Gaussian. The trace of the matrix square root is the
    sum of the square roots of the eigenvalues of S_a^(1/2) S_b S_a^(1/2), which is symmetric
    (so eigh serves, in float64, with no complex detour)."""
    a, b = a.double(), b.double()
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = torch.atleast_2d(torch.cov(a.T)), torch.atleast_2d(torch.cov(b.T))  # one feature: [1, 1]
    values, vectors = torch.linalg.eigh(cov_a)
    root_a = vectors @ torch.diag(values.clamp_min(0).sqrt()) @ vectors.T
    middle = torch.linalg.eigvalsh(root_a @ cov_b @ root_a).clamp_min(0).sqrt().sum()
    return float((mu_a - mu_b).pow(2).sum() + cov_a.trace() + cov_b.trace() - 2 * middle)


def classifier_for(dataset: str | None) -> Path:
    """The bundled classifier that judges samples of `dataset`; a clear line when there is none."""
    if dataset not in CLASSIFIERS:
        known = ", ".join(DATASET_TITLES.get(d, d) for d in CLASSIFIERS)
        raise VQVAEError(f"scoring needs a prior of a data set with a bundled classifier ({known}); this prior's "
                         f"VQ-VAE was trained on {DATASET_TITLES.get(dataset, dataset) or 'an unknown data set'}: "
                         f"pick an MNIST prior such as mnist-ema-prior")
    folder = BUNDLED_DIR / CLASSIFIERS[dataset]
    if not (folder / "model.safetensors").is_file():
        raise VQVAEError(f"the bundled classifier {folder} is missing: restore it from git, or train it with "
                         f"python scripts/train_all.py --only {CLASSIFIERS[dataset]}")
    return folder


@torch.no_grad()
def suggested_class(classifier: Classifier, images: torch.Tensor) -> int:
    """The class the classifier names for a picture: uint8 [1, C, H, W] of any size, scaled
    to the classifier's input (area averaging) -> its class index. A page offers it as the
    class to complete an upload with, which the user can change."""
    size = classifier.config.image_size
    x = images.float() / 255
    if tuple(x.shape[-2:]) != (size, size):
        x = torch.nn.functional.interpolate(x, size=(size, size), mode="area")
    return int(predict(classifier, x)[0][0])


@torch.no_grad()
def judge(classifier: Classifier, images: torch.Tensor, labels: torch.Tensor,
          reference: torch.Tensor) -> tuple[float, float]:
    """(label accuracy, Fréchet distance to the reference features) of images [N, C, S, S]
    in [0, 1] (or uint8) whose classes should be `labels`."""
    predicted, features = predict(classifier, images)
    return (predicted == labels.cpu()).double().mean().item(), frechet_distance(features, reference)


@torch.no_grad()
def reconstructions(vqvae: VQVAE, images: torch.Tensor, batch_size: int = ENCODE_BATCH) -> torch.Tensor:
    """uint8 images -> their VQ-VAE reconstructions, float in [0, 1] on the CPU (the codes
    decoded, as every page reconstructs), a batch at a time."""
    vqvae.eval()
    return torch.cat([reconstruct(vqvae, chunk).reconstruction.cpu() for chunk in images.split(batch_size)])


@torch.no_grad()
def draw_samples(prior: GatedPixelCNN, vqvae: VQVAE, n: int, temperature: float = 1.0,
                 seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(images [n, C, S, S] in [0, 1] on the CPU, the class each was drawn as): the classes in
    turn, in batches of SAMPLE_BATCH (each seeded by `seed` and where it starts)."""
    images, labels = [], []
    for start in range(0, n, SAMPLE_BATCH):
        size = min(SAMPLE_BATCH, n - start)
        images.append(sample_images(prior, vqvae, size, temperature, seed + start).float().clamp(0, 1).cpu())
        labels.append(torch.arange(size) % prior.config.n_classes)  # the order sample_images draws them in
    return torch.cat(images), torch.cat(labels)


def score_models(prior: GatedPixelCNN, vqvae: VQVAE, classifier: Classifier, n: int = DEFAULT_N,
                 temperature: float = 1.0, seed: int = 0) -> dict:
    """Every score of the module docstring for loaded models (the prior class-conditional on
    the classifier's classes, the VQ-VAE its images' size)."""
    if n < 1:
        raise VQVAEError(f"--n must be at least 1 sample (default {DEFAULT_N}), not {n}")
    if not temperature > 0:
        raise VQVAEError(f"temperature must be positive (1 samples the prior as trained), not {temperature}")
    c, v = classifier.config, vqvae.config
    if prior.config.n_classes != c.n_classes:
        raise VQVAEError(f"the score asks for each of the {c.n_classes} classes, but this prior is "
                         + (f"conditioned on {prior.config.n_classes}" if prior.config.n_classes else "not class-conditional")
                         + ": train it with class labels (train-prior --conditional)")
    if (v.in_channels, v.image_size) != (c.in_channels, c.image_size):
        raise VQVAEError(f"the classifier judges {c.image_size} px images of {c.in_channels} channel(s), and this "
                         f"VQ-VAE makes {v.image_size} px of {v.in_channels}: pick a prior of the classifier's data set")
    started = time.perf_counter()
    data = bundled_data(c.dataset)  # the split the classifier was trained and checked on
    named, reference = predict(classifier, data.val)
    classifier_accuracy = (named == data.val_labels).double().mean().item()
    recon_accuracy, recon_fd = judge(classifier, reconstructions(vqvae, data.val), data.val_labels, reference)
    samples, labels = draw_samples(prior, vqvae, n, temperature, seed)
    label_accuracy, fd = judge(classifier, samples, labels, reference)
    return {"label_accuracy": label_accuracy, "frechet_distance": fd,
            "reconstruction_label_accuracy": recon_accuracy, "reconstruction_frechet_distance": recon_fd,
            "classifier_accuracy": classifier_accuracy, "n": n, "temperature": temperature, "seed": seed,
            "held_out_images": len(data.val), "seconds": round(time.perf_counter() - started, 2)}


def score(prior_ref: str | Path, n: int = DEFAULT_N, temperature: float = 1.0, seed: int = 0,
          device: str = "auto") -> dict:
    """score_models for a prior reference (a run or checkpoint folder, a bundled name), its
    own VQ-VAE and the bundled classifier of its data set. Every check that needs no model
    comes first, so a wrong prior is refused before the VQ-VAE and the classifier load."""
    if n < 1:
        raise VQVAEError(f"--n must be at least 1 sample (default {DEFAULT_N}), not {n}")
    dev = pick_device(device)
    folder = locate(prior_ref, "prior", fallback=False).path
    prior = load_prior(folder, dev)  # refuses a folder that holds no prior, in its own words
    classifier_folder = classifier_for(dataset_of_prior(folder))
    vqvae = load_vqvae(vqvae_of_prior(folder), dev)
    result = score_models(prior, vqvae, load_classifier(classifier_folder, dev), n, temperature, seed)
    return dict(result, prior=str(prior_ref), classifier=classifier_folder.name)


def quality_card(result: dict) -> str:
    """A model card section with a prior's score (appended by scripts/train_all.py)."""
    return f"""
## Sample quality

{result['n']:,} samples at temperature {result['temperature']:g} (seed {result['seed']}), the classes in turn, judged
by the bundled {result['classifier']} ({100 * result['classifier_accuracy']:.1f} % on the real held-out images;
`python -m vqvae score --prior PRIOR` gives these numbers):

| images | label accuracy | Fréchet distance |
|---|---|---|
| samples | {result['label_accuracy']:.3f} | {result['frechet_distance']:.2f} |
| the VQ-VAE's reconstructions of the held-out images (the ceiling) | {result['reconstruction_label_accuracy']:.3f} | {result['reconstruction_frechet_distance']:.2f} |
"""
