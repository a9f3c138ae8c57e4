"""Rules W1/W2's bars from the deciding runs' JSON: judge.py REALWORLD_OLD REALWORLD_NEW
NUMBERS_OLD NUMBERS_NEW (the wide-cell digit sets apart from every other digit set)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tight-grid"))
from judge import judge  # noqa: E402


def wide_groups(name: str, a: dict) -> str:
    if "accuracy" in a:
        return "wide" if "wide cell" in name else "other digit sets"
    return "letters refused" if "letters" in name else "empty (read as a digit)"


if __name__ == "__main__":
    judge(sys.argv[1:5], wide_groups)
