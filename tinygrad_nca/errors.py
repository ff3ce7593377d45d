"""Exceptions raised by tinygrad_nca."""

__all__ = ["ShapeError", "AnomalyError", "GradientCheckError"]


class ShapeError(ValueError):
    """Operands whose shapes do not fit the operation (the message names both)."""


class AnomalyError(FloatingPointError):
    """A NaN or inf appeared in an op's output or VJP under ``detect_anomaly``."""


class GradientCheckError(AssertionError):
    """An analytic gradient disagrees with finite differences."""
