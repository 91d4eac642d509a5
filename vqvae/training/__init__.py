"""Training: the epoch loop, both trainers, run folders, held-out evaluation."""
