"""Training with PyTorch Lightning: the module, data module, callbacks, run directories and commands."""
