// Guidance module: see docs in README.
