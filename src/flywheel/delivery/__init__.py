"""Delivery metrics: the four DORA keys, time-to-delivery and where the time goes."""
