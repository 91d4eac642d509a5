"""Training: one loop (loop.py, run.py) that drives each kind of model (kinds/) through the
optimiser step they share (optimizer_step.py), watched by a caller's hooks (hooks.py); the
entry points train, train_prior and train_classifier; held-out evaluation."""
