//! `crossbook._core.Engine`: adapters from Python calls to `crossbook_core::exchange::Engine`.
//!
//! Names are resolved to indices, decimal strings are handed to the engine's exact parsers, and
//! integer results go back as decimal strings (the Python layer makes `Decimal`s of them). The spec
//! arrives as the plain dict of `Config.engine_spec()`.

use crossbook_core::decimal::Decimal;
use crossbook_core::exchange::{
    AccountId, AssetSpec, Engine, EngineSpec, EventKind, ExchangeError, MarketKind, MarketSpec, OrderCommand, Reject,
    Setting, TriggerBy, VenueSpec,
};
use crossbook_core::risk::{Fraction, Haircut, Margin};
use crossbook_core::Side;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList};

use crate::convert;
use crate::errors::{
    book_error, ConfigError, InsufficientBalanceError, InsufficientMarginError, InvalidAmountError,
    InvalidArgumentError, InvalidOrderError, LendingRefusedError, SubaccountLimitError, UnknownAccountError,
    UnknownNameError, WrongOwnerError,
};

/// The one mapping from engine errors to Python exceptions.
pub fn exchange_error(error: ExchangeError) -> PyErr {
    let message = error.to_string();
    match error {
        ExchangeError::Spec(error) => ConfigError::new_err((error.field, error.problem)),
        ExchangeError::UnknownAccount(_) | ExchangeError::UnknownOwner(_) => UnknownAccountError::new_err(message),
        ExchangeError::OwnerExists(_) | ExchangeError::DuplicateLabel { .. } => InvalidArgumentError::new_err(message),
        ExchangeError::SubaccountLimit { .. } => SubaccountLimitError::new_err(message),
        ExchangeError::DifferentOwners { .. } | ExchangeError::NotYourOrder { .. } => WrongOwnerError::new_err(message),
        ExchangeError::Decimal { .. } | ExchangeError::NotPositive { .. } => InvalidAmountError::new_err(message),
        ExchangeError::InsufficientBalance { .. } => InsufficientBalanceError::new_err(message),
        ExchangeError::InsufficientMargin { .. } => InsufficientMarginError::new_err(message),
        ExchangeError::LendingRefused { .. } => LendingRefusedError::new_err(message),
        ExchangeError::InvalidOrder(_) => InvalidOrderError::new_err(message),
        ExchangeError::InvalidRequest(_) => InvalidArgumentError::new_err(message),
        ExchangeError::Book(error) => book_error(error),
        _ => InvalidArgumentError::new_err(message),
    }
}

fn item<'py, T>(dict: &Bound<'py, PyAny>, key: &str) -> PyResult<T>
where
    T: for<'a> FromPyObject<'a, 'py, Error = PyErr>,
{
    dict.get_item(key)
        .and_then(|value| value.extract::<T>())
        .map_err(|error| ConfigError::new_err((format!("engine spec {key}"), error.to_string())))
}

fn fraction(pair: (f64, f64)) -> Fraction {
    Fraction { base: pair.0, factor: pair.1 }
}

fn decimal_field(text: &str, key: &str) -> PyResult<Decimal> {
    Decimal::parse(text).map_err(|error| ConfigError::new_err((format!("engine spec {key}"), error.to_string())))
}

/// Builds an [`EngineSpec`] from `Config.engine_spec()`.
pub(crate) fn engine_spec(spec: &Bound<'_, PyAny>) -> PyResult<EngineSpec> {
    let mut assets = Vec::new();
    for asset in item::<Vec<Bound<'_, PyAny>>>(spec, "assets")? {
        let (kind, base, penalty): (String, f64, f64) = item(&asset, "haircut")?;
        let haircut = match kind.as_str() {
            "identity" => Haircut::Identity,
            "inverseSqrt" => Haircut::InverseSqrt { base, penalty },
            other => return Err(ConfigError::new_err(("engine spec haircut", format!("unknown kind {other:?}")))),
        };
        assets.push(AssetSpec {
            symbol: item(&asset, "symbol")?,
            decimals: item(&asset, "decimals")?,
            haircut,
            borrow_imf: fraction(item(&asset, "borrow_imf")?),
            borrow_mmf: fraction(item(&asset, "borrow_mmf")?),
            collateral: item(&asset, "collateral")?,
            open_borrow_lend_limit: item(&asset, "open_borrow_lend_limit_atoms")?,
        });
    }
    let mut markets = Vec::new();
    for market in item::<Vec<Bound<'_, PyAny>>>(spec, "markets")? {
        let kind = match item::<String>(&market, "kind")?.as_str() {
            "spot" => MarketKind::Spot,
            "perp" => MarketKind::Perp,
            other => return Err(ConfigError::new_err(("engine spec kind", format!("unknown market kind {other:?}")))),
        };
        let curve = |key: &str| -> PyResult<Fraction> {
            Ok(item::<Option<(f64, f64)>>(&market, key)?.map_or(Fraction { base: 0.0, factor: 0.0 }, fraction))
        };
        markets.push(MarketSpec {
            symbol: item(&market, "symbol")?,
            kind,
            base: item(&market, "base")?,
            quote: item(&market, "quote")?,
            tick_size: decimal_field(&item::<String>(&market, "tick_size")?, "tick_size")?,
            step_size: decimal_field(&item::<String>(&market, "step_size")?, "step_size")?,
            notional_per_tick_lot: item(&market, "notional_per_tick_lot")?,
            base_atoms_per_lot: item(&market, "base_atoms_per_lot")?,
            min_quantity_lots: item(&market, "min_quantity_lots")?,
            max_quantity_lots: item(&market, "max_quantity_lots")?,
            max_multiplier: item(&market, "max_multiplier")?,
            min_multiplier: item(&market, "min_multiplier")?,
            impact_band: item(&market, "impact_band")?,
            mark_ema_span: item(&market, "mark_ema_span")?,
            imf: curve("imf")?,
            mmf: curve("mmf")?,
            maker_fee_e8: item(&market, "maker_fee_e8")?,
            taker_fee_e8: item(&market, "taker_fee_e8")?,
            state: convert::book_state(&market.get_item("state")?)?,
        });
    }
    let venue = spec.get_item("venue")?;
    Ok(EngineSpec {
        settlement_asset: item(spec, "settlement_asset")?,
        assets,
        markets,
        venue: VenueSpec {
            max_subaccounts: item(&venue, "max_subaccounts")?,
            default_leverage: item(&venue, "default_leverage")?,
            max_leverage: item(&venue, "max_leverage")?,
            interest_interval_ms: item(&venue, "interest_interval_ms")?,
            throttle_threshold: item(&venue, "throttle_threshold")?,
            conversion_discount: item(&venue, "conversion_discount")?,
            auto_lend: item(&venue, "auto_lend")?,
            max_utilization: item(&venue, "max_utilization")?,
        },
    })
}

