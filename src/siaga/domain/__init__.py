"""Pure decisions: no I/O here, and ``now`` is always a parameter."""
