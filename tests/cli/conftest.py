"""The command-line tests share the web tests' fakes (serve_helpers: same Recognizer
interface), whatever the import mode."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "serve"))
