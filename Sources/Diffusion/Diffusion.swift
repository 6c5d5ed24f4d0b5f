// Diffusion module: see docs in README.