/// One position for Python: (market, net_qty, net_cost, mark, unrealized PnL, liquidation price,
/// cumulative funding), amounts as decimal strings.
type PositionRow = (String, String, String, Option<String>, String, Option<f64>, String);

/// The exchange engine (use it through `crossbook.Exchange`).
#[pyclass(module = "crossbook._core", name = "Engine")]
#[derive(Debug)]
pub struct PyEngine {
    pub(crate) engine: Engine,
}

/// What happened to a placed order (`crossbook.Exchange.place_order`'s result). Amounts are
/// formatted into `Decimal`s only when read.
#[pyclass(module = "crossbook._core", frozen, name = "OrderResult", freelist = 64)]
#[derive(Debug)]
pub struct OrderReport {
    order_id: Option<u64>,
    status: &'static str,
    reject_reason: Option<&'static str>,
    filled_lots: i64,
    remaining: i64,
    remaining_is_quote: bool,
    client_id: Option<u64>,
    trigger_id: Option<u64>,
    /// (price ticks, lots, fee atoms, is taker) per fill.
    fills: Vec<(i64, i64, i64, bool)>,
    tick_size: Decimal,
    step_size: Decimal,
    quote_atom: Decimal,
}

/// One trade of an order.
#[pyclass(module = "crossbook._core", frozen, get_all, name = "OrderFill")]
#[derive(Debug)]
pub struct OrderFill {
    price: Py<PyAny>,
    quantity: Py<PyAny>,
    fee: Py<PyAny>,
    liquidity: &'static str,
}

#[pymethods]
impl OrderFill {
    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "Fill(price={}, quantity={}, fee={}, liquidity={})",
            self.price.bind(py),
            self.quantity.bind(py),
            self.fee.bind(py),
            self.liquidity
        )
    }
}

/// `decimal.Decimal(text)`, with the class looked up once.
fn to_decimal<'py>(py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyAny>> {
    static DECIMAL: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let class = DECIMAL.get_or_try_init(py, || py.import("decimal")?.getattr("Decimal").map(Bound::unbind))?;
    class.bind(py).call1((text,))
}

fn decimal_of<'py>(py: Python<'py>, unit: Decimal, count: i64) -> PyResult<Bound<'py, PyAny>> {
    to_decimal(py, &Decimal::times(unit, count).to_string())
}

#[pymethods]
impl OrderReport {
    /// The book's id, or None when the exchange refused the order before the book saw it.
    #[getter]
    fn order_id(&self) -> Option<u64> {
        self.order_id
    }
    /// `New`, `PartiallyFilled`, `Filled`, `Expired` or `Rejected`.
    #[getter]
    fn status(&self) -> &'static str {
        self.status
    }
    #[getter]
    fn reject_reason(&self) -> Option<&'static str> {
        self.reject_reason
    }
    #[getter]
    fn client_id(&self) -> Option<u64> {
        self.client_id
    }
    /// The trigger's id while a trigger order waits (status `TriggerPending`).
    #[getter]
    fn trigger_id(&self) -> Option<u64> {
        self.trigger_id
    }
    /// Base quantity filled.
    #[getter]
    fn filled<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        decimal_of(py, self.step_size, self.filled_lots)
    }
    /// Base quantity not filled (unspent quote for an order sized by quote).
    #[getter]
    fn remaining<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        if self.remaining_is_quote {
            decimal_of(py, self.quote_atom, self.remaining)
        } else {
            decimal_of(py, self.step_size, self.remaining)
        }
    }
    #[getter]
    fn fills(&self, py: Python<'_>) -> PyResult<Vec<OrderFill>> {
        self.fills
            .iter()
            .map(|&(price, lots, fee, is_taker)| {
                Ok(OrderFill {
                    price: decimal_of(py, self.tick_size, price)?.unbind(),
                    quantity: decimal_of(py, self.step_size, lots)?.unbind(),
                    fee: decimal_of(py, self.quote_atom, fee)?.unbind(),
                    liquidity: if is_taker { "Taker" } else { "Maker" },
                })
            })
            .collect()
    }
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "OrderResult(order_id={}, status='{}', reject_reason={}, filled={}, remaining={}, fills={})",
            self.order_id.map_or_else(|| "None".to_owned(), |id| id.to_string()),
            self.status,
            self.reject_reason.map_or_else(|| "None".to_owned(), |reason| format!("'{reason}'")),
            self.filled(py)?,
            self.remaining(py)?,
            self.fills.len()
        ))
    }
}

impl PyEngine {
    fn asset(&self, symbol: &str) -> PyResult<usize> {
        self.engine.asset_index(symbol).ok_or_else(|| {
            let known: Vec<&str> = self.engine.spec().assets.iter().map(|asset| asset.symbol.as_str()).collect();
            UnknownNameError::new_err(format!("unknown asset {symbol:?}; known assets: {}", known.join(", ")))
        })
    }

    fn market(&self, symbol: &str) -> PyResult<usize> {
        self.engine.market_index(symbol).ok_or_else(|| {
            let known: Vec<&str> = self.engine.spec().markets.iter().map(|market| market.symbol.as_str()).collect();
            UnknownNameError::new_err(format!("unknown market {symbol:?}; known markets: {}", known.join(", ")))
        })
    }

    fn settlement(&self, atoms: i64) -> String {
        self.engine.format_amount(self.engine.spec().settlement_asset, atoms)
    }

