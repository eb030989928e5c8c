"""`python -m autograd_mini ...` runs the `autograd-mini` command line (it lives in nn.cli,
which is built on both packages; the engine itself never imports nn)."""

import sys

from nn.cli import main

sys.exit(main())
