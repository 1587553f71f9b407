"""The configuration of an exchange (SPEC §2): assets, markets, venue and liquidation parameters.

Contract
--------
- Every class is a frozen dataclass, and every non-integer parameter is a :class:`~decimal.Decimal`;
  no ``float`` is ever stored. Decimal fields accept ``Decimal``, ``str`` or ``int``, and a ``float``
  only through ``str()`` (``0.1`` becomes ``Decimal("0.1")``), as SPEC §1 says for amounts. Integer
  fields accept ``int`` only (never ``bool``), flags ``bool`` only.
- An object that exists is valid: construction validates. Each failure is a
  :class:`~crossbook.exceptions.ConfigError` whose ``path`` names the field and whose message says what
  was expected. A rule that needs one object is checked by that object, with a path relative to it
  (``tick_size``); a rule that spans objects (assets named by markets, ``tick_size * step_size`` in
  quote atoms, duplicate symbols, the settlement asset) is checked by :class:`Config` with the full
  path (``markets[5] (SOL_USDC_PERP).tick_size``). :meth:`Config.from_dict` and
  :meth:`Config.from_toml` report full paths for every rule.
- :meth:`Config.from_dict` is strict: an unknown key is an error (a typo never falls back to a default
  silently); a missing key with a default takes it. :meth:`Config.to_dict` writes decimals as plain
  strings (``"0.00001"``, never exponent notation) and leaves out ``None``, so its output is valid TOML
  and ``Config.from_dict(config.to_dict()) == config``.
- :meth:`Config.engine_spec` is the only view the Rust engine gets: integer atoms, lots and fee units;
  floats only for the risk ratios the kernels compute in ``f64`` (SPEC §1).
- Units: fractions and rates are plain ratios (``0.01`` is 1%), never basis points; Backpack's
  ``fundingRateUpperBound``/``LowerBound`` (bps) become one symmetric ``funding_rate_bound``. Times are
  integer milliseconds of engine time.

Choices where SPEC is silent (each enforced, with its own message): a market symbol is
``BASE_QUOTE`` for spot and ``BASE_QUOTE_PERP`` for perps, as on Backpack; spot markets take no
``imf``/``mmf``/``open_interest_limit`` (spot margin uses the assets' borrow functions, and a parameter
that would be ignored is refused rather than dropped); an identity haircut has base 1 and no penalty;
IMF ≥ MMF holds for assets' borrow functions as for perps; the settlement asset is collateral; a perp's
funding interval is a multiple of the realize interval; every derived integer (atoms per lot, quote
atoms per tick-lot, lots, the base atoms of the largest order) fits an ``i64``; decimals have at most 40
digits and a magnitude in [1e-30, 1e31).

Cost: construction and validation are O(assets + markets); lookups by symbol are dict lookups after
the first. :meth:`Haircut.weight`, :meth:`MarginFunction.fraction` and :meth:`LendingCurve.borrow_rate`
compute in ``Decimal`` at 34 significant digits, independent of the caller's decimal context.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import MISSING, dataclass, field, fields
from decimal import ROUND_HALF_EVEN, Context, Decimal, DivisionByZero, InvalidOperation, Overflow, localcontext
from fractions import Fraction
from functools import cached_property
from typing import Any, ClassVar, Literal, NoReturn, TypeVar

from crossbook.enums import BookState
from crossbook.exceptions import ConfigError, InvalidArgumentError, InvalidTypeError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

HaircutKind = Literal["identity", "inverseSqrt"]
MarketKind = Literal["spot", "perp"]

_HAIRCUT_KINDS: tuple[HaircutKind, ...] = ("identity", "inverseSqrt")
_MARKET_KINDS: tuple[MarketKind, ...] = ("spot", "perp")
_I64_MAX = 2**63 - 1
_MAX_DIGITS = 40
_MAX_EXPONENT = 30
_FEE_UNITS = 10**8
_MAX_FEE = Decimal("0.1")
_ASSET_SYMBOL = re.compile(r"[A-Za-z0-9]{1,32}")
_MARKET_SYMBOL = re.compile(r"[A-Za-z0-9]+(_[A-Za-z0-9]+)*")
# The risk formulas run in their own context so a caller's decimal settings cannot change a result.
_MATH = Context(prec=34, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation, DivisionByZero, Overflow])


# --- parsing and checking helpers ------------------------------------------------------------------


def _fail(path: str, reason: str) -> NoReturn:
    raise ConfigError(path, reason)


def _check(condition: bool, path: str, reason: str) -> None:
    if not condition:
        _fail(path, reason)


def _join(prefix: str, path: str) -> str:
    if not prefix:
        return path
    if not path:
        return prefix
    return f"{prefix}{path}" if path.startswith("[") else f"{prefix}.{path}"


@contextmanager
def _under(prefix: str) -> Iterator[None]:
    """Re-raise a ``ConfigError`` from a nested object with its path prefixed by where the object sits."""
    try:
        yield
    except ConfigError as error:
        raise ConfigError(_join(prefix, error.path), error.reason) from None


def _describe(value: object) -> str:
    return f"{type(value).__name__} {value!r}"


def _text(value: Decimal) -> str:
    """A decimal as plain text, never in exponent notation (``1E-8`` is written ``0.00000001``)."""
    return format(value, "f")


def _decimal(value: object, path: str) -> Decimal:
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, bool):
        _fail(path, f"expected a decimal (Decimal, str or int), got {_describe(value)}")
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        number = Decimal(str(value))  # SPEC §1: a float is read through its shortest repr, never its binary value
    elif isinstance(value, str):
        try:
            number = Decimal(value)
        except InvalidOperation:
            _fail(path, f"expected a decimal number, got {value!r}")
    else:
        _fail(path, f"expected a decimal (Decimal, str or int), got {_describe(value)}")
    if not number.is_finite():
        _fail(path, f"expected a finite decimal, got {value!r}")
    if not number:
        return Decimal(0)
    if len(number.as_tuple().digits) > _MAX_DIGITS or abs(number.adjusted()) > _MAX_EXPONENT:
        _fail(path, f"expected at most {_MAX_DIGITS} digits and a magnitude in [1e-30, 1e31), got {value!r}")
    return number


def _integer(value: object, path: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        _fail(path, f"expected an integer, got {_describe(value)}")
    _check(low <= value <= high, path, f"expected an integer in [{low}, {high}], got {value}")
    return int(value)


def _flag(value: object, path: str) -> bool:
    _check(isinstance(value, bool), path, f"expected true or false, got {_describe(value)}")
    return bool(value)


def _symbol(value: object, path: str, pattern: re.Pattern[str], expected: str) -> str:
    if not isinstance(value, str):
        _fail(path, f"expected a string, got {_describe(value)}")
    _check(pattern.fullmatch(value) is not None, path, f"expected {expected}, got {value!r}")
    return value


def _choice(value: object, path: str, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        _fail(path, f"expected one of {', '.join(repr(choice) for choice in choices)}, got {_describe(value)}")
    return value


def _instance(value: object, path: str, cls: type[Any]) -> None:
    _check(isinstance(value, cls), path, f"expected an instance of {cls.__name__}, got {_describe(value)}")


def _is_multiple(value: Decimal, unit: Decimal) -> bool:
    return (Fraction(value) / Fraction(unit)).denominator == 1


def _scaled(value: Decimal, decimals: int) -> Fraction:
    return Fraction(value) * Fraction(10) ** decimals


def _argument(value: object, name: str) -> Decimal:
    """A method argument (not configuration): wrong types raise ``InvalidTypeError``, bad values
    ``InvalidArgumentError``, both naming the argument."""
    try:
        number = _decimal(value, name)
    except ConfigError as error:
        if isinstance(value, bool) or not isinstance(value, (Decimal, int, float, str)):
            raise InvalidTypeError(str(error)) from None
        raise InvalidArgumentError(str(error)) from None
    if number < 0:
        raise InvalidArgumentError(f"{name}: expected a value >= 0, got {value!r}")
    return number


def _set(instance: object, **values: object) -> None:
    """Store normalised values on a frozen dataclass during ``__post_init__``."""
    for name, value in values.items():
        object.__setattr__(instance, name, value)


def _table(value: object, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        _fail(path, f"expected a table (mapping), got {_describe(value)}")
    for key in value:
        _check(isinstance(key, str), _join(path, repr(key)), f"expected string keys, got {_describe(key)}")
    return value


def _plain(value: object) -> object:
    if isinstance(value, Decimal):
        return _text(value)
    if isinstance(value, BookState):
        return value.value
    if isinstance(value, _Section):
        return value.to_dict()
    if isinstance(value, tuple):
        return [_plain(item) for item in value]
    return value


_S = TypeVar("_S", bound="_Section")


class _Section:
    """``to_dict``/``from_dict`` for a configuration dataclass; ``_NESTED`` names its sub-sections."""

    _NESTED: ClassVar[Mapping[str, type[_Section]]] = {}
    __dataclass_fields__: ClassVar[dict[str, Any]]  # every subclass is a dataclass

    def to_dict(self) -> dict[str, Any]:
        """Plain values only (``str``, ``int``, ``bool``, dicts, lists); ``None`` fields are left out."""
        return {
            item.name: _plain(getattr(self, item.name)) for item in fields(self) if getattr(self, item.name) is not None
        }

    @classmethod
    def from_dict(cls: type[_S], mapping: Mapping[str, Any]) -> _S:
        """Build from a mapping shaped like :meth:`to_dict`'s output; unknown keys are errors."""
        table = _table(mapping, cls.__name__)  # callers inside this module check the table first, with its path
        known = {item.name: item for item in fields(cls) if item.init}
        for key in table:
            _check(key in known, key, f"unknown field; expected one of: {', '.join(known)}")
        arguments: dict[str, Any] = {}
        for name, item in known.items():
            if name not in table:
                _check(item.default is not MISSING or item.default_factory is not MISSING, name, "missing; required")
                continue
            value = table[name]
            nested = cls._NESTED.get(name)
            if nested is not None and value is not None:
                with _under(name):
                    value = nested.from_dict(_table(value, ""))
            arguments[name] = value
        return cls(**arguments)