    fn margin_dict<'py>(&self, py: Python<'py>, margin: &Margin) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        dict.set_item("net_equity", self.settlement(margin.net_equity))?;
        dict.set_item("available", self.settlement(margin.available()))?;
        dict.set_item("locked", self.settlement(margin.initial_margin))?;
        dict.set_item("im", self.settlement(margin.initial_margin))?;
        dict.set_item("mm", self.settlement(margin.maintenance_margin))?;
        dict.set_item("collateral", self.settlement(margin.collateral))?;
        dict.set_item("liabilities", self.settlement(margin.liabilities))?;
        dict.set_item("unrealized_pnl", self.settlement(margin.unrealized_pnl))?;
        dict.set_item("exposure", self.settlement(margin.exposure))?;
        dict.set_item("imr", margin.imr)?;
        dict.set_item("mmr", margin.mmr)?;
        dict.set_item("margin_fraction", margin.margin_fraction)?;
        dict.set_item("liquidatable", margin.is_liquidatable())?;
        Ok(dict)
    }
}

fn side_of(value: &Bound<'_, PyAny>) -> PyResult<Side> {
    convert::side(value)
}

#[pymethods]
impl PyEngine {
    #[new]
    fn new(spec: &Bound<'_, PyAny>) -> PyResult<Self> {
        Ok(PyEngine { engine: Engine::new(engine_spec(spec)?).map_err(exchange_error)? })
    }

    fn open_account(&mut self, owner: &str) -> PyResult<AccountId> {
        self.engine.open_account(owner).map_err(exchange_error)
    }

    fn open_subaccount(&mut self, owner: &str, label: &str) -> PyResult<AccountId> {
        self.engine.open_subaccount(owner, label).map_err(exchange_error)
    }

    fn deposit(&mut self, account: AccountId, asset: &str, amount: &str) -> PyResult<()> {
        let asset = self.asset(asset)?;
        let amount = self.engine.parse_amount(asset, amount).map_err(exchange_error)?;
        self.engine.deposit(account, asset, amount).map_err(exchange_error)
    }

    fn withdraw(&mut self, account: AccountId, asset: &str, amount: &str) -> PyResult<()> {
        let asset = self.asset(asset)?;
        let amount = self.engine.parse_amount(asset, amount).map_err(exchange_error)?;
        self.engine.withdraw(account, asset, amount).map_err(exchange_error)
    }

    fn transfer(&mut self, from: AccountId, to: AccountId, asset: &str, amount: &str) -> PyResult<()> {
        let asset = self.asset(asset)?;
        let amount = self.engine.parse_amount(asset, amount).map_err(exchange_error)?;
        self.engine.transfer(from, to, asset, amount).map_err(exchange_error)
    }

    fn lend(&mut self, account: AccountId, asset: &str, amount: &str) -> PyResult<()> {
        let asset = self.asset(asset)?;
        let amount = self.engine.parse_amount(asset, amount).map_err(exchange_error)?;
        self.engine.lend(account, asset, amount).map_err(exchange_error)
    }

    fn redeem(&mut self, account: AccountId, asset: &str, amount: &str) -> PyResult<()> {
        let asset = self.asset(asset)?;
        let amount = self.engine.parse_amount(asset, amount).map_err(exchange_error)?;
        self.engine.redeem(account, asset, amount, true).map_err(exchange_error)
    }

    /// Borrows; `interval_rate_e18` is the pool's current rate per interest interval, in 1e-18.
    fn borrow(&mut self, account: AccountId, asset: &str, amount: &str, interval_rate_e18: u128) -> PyResult<()> {
        let asset = self.asset(asset)?;
        let amount = self.engine.parse_amount(asset, amount).map_err(exchange_error)?;
        self.engine.borrow(account, asset, amount, interval_rate_e18).map_err(exchange_error)
    }

    /// Repays up to `amount`; returns what was repaid.
    fn repay(&mut self, account: AccountId, asset: &str, amount: &str) -> PyResult<String> {
        let asset = self.asset(asset)?;
        let amount = self.engine.parse_amount(asset, amount).map_err(exchange_error)?;
        let repaid = self.engine.repay(account, asset, amount).map_err(exchange_error)?;
        Ok(self.engine.format_amount(asset, repaid))
    }

    /// Whether no position and no borrow exists (the scheduled jobs have nothing to do).
    fn is_idle(&self) -> bool {
        self.engine.is_idle()
    }

    /// Forgets the funding premium samples of every market.
    fn reset_premiums(&mut self) {
        self.engine.reset_premiums();
    }

    /// The mean funding premium of a perpetual since its last payment.
    fn funding_premium(&self, market: &str) -> PyResult<f64> {
        Ok(self.engine.funding_premium(self.market(market)?))
    }

    /// Fixes (or, with None, clears) a perpetual's funding rate (1e-18 per interval).
    #[pyo3(signature = (market, rate_e18))]
    fn set_fixed_funding_rate(&mut self, market: &str, rate_e18: Option<i128>) -> PyResult<()> {
        let market = self.market(market)?;
        self.engine.set_fixed_funding_rate(market, rate_e18).map_err(exchange_error)
    }

    /// A perpetual's fixed funding rate (1e-18 per interval), or None.
    fn fixed_funding_rate(&self, market: &str) -> PyResult<Option<i128>> {
        Ok(self.engine.fixed_funding_rate(self.market(market)?))
    }

    /// Pays one interval of funding at `rate_e18` (1e-18 per interval).
    fn pay_funding(&mut self, market: &str, rate_e18: i128) -> PyResult<()> {
        let market = self.market(market)?;
        self.engine.pay_funding(market, rate_e18).map_err(exchange_error)
    }

    /// Repays borrows and lends free balance for one subaccount, as its switches say.
    fn sweep_free_balances(&mut self, account: AccountId) -> PyResult<()> {
        self.engine.sweep_free_balances(account).map_err(exchange_error)
    }

    /// The same for every subaccount (each realize tick).
    fn sweep_all_free_balances(&mut self) {
        self.engine.sweep_all_free_balances();
    }

    /// Realizes every position's PnL at its mark (subaccounts with auto_realize_pnl).
    fn realize_pnl(&mut self) {
        self.engine.realize_pnl();
    }

