"""Secrets kept by Flywheel: encrypted at rest, rotatable, never shown back."""