# --- functions of notional -------------------------------------------------------------------------


@dataclass(frozen=True)
class Haircut(_Section):
    """Collateral weight as a function of a holding's notional (SPEC §4; Backpack ``haircutFunction``).

    ``identity`` weighs 1. ``inverseSqrt`` weighs ``min(base, 1.1 / (1 + penalty * sqrt(N)))``, so a
    large holding counts for less (Backpack's ``positiveCurvePenalty`` is ``penalty``). ``base`` is in
    (0, 1], ``penalty`` ≥ 0; ``identity`` only with base 1 and penalty 0.
    """

    kind: HaircutKind
    base: Decimal = Decimal(1)
    penalty: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        kind = _choice(self.kind, "kind", _HAIRCUT_KINDS)
        base = _decimal(self.base, "base")
        penalty = _decimal(self.penalty, "penalty")
        _check(0 < base <= 1, "base", f"expected a weight in (0, 1], got {base}")
        _check(penalty >= 0, "penalty", f"expected a penalty >= 0, got {penalty}")
        if kind == "identity":
            _check(base == 1, "base", f"an identity haircut has base 1 (use inverseSqrt for less), got {base}")
            _check(penalty == 0, "penalty", f"an identity haircut has no penalty (use inverseSqrt), got {penalty}")
        _set(self, kind=kind, base=base, penalty=penalty)

    def weight(self, notional_usd: Decimal | int | str) -> Decimal:
        """The collateral weight of a holding worth ``notional_usd`` (≥ 0), at 34 significant digits."""
        notional = _argument(notional_usd, "notional_usd")
        if self.kind == "identity":
            return Decimal(1)
        with localcontext(_MATH):
            return min(self.base, Decimal("1.1") / (1 + self.penalty * notional.sqrt()))


@dataclass(frozen=True)
class MarginFunction(_Section):
    """A margin fraction as a function of notional: Backpack's ``sqrt`` IMF/MMF function (SPEC §5).

    ``fraction(N) = max(base, factor * sqrt(N))``; ``base`` in (0, 1], ``factor`` ≥ 0. The leverage
    floor ``1 / max_leverage`` of the initial fraction belongs to the account, not to this function.
    """

    base: Decimal
    factor: Decimal

    def __post_init__(self) -> None:
        base = _decimal(self.base, "base")
        factor = _decimal(self.factor, "factor")
        _check(0 < base <= 1, "base", f"expected a fraction in (0, 1], got {base}")
        _check(factor >= 0, "factor", f"expected a factor >= 0, got {factor}")
        _set(self, base=base, factor=factor)

    def fraction(self, notional_usd: Decimal | int | str) -> Decimal:
        """The margin fraction for an exposure of ``notional_usd`` (≥ 0), at 34 significant digits."""
        notional = _argument(notional_usd, "notional_usd")
        with localcontext(_MATH):
            return max(self.base, self.factor * notional.sqrt())


