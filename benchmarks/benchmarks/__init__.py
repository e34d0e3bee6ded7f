"""asv benchmarks for fastbp (run from ``benchmarks/``: see ../README.md)."""
