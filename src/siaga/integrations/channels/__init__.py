"""Notification channels: one module per kind, one contract (base.Sender)."""