def _check_margin_pair(initial: MarginFunction, maintenance: MarginFunction, initial_name: str) -> None:
    """Initial margin never below maintenance margin: both parameters, so it holds at every size."""
    _check(
        initial.base >= maintenance.base,
        f"{initial_name}.base",
        f"expected >= the maintenance base {maintenance.base}, got {initial.base}",
    )
    _check(
        initial.factor >= maintenance.factor,
        f"{initial_name}.factor",
        f"expected >= the maintenance factor {maintenance.factor}, got {initial.factor}",
    )


@dataclass(frozen=True)
class LendingCurve(_Section):
    """The two-slope borrow APR of an asset's pool (SPEC §7), as a function of utilization ``u``.

    ``base + slope1 * u / u_opt`` up to ``u_opt = optimal_utilization``, then
    ``base + slope1 + slope2 * (u - u_opt) / (1 - u_opt)``. Rates are yearly fractions (0.10 is 10% APR);
    ``base``, ``slope1``, ``slope2`` ≥ 0 and ``optimal_utilization`` in (0, 1). The defaults are SPEC's USDC
    curve.
    """

    base: Decimal = Decimal(0)
    slope1: Decimal = Decimal("0.10")
    optimal_utilization: Decimal = Decimal("0.8")
    slope2: Decimal = Decimal("1.0")

    def __post_init__(self) -> None:
        values = {
            name: _decimal(getattr(self, name), name) for name in ("base", "slope1", "optimal_utilization", "slope2")
        }
        for name in ("base", "slope1", "slope2"):
            _check(values[name] >= 0, name, f"expected a rate >= 0, got {values[name]}")
        optimal = values["optimal_utilization"]
        _check(0 < optimal < 1, "optimal_utilization", f"expected a utilization in (0, 1), got {optimal}")
        _set(self, **values)

    def borrow_rate(self, utilization: Decimal | int | str) -> Decimal:
        """The borrow APR at ``utilization`` in [0, 1]."""
        u = _argument(utilization, "utilization")
        if u > 1:
            raise InvalidArgumentError(f"utilization: expected a value in [0, 1], got {utilization!r}")
        optimal = self.optimal_utilization
        with localcontext(_MATH):
            if u <= optimal:
                return self.base + self.slope1 * u / optimal
            return self.base + self.slope1 + self.slope2 * (u - optimal) / (1 - optimal)

    def lend_rate(self, utilization: Decimal | int | str, venue_fee: Decimal | int | str) -> Decimal:
        """The lend APR: ``borrow_rate(u) * u * (1 - venue_fee)`` (SPEC §7)."""
        u = _argument(utilization, "utilization")
        fee = _argument(venue_fee, "venue_fee")
        if fee >= 1:
            raise InvalidArgumentError(f"venue_fee: expected a fraction in [0, 1), got {venue_fee!r}")
        with localcontext(_MATH):
            return self.borrow_rate(u) * u * (1 - fee)


# --- assets and markets ----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class AssetConfig(_Section):
    """One asset: ``decimals`` (0 to 18) sets its atom (``10**-decimals``; every amount is whole atoms),
    ``haircut`` its collateral weight, ``borrow_imf``/``borrow_mmf`` the margin on a borrow of it,
    ``lending`` its pool's rate curve, ``collateral`` whether holdings count toward equity at all,
    ``open_borrow_lend_limit`` (Backpack's ``openBorrowLendLimit``, in units of the asset) the size past
    which the pool takes no new lends nor borrows (None: no limit)."""

    symbol: str
    decimals: int
    haircut: Haircut
    borrow_imf: MarginFunction
    borrow_mmf: MarginFunction
    lending: LendingCurve = field(default_factory=LendingCurve)
    collateral: bool = True
    open_borrow_lend_limit: Decimal | None = None

    _NESTED: ClassVar[Mapping[str, type[_Section]]] = {
        "haircut": Haircut,
        "borrow_imf": MarginFunction,
        "borrow_mmf": MarginFunction,
        "lending": LendingCurve,
    }

    def __post_init__(self) -> None:
        symbol = _symbol(self.symbol, "symbol", _ASSET_SYMBOL, "1-32 letters or digits, such as 'BTC'")
        decimals = _integer(self.decimals, "decimals", 0, 18)
        _instance(self.haircut, "haircut", Haircut)
        _instance(self.borrow_imf, "borrow_imf", MarginFunction)
        _instance(self.borrow_mmf, "borrow_mmf", MarginFunction)
        _instance(self.lending, "lending", LendingCurve)
        collateral = _flag(self.collateral, "collateral")
        _check_margin_pair(self.borrow_imf, self.borrow_mmf, "borrow_imf")
        limit = self.open_borrow_lend_limit
        if limit is not None:
            limit = _decimal(limit, "open_borrow_lend_limit")
            _check(limit > 0, "open_borrow_lend_limit", f"expected a positive amount, got {limit}")
            _check(
                _is_multiple(limit, Decimal(1).scaleb(-decimals)),
                "open_borrow_lend_limit",
                f"expected a whole number of atoms (10^-{decimals}), got {limit}",
            )
        _set(self, symbol=symbol, decimals=decimals, collateral=collateral, open_borrow_lend_limit=limit)


