"""Rolling-bounce deployments: the planner, the run engine and the drivers it uses."""
