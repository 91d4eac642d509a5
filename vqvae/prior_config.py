"""The settings of the models that work on a VQ-VAE's codes or pictures: the PixelCNN prior
(PriorConfig, how it is trained: PriorTrainConfig, its run: PriorRunConfig) and the
classifier that judges samples (ClassifierConfig). Declared as vqvae/config.py declares the
VQ-VAE's, and read through it."""

import dataclasses
from dataclasses import dataclass, field
from typing import ClassVar

from vqvae.errors import VQVAEError
from vqvae.settings import LEVELS, MAX_CODEBOOK_SIZE, MAX_IMAGE_SIZE, RunSettings, Section, setting


@dataclass
class PriorConfig(Section):
    """A Gated PixelCNN over code grids (stored in the prior's checkpoint)."""

    codebook_size: int = setting(128, "K of the VQ-VAE whose codes it models", label="the prior's codebook size",
                                 flag=None, low=2, high=MAX_CODEBOOK_SIZE)
    channels: int = setting(64, "width of the gated stacks", label="prior channels", flag="prior-channels", low=1)
    head: int = setting(32, "width of the 1x1 head", label="prior head", low=1)
    n_blocks: int = setting(8, "gated blocks (the first is mask A)", label="prior blocks", flag="blocks", low=1)
    first_kernel: int = setting(7, "kernel of the mask-A block (odd)", label="prior first_kernel", low=1)
    kernel: int = setting(3, "kernel of the mask-B blocks (odd)", label="prior kernel", low=1)
    n_classes: int = setting(0, "> 0: class-conditional (e.g. 10 for MNIST digits)", flag=None, low=0)
    # Set from the VQ-VAE, as the codebook size is.
    levels: int = setting(1, "code grids of the VQ-VAE: 2 makes a top prior and a bottom prior conditioned on the "
                             "top codes", flag=None, choices=LEVELS)
    top_codebook_size: int = setting(0, "two levels: K of the top level", flag=None, low=0, high=MAX_CODEBOOK_SIZE)
    condition_codebook_size: int = setting(0, "> 0: conditioned on a grid of codes of this K, half its side (a "
                                              "bottom prior on the top codes)", flag=None, low=0,
                                           high=MAX_CODEBOOK_SIZE)

    def level(self, name: str) -> "PriorConfig":
        """Two levels: the settings of the top PixelCNN, or of the bottom one conditioned on the top codes."""
        one = dataclasses.replace(self, levels=1, top_codebook_size=0)
        if name == "top":
            return dataclasses.replace(one, codebook_size=self.top_codebook_size)
        return dataclasses.replace(one, condition_codebook_size=self.top_codebook_size)

    def check_together(self) -> None:
        if self.levels == 2 and self.top_codebook_size < 2:
            raise VQVAEError("a two-level prior needs the top level's codebook size: train it from a two-level VQ-VAE")
        for name in ("first_kernel", "kernel"):
            if getattr(self, name) % 2 == 0:
                raise VQVAEError(f"prior {name} must be odd, not {getattr(self, name)}")


@dataclass
class PriorTrainConfig(Section):
    """How to train a prior: which frozen VQ-VAE encodes which data, and the optimisation."""

    # The VQ-VAE as the user named it (a copy lives in the run folder).
    vqvae: str = setting("", "the VQ-VAE: a run or checkpoint folder, a bundled name or a Hub repo id")
    # None: the VQ-VAE run's data set (mnist for a bare grayscale checkpoint). A new run
    # records what that resolved to, so a resume that must re-encode finds the same data.
    dataset: str | None = setting(None, "data to encode (default: the VQ-VAE run's)")
    data: str | None = setting(None, "folder for the data set")
    center_crop: int | None = setting(None, "crop the central square of this size first (image folders)", flag=None,
                                      label="center crop", low=1)
    conditional: bool = setting(True, "condition on class labels when the data has them (default: yes)")
    shift: int = setting(0, "also train on the images shifted by up to this many pixels (0 to 4)", low=0, high=4,
                         why="a larger shift moves digits off their frame")
    epochs: int = setting(30, "passes over the training code grids", low=0)
    batch_size: int = setting(64, "code grids per optimiser step", label="batch size", low=1)
    lr: float = setting(1e-3, "Adam's learning rate")
    cosine: bool = setting(True, "decay the learning rate along a half cosine (default: yes)")
    seed: int = setting(0, "seeds the prior's weights and the shuffles", low=0)
    device: str = setting("auto", "auto (default), cpu, cuda or mps")
    amp: bool = setting(True, "bf16 autocast on CUDA")
    log_every: int = setting(20, "steps between step lines in metrics.jsonl", low=1)
    samples: int = setting(64, "images in each epoch's sample grid", low=1)

    def check_together(self) -> None:
        check_learning_rate(self)


@dataclass
class ClassifierConfig(Section):
    """A small CNN that names the class of an image (stored in its checkpoint): the judge of
    a prior's samples (vqvae.training.sample_quality). Its penultimate layer, `feature_dim`
    wide, gives the features the Fréchet distance compares."""

    in_channels: int = setting(1, "image channels", flag=None, choices=(1, 3))
    image_size: int = setting(28, "side of the (square) images in pixels", flag=None, low=8, high=MAX_IMAGE_SIZE)
    n_classes: int = setting(10, "classes it tells apart", flag=None, low=2)
    width: int = setting(32, "channels of the first conv stage (the second has twice as many)", flag=None, low=1)
    feature_dim: int = setting(128, "width of the penultimate layer", flag=None, low=2)
    dataset: str = setting("mnist", "the data set it was trained on", flag=None)

    def check_together(self) -> None:
        if self.image_size < 8:
            raise VQVAEError(f"the classifier halves the image three times: it needs at least 8 pixels, "
                             f"not {self.image_size}")


@dataclass
class PriorRunConfig(RunSettings):
    """A prior run's config.json: the prior's modules and how it is trained."""

    KIND: ClassVar[str] = "prior"
    prior: PriorConfig = field(default_factory=PriorConfig)
    train: PriorTrainConfig = field(default_factory=PriorTrainConfig)
    preset: str | None = None


def check_learning_rate(t) -> None:
    if not t.lr > 0:
        raise VQVAEError(f"learning rate must be positive, not {t.lr}")
