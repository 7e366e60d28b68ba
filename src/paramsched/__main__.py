"""``python -m paramsched``: the ``paramsched`` command."""

import sys

from paramsched.cli import main

if __name__ == "__main__":
    sys.exit(main())
