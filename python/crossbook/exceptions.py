"""The exception tree: every misuse of crossbook raises a subclass of :class:`CrossbookError`.

Expected trading outcomes (a rejected order, an expired remainder, a self-trade) are events with a
reason, never exceptions. Exceptions mean the call itself was wrong; a call that raises has changed
nothing. Each class also derives from the matching built-in (``ValueError``, ``TypeError``,
``LookupError``) so generic handlers keep working.
"""

from __future__ import annotations


class CrossbookError(Exception):
    """Base of every crossbook error."""


class InvalidArgumentError(CrossbookError, ValueError):
    """An argument has the right type but a value that is not allowed."""


class InvalidTypeError(CrossbookError, TypeError):
    """An argument has the wrong type (a float where an int is needed, a wrong array dtype, ...)."""


class InvalidQuantityError(InvalidArgumentError):
    """A quantity that is zero, negative, out of range or not a whole number of lots."""


class InvalidPriceError(InvalidArgumentError):
    """A price that is zero, negative, out of range or off the tick."""


class InvalidOrderError(InvalidArgumentError):
    """An order whose parameters contradict each other (e.g. a post-only market order)."""


class InvalidParameterError(InvalidArgumentError):
    """A book, market or venue parameter that is out of range."""


class UnknownOrderError(CrossbookError, LookupError):
    """An order id that was never issued (an id that was issued but is gone is an event instead)."""


__all__ = [
    "CrossbookError",
    "InvalidArgumentError",
    "InvalidOrderError",
    "InvalidParameterError",
    "InvalidPriceError",
    "InvalidQuantityError",
    "InvalidTypeError",
    "UnknownOrderError",
]
