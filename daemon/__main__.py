"""`python -m daemon` is `sakspost`."""

import sys

from .cli import main

if __name__ == "__main__":  # a helper process (pipeline/parsers.py) must not run the command line again
    sys.exit(main())
