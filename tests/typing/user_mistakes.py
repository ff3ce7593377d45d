"""Code with type errors, checked by tests/test_typing.py: mypy must report each line
marked ``# error``, so that the check can fail (a checker that accepts everything
would pass user_code.py too)."""
from __future__ import annotations

import numpy as np

import tinygrad_nca as tg

x = tg.Tensor(np.ones(3))
shape: str = x.shape                       # error: a shape is a tuple
wrong: np.ndarray = x * 2.0                # error: an operation gives a Tensor
x.sum(axis="rows")                         # error: an axis is an int
tg.grad(lambda v: v, argnums="0")          # error: argnums are ints
tg.jacobian(lambda v: v, mode="sideways")  # error: reverse or forward
x.no_such_method()                         # error: no such attribute
