"""Pieces every layer shares: the user-facing error type and package locations."""
