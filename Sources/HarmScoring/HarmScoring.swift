// HarmScoring module: see docs in README.
