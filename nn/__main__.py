"""`python -m nn ...` runs the `autograd-mini` command line (nn.cli)."""

import sys

from .cli import main

sys.exit(main())
