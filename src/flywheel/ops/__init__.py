"""Operating Flywheel itself: backups, restores and upgrades."""
