"""Service level objectives, SLIs, error budgets and burn-rate alerts."""
