"""The NumPy-engine tests import their helpers (scratch_helpers) by name, whatever the import
mode."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
