// Tensor module: see docs in README.
