"""Run the command line: ``python -m atomicopen``."""

import sys

from ._cli import main

sys.exit(main())
