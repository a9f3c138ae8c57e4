"""``python -m digitkit.cli``: the same as the ``digitkit`` command."""

import sys

from digitkit.cli import main

sys.exit(main())
