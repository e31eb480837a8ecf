"""Types for command-line options that check a value where it is read: a bad one is refused
by argparse in one line that names the option, says what is wrong and gives an example of a
good value (yesladder.cli prints it alone; no traceback)."""

import argparse
import datetime as dt
import math
from collections.abc import Callable


def day(value: str) -> dt.date:
    """A day as YYYY-MM-DD."""
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a day as YYYY-MM-DD, e.g. 2026-11-30"
        ) from None


def whole(minimum: int, example: int, maximum: int | None = None) -> Callable[[str], int]:
    """A whole number from `minimum` (to `maximum`)."""

    def read(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            number = None
        if number is None or number < minimum or (maximum is not None and number > maximum):
            span = (
                f"from {minimum} to {maximum}" if maximum is not None else f"of {minimum} or more"
            )
            raise argparse.ArgumentTypeError(
                f"{value!r} is not a whole number {span}, e.g. {example}"
            )
        return number

    read.__name__ = "whole number"
    return read


def number(minimum: float, example: float, above: bool = False) -> Callable[[str], float]:
    """A finite number from `minimum` (above it when `above`)."""

    def read(value: str) -> float:
        try:
            found = float(value)
        except ValueError:
            found = math.nan
        if not math.isfinite(found) or found < minimum or (above and found == minimum):
            span = f"above {minimum:g}" if above else f"of {minimum:g} or more"
            raise argparse.ArgumentTypeError(f"{value!r} is not a number {span}, e.g. {example:g}")
        return found

    read.__name__ = "number"
    return read


PORT = whole(1, 8000, 65535)
