"""Type stubs of the compiled extension ``crossbook._core`` (checked against it by the tests)."""

from typing import Any, Final, final

import numpy as np
import numpy.typing as npt

from crossbook.enums import BookState, OrderType, SelfTradePrevention, Side, TimeInForce

__all__ = [
    "EVENT_DTYPE",
    "EVENT_KINDS",
    "FLAG_FOK",
    "FLAG_IOC",
    "FLAG_MARKET",
    "FLAG_POST_ONLY",
    "FLAG_QUOTE_QUANTITY",
    "OP_AMEND",
    "OP_CANCEL",
    "OP_CANCEL_ALL",
    "OP_PLACE",
    "REASONS",
    "STP_SHIFT",
    "Event",
    "Fill",
    "OrderBook",
    "PlaceResult",
    "RestingOrder",
    "__version__",
    "standard_workload",
]

__version__: Final[str]
EVENT_DTYPE: Final[np.dtype[np.void]]
EVENT_KINDS: Final[tuple[str, ...]]
REASONS: Final[tuple[str, ...]]
OP_PLACE: Final[int]
OP_CANCEL: Final[int]
OP_AMEND: Final[int]
OP_CANCEL_ALL: Final[int]
FLAG_MARKET: Final[int]
FLAG_IOC: Final[int]
FLAG_FOK: Final[int]
FLAG_POST_ONLY: Final[int]
FLAG_QUOTE_QUANTITY: Final[int]
STP_SHIFT: Final[int]

_Columns = dict[str, npt.NDArray[Any]]

@final
class Event:
    """One outcome of a book operation (fields that do not apply to its kind are 0)."""

    @property
    def kind(self) -> str: ...
    @property
    def reason(self) -> str | None: ...
    @property
    def side(self) -> str: ...
    @property
    def order_id(self) -> int: ...
    @property
    def owner(self) -> int: ...
    @property
    def price(self) -> int: ...
    @property
    def quantity(self) -> int: ...
    @property
    def maker_order_id(self) -> int: ...
    @property
    def maker_owner(self) -> int: ...

@final
class Fill:
    @property
    def maker_order_id(self) -> int: ...
    @property
    def maker_owner(self) -> int: ...
    @property
    def price(self) -> int: ...
    @property
    def quantity(self) -> int: ...

@final
class PlaceResult:
    @property
    def order_id(self) -> int: ...
    @property
    def status(self) -> str: ...
    @property
    def reject_reason(self) -> str | None: ...
    @property
    def reason(self) -> str | None: ...
    @property
    def filled(self) -> int: ...
    @property
    def remaining(self) -> int: ...
    @property
    def is_resting(self) -> bool: ...
    @property
    def fills(self) -> list[Fill]: ...
    @property
    def events(self) -> list[Event]: ...

@final
class RestingOrder:
    @property
    def order_id(self) -> int: ...
    @property
    def owner(self) -> int: ...
    @property
    def side(self) -> str: ...
    @property
    def price(self) -> int: ...
    @property
    def quantity(self) -> int: ...

@final
class OrderBook:
    def __new__(
        cls,
        *,
        min_quantity: int = 1,
        max_quantity: int | None = None,
        price_band: tuple[int, int] | None = None,
        impact_band: tuple[int, int] | None = None,
        state: BookState | str | None = None,
    ) -> OrderBook: ...
    def place(
        self,
        side: Side | str,
        price: int | None,
        quantity: int | None,
        owner: int | None = None,
        order_type: OrderType | str | None = None,
        time_in_force: TimeInForce | str | None = None,
        post_only: bool | None = None,
        self_trade_prevention: SelfTradePrevention | str | None = None,
        quote_quantity: int | None = None,
    ) -> PlaceResult: ...
    def cancel(self, order_id: int) -> bool: ...
    def amend(self, order_id: int, price: int | None = None, quantity: int | None = None) -> Event: ...
    def cancel_all(self, owner: int) -> list[Event]: ...
    def best_bid(self) -> tuple[int, int] | None: ...
    def best_ask(self) -> tuple[int, int] | None: ...
    def depth(self, levels: int = 10) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]: ...
    def order(self, order_id: int) -> RestingOrder | None: ...
    def orders(self) -> list[RestingOrder]: ...
    def queue(self, side: Side | str, price: int) -> list[int]: ...
    @property
    def next_order_id(self) -> int: ...
    @property
    def state(self) -> str: ...
    @state.setter
    def state(self, state: BookState | str) -> None: ...
    def set_price_band(self, lower: int | None = None, upper: int | None = None) -> None: ...
    def set_impact_band(self, lower: int | None = None, upper: int | None = None) -> None: ...
    def execute_batch(
        self,
        op: npt.NDArray[np.uint8],
        side: npt.NDArray[np.uint8],
        price: npt.NDArray[np.int64],
        quantity: npt.NDArray[np.int64],
        owner: npt.NDArray[np.uint64] | None = None,
        order_id: npt.NDArray[np.uint64] | None = None,
        flags: npt.NDArray[np.uint16] | None = None,
    ) -> npt.NDArray[np.void]: ...
    def __len__(self) -> int: ...

def standard_workload(seed: int, warmup: int, operations: int) -> tuple[_Columns, _Columns]: ...
