"""Argument checks shared by the optimisers, models and exercises: each raises a
ValueError that names the argument and says what was expected."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

__all__ = ["check_int", "check_real", "check_callable"]


def check_int(name: str, value: Any, minimum: int) -> int:
    """Raise a ValueError naming ``name`` unless ``value`` is an integer >= ``minimum``.

    bool is an int in Python, but ``n_steps=True`` is a mistake, not one step; a float
    such as 2.7 would otherwise be truncated by ``range`` without a word.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise ValueError(
            f"{name} must be an integer >= {minimum}, got {value!r} ({type(value).__name__})"
        )
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_real(
    name: str,
    value: Any,
    low: float,
    high: float = np.inf,
    *,
    low_open: bool = False,
    high_open: bool = True,
) -> float:
    """Raise a ValueError naming ``name`` unless ``value`` is a finite real number in the
    interval from ``low`` to ``high`` (closed or open at each end as told)."""
    if (
        isinstance(value, (bool, np.bool_))
        or not isinstance(value, numbers.Real)
        or not np.isfinite(float(value))
    ):
        raise ValueError(f"{name} must be a finite real number, got {value!r}")
    number = float(value)
    if (
        number < low
        or (low_open and number == low)
        or number > high
        or (high_open and number == high)
    ):
        interval = ("(" if low_open else "[") + f"{low}, {high}" + (")" if high_open else "]")
        raise ValueError(f"{name} must be in {interval}, got {value!r}")
    return number


def check_callable(name: str, value: Any) -> None:
    """Raise a ValueError naming ``name`` unless ``value`` is callable or None."""
    if value is not None and not callable(value):
        raise ValueError(f"{name} must be a callable or None, got {value!r}")
