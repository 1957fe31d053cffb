"""``python -m ovsub`` runs the command-line interface."""

import sys

from ovsub.cli import main

sys.exit(main())
