"""espresso-static: static sites for scientific workflow databases described as Django models."""

__version__ = "0.1.0"
