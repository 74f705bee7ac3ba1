"""Flywheel: fast development turned into fast, safe delivery."""

__version__ = "0.1.0"
