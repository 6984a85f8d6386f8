"""Self-checks for the exercises: a wrong answer raises ``AssertionError`` with a specific hint
(so nbval fails on it); a right one prints a short ✓ line.

Exercise checks are grouped by notebook below the shared primitives.
"""
from __future__ import annotations


def ok(message: str) -> None:
    """Print the success line of a check."""
    print(f"✓ {message}")


def require(condition: bool, hint: str) -> None:
    """Raise ``AssertionError(hint)`` unless ``condition`` holds."""
    if not condition:
        raise AssertionError(hint)
