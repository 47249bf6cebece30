"""Audio files, manifests and transcript labels: reading, writing, validating."""