@dataclass(frozen=True, kw_only=True)
class MarketConfig(_Section):
    """One market (SPEC §2). Sizes are in base units, prices in quote units, fees and bands are fractions.

    ``tick_size``/``step_size`` are the price and quantity increments; ``min_quantity``/``max_quantity``
    bound one order (multiples of the step). ``max_multiplier``/``min_multiplier`` bound prices around the
    last mark (max > 1 > min > 0); ``impact_band`` bounds how far from the best price a market order walks,
    in (0, 1). ``imf``/``mmf`` (perps only, IMF ≥ MMF) are the position margin functions. Fees are rates in
    whole units of 1e-8: taker ≥ 0, maker ≥ -taker (a rebate never exceeds the taker fee), both |fee| ≤ 0.1.
    ``open_interest_limit`` (perps only) is in base units, ``None`` for no limit. Funding (perps):
    ``funding_interval_ms``, ``funding_rate_bound`` (the rate is clamped to ±bound per interval, in (0, 1))
    and ``funding_interest_rate`` per interval (|rate| ≤ bound). ``mark_ema_span`` (perps, 1..1000000): a
    perp whose mark the caller does not set derives it as ``index + EMA(mid - index)``, the EMA weighting each
    sample (one per index update) by ``2 / (span + 1)``; the mark stays within the multipliers of the index.

    The derived integers need the assets' decimals, so they are methods: :meth:`notional_per_tick_lot`,
    :meth:`base_atoms_per_lot`; the lot counts are properties.
    """

    symbol: str
    kind: MarketKind
    base: str
    quote: str
    tick_size: Decimal
    step_size: Decimal
    min_quantity: Decimal
    max_quantity: Decimal
    max_multiplier: Decimal = Decimal("2.0")
    min_multiplier: Decimal = Decimal("0.5")
    impact_band: Decimal = Decimal("0.05")
    imf: MarginFunction | None = None
    mmf: MarginFunction | None = None
    maker_fee: Decimal
    taker_fee: Decimal
    open_interest_limit: Decimal | None = None
    funding_interval_ms: int = 3_600_000
    funding_rate_bound: Decimal = Decimal("0.01")
    funding_interest_rate: Decimal = Decimal("0.0000125")
    mark_ema_span: int = 30
    state: BookState = BookState.Open

    _NESTED: ClassVar[Mapping[str, type[_Section]]] = {"imf": MarginFunction, "mmf": MarginFunction}

    def __post_init__(self) -> None:
        kind = _choice(self.kind, "kind", _MARKET_KINDS)
        names = self._names(kind)
        sizes = self._sizes()
        max_multiplier = _decimal(self.max_multiplier, "max_multiplier")
        min_multiplier = _decimal(self.min_multiplier, "min_multiplier")
        _check(max_multiplier > 1, "max_multiplier", f"expected a multiplier > 1, got {max_multiplier}")
        _check(0 < min_multiplier < 1, "min_multiplier", f"expected a multiplier in (0, 1), got {min_multiplier}")
        impact_band = _decimal(self.impact_band, "impact_band")
        _check(0 < impact_band < 1, "impact_band", f"expected a fraction in (0, 1), got {impact_band}")
        self._check_margin(kind)
        taker_fee = self._fee(self.taker_fee, "taker_fee")
        maker_fee = self._fee(self.maker_fee, "maker_fee")
        _check(taker_fee >= 0, "taker_fee", f"expected a fee >= 0, got {taker_fee}")
        _check(maker_fee >= -taker_fee, "maker_fee", f"expected >= -taker_fee ({-taker_fee}), got {maker_fee}")
        state = self.state
        if not isinstance(state, BookState):
            state = BookState(_choice(state, "state", tuple(member.value for member in BookState)))
        _set(
            self,
            kind=kind,
            **names,
            **sizes,
            **self._perp_limits(kind, sizes["step_size"]),
            max_multiplier=max_multiplier,
            min_multiplier=min_multiplier,
            impact_band=impact_band,
            maker_fee=maker_fee,
            taker_fee=taker_fee,
            state=state,
        )

    def _names(self, kind: str) -> dict[str, str]:
        symbol = _symbol(self.symbol, "symbol", _MARKET_SYMBOL, "letters or digits joined by '_', such as 'BTC_USDC'")
        base = _symbol(self.base, "base", _ASSET_SYMBOL, "an asset symbol such as 'BTC'")
        quote = _symbol(self.quote, "quote", _ASSET_SYMBOL, "an asset symbol such as 'USDC'")
        _check(base != quote, "quote", f"expected an asset other than the base {base!r}")
        if kind == "perp":
            _check(symbol.endswith("_PERP"), "symbol", f"a perp symbol ends with '_PERP', got {symbol!r}")
            expected = f"{base}_{quote}_PERP"
        else:
            _check(not symbol.endswith("_PERP"), "symbol", f"'_PERP' is for perps, but kind is 'spot': {symbol!r}")
            expected = f"{base}_{quote}"
        _check(symbol == expected, "symbol", f"expected {expected!r} (BASE_QUOTE[_PERP]), got {symbol!r}")
        return {"symbol": symbol, "base": base, "quote": quote}

    def _sizes(self) -> dict[str, Decimal]:
        names = ("tick_size", "step_size", "min_quantity", "max_quantity")
        sizes = {name: _decimal(getattr(self, name), name) for name in names}
        for name, value in sizes.items():
            _check(value > 0, name, f"expected a value > 0, got {value}")
        step = sizes["step_size"]
        for name in ("min_quantity", "max_quantity"):
            _check(_is_multiple(sizes[name], step), name, f"expected a multiple of step_size {step}, got {sizes[name]}")
        _check(
            sizes["min_quantity"] <= sizes["max_quantity"],
            "min_quantity",
            f"expected <= max_quantity {sizes['max_quantity']}, got {sizes['min_quantity']}",
        )
        return sizes

    def _check_margin(self, kind: str) -> None:
        for name in ("imf", "mmf"):
            value = getattr(self, name)
            if kind == "perp":
                _check(value is not None, name, f"a perp market needs an {name} function {{base, factor}}")
                _instance(value, name, MarginFunction)
            else:
                _check(value is None, name, "spot markets take no margin function (spot borrows use the asset's)")
        if self.imf is not None and self.mmf is not None:
            _check_margin_pair(self.imf, self.mmf, "imf")

    def _perp_limits(self, kind: str, step: Decimal) -> dict[str, Any]:
        """Open-interest limit and funding parameters (funding values are kept, unused, on spot markets)."""
        open_interest_limit = None
        if self.open_interest_limit is not None:
            _check(kind == "perp", "open_interest_limit", "only perp markets have an open-interest limit")
            open_interest_limit = _decimal(self.open_interest_limit, "open_interest_limit")
            _check(open_interest_limit > 0, "open_interest_limit", f"expected a value > 0, got {open_interest_limit}")
            _check(
                _is_multiple(open_interest_limit, step),
                "open_interest_limit",
                f"expected a multiple of step_size {step}, got {open_interest_limit}",
            )
        bound = _decimal(self.funding_rate_bound, "funding_rate_bound")
        _check(0 < bound < 1, "funding_rate_bound", f"expected a rate in (0, 1), got {bound}")
        interest = _decimal(self.funding_interest_rate, "funding_interest_rate")
        _check(
            abs(interest) <= bound,
            "funding_interest_rate",
            f"expected |rate| <= funding_rate_bound {bound}, got {interest}",
        )
        return {
            "open_interest_limit": open_interest_limit,
            "funding_interval_ms": _integer(self.funding_interval_ms, "funding_interval_ms", 1, _I64_MAX),
            "mark_ema_span": _integer(self.mark_ema_span, "mark_ema_span", 1, 1_000_000),
            "funding_rate_bound": bound,
            "funding_interest_rate": interest,
        }

    @staticmethod
    def _fee(value: object, name: str) -> Decimal:
        fee = _decimal(value, name)
        _check(abs(fee) <= _MAX_FEE, name, f"expected a rate with |fee| <= {_MAX_FEE}, got {fee}")
        _check((Fraction(fee) * _FEE_UNITS).denominator == 1, name, f"expected a whole multiple of 1e-8, got {fee}")
        return fee

    def notional_per_tick_lot(self, quote_decimals: int) -> int:
        """Quote atoms for one lot at one tick: ``tick_size * step_size * 10**quote_decimals``."""
        value = _scaled(self.tick_size, quote_decimals) * Fraction(self.step_size)
        _check(
            value.denominator == 1, "tick_size", f"tick_size x step_size is not a whole number of quote atoms ({value})"
        )
        return int(value)

    def base_atoms_per_lot(self, base_decimals: int) -> int:
        """Base atoms in one lot: ``step_size * 10**base_decimals``."""
        value = _scaled(self.step_size, base_decimals)
        _check(value.denominator == 1, "step_size", f"step_size is not a whole number of base atoms ({value})")
        return int(value)

    @property
    def min_quantity_lots(self) -> int:
        return int(Fraction(self.min_quantity) / Fraction(self.step_size))

    @property
    def max_quantity_lots(self) -> int:
        return int(Fraction(self.max_quantity) / Fraction(self.step_size))

    @property
    def open_interest_limit_lots(self) -> int | None:
        if self.open_interest_limit is None:
            return None
        return int(Fraction(self.open_interest_limit) / Fraction(self.step_size))

    @property
    def maker_fee_e8(self) -> int:
        """The maker fee in units of 1e-8 (0.0002 is 20,000)."""
        return int(Fraction(self.maker_fee) * _FEE_UNITS)

    @property
    def taker_fee_e8(self) -> int:
        """The taker fee in units of 1e-8 (0.0005 is 50,000)."""
        return int(Fraction(self.taker_fee) * _FEE_UNITS)


