"""`python3 -m control COMMAND`: see control/cli.py."""

import sys

from control.cli import main

sys.exit(main(sys.argv[1:]))
