"""Models fairseq imports from the plugin (every module here is auto-imported)."""