    /// Accrues one interest interval on a pool (rates in 1e-18).
    fn accrue_interest(&mut self, asset: &str, interval_rate_e18: u128, lender_share_e18: u128) -> PyResult<()> {
        let asset = self.asset(asset)?;
        self.engine.accrue_interest(asset, interval_rate_e18, lender_share_e18).map_err(exchange_error)
    }

    /// Per asset: (symbol, lent, borrowed, utilization, cash) with amounts as decimal strings.
    fn pools(&self) -> Vec<(String, String, String, f64, String)> {
        self.engine
            .pools()
            .iter()
            .enumerate()
            .map(|(asset, pool)| {
                let atoms = |value: i128| {
                    i64::try_from(value)
                        .map_or_else(|_| value.to_string(), |value| self.engine.format_amount(asset, value))
                };
                (
                    self.engine.spec().assets[asset].symbol.clone(),
                    atoms(i128::try_from(pool.lent()).unwrap_or(i128::MAX)),
                    atoms(i128::try_from(pool.borrowed()).unwrap_or(i128::MAX)),
                    pool.utilization(),
                    atoms(pool.cash),
                )
            })
            .collect()
    }

    fn set_max_leverage(&mut self, account: AccountId, leverage: i64) -> PyResult<()> {
        self.engine.set_max_leverage(account, leverage).map_err(exchange_error)
    }

    /// Turns a per-subaccount switch (`auto_lend`, `auto_borrow_settlements`, `auto_repay_borrows`,
    /// `auto_realize_pnl`) on or off.
    fn set_setting(&mut self, account: AccountId, setting: &str, on: bool) -> PyResult<()> {
        let setting = Setting::ALL.into_iter().find(|candidate| candidate.name() == setting).ok_or_else(|| {
            UnknownNameError::new_err(format!(
                "unknown setting {setting:?}; known: {}",
                Setting::ALL.map(Setting::name).join(", ")
            ))
        })?;
        self.engine.set_setting(account, setting, on).map_err(exchange_error)
    }

