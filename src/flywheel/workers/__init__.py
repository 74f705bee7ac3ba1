"""Flywheel's own processes: who runs background work, whether they are alive, what waits."""
