"""The liquidation waterfall's policy (SPEC §9): who is liquidated, when, and which stage runs next.

The engine (``rust/core/src/exchange/liquidation.rs``) does each stage's mechanics exactly; this module
decides the order, with the parameters of ``VenueConfig.liquidation``:

1. :func:`run` takes every subaccount the last margin scan found liquidatable (maintenance margin > 0 and
   MMR >= 100%) plus every one already liquidating, in id order. It runs after every price update and at
   every realize tick of ``advance_to``.
2. A new one is marked liquidating; its orders and trigger orders are cancelled, its new orders rejected.
3. On-book loops (``chunk`` of the exposure with the largest maintenance margin, reduce-only IOC within
   the impact band and never past the bankruptcy price; borrows repaid by selling collateral on spot
   books), at most :data:`ON_BOOK_LOOPS_PER_PASS` per pass, until MMR < ``target_mmr``: then it is healthy
   and the liquidation ends. If it is still progressing when the loops run out, it stays liquidating
   and the next pass goes on.
4. The backstop takes over when a loop fills nothing or the margin fraction is below
   ``auto_close_mf_multiplier`` x the account's MMF — that is, when MMR > 1 / ``auto_close_mf_multiplier``
   (MF = equity / exposure and MMF = MM / exposure) — but not for a bankrupt subaccount (net equity
   < 0): a provider taking it at the mark would leave the deficit to the lenders, so it goes to ADL.
5. If afterwards the subaccount is still at or above ``target_mmr`` or bankrupt, ADL closes its
   remaining positions at the bankruptcy price; what a counterparty gives up is capped so that paying
   it (a settlement borrow's entry fee or a conversion's discount included) leaves it at zero or above,
   and a capped counterparty's remainder passes on to the next ones, so ADL leaves nobody below zero.
6. If it is still at or above ``target_mmr`` or bankrupt (only borrows or debts can be left), its debts
   are settled: all its lends redeemed (the venue buys what a drained pool cannot pay), borrows repaid
   from its own assets, its other collateral converted for the rest, what still remains written off
   with the lenders paid in notional, shortfalls from the liquidation fund, then socialized: only once
   nothing is left. The liquidation ends.
7. A write-off lowers the lenders' claims, which can leave a lender short of margin: after a pass in
   which any subaccount reached step 6, the margin is scanned again and the subaccounts that became
   liquidatable are liquidated in the same call, until a pass reaches step 6 no more.

Each stage is an ``Liquidation`` event naming it. The liquidation fee (``fee`` of the notional) goes to
the liquidation fund on the book and to the provider in a backstop transfer; it never takes the
subaccount's equity below zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from crossbook.config import LiquidationConfig

ON_BOOK_LOOPS_PER_PASS = 20
"""On-book loops per subaccount per pass; a liquidation that needs more goes on at the next pass."""

_E8 = Decimal(10) ** 8


@dataclass(frozen=True)
class Waterfall:
    """The parameters of :func:`run`, in the engine's units."""

    chunk_e8: int
    fee_e8: int
    target_mmr: float
    auto_close_mmr: float

    @classmethod
    def of(cls, config: LiquidationConfig) -> Waterfall:
        return cls(
            chunk_e8=int(config.chunk * _E8),
            fee_e8=int(config.fee * _E8),
            target_mmr=float(config.target_mmr),
            auto_close_mmr=float(1 / config.auto_close_mf_multiplier),
        )


def run(engine: Any, waterfall: Waterfall) -> None:
    """Liquidates every subaccount that the last scan flagged or that is already liquidating. A loss
    socialized on the way writes down the lenders' claims, which can leave a lender with too little
    margin: after such a pass the margin is scanned again and the subaccounts that became
    liquidatable are liquidated too, until a pass socializes nothing (each round takes at least one
    subaccount not taken before, so this ends)."""
    taken: set[int] = set()
    pending = sorted(set(engine.liquidatable()) | set(engine.liquidating()))
    while pending:
        socialized = False
        for account in pending:
            socialized |= liquidate(engine, account, waterfall)
        taken.update(pending)
        if not socialized:
            return
        engine.rescan_margin()
        pending = sorted(set(engine.liquidatable()) - taken)


def liquidate(engine: Any, account: int, waterfall: Waterfall) -> bool:
    """One pass of the waterfall for one subaccount (see the module docs); whether it reached the
    last stage, settling debts, where a loss can be socialized."""
    engine.start_liquidation(account)
    for _ in range(ON_BOOK_LOOPS_PER_PASS):
        margin = engine.margin(account)
        if margin["mmr"] < waterfall.target_mmr:
            engine.end_liquidation(account)
            return False
        if Decimal(margin["net_equity"]) < 0 or margin["mmr"] > waterfall.auto_close_mmr:
            break
        if engine.liquidate_on_book(account, waterfall.chunk_e8, waterfall.fee_e8) == 0:
            break
    else:
        return False
    if Decimal(engine.margin(account)["net_equity"]) >= 0:
        engine.liquidate_to_backstop(account, waterfall.fee_e8)
    if _needs_more(engine.margin(account), waterfall):
        engine.auto_deleverage(account)
    settled = _needs_more(engine.margin(account), waterfall)
    if settled:
        engine.settle_liquidation_debts(account)
    engine.end_liquidation(account)
    return settled


def _needs_more(margin: dict[str, Any], waterfall: Waterfall) -> bool:
    return bool(margin["mmr"] >= waterfall.target_mmr or Decimal(margin["net_equity"]) < 0)
