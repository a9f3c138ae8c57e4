"""The one exception type digitkit raises for problems a user can fix.

The CLI turns a :class:`DigitkitError` into one clear line on stderr and exit code 2;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class DigitkitError(Exception):
    """A user-facing error: the message says what is wrong and how to fix it."""

    exit_code = 2
