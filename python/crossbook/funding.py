"""Funding policy of perpetuals (SPEC §8).

The engine samples the premium ``(mid - index) / index`` on every price update and pays funding;
the rate is policy, computed here per market from its config::

    rate = clamp(premium + clamp(interest - premium, -0.0005, 0.0005), -bound, +bound)

per funding interval, with ``interest = funding_interest_rate`` and ``bound = funding_rate_bound``.
It is handed to the engine in units of 1e-18, rounded half to even (the engine's rounding of each
payment then goes against both sides, the dust to the venue).
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

from crossbook.config import MarketConfig

INTEREST_CLAMP = Decimal("0.0005")
_E18 = Decimal(10) ** 18


def funding_rate(market: MarketConfig, premium: float) -> Decimal:
    """The funding rate per interval of ``market`` at the mean ``premium``."""
    sampled = Decimal(repr(premium))
    interest = market.funding_interest_rate
    nudge = min(INTEREST_CLAMP, max(-INTEREST_CLAMP, interest - sampled))
    bound = market.funding_rate_bound
    return min(bound, max(-bound, sampled + nudge))


def rate_e18(rate: Decimal) -> int:
    """A rate in the engine's units of 1e-18."""
    return int((rate * _E18).to_integral_value(ROUND_HALF_EVEN))


__all__ = ["INTEREST_CLAMP", "funding_rate", "rate_e18"]