    /// The subaccount's max leverage and switches.
    fn settings<'py>(&self, py: Python<'py>, account: AccountId) -> PyResult<Bound<'py, PyDict>> {
        let accounts = self.engine.accounts();
        if account as usize >= accounts.len() {
            return Err(exchange_error(ExchangeError::UnknownAccount(account)));
        }
        let dict = PyDict::new(py);
        dict.set_item("max_leverage", accounts.max_leverage[account as usize])?;
        for setting in Setting::ALL {
            dict.set_item(setting.name(), accounts.setting(account, setting))?;
        }
        Ok(dict)
    }

    fn set_index_price(&mut self, asset: &str, price: &str) -> PyResult<()> {
        let asset = self.asset(asset)?;
        let price = self.engine.parse_index_price(asset, price).map_err(exchange_error)?;
        self.engine.set_index_price(asset, price).map_err(exchange_error)
    }

    fn set_mark_price(&mut self, market: &str, price: &str) -> PyResult<()> {
        let market = self.market(market)?;
        let price = self.engine.parse_price(market, price).map_err(exchange_error)?;
        self.engine.set_mark_price(market, price).map_err(exchange_error)
    }

    fn advance_to(&mut self, time_ms: i64) -> PyResult<()> {
        self.engine.advance_to(time_ms).map_err(exchange_error)
    }

    #[getter]
    fn time_ms(&self) -> i64 {
        self.engine.time_ms()
    }

    #[pyo3(signature = (account, market, side, order_type, quantity, price, quote_quantity, time_in_force, post_only,
                        reduce_only, self_trade_prevention, client_id, trigger_price=None, trigger_by=None,
                        auto_borrow=false))]
    #[allow(clippy::too_many_arguments)]
    fn place_order(
        &mut self,
        account: AccountId,
        market: &str,
        side: &Bound<'_, PyAny>,
        order_type: &Bound<'_, PyAny>,
        quantity: Option<&str>,
        price: Option<&str>,
        quote_quantity: Option<&str>,
        time_in_force: &Bound<'_, PyAny>,
        post_only: bool,
        reduce_only: bool,
        self_trade_prevention: &Bound<'_, PyAny>,
        client_id: Option<u64>,
        trigger_price: Option<&str>,
        trigger_by: Option<&str>,
        auto_borrow: bool,
    ) -> PyResult<OrderReport> {
        let market = self.market(market)?;
        let quote_asset = self.engine.spec().markets[market].quote;
        let command = OrderCommand {
            side: side_of(side)?,
            order_type: convert::order_type(order_type)?,
            price: price.map(|price| self.engine.parse_price(market, price)).transpose().map_err(exchange_error)?,
            quantity: quantity
                .map(|quantity| self.engine.parse_quantity(market, quantity))
                .transpose()
                .map_err(exchange_error)?,
            quote_quantity: quote_quantity
                .map(|quote| self.engine.parse_amount(quote_asset, quote))
                .transpose()
                .map_err(exchange_error)?,
            time_in_force: convert::time_in_force(time_in_force)?,
            post_only,
            reduce_only,
            self_trade_prevention: convert::self_trade_prevention(self_trade_prevention)?,
            auto_borrow,
        };
        let (tick_size, step_size) =
            (self.engine.spec().markets[market].tick_size, self.engine.spec().markets[market].step_size);
        let quote_atom = Decimal::atom(self.engine.spec().assets[quote_asset].decimals);
        let report = |status, reject_reason, trigger_id| OrderReport {
            order_id: None,
            status,
            reject_reason,
            filled_lots: 0,
            remaining: command.quantity.or(command.quote_quantity).unwrap_or(0),
            remaining_is_quote: command.quote_quantity.is_some(),
            client_id,
            trigger_id,
            fills: Vec::new(),
            tick_size,
            step_size,
            quote_atom,
        };
        if let Some(trigger_price) = trigger_price {
            let trigger_price = self.engine.parse_price(market, trigger_price).map_err(exchange_error)?;
            let by = match trigger_by.unwrap_or("MarkPrice") {
                "MarkPrice" => TriggerBy::MarkPrice,
                "LastPrice" => TriggerBy::LastPrice,
                other => {
                    return Err(InvalidArgumentError::new_err(format!(
                        "trigger_by must be one of 'MarkPrice', 'LastPrice', got {other:?}"
                    )))
                }
            };
            let accepted = self.engine.place_trigger_order(account, market, &command, trigger_price, by);
            return Ok(match accepted.map_err(exchange_error)? {
                Ok(trigger_id) => report("TriggerPending", None, Some(trigger_id)),
                Err(reason) => report("Rejected", Some(reason.name()), None),
            });
        }
        if trigger_by.is_some() {
            return Err(InvalidOrderError::new_err("trigger_by needs a trigger_price"));
        }
        let outcome = self.engine.place_order(account, market, &command).map_err(exchange_error)?;
        let fills = self.engine.events()[outcome.first_event..]
            .iter()
            .filter_map(|event| match event.kind {
                EventKind::Fill { price, quantity, taker, taker_order_id, taker_fee, maker_fee, .. } => {
                    let is_taker = taker == account && taker_order_id == outcome.book.order_id;
                    Some((price, quantity, if is_taker { taker_fee } else { maker_fee }, is_taker))
                }
                _ => None,
            })
            .collect();
        let spec = &self.engine.spec().markets[market];
        Ok(OrderReport {
            order_id: (outcome.book.order_id != 0).then_some(outcome.book.order_id),
            status: outcome.book.status.name(),
            reject_reason: outcome.reject.map(Reject::name),
            filled_lots: outcome.book.filled,
            remaining: if command.quote_quantity.is_some() {
                outcome.book.remaining * spec.notional_per_tick_lot
            } else {
                outcome.book.remaining
            },
            remaining_is_quote: command.quote_quantity.is_some(),
            client_id,
            trigger_id: None,
            fills,
            tick_size: spec.tick_size,
            step_size: spec.step_size,
            quote_atom: Decimal::atom(self.engine.spec().assets[quote_asset].decimals),
        })
    }

    /// Amends a live order; returns None when amended, else the reason it was refused.
    #[pyo3(signature = (account, market, order_id, price=None, quantity=None))]
    fn amend_order(
        &mut self,
        account: AccountId,
        market: &str,
        order_id: u64,
        price: Option<&str>,
        quantity: Option<&str>,
    ) -> PyResult<Option<&'static str>> {
        let market = self.market(market)?;
        let price = price.map(|price| self.engine.parse_price(market, price)).transpose().map_err(exchange_error)?;
        let quantity = quantity
            .map(|quantity| self.engine.parse_quantity(market, quantity))
            .transpose()
            .map_err(exchange_error)?;
        let refused = self.engine.amend_order(account, market, order_id, price, quantity).map_err(exchange_error)?;
        Ok(refused.map(Reject::name))
    }

    /// Cancels a pending trigger order: True if cancelled, False if it already fired or was cancelled.
    fn cancel_trigger(&mut self, account: AccountId, trigger_id: u64) -> PyResult<bool> {
        self.engine.cancel_trigger(account, trigger_id).map_err(exchange_error)
    }

    /// The subaccount's pending triggers: (trigger id, market, side, trigger price, trigger by).
    fn pending_triggers(&self, account: AccountId) -> PyResult<Vec<(u64, String, &'static str, String, &'static str)>> {
        let triggers = self.engine.pending_triggers(account).map_err(exchange_error)?;
        Ok(triggers
            .into_iter()
            .map(|trigger| {
                (
                    trigger.trigger_id,
                    self.engine.spec().markets[trigger.market].symbol.clone(),
                    trigger.order.side.name(),
                    self.engine.format_price(trigger.market, trigger.trigger_price),
                    trigger.by.name(),
                )
            })
            .collect())
    }

    /// The subaccount's live orders: (market, order id, side, price, remaining, reduce_only).
    fn open_orders(&self, account: AccountId) -> PyResult<Vec<(String, u64, &'static str, String, String, bool)>> {
        let orders = self.engine.open_orders(account).map_err(exchange_error)?;
        Ok(orders
            .into_iter()
            .map(|order| {
                (
                    self.engine.spec().markets[order.market].symbol.clone(),
                    order.order_id,
                    order.side.name(),
                    self.engine.format_price(order.market, order.price),
                    self.engine.format_quantity(order.market, order.remaining),
                    order.reduce_only,
                )
            })
            .collect())
    }

    fn cancel_order(&mut self, account: AccountId, market: &str, order_id: u64) -> PyResult<bool> {
        let market = self.market(market)?;
        self.engine.cancel_order(account, market, order_id).map_err(exchange_error)
    }

    #[pyo3(signature = (account, market=None))]
    fn cancel_all(&mut self, account: AccountId, market: Option<&str>) -> PyResult<usize> {
        let market = market.map(|market| self.market(market)).transpose()?;
        self.engine.cancel_all(account, market).map_err(exchange_error)
    }

    fn margin<'py>(&self, py: Python<'py>, account: AccountId) -> PyResult<Bound<'py, PyDict>> {
        let margin = self.engine.margin(account).map_err(exchange_error)?;
        self.margin_dict(py, &margin)
    }

    /// The margin summary under hypothetical prices: {asset or perp market: price string}.
    fn stress<'py>(
        &self,
        py: Python<'py>,
        account: AccountId,
        prices: &Bound<'py, PyDict>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let mut index_prices = Vec::new();
        let mut marks = Vec::new();
        for (name, price) in prices.iter() {
            let name: String = name.extract()?;
            let price: String = price.str()?.extract()?;
            if let Some(asset) = self.engine.asset_index(&name) {
                index_prices.push((asset, self.engine.parse_index_price(asset, &price).map_err(exchange_error)?));
            } else {
                let market = self.market(&name).map_err(|_| {
                    let spec = self.engine.spec();
                    let assets = spec.assets.iter().map(|asset| asset.symbol.as_str());
                    let perps = spec.markets.iter().filter(|market| market.kind == MarketKind::Perp);
                    let known: Vec<&str> = assets.chain(perps.map(|market| market.symbol.as_str())).collect();
                    UnknownNameError::new_err(format!(
                        "unknown asset or perp market {name:?}; stress takes index prices of assets or marks \
                         of perps: {}",
                        known.join(", ")
                    ))
                })?;
                marks.push((market, self.engine.parse_price(market, &price).map_err(exchange_error)?));
            }
        }
        let margin = self.engine.margin_at(account, &index_prices, &marks).map_err(exchange_error)?;
        self.margin_dict(py, &margin)
    }

    /// Per asset: (symbol, free, locked, lent, borrowed) as decimal strings.
    fn balances(&self, account: AccountId) -> PyResult<Vec<(String, String, String, String, String)>> {
        let balances = self.engine.balances(account).map_err(exchange_error)?;
        Ok(balances
            .into_iter()
            .enumerate()
            .map(|(asset, balance)| {
                (
                    self.engine.spec().assets[asset].symbol.clone(),
                    self.engine.format_amount(asset, balance.free),
                    self.engine.format_amount(asset, balance.locked),
                    self.engine.format_amount(asset, balance.lent),
                    self.engine.format_amount(asset, balance.borrowed),
                )
            })
            .collect())
    }

    /// Per perp position: (market, net_qty, net_cost, mark, unrealized_pnl, liquidation price).
    fn positions(&self, account: AccountId) -> PyResult<Vec<PositionRow>> {
        let views = self.engine.positions(account).map_err(exchange_error)?;
        Ok(views
            .into_iter()
            .map(|view| {
                let market = view.market;
                let tick = self.engine.spec().markets[market].tick_size.to_f64();
                (
                    self.engine.spec().markets[market].symbol.clone(),
                    self.engine.format_quantity(market, view.net_qty),
                    self.settlement(view.net_cost),
                    view.mark.map(|mark| self.engine.format_price(market, mark)),
                    self.settlement(view.unrealized_pnl),
                    view.liquidation_price.map(|ticks| ticks * tick),
                    self.settlement(view.cumulative_funding),
                )
            })
            .collect())
    }

    fn liquidation_price(&self, account: AccountId, market: &str) -> PyResult<Option<f64>> {
        let market = self.market(market)?;
        let tick = self.engine.spec().markets[market].tick_size.to_f64();
        Ok(self.engine.liquidation_price(account, market).map_err(exchange_error)?.map(|ticks| ticks * tick))
    }

    /// (bids, asks) of (price, quantity) decimal strings, best first.
    fn depth(&self, market: &str, levels: usize) -> PyResult<(Vec<(String, String)>, Vec<(String, String)>)> {
        let market = self.market(market)?;
        let book = self.engine.book(market);
        let side = |side| {
            book.depth(side, levels)
                .into_iter()
                .map(|(price, quantity)| {
                    (self.engine.format_price(market, price), self.engine.format_quantity(market, quantity))
                })
                .collect()
        };
        Ok((side(Side::Bid), side(Side::Ask)))
    }

    /// Drains the events as dicts (amounts as decimal strings, names resolved).
    fn events<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let events = self.engine.drain_events();
        let list = PyList::empty(py);
        for event in events {
            list.append(event_dict(py, &self.engine, &event)?)?;
        }
        Ok(list)
    }

    fn state_hash(&self) -> String {
        format!("{:016x}", self.engine.state_hash())
    }

    /// Per asset reconciliation as a dict of decimal strings plus `balanced`.
    fn audit<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        for (asset, audit) in self.engine.audit().into_iter().enumerate() {
            let format = |value: i128| {
                i64::try_from(value).map_or_else(|_| value.to_string(), |value| self.engine.format_amount(asset, value))
            };
            let dict = PyDict::new(py);
            dict.set_item("asset", &self.engine.spec().assets[asset].symbol)?;
            dict.set_item("held_by_subaccounts", format(audit.held_by_accounts))?;
            dict.set_item("locked_by_orders", format(audit.locked_by_orders))?;
            dict.set_item("lent", format(audit.lent))?;
            dict.set_item("borrowed", format(audit.borrowed))?;
            dict.set_item("pool_cash", format(audit.pool_cash))?;
            dict.set_item("lending_income", format(audit.lending_income))?;
            dict.set_item("conversions", format(audit.conversions))?;
            dict.set_item("fees", format(audit.fees))?;
            dict.set_item("liquidation_fund", format(audit.liquidation_fund))?;
            dict.set_item("pnl_clearing", format(audit.pnl_clearing))?;
            dict.set_item("deposits", format(audit.deposits))?;
            dict.set_item("withdrawals", format(audit.withdrawals))?;
            dict.set_item("balanced", audit.balanced())?;
            list.append(dict)?;
        }
        Ok(list)
    }

    /// The vectorized margin check over every subaccount, as numpy columns.
    fn scan<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let engine = &mut self.engine;
        let result = py.detach(|| engine.scan()).map_err(exchange_error)?;
        crate::risk::into_dict(py, result)
    }

    /// Subaccounts found liquidatable by the last price update.
    fn liquidatable(&self) -> Vec<AccountId> {
        self.engine.liquidatable().to_vec()
    }

    // ----- liquidation (the mechanics; crossbook.liquidation holds the policy) -----

    fn rescan_margin(&mut self) -> PyResult<()> {
        self.engine.rescan_margin().map_err(exchange_error)
    }

    fn liquidating(&self) -> Vec<AccountId> {
        self.engine.liquidating().to_vec()
    }

    fn register_backstop_provider(&mut self, account: AccountId, markets: Vec<String>, capacity: &str) -> PyResult<()> {
        let markets = markets.iter().map(|market| self.market(market)).collect::<PyResult<Vec<_>>>()?;
        let usdc = self.engine.spec().settlement_asset;
        let capacity = self.engine.parse_amount(usdc, capacity).map_err(exchange_error)?;
        self.engine.register_backstop_provider(account, &markets, capacity).map_err(exchange_error)
    }

    /// (subaccount, markets, remaining capacity) of every provider, in order.
    fn backstop_providers(&self) -> Vec<(AccountId, Vec<String>, String)> {
        let spec = self.engine.spec();
        self.engine
            .backstop_providers()
            .iter()
            .map(|provider| {
                let markets = provider.markets.iter().map(|&market| spec.markets[market].symbol.clone()).collect();
                (provider.account, markets, self.engine.format_amount(spec.settlement_asset, provider.capacity))
            })
            .collect()
    }

    fn start_liquidation(&mut self, account: AccountId) -> PyResult<bool> {
        self.engine.start_liquidation(account).map_err(exchange_error)
    }

    fn end_liquidation(&mut self, account: AccountId) -> PyResult<()> {
        self.engine.end_liquidation(account).map_err(exchange_error)
    }

    /// One on-book loop; the notional traded or repaid, in settlement atoms (0: nothing).
    fn liquidate_on_book(&mut self, account: AccountId, chunk_e8: i64, fee_e8: i64) -> PyResult<i64> {
        self.engine.liquidate_on_book(account, chunk_e8, fee_e8).map_err(exchange_error)
    }

    fn liquidate_to_backstop(&mut self, account: AccountId, fee_e8: i64) -> PyResult<i64> {
        self.engine.liquidate_to_backstop(account, fee_e8).map_err(exchange_error)
    }

    fn auto_deleverage(&mut self, account: AccountId) -> PyResult<i64> {
        self.engine.auto_deleverage(account).map_err(exchange_error)
    }

    fn settle_liquidation_debts(&mut self, account: AccountId) -> PyResult<()> {
        self.engine.settle_liquidation_debts(account).map_err(exchange_error)
    }

    /// Owner name and label of a subaccount.
    fn account_info(&self, account: AccountId) -> PyResult<(String, String)> {
        let owner =
            self.engine.owner_of(account).ok_or_else(|| exchange_error(ExchangeError::UnknownAccount(account)))?;
        Ok((owner.name.clone(), self.engine.accounts().label[account as usize].clone()))
    }

    /// Every asset and market symbol, in index order.
    fn symbols(&self) -> (Vec<String>, Vec<String>) {
        let spec = self.engine.spec();
        (
            spec.assets.iter().map(|asset| asset.symbol.clone()).collect(),
            spec.markets.iter().map(|market| market.symbol.clone()).collect(),
        )
    }
}

