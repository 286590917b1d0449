"""The spec rendered as the files of a Prometheus stack: deterministic (same spec → byte-identical files)."""
