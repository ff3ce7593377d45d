"""``python -m tinygrad_nca``: the same as the ``tinygrad-nca`` command."""

import sys

__all__: list[str] = []  # a script, not a module to import from

from .cli import main

sys.exit(main())
