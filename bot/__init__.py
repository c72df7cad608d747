"""Mend, the Telegram shell around the flows."""

__version__ = "0.2.0"