# --- venue -----------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class LiquidationConfig(_Section):
    """The liquidation waterfall (SPEC §9, run by :mod:`crossbook.liquidation`).

    Fractions in (0, 1]: ``chunk``: share of a position sent per on-book loop; ``target_mmr``: loops stop
    below this MMR; ``fee``: share of liquidated notional paid to the liquidation fund (to the provider in
    a backstop transfer); ``auto_close_mf_multiplier``: the backstop takes over when the margin fraction
    falls below MMF times this. ``enabled`` (default on): off leaves liquidatable subaccounts flagged
    (``Exchange.liquidatable``) but untouched, for studies of margin paths without the waterfall.
    """

    chunk: Decimal = Decimal("0.10")
    target_mmr: Decimal = Decimal("0.90")
    fee: Decimal = Decimal("0.01")
    auto_close_mf_multiplier: Decimal = Decimal("0.5")
    enabled: bool = True

    def __post_init__(self) -> None:
        for name in ("chunk", "target_mmr", "fee", "auto_close_mf_multiplier"):
            value = _decimal(getattr(self, name), name)
            _check(0 < value <= 1, name, f"expected a fraction in (0, 1], got {value}")
            _set(self, **{name: value})
        _set(self, enabled=_flag(self.enabled, "enabled"))


@dataclass(frozen=True, kw_only=True)
class VenueConfig(_Section):
    """Venue-wide parameters (SPEC §2, §3, §7, §8).

    ``max_subaccounts`` (0 to 100): subaccounts per owner besides the main one. Intervals are milliseconds of
    engine time, > 0, and ``realize_interval_ms`` divides ``interest_interval_ms`` and
    ``funding_interval_ms`` so every interest and funding boundary is also a realize boundary. Leverage:
    1 ≤ ``default_leverage`` ≤ ``max_leverage`` ≤ 50. ``conversion_discount`` (below mark, when collateral
    is converted to pay USDC) and ``lend_venue_fee`` (the venue's share of borrow interest) are in [0, 1).
    Borrows and voluntary redemptions pause at utilization ``throttle_threshold``; settlement and
    liquidation may go to ``max_utilization``: 0 < throttle ≤ max ≤ 1.
    """

    max_subaccounts: int = 10
    realize_interval_ms: int = 10_000
    interest_interval_ms: int = 3_600_000
    funding_interval_ms: int = 3_600_000
    default_leverage: int = 10
    max_leverage: int = 50
    conversion_discount: Decimal = Decimal("0.005")
    lend_venue_fee: Decimal = Decimal("0.1")
    throttle_threshold: Decimal = Decimal("0.92")
    max_utilization: Decimal = Decimal("1.0")
    liquidation: LiquidationConfig = field(default_factory=LiquidationConfig)
    auto_lend: bool = True
    """Whether new subaccounts start with ``auto_lend`` on (SPEC §3: on)."""

    _NESTED: ClassVar[Mapping[str, type[_Section]]] = {"liquidation": LiquidationConfig}

    def __post_init__(self) -> None:
        max_subaccounts = _integer(self.max_subaccounts, "max_subaccounts", 0, 100)
        realize = _integer(self.realize_interval_ms, "realize_interval_ms", 1, _I64_MAX)
        intervals = {
            name: _integer(getattr(self, name), name, 1, _I64_MAX)
            for name in ("interest_interval_ms", "funding_interval_ms")
        }
        for name, interval in intervals.items():
            _check(
                interval % realize == 0, name, f"expected a multiple of realize_interval_ms {realize}, got {interval}"
            )
        max_leverage = _integer(self.max_leverage, "max_leverage", 1, 50)
        default_leverage = _integer(self.default_leverage, "default_leverage", 1, 50)
        _check(
            default_leverage <= max_leverage,
            "default_leverage",
            f"expected <= max_leverage {max_leverage}, got {default_leverage}",
        )
        fractions = {name: _decimal(getattr(self, name), name) for name in ("conversion_discount", "lend_venue_fee")}
        for name, value in fractions.items():
            _check(0 <= value < 1, name, f"expected a fraction in [0, 1), got {value}")
        throttle = _decimal(self.throttle_threshold, "throttle_threshold")
        max_utilization = _decimal(self.max_utilization, "max_utilization")
        _check(0 < max_utilization <= 1, "max_utilization", f"expected a utilization in (0, 1], got {max_utilization}")
        _check(
            0 < throttle <= max_utilization,
            "throttle_threshold",
            f"expected a utilization in (0, max_utilization {max_utilization}], got {throttle}",
        )
        _instance(self.liquidation, "liquidation", LiquidationConfig)
        _set(
            self,
            auto_lend=_flag(self.auto_lend, "auto_lend"),
            max_subaccounts=max_subaccounts,
            realize_interval_ms=realize,
            **intervals,
            default_leverage=default_leverage,
            max_leverage=max_leverage,
            **fractions,
            throttle_threshold=throttle,
            max_utilization=max_utilization,
        )


