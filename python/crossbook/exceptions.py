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


class ConfigError(InvalidArgumentError):
    """A configuration value that is missing, malformed or out of range (see :mod:`crossbook.config`).

    ``path`` names the field (``markets[3] (SOL_USDC_PERP).tick_size``) and ``reason`` says what was
    expected; the message is ``"<path>: <reason>"``. A wrong type is a ``ConfigError`` too, so one
    handler covers every bad configuration.
    """

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(path, reason)
        self.path = path
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


class UnknownNameError(CrossbookError, LookupError):
    """An asset or market symbol the configuration does not define (the message lists the known ones)."""


class UnknownAccountError(CrossbookError, LookupError):
    """A subaccount id or owner name that does not exist."""


class InvalidAmountError(InvalidArgumentError):
    """An amount, price or quantity that is malformed, not positive, out of range, or finer than the
    asset's decimals or the market's tick or step."""


class SubaccountLimitError(CrossbookError):
    """An owner already has the maximum number of subaccounts."""


class WrongOwnerError(CrossbookError, PermissionError):
    """An operation across owners: a transfer between different owners' subaccounts, or a cancel of
    another subaccount's order."""


class InsufficientBalanceError(CrossbookError):
    """A withdrawal or transfer of more than the free balance."""


class LendingRefusedError(CrossbookError):
    """A borrow, redemption or withdrawal the pool cannot serve now: it lacks the cash, is throttled
    (utilization past the threshold), or the amount exceeds what is lent."""


class InsufficientMarginError(CrossbookError):
    """A withdrawal, transfer or leverage change that would take initial margin above net equity."""


class JournalError(CrossbookError):
    """A journal or snapshot file that cannot be used as it is (see :mod:`crossbook.journal`).

    ``path`` names the file and ``offset`` the byte where the problem is; the message is
    ``"<path> at offset <offset>: <reason>"``. Recovery never resets state silently: it raises this.
    """

    def __init__(self, path: str, offset: int, reason: str) -> None:
        super().__init__(path, offset, reason)
        self.path = path
        self.offset = offset
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.path} at offset {self.offset}: {self.reason}"


class JournalCorruptError(JournalError):
    """A damaged journal or snapshot: a bad CRC or structure with valid data after it (a torn last
    record is not an error: it is truncated with a logged warning)."""


class JournalVersionError(JournalError):
    """A journal or snapshot written in a format version this build does not read."""


class DurabilityError(CrossbookError, OSError):
    """A durable exchange cannot make a command durable: the journal write or fsync failed, or the
    exchange is closed. After a failed write the exchange refuses every further command (its state
    and its journal might disagree); reopen the directory to recover the acknowledged state."""


__all__ = [
    "ConfigError",
    "CrossbookError",
    "DurabilityError",
    "InsufficientBalanceError",
    "InsufficientMarginError",
    "InvalidAmountError",
    "InvalidArgumentError",
    "InvalidOrderError",
    "InvalidParameterError",
    "InvalidPriceError",
    "InvalidQuantityError",
    "InvalidTypeError",
    "JournalCorruptError",
    "JournalError",
    "JournalVersionError",
    "LendingRefusedError",
    "SubaccountLimitError",
    "UnknownAccountError",
    "UnknownNameError",
    "UnknownOrderError",
    "WrongOwnerError",
]
