"""Users, teams, roles, API tokens and permission checks."""
