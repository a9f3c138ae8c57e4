"""Is requirements/dev.lock current? (standard library only: runs before anything is installed)

The lock records the sha256 of what it was compiled from: the dependency tables of
pyproject.toml (requires-python, dependencies, every extra) and constraints.txt, parsed, so
comments and formatting do not count. ``make`` runs ``python requirements/lockcheck.py``
before installing and stops with one line when they changed; ``make lock`` recompiles the lock
and stamps it with ``--stamp``.

    python requirements/lockcheck.py            # exit 1 with a one-line message when stale
    python requirements/lockcheck.py --stamp    # (after pip-compile) record the inputs' hash
"""

from __future__ import annotations

import hashlib
import json
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements" / "dev.lock"
MARK = "# inputs-sha256: "
SELF_WARNING = """# WARNING: The following packages were not pinned, but pip requires them to be
# pinned when the requirements file includes hashes and the requirement is not
# satisfied by a package already installed. Consider using the --allow-unsafe flag.
# digitkit
"""
SELF_NOTE = "# digitkit itself comes from the source tree: pip install --no-deps -e .\n"


def inputs_sha256() -> str:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    constraints = [line.split("#")[0].strip() for line in
                   (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines()]
    inputs = {
        "requires-python": project.get("requires-python"),
        "dependencies": project.get("dependencies", []),
        "optional-dependencies": project.get("optional-dependencies", {}),
        "constraints": [c for c in constraints if c],
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def recorded() -> str | None:
    if not LOCK.is_file():
        return None
    for line in LOCK.read_text(encoding="utf-8").splitlines():
        if line.startswith(MARK):
            return line[len(MARK):].strip()
    return None


def main(argv: list[str]) -> int:
    if argv[1:] == ["--stamp"]:
        text = LOCK.read_text(encoding="utf-8")
        # pip-compile lists the project itself (dev depends on digitkit[all]) as unpinned;
        # it is installed from the tree (pip install --no-deps -e .), never from the lock.
        text = text.replace(SELF_WARNING, SELF_NOTE)
        lines = [line for line in text.splitlines() if not line.startswith(MARK)]
        at = 1 if lines and lines[0] == "#" else 0
        lines.insert(at, MARK + inputs_sha256())
        LOCK.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return 0
    if recorded() != inputs_sha256():
        print(f"error: {LOCK.relative_to(ROOT)} is out of date with pyproject.toml/"
              "constraints.txt; update it with 'make lock' and commit it", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
