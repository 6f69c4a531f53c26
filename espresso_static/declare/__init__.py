"""Declarations on the models: who sees what (access) and what counts as progress."""
