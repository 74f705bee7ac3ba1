"""Incidents: alert intake, deduplication and grouping, severity, response, timelines."""
