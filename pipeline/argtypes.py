"""Argument types for the command line: a value out of range is refused by argparse, naming the option
and the accepted range, before any configuration is loaded or any service is contacted."""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Callable


def number(kind: type, low: float | None = None, *, above: bool = False,
           high: float | None = None) -> Callable[[str], float]:
    """A parser for an int or float within [low, high] (or (low, high] when `above`)."""
    if above:
        wanted = f"more than {low}"
    elif high is not None:
        wanted = f"from {low} to {high}"
    else:
        wanted = f"{low} or more"
    noun = "whole number" if kind is int else "number"

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {noun}") from None
        if (low is not None and (value <= low if above else value < low)) or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{text} is out of range: use a {noun} {wanted}")
        return value

    parse.__name__ = noun  # argparse names the type in its own messages
    return parse


POSITIVE = number(float, 0, above=True)
POSITIVE_INT = number(int, 1)
NON_NEGATIVE_INT = number(int, 0)
FRACTION = number(float, 0, high=1)


def timestamp(text: str) -> datetime:
    """ISO 8601 with a UTC offset: a naive time would be read in whatever zone the machine is in."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 time (e.g. 2026-01-31T00:00:00+00:00)") from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no UTC offset; add one, e.g. 2026-01-31T00:00:00+00:00")
    return value


def non_empty(text: str) -> str:
    if not text.strip().strip("/"):
        raise argparse.ArgumentTypeError("must not be empty")
    return text
