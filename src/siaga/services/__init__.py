"""Use cases: each combines domain decisions with the ports it is given."""
