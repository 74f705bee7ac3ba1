"""Change requests, policies, approvals, windows and conflicts."""
