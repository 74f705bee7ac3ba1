"""The built-in demo: a storefront service to deploy and the scenario the quick start runs."""
