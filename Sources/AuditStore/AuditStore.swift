// AuditStore module: see docs in README.
