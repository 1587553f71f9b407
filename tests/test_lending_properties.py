"""Property: over any sequence of lends, redemptions, borrows, repayments and time, interest is
conserved to the atom — what borrowers owe beyond what they took equals what lenders are owed beyond
what they put in plus the venue's income — and every asset reconciles."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

import crossbook as cb
from exchange_helpers import no_auto_lend

HOUR = 3_600_000
ACCOUNTS = 3
amounts = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("5000"), places=2)
steps = st.lists(
    st.one_of(
        st.tuples(st.just("lend"), st.integers(0, ACCOUNTS - 1), amounts),
        st.tuples(st.just("redeem"), st.integers(0, ACCOUNTS - 1), amounts),
        st.tuples(st.just("borrow"), st.integers(0, ACCOUNTS - 1), amounts),
        st.tuples(st.just("repay"), st.integers(0, ACCOUNTS - 1), amounts),
        st.tuples(st.just("advance"), st.integers(0, 0), st.integers(1, 5 * HOUR).map(Decimal)),
    ),
    max_size=40,
)


@settings(max_examples=120, deadline=None)
@given(steps)
def test_interest_is_conserved_to_the_atom(sequence: list[tuple[str, int, Decimal]]) -> None:
    ex = cb.Exchange(no_auto_lend())  # every lend in the sequence is explicit
    for index in range(ACCOUNTS):
        sub = ex.open_account(f"owner{index}")
        ex.set_auto_repay_borrows(sub, False)  # borrowed cash is held, repaid only explicitly
        ex.deposit(sub, "USDC", "20000")
        ex.deposit(sub, "BTC", "1")
    ex.set_index_price("BTC", "100000")
    principal_lent, principal_borrowed = Decimal(0), Decimal(0)
    for kind, sub, amount in sequence:
        if kind == "advance":
            ex.advance_to(ex.time_ms + int(amount))
            continue
        before = ex.state_hash()
        try:
            if kind == "lend":
                ex.lend(sub, "USDC", amount)
                principal_lent += amount
            elif kind == "redeem":
                ex.redeem(sub, "USDC", amount)
                principal_lent -= amount
            elif kind == "borrow":
                ex.borrow(sub, "USDC", amount)
                principal_borrowed += amount
            else:
                principal_borrowed -= ex.repay(sub, "USDC", amount)
        except cb.CrossbookError:
            assert ex.state_hash() == before, (kind, sub, amount)
    usdc = ex.audit()["USDC"]
    assert usdc.balanced
    interest_owed = usdc.borrowed - principal_borrowed
    interest_earned = usdc.lent - principal_lent
    # The pool's cash is principal in minus principal out; the rest of its value is the venue's.
    assert usdc.pool_cash == principal_lent - principal_borrowed
    # Borrowers' interest = lenders' interest + the venue's fee and dust, which is never negative.
    assert interest_owed - interest_earned == usdc.lending_income
    assert usdc.lending_income >= 0
    assert interest_owed >= 0
    held = sum(ex.balances(sub)["USDC"].free for sub in range(ACCOUNTS))
    assert held + usdc.pool_cash == usdc.deposits
