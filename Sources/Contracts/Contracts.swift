// Contracts module: see docs in README.
