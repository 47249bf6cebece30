"""Ways into ehmam's models from other harnesses: HEAR's API (``ehmam.integrations.hear``)."""
