"""Class labels shared by data, training and inference.

Digits are the classes 0-9. Models trained for real handwriting have one more class, 10,
"not a digit" (letters, symbols, scribbles, empty boxes, lone lines, several digits at once):
a recognizer answers ``digit: None`` with ``reason: "not_a_digit"`` for it instead of a
confident digit.
"""

from __future__ import annotations

DIGITS = 10
NOT_A_DIGIT = 10  # the label of the extra class
NOT_A_DIGIT_REASON = "not_a_digit"


def label_names(classes: int) -> list[int | str]:
    """What a card records as ``labels`` for a model with ``classes`` outputs."""
    if classes not in (DIGITS, DIGITS + 1):
        raise ValueError(f"a digit model has 10 or 11 outputs, not {classes}")
    return [*range(DIGITS), *([NOT_A_DIGIT_REASON] if classes > DIGITS else [])]
