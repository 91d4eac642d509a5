"""VQ-VAE Lab's library: models, codebooks, the prior, data, training and checkpoints (no Streamlit here)."""

from vqvae.config import ModelConfig, PriorConfig, PriorRunConfig, PriorTrainConfig, RunConfig, TrainConfig
from vqvae.store.load import load_classifier, load_prior, load_vqvae
from vqvae.errors import VQVAEError
from vqvae.models.autoencoder import VQVAE
from vqvae.models.pixelcnn import GatedPixelCNN
from vqvae.models.quantize import EMAVectorQuantizer, VectorQuantizer, nearest_code
from vqvae.models.sampling import decode_progress, sample_images, stream_samples
from vqvae.models.two_level import TwoLevelVQVAE
from vqvae.models.two_level_prior import TwoLevelPrior
from vqvae.presets import PRESETS, preset
from vqvae.training.hooks import Hooks
from vqvae.training.prior_trainer import train_prior
from vqvae.training.sample_quality import score
from vqvae.training.vqvae_trainer import train

__all__ = [
    "PRESETS", "ModelConfig", "RunConfig", "TrainConfig", "PriorConfig", "PriorRunConfig", "PriorTrainConfig",
    "preset", "VQVAEError", "VQVAE", "load_vqvae", "GatedPixelCNN", "load_prior", "sample_images",
    "stream_samples", "decode_progress", "TwoLevelVQVAE", "TwoLevelPrior", "train", "train_prior", "Hooks", "load_classifier", "score", "EMAVectorQuantizer", "VectorQuantizer", "nearest_code",
]
