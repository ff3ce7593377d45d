"""``python -m tinygrad_nca``: the same as the ``tinygrad-nca`` command."""
import sys

from .cli import main

sys.exit(main())
