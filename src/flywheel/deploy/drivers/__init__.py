"""Load-balancer and target drivers behind the protocols in `base`."""
