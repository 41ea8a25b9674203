"""The click command-line interface (thin: no logic of its own)."""
