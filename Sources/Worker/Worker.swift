// Worker module: see docs in README.
