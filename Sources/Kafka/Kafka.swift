// Kafka module: see docs in README.
