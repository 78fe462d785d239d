"""Command-line entry points: `twinstore up`, `server`, `credentials`."""
