"""Converting models from other frameworks into what the function serves."""
