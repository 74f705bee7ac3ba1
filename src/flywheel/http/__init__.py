"""HTTP plumbing shared by every domain's router: sessions, errors, limits, request ids."""
