"""VQ-VAE Lab's library: models, codebooks, the prior, data, training and checkpoints (no Streamlit here)."""

from .config import ModelConfig, PriorConfig, PriorRunConfig, PriorTrainConfig, RunConfig, TrainConfig
from .errors import VQVAEError
from .model import VQVAE, load_vqvae
from .pixelcnn import GatedPixelCNN
from .presets import PRESETS, preset
from .prior_training import load_prior, train_prior
from .quantize import EMAVectorQuantizer, VectorQuantizer, nearest_code
from .sampling import sample_images, stream_samples

__all__ = [
    "PRESETS", "ModelConfig", "RunConfig", "TrainConfig", "PriorConfig", "PriorRunConfig", "PriorTrainConfig",
    "preset", "VQVAEError", "VQVAE", "load_vqvae", "GatedPixelCNN", "load_prior", "sample_images",
    "stream_samples", "train_prior", "EMAVectorQuantizer", "VectorQuantizer", "nearest_code",
]