# --- the whole configuration -----------------------------------------------------------------------


def _label(section: str, index: int, symbol: object) -> str:
    return f"{section}[{index}] ({symbol})" if isinstance(symbol, str) else f"{section}[{index}]"


@dataclass(frozen=True)
class Config:
    """Assets, markets and venue parameters of one exchange, validated as a whole.

    ``assets`` and ``markets`` keep their order: it is the index order of :meth:`engine_spec`. Build one
    with :meth:`default`, :meth:`from_toml`, :meth:`from_dict` or the constructor; derive a variant with
    ``dataclasses.replace`` (which validates again).
    """

    assets: tuple[AssetConfig, ...]
    markets: tuple[MarketConfig, ...]
    venue: VenueConfig = field(default_factory=VenueConfig)
    settlement_asset: str = "USDC"

    def __post_init__(self) -> None:
        assets = self._sequence(self.assets, "assets", AssetConfig)
        markets = self._sequence(self.markets, "markets", MarketConfig)
        _check(len(assets) > 0, "assets", "expected at least one asset (the settlement asset)")
        _instance(self.venue, "venue", VenueConfig)
        settlement = _symbol(self.settlement_asset, "settlement_asset", _ASSET_SYMBOL, "an asset symbol such as 'USDC'")

        by_symbol: dict[str, int] = {}
        for index, asset in enumerate(assets):
            first = by_symbol.setdefault(asset.symbol, index)
            _check(first == index, f"{_label('assets', index, asset.symbol)}.symbol", f"duplicate of assets[{first}]")
        _check(
            settlement in by_symbol,
            "settlement_asset",
            f"unknown asset {settlement!r}; expected one of: {', '.join(by_symbol)}",
        )
        _check(
            assets[by_symbol[settlement]].collateral,
            "settlement_asset",
            f"the settlement asset {settlement!r} must be collateral (collateral = true)",
        )

        seen_markets: dict[str, int] = {}
        for index, market in enumerate(markets):
            prefix = _label("markets", index, market.symbol)
            first = seen_markets.setdefault(market.symbol, index)
            _check(first == index, f"{prefix}.symbol", f"duplicate of markets[{first}]")
            for side in ("base", "quote"):
                name = getattr(market, side)
                _check(
                    name in by_symbol,
                    f"{prefix}.{side}",
                    f"unknown asset {name!r}; expected one of: {', '.join(by_symbol)}",
                )
            if market.kind == "perp":
                _check(
                    market.quote == settlement,
                    f"{prefix}.quote",
                    f"perps settle in the settlement asset {settlement!r}, got {market.quote!r}",
                )
                _check(
                    market.funding_interval_ms % self.venue.realize_interval_ms == 0,
                    f"{prefix}.funding_interval_ms",
                    f"expected a multiple of venue.realize_interval_ms {self.venue.realize_interval_ms}, "
                    f"got {market.funding_interval_ms}",
                )
            self._check_units(market, assets[by_symbol[market.base]], assets[by_symbol[market.quote]], prefix)
        _set(self, assets=assets, markets=markets, settlement_asset=settlement)

    @staticmethod
    def _sequence(value: object, name: str, cls: type[Any]) -> tuple[Any, ...]:
        if not isinstance(value, (tuple, list)):
            _fail(
                name,
                f"expected a tuple of {cls.__name__} (use Config.from_dict for plain data), got {_describe(value)}",
            )
        for index, item in enumerate(value):
            _instance(item, f"{name}[{index}]", cls)
        return tuple(value)

    @staticmethod
    def _check_units(market: MarketConfig, base: AssetConfig, quote: AssetConfig, prefix: str) -> None:
        """SPEC §1: every trade's notional and quantity are whole atoms, and the integers fit an i64."""
        tick_lot = _scaled(market.tick_size, quote.decimals) * Fraction(market.step_size)
        _check(
            tick_lot.denominator == 1,
            f"{prefix}.tick_size",
            f"tick_size x step_size must be a whole number of {quote.symbol} atoms ({quote.decimals} decimals), "
            f"but {_text(market.tick_size)} x {_text(market.step_size)} = {float(tick_lot):g} atoms",
        )
        _check(tick_lot <= _I64_MAX, f"{prefix}.tick_size", f"tick_size x step_size is {tick_lot} atoms, above i64")
        lot = _scaled(market.step_size, base.decimals)
        _check(
            lot.denominator == 1,
            f"{prefix}.step_size",
            f"expected a whole number of {base.symbol} atoms ({base.decimals} decimals), got {_text(market.step_size)}",
        )
        largest = _scaled(market.max_quantity, base.decimals)
        _check(largest <= _I64_MAX, f"{prefix}.max_quantity", f"{largest} {base.symbol} atoms do not fit an i64")

    # --- lookups ---

    @cached_property
    def _asset_indices(self) -> dict[str, int]:
        return {asset.symbol: index for index, asset in enumerate(self.assets)}

    @cached_property
    def _market_indices(self) -> dict[str, int]:
        return {market.symbol: index for index, market in enumerate(self.markets)}

    def asset_index(self, symbol: str) -> int:
        """The position of ``symbol`` in ``assets`` (the engine's asset id)."""
        index = self._asset_indices.get(symbol) if isinstance(symbol, str) else None
        if index is None:
            raise InvalidArgumentError(f"unknown asset {symbol!r}; expected one of: {', '.join(self._asset_indices)}")
        return index

    def market_index(self, symbol: str) -> int:
        """The position of ``symbol`` in ``markets`` (the engine's market id)."""
        index = self._market_indices.get(symbol) if isinstance(symbol, str) else None
        if index is None:
            raise InvalidArgumentError(f"unknown market {symbol!r}; expected one of: {', '.join(self._market_indices)}")
        return index

    def asset(self, symbol: str) -> AssetConfig:
        """The asset named ``symbol``; an unknown name raises ``InvalidArgumentError`` listing the known ones."""
        return self.assets[self.asset_index(symbol)]

    def market(self, symbol: str) -> MarketConfig:
        """The market named ``symbol``; an unknown name raises ``InvalidArgumentError`` listing the known ones."""
        return self.markets[self.market_index(symbol)]

    # --- conversions ---

    def to_dict(self) -> dict[str, Any]:
        """Plain data (``str``, ``int``, ``bool``, dicts, lists) that :meth:`from_dict` reads back equal.

        Decimals are plain strings and ``None`` fields are left out, so the result can be written as TOML.
        """
        return {
            "settlement_asset": self.settlement_asset,
            "venue": self.venue.to_dict(),
            "assets": [asset.to_dict() for asset in self.assets],
            "markets": [market.to_dict() for market in self.markets],
        }

    @classmethod
    def from_dict(cls, mapping: Mapping[str, Any]) -> Config:
        """Build from plain data shaped like :meth:`to_dict`'s output (a parsed TOML file, say).

        Unknown keys are errors; ``venue`` and ``settlement_asset`` may be left out (defaults), and so may
        any field that has a default. Errors name the full path: ``markets[5] (SOL_USDC_PERP).tick_size``.
        """
        table = _table(mapping, "config")
        allowed = ("assets", "markets", "venue", "settlement_asset")
        for key in table:
            _check(key in allowed, key, f"unknown field; expected one of: {', '.join(allowed)}")
        for key in ("assets", "markets"):
            _check(key in table, key, "missing; required (an array of tables)")
        sections: dict[str, tuple[Any, ...]] = {}
        for key, cls_ in (("assets", AssetConfig), ("markets", MarketConfig)):
            items = table[key]
            _check(isinstance(items, (list, tuple)), key, f"expected an array of tables, got {_describe(items)}")
            built = []
            for index, item in enumerate(items):
                symbol = item.get("symbol") if isinstance(item, Mapping) else None
                with _under(_label(key, index, symbol)):
                    built.append(cls_.from_dict(_table(item, "")))
            sections[key] = tuple(built)
        arguments: dict[str, Any] = dict(sections)
        if "venue" in table:
            with _under("venue"):
                arguments["venue"] = VenueConfig.from_dict(_table(table["venue"], ""))
        if "settlement_asset" in table:
            arguments["settlement_asset"] = table["settlement_asset"]
        return cls(**arguments)

    @classmethod
    def from_toml(cls, path: str | os.PathLike[str]) -> Config:
        """Load a TOML file shaped like :meth:`to_dict`'s output (``[venue]``, ``[[assets]]``, ``[[markets]]``).

        Decimals may be written as strings (exact) or TOML numbers (read through ``str()``). A file that
        cannot be opened raises ``OSError``; invalid TOML or values raise ``ConfigError`` naming the file.
        """
        with open(path, "rb") as file:
            try:
                data = tomllib.load(file)
            except tomllib.TOMLDecodeError as error:
                raise ConfigError(os.fspath(path), f"not valid TOML: {error}") from None
        try:
            return cls.from_dict(data)
        except ConfigError as error:
            raise ConfigError(error.path, f"{error.reason} (in {os.fspath(path)})") from None

    def engine_spec(self) -> dict[str, Any]:
        """The parameters of the Rust engine, as plain ``int``/``float``/``str``/``bool``/``None`` values.

        Exactly this shape (asset and market references are indices into the lists)::

            {
              "settlement_asset": int,                       # index into "assets"
              "assets": [{
                  "symbol": str, "decimals": int,
                  "haircut": ("identity" | "inverseSqrt", float base, float penalty),
                  "borrow_imf": (float base, float factor),
                  "borrow_mmf": (float base, float factor),
                  "collateral": bool, "open_borrow_lend_limit_atoms": int | None,
              }],
              "markets": [{
                  "symbol": str, "kind": "spot" | "perp",
                  "base": int, "quote": int,                 # indices into "assets"
                  "tick_size": str, "step_size": str,        # exact decimals, plain notation
                  "notional_per_tick_lot": int,              # quote atoms for one lot at one tick
                  "base_atoms_per_lot": int,
                  "min_quantity_lots": int, "max_quantity_lots": int,
                  "max_multiplier": float, "min_multiplier": float, "impact_band": float,
                  "mark_ema_span": int,                      # derived marks' EMA span (samples)
                  "imf": (float base, float factor) | None,  # None for spot
                  "mmf": (float base, float factor) | None,
                  "maker_fee_e8": int, "taker_fee_e8": int,  # fee rates in units of 1e-8
                  "open_interest_limit_lots": int | None,
                  "state": "Open" | "PostOnly" | "CancelOnly" | "Closed",
              }],
              "venue": {
                  "max_subaccounts": int, "default_leverage": int, "max_leverage": int,
                  "realize_interval_ms": int, "interest_interval_ms": int, "funding_interval_ms": int,
                  "throttle_threshold": float, "conversion_discount": float, "auto_lend": bool,
                  "max_utilization": float,
              },
            }

        Lending curves, funding and liquidation parameters are policy, which stays in Python (ARCHITECTURE.md).
        """

        def pair(function: MarginFunction | None) -> tuple[float, float] | None:
            return None if function is None else (float(function.base), float(function.factor))

        assets = [
            {
                "symbol": asset.symbol,
                "decimals": asset.decimals,
                "haircut": (asset.haircut.kind, float(asset.haircut.base), float(asset.haircut.penalty)),
                "borrow_imf": pair(asset.borrow_imf),
                "borrow_mmf": pair(asset.borrow_mmf),
                "collateral": asset.collateral,
                "open_borrow_lend_limit_atoms": None
                if asset.open_borrow_lend_limit is None
                else int(asset.open_borrow_lend_limit.scaleb(asset.decimals)),
            }
            for asset in self.assets
        ]
        markets = []
        for market in self.markets:
            base = self.asset(market.base)
            quote = self.asset(market.quote)
            markets.append(
                {
                    "symbol": market.symbol,
                    "kind": market.kind,
                    "base": self.asset_index(market.base),
                    "quote": self.asset_index(market.quote),
                    "tick_size": _text(market.tick_size),
                    "step_size": _text(market.step_size),
                    "notional_per_tick_lot": market.notional_per_tick_lot(quote.decimals),
                    "base_atoms_per_lot": market.base_atoms_per_lot(base.decimals),
                    "min_quantity_lots": market.min_quantity_lots,
                    "max_quantity_lots": market.max_quantity_lots,
                    "max_multiplier": float(market.max_multiplier),
                    "min_multiplier": float(market.min_multiplier),
                    "impact_band": float(market.impact_band),
                    "mark_ema_span": market.mark_ema_span,
                    "imf": pair(market.imf),
                    "mmf": pair(market.mmf),
                    "maker_fee_e8": market.maker_fee_e8,
                    "taker_fee_e8": market.taker_fee_e8,
                    "open_interest_limit_lots": market.open_interest_limit_lots,
                    "state": market.state.value,
                }
            )
        venue = self.venue
        return {
            "settlement_asset": self.asset_index(self.settlement_asset),
            "assets": assets,
            "markets": markets,
            "venue": {
                "max_subaccounts": venue.max_subaccounts,
                "default_leverage": venue.default_leverage,
                "max_leverage": venue.max_leverage,
                "realize_interval_ms": venue.realize_interval_ms,
                "interest_interval_ms": venue.interest_interval_ms,
                "funding_interval_ms": venue.funding_interval_ms,
                "throttle_threshold": float(venue.throttle_threshold),
                "conversion_discount": float(venue.conversion_discount),
                "auto_lend": venue.auto_lend,
                "max_utilization": float(venue.max_utilization),
            },
        }

    @classmethod
    def default(cls) -> Config:
        """USDC, BTC, ETH and SOL with spot and perp markets and realistic parameters (SPEC §2, §12)."""
        return _default_config()


