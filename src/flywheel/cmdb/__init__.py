"""Configuration items, relationships, history and impact analysis."""
