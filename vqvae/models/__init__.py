"""The models: the VQ-VAE, its quantizers, the Gated PixelCNN prior and its samplers, metrics."""
