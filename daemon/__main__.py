"""`python -m daemon` is `sakspost`."""

import sys

from .cli import main

sys.exit(main())
