"""Key files, JOSE helpers, fingerprints and X.509 extension encoders."""