def _d(text: str) -> Decimal:
    return Decimal(text)


def _default_config() -> Config:
    # Haircuts: SPEC fixes the bases (USDC identity, BTC/ETH 0.95, SOL 0.90). The penalties set where a
    # holding starts to lose weight, 1.1 / (1 + penalty * sqrt(N)) < base, i.e. at N = ((1.1/base - 1) /
    # penalty)^2: about $10M of BTC (0.00005), $3.9M of ETH (0.00008) and $2.2M of SOL (0.00015), in line
    # with how much of each the spot books absorb; at 10x those sizes BTC still weighs about 0.73.
    #
    # Margin functions: SPEC gives SOL's, imf {0.02, 0.00006} / mmf {0.0135, 0.000036}. BTC and ETH keep
    # the imf base 0.02 (50x, the leverage cap) with smaller size factors, so the size term takes over at
    # $1M of BTC and $444k of ETH versus $111k of SOL; their maintenance bases are lower (BTC 0.01, ETH
    # 0.0125) and every mmf factor is 0.6 x the imf factor, as in SOL's. A borrow of an asset is a short of
    # it, so each asset's borrow functions are its perp's; USDC, with no price risk against itself, gets a
    # size term that only bites past $100M.
    #
    # Lending curves: USDC is SPEC's (0 / 0.10 / 0.8 / 1.0). Volatile assets see less borrow demand and a
    # run on them is costlier, so their curves are flatter below the kink and steeper above it, as on
    # Aave v3 (BTC 4% to the kink at 80%, then +300%; ETH 3% to 90%, then +80%; SOL 7% to 80%, then +150%).
    usdc = AssetConfig(
        symbol="USDC",
        decimals=6,
        haircut=Haircut("identity"),
        borrow_imf=MarginFunction(_d("0.02"), _d("0.000002")),
        borrow_mmf=MarginFunction(_d("0.012"), _d("0.0000012")),
        lending=LendingCurve(_d("0"), _d("0.10"), _d("0.8"), _d("1.0")),
    )
    btc_imf = MarginFunction(_d("0.02"), _d("0.00002"))
    btc_mmf = MarginFunction(_d("0.01"), _d("0.000012"))
    eth_imf = MarginFunction(_d("0.02"), _d("0.00003"))
    eth_mmf = MarginFunction(_d("0.0125"), _d("0.000018"))
    sol_imf = MarginFunction(_d("0.02"), _d("0.00006"))
    sol_mmf = MarginFunction(_d("0.0135"), _d("0.000036"))
    btc = AssetConfig(
        symbol="BTC",
        decimals=8,
        haircut=Haircut("inverseSqrt", _d("0.95"), _d("0.00005")),
        borrow_imf=btc_imf,
        borrow_mmf=btc_mmf,
        lending=LendingCurve(_d("0"), _d("0.04"), _d("0.8"), _d("3.0")),
    )
    eth = AssetConfig(
        symbol="ETH",
        decimals=8,
        haircut=Haircut("inverseSqrt", _d("0.95"), _d("0.00008")),
        borrow_imf=eth_imf,
        borrow_mmf=eth_mmf,
        lending=LendingCurve(_d("0"), _d("0.03"), _d("0.9"), _d("0.8")),
    )
    sol = AssetConfig(
        symbol="SOL",
        decimals=8,
        haircut=Haircut("inverseSqrt", _d("0.90"), _d("0.00015")),
        borrow_imf=sol_imf,
        borrow_mmf=sol_mmf,
        lending=LendingCurve(_d("0"), _d("0.07"), _d("0.8"), _d("1.5")),
    )
    maker, taker = _d("0.0002"), _d("0.0005")

    def spot(base: str, tick: str, step: str, maximum: str) -> MarketConfig:
        return MarketConfig(
            symbol=f"{base}_USDC",
            kind="spot",
            base=base,
            quote="USDC",
            tick_size=_d(tick),
            step_size=_d(step),
            min_quantity=_d(step),
            max_quantity=_d(maximum),
            maker_fee=maker,
            taker_fee=taker,
        )

    def perp(
        base: str, tick: str, step: str, maximum: str, *, margin: tuple[MarginFunction, MarginFunction], limit: str
    ) -> MarketConfig:
        # Backpack: a perp's min_quantity should equal its step (it is the threshold that closes a position).
        return MarketConfig(
            symbol=f"{base}_USDC_PERP",
            kind="perp",
            base=base,
            quote="USDC",
            tick_size=_d(tick),
            step_size=_d(step),
            min_quantity=_d(step),
            max_quantity=_d(maximum),
            imf=margin[0],
            mmf=margin[1],
            maker_fee=maker,
            taker_fee=taker,
            open_interest_limit=_d(limit),
        )

    # Sizes: every tick x step is 1 to 100 USDC atoms, so the smallest price move on one lot is exact.
    return Config(
        assets=(usdc, btc, eth, sol),
        markets=(
            spot("BTC", "0.1", "0.00001", "1000"),
            spot("ETH", "0.01", "0.0001", "10000"),
            spot("SOL", "0.01", "0.01", "1000000"),
            perp("BTC", "0.1", "0.0001", "1000", margin=(btc_imf, btc_mmf), limit="5000"),
            perp("ETH", "0.01", "0.001", "10000", margin=(eth_imf, eth_mmf), limit="100000"),
            perp("SOL", "0.01", "0.01", "1000000", margin=(sol_imf, sol_mmf), limit="5000000"),
        ),
        venue=VenueConfig(),
        settlement_asset="USDC",
    )


__all__ = [
    "AssetConfig",
    "Config",
    "Haircut",
    "HaircutKind",
    "LendingCurve",
    "LiquidationConfig",
    "MarginFunction",
    "MarketConfig",
    "MarketKind",
    "VenueConfig",
]
