"""Releases, ordered environments, and the gates a deployment must pass."""