fn event_dict<'py>(
    py: Python<'py>,
    engine: &Engine,
    event: &crossbook_core::exchange::Event,
) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item("sequence", event.sequence)?;
    dict.set_item("time_ms", event.time_ms)?;
    let spec = engine.spec();
    let asset_name = |asset: usize| spec.assets[asset].symbol.clone();
    let market_name = |market: usize| spec.markets[market].symbol.clone();
    match &event.kind {
        EventKind::Deposit { account, asset, amount } | EventKind::Withdrawal { account, asset, amount } => {
            let kind = if matches!(event.kind, EventKind::Deposit { .. }) { "Deposit" } else { "Withdrawal" };
            dict.set_item("kind", kind)?;
            dict.set_item("account", account)?;
            dict.set_item("asset", asset_name(*asset))?;
            dict.set_item("amount", engine.format_amount(*asset, *amount))?;
        }
        EventKind::Transfer { from, to, asset, amount } => {
            dict.set_item("kind", "Transfer")?;
            dict.set_item("from", from)?;
            dict.set_item("to", to)?;
            dict.set_item("asset", asset_name(*asset))?;
            dict.set_item("amount", engine.format_amount(*asset, *amount))?;
        }
        EventKind::Lend { account, asset, amount }
        | EventKind::Redeem { account, asset, amount }
        | EventKind::Repay { account, asset, amount } => {
            let kind = match event.kind {
                EventKind::Lend { .. } => "Lend",
                EventKind::Redeem { .. } => "Redeem",
                _ => "Repay",
            };
            dict.set_item("kind", kind)?;
            dict.set_item("account", account)?;
            dict.set_item("asset", asset_name(*asset))?;
            dict.set_item("amount", engine.format_amount(*asset, *amount))?;
        }
        EventKind::Borrow { account, asset, amount, entry_fee } => {
            dict.set_item("kind", "Borrow")?;
            dict.set_item("account", account)?;
            dict.set_item("asset", asset_name(*asset))?;
            dict.set_item("amount", engine.format_amount(*asset, *amount))?;
            dict.set_item("entry_fee", engine.format_amount(*asset, *entry_fee))?;
        }
        EventKind::Conversion { account, asset, sold, raised } => {
            dict.set_item("kind", "Conversion")?;
            dict.set_item("account", account)?;
            dict.set_item("asset", asset_name(*asset))?;
            dict.set_item("sold", engine.format_amount(*asset, *sold))?;
            dict.set_item("raised", engine.format_amount(spec.settlement_asset, *raised))?;
        }
        EventKind::Liquidation(step) => {
            dict.set_item("kind", "Liquidation")?;
            dict.set_item("stage", step.stage.name())?;
            dict.set_item("account", step.account)?;
            dict.set_item("market", step.market.map(market_name))?;
            dict.set_item("asset", step.asset.map(asset_name))?;
            dict.set_item("counterparty", step.counterparty)?;
            let quantity = match (step.market, step.asset) {
                (Some(market), None) => Some(engine.format_quantity(market, step.quantity)),
                (_, Some(asset)) => Some(engine.format_amount(asset, step.quantity)),
                (None, None) => None,
            };
            dict.set_item("quantity", quantity)?;
            dict.set_item("notional", engine.format_amount(spec.settlement_asset, step.notional))?;
            let price = (step.price > 0).then(|| engine.format_amount(spec.settlement_asset, step.price));
            dict.set_item("price", price)?;
            dict.set_item("fee", engine.format_amount(spec.settlement_asset, step.fee))?;
            let ratio = |e6: i64| {
                if e6 == i64::MAX {
                    "Infinity".to_owned()
                } else {
                    Decimal::times(Decimal::atom(6), e6).to_string()
                }
            };
            dict.set_item("mmr_before", ratio(step.mmr_before_e6))?;
            dict.set_item("mmr_after", ratio(step.mmr_after_e6))?;
        }
        EventKind::FundingPaid { account, market, amount } => {
            dict.set_item("kind", "FundingPaid")?;
            dict.set_item("account", account)?;
            dict.set_item("market", market_name(*market))?;
            dict.set_item("amount", engine.format_amount(spec.settlement_asset, *amount))?;
        }
        EventKind::PnlRealized { account, market, amount } => {
            dict.set_item("kind", "PnlRealized")?;
            dict.set_item("account", account)?;
            dict.set_item("market", market_name(*market))?;
            dict.set_item("amount", engine.format_amount(spec.settlement_asset, *amount))?;
        }
        EventKind::InterestAccrued { asset, interest, lenders } => {
            dict.set_item("kind", "InterestAccrued")?;
            dict.set_item("asset", asset_name(*asset))?;
            dict.set_item("interest", engine.format_amount(*asset, *interest))?;
            dict.set_item("lenders", engine.format_amount(*asset, *lenders))?;
        }
        EventKind::LeverageChanged { account, max_leverage } => {
            dict.set_item("kind", "LeverageChanged")?;
            dict.set_item("account", account)?;
            dict.set_item("max_leverage", max_leverage)?;
        }
        EventKind::SettingChanged { account, setting, on } => {
            dict.set_item("kind", "SettingChanged")?;
            dict.set_item("account", account)?;
            dict.set_item("setting", setting.name())?;
            dict.set_item("on", on)?;
        }
        EventKind::IndexPrice { asset, price } => {
            dict.set_item("kind", "IndexPrice")?;
            dict.set_item("asset", asset_name(*asset))?;
            dict.set_item("price", engine.format_amount(spec.settlement_asset, *price))?;
        }
        EventKind::MarkPrice { market, price } => {
            dict.set_item("kind", "MarkPrice")?;
            dict.set_item("market", market_name(*market))?;
            dict.set_item("price", engine.format_price(*market, *price))?;
        }
        EventKind::OrderAccepted { account, market, order_id, side, price, quantity, quote_quantity } => {
            dict.set_item("kind", "OrderAccepted")?;
            dict.set_item("account", account)?;
            dict.set_item("market", market_name(*market))?;
            dict.set_item("order_id", order_id)?;
            dict.set_item("side", side.name())?;
            dict.set_item("price", (*price > 0).then(|| engine.format_price(*market, *price)))?;
            if *quote_quantity > 0 {
                dict.set_item("quote_quantity", engine.format_amount(spec.markets[*market].quote, *quote_quantity))?;
            } else {
                dict.set_item("quantity", engine.format_quantity(*market, *quantity))?;
            }
        }
        EventKind::OrderRejected { account, market, order_id, side, reason } => {
            dict.set_item("kind", "OrderRejected")?;
            dict.set_item("account", account)?;
            dict.set_item("market", market_name(*market))?;
            dict.set_item("order_id", order_id)?;
            dict.set_item("side", side.name())?;
            dict.set_item("reason", reason.name())?;
        }
        EventKind::Fill {
            market,
            price,
            quantity,
            taker,
            taker_order_id,
            taker_side,
            taker_fee,
            taker_realized_pnl,
            maker,
            maker_order_id,
            maker_fee,
            maker_realized_pnl,
        } => {
            let quote = spec.markets[*market].quote;
            dict.set_item("kind", "Fill")?;
            dict.set_item("market", market_name(*market))?;
            dict.set_item("price", engine.format_price(*market, *price))?;
            dict.set_item("quantity", engine.format_quantity(*market, *quantity))?;
            dict.set_item("taker", taker)?;
            dict.set_item("taker_order_id", taker_order_id)?;
            dict.set_item("taker_side", taker_side.name())?;
            dict.set_item("taker_fee", engine.format_amount(quote, *taker_fee))?;
            dict.set_item("taker_realized_pnl", engine.format_amount(quote, *taker_realized_pnl))?;
            dict.set_item("maker", maker)?;
            dict.set_item("maker_order_id", maker_order_id)?;
            dict.set_item("maker_fee", engine.format_amount(quote, *maker_fee))?;
            dict.set_item("maker_realized_pnl", engine.format_amount(quote, *maker_realized_pnl))?;
        }
        EventKind::OrderCancelled { account, market, order_id, quantity, reason }
        | EventKind::OrderExpired { account, market, order_id, quantity, reason } => {
            let kind =
                if matches!(event.kind, EventKind::OrderCancelled { .. }) { "OrderCancelled" } else { "OrderExpired" };
            dict.set_item("kind", kind)?;
            dict.set_item("account", account)?;
            dict.set_item("market", market_name(*market))?;
            dict.set_item("order_id", order_id)?;
            dict.set_item("quantity", engine.format_quantity(*market, *quantity))?;
            dict.set_item("reason", reason.name())?;
        }
        EventKind::TriggerAccepted { account, market, trigger_id, side, trigger_price } => {
            dict.set_item("kind", "TriggerAccepted")?;
            dict.set_item("account", account)?;
            dict.set_item("market", market_name(*market))?;
            dict.set_item("trigger_id", trigger_id)?;
            dict.set_item("side", side.name())?;
            dict.set_item("trigger_price", engine.format_price(*market, *trigger_price))?;
        }
        EventKind::Triggered { account, market, trigger_id }
        | EventKind::TriggerCancelled { account, market, trigger_id } => {
            let kind = if matches!(event.kind, EventKind::Triggered { .. }) { "Triggered" } else { "TriggerCancelled" };
            dict.set_item("kind", kind)?;
            dict.set_item("account", account)?;
            dict.set_item("market", market_name(*market))?;
            dict.set_item("trigger_id", trigger_id)?;
        }
        EventKind::AmendRejected { account, market, order_id, reason } => {
            dict.set_item("kind", "AmendRejected")?;
            dict.set_item("account", account)?;
            dict.set_item("market", market_name(*market))?;
            dict.set_item("order_id", order_id)?;
            dict.set_item("reason", reason.name())?;
        }
        EventKind::OrderAmended { account, market, order_id, price, quantity } => {
            dict.set_item("kind", "OrderAmended")?;
            dict.set_item("account", account)?;
            dict.set_item("market", market_name(*market))?;
            dict.set_item("order_id", order_id)?;
            dict.set_item("price", engine.format_price(*market, *price))?;
            dict.set_item("quantity", engine.format_quantity(*market, *quantity))?;
        }
    }
    Ok(dict)
}
