"""Training: MNIST in memory, the models, optimizers, the generator loop, evaluation and checkpoints."""
