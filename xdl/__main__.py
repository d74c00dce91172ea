"""`python -m xdl` is the `xdl` command."""

import sys

from xdl.cli import main

sys.exit(main())
