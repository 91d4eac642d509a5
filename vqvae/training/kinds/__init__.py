"""The kinds of model the training loop trains: each says only what is its own (its step,
its evaluation, its pictures, its card); vqvae/training/loop.py does the rest."""
