"""Change risk: features, models, training, evaluation and explanations."""
