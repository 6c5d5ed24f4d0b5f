// OnnxRunner module: see docs in README.
