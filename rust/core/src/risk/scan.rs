//! The vectorized margin check (SPEC §5): net equity, requirements, ratios and the liquidatable mask
//! of every account from columnar state, in one call — what the venue runs after every price update.
//!
//! Contract:
//! - Columns are row-major: `holdings` holds `accounts × assets` entries (account 0's assets first),
//!   the four position columns `accounts × markets`, `max_leverage` one per account; the number of
//!   accounts is `max_leverage.len()`. Shapes and parameters are checked before any row runs.
//! - Row `i` of the result is what [`super::account_margin`] gives for account `i`, bit for bit: on a
//!   CPU with AVX-512 (AVX2 and FMA) the rows go eight (four) at a time through `lanes`, which
//!   answers only where it is certain to agree and hands every other account to the same function
//!   `account_margin` calls; elsewhere every row takes that function. An account that fails makes the whole scan fail with
//!   [`RiskError::Account`] naming the lowest failing index.
//! - Large scans run on one thread per available core (`std::thread::scope`) that take turns at
//!   contiguous chunks of accounts, in order, until none is left: a thread slowed by another
//!   process on its core (a shared VM) leaves more chunks to the others instead of holding up the
//!   scan. Rows are independent, so the result is the same for any split.
//!
//! Cost: O(accounts × (assets + markets)); the only allocations are the result (none with
//! [`scan_into`] and reused buffers, as the engine's rescan after a price update does) and the
//! per-asset and per-market constants of the parameters, computed once per scan.

#[cfg(target_arch = "x86_64")]
use super::lanes::LanePlan;
use super::lanes::Row;
use super::{margin_of, AccountState, Fault, Prepared, RiskError, RiskParams};

/// Below this many accounts per core, a scan stays on the calling thread (spawning costs more).
const MIN_ACCOUNTS_PER_THREAD: usize = 32_768;

/// The largest chunk a scan's threads take at a time (8,192 accounts: about 1.5 MB of columns).
const MAX_CHUNK_ACCOUNTS: usize = 8_192;

/// Chunks per thread, at least, so the work can even out between threads.
const CHUNKS_PER_THREAD: usize = 8;

/// Every account's state as row-major columns; see the module docs for the layout.
#[derive(Clone, Copy, Debug)]
pub struct Columns<'a> {
    /// `accounts × assets`: signed holdings in atoms.
    pub holdings: &'a [i64],
    /// `accounts × assets`: atoms borrowed from the pools (`>= 0`), or empty for none.
    pub borrowed: &'a [i64],
    /// `accounts × markets`: signed positions in lots.
    pub net_qty: &'a [i64],
    /// `accounts × markets`: signed cost bases in quote atoms.
    pub net_cost: &'a [i64],
    /// `accounts × markets`: lots of open buy orders.
    pub open_bids: &'a [i64],
    /// `accounts × markets`: lots of open sell orders.
    pub open_asks: &'a [i64],
    /// One leverage setting per account.
    pub max_leverage: &'a [u32],
}

impl<'a> Columns<'a> {
    /// The state of account `index` (columns whose lengths were checked).
    pub(super) fn account(&self, index: usize, assets: usize, markets: usize) -> AccountState<'a> {
        let positions = index * markets..(index + 1) * markets;
        let assets_of_row = index * assets..(index + 1) * assets;
        AccountState {
            borrowed: if self.borrowed.is_empty() { &[] } else { &self.borrowed[assets_of_row.clone()] },
            holdings: &self.holdings[assets_of_row],
            net_qty: &self.net_qty[positions.clone()],
            net_cost: &self.net_cost[positions.clone()],
            open_bids: &self.open_bids[positions.clone()],
            open_asks: &self.open_asks[positions],
            max_leverage: self.max_leverage[index],
        }
    }
}

/// One entry per account, in the order of the columns.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ScanResult {
    pub net_equity: Vec<i64>,
    pub initial_margin: Vec<i64>,
    pub maintenance_margin: Vec<i64>,
    pub imr: Vec<f64>,
    pub mmr: Vec<f64>,
    pub margin_fraction: Vec<f64>,
    pub liquidatable: Vec<bool>,
}

impl ScanResult {
    fn zeroed(accounts: usize) -> ScanResult {
        ScanResult {
            net_equity: vec![0; accounts],
            initial_margin: vec![0; accounts],
            maintenance_margin: vec![0; accounts],
            imr: vec![0.0; accounts],
            mmr: vec![0.0; accounts],
            margin_fraction: vec![0.0; accounts],
            liquidatable: vec![false; accounts],
        }
    }

    /// Resizes every column to `accounts` rows, keeping the buffers (for [`scan_into`] reuse).
    pub fn resize(&mut self, accounts: usize) {
        self.net_equity.resize(accounts, 0);
        self.initial_margin.resize(accounts, 0);
        self.maintenance_margin.resize(accounts, 0);
        self.imr.resize(accounts, 0.0);
        self.mmr.resize(accounts, 0.0);
        self.margin_fraction.resize(accounts, 0.0);
        self.liquidatable.resize(accounts, false);
    }

    /// The columns as a [`ScanOutput`].
    pub fn output(&mut self) -> ScanOutput<'_> {
        ScanOutput {
            net_equity: &mut self.net_equity,
            initial_margin: &mut self.initial_margin,
            maintenance_margin: &mut self.maintenance_margin,
            imr: &mut self.imr,
            mmr: &mut self.mmr,
            margin_fraction: &mut self.margin_fraction,
            liquidatable: &mut self.liquidatable,
        }
    }
}

/// Where a scan writes: one slice per result column, all `accounts` long (a [`ScanResult`]'s
/// vectors, or caller-owned buffers reused across scans so no fresh memory is touched).
#[derive(Debug)]
pub struct ScanOutput<'a> {
    pub net_equity: &'a mut [i64],
    pub initial_margin: &'a mut [i64],
    pub maintenance_margin: &'a mut [i64],
    pub imr: &'a mut [f64],
    pub mmr: &'a mut [f64],
    pub margin_fraction: &'a mut [f64],
    pub liquidatable: &'a mut [bool],
}

impl<'a> ScanOutput<'a> {
    /// Rows (the length of `net_equity`).
    #[must_use]
    pub fn len(&self) -> usize {
        self.net_equity.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.net_equity.is_empty()
    }

    /// Writes one account's row.
    pub(super) fn set(&mut self, index: usize, row: &Row) {
        self.net_equity[index] = row.net_equity;
        self.initial_margin[index] = row.initial_margin;
        self.maintenance_margin[index] = row.maintenance_margin;
        self.imr[index] = row.imr;
        self.mmr[index] = row.mmr;
        self.margin_fraction[index] = row.margin_fraction;
        self.liquidatable[index] = row.liquidatable;
    }

    fn check_lengths(&self, accounts: usize) -> Result<(), RiskError> {
        let lengths = [
            ("net_equity", self.net_equity.len()),
            ("initial_margin", self.initial_margin.len()),
            ("maintenance_margin", self.maintenance_margin.len()),
            ("imr", self.imr.len()),
            ("mmr", self.mmr.len()),
            ("margin_fraction", self.margin_fraction.len()),
            ("liquidatable", self.liquidatable.len()),
        ];
        match lengths.iter().find(|&&(_, length)| length != accounts) {
            Some((name, length)) => Err(RiskError::Shape(format!(
                "output {name} has {length} entries, expected one per account ({accounts})"
            ))),
            None => Ok(()),
        }
    }

    fn split_at(self, middle: usize) -> (ScanOutput<'a>, ScanOutput<'a>) {
        let (net_equity, net_equity_rest) = self.net_equity.split_at_mut(middle);
        let (initial_margin, initial_margin_rest) = self.initial_margin.split_at_mut(middle);
        let (maintenance_margin, maintenance_margin_rest) = self.maintenance_margin.split_at_mut(middle);
        let (imr, imr_rest) = self.imr.split_at_mut(middle);
        let (mmr, mmr_rest) = self.mmr.split_at_mut(middle);
        let (margin_fraction, margin_fraction_rest) = self.margin_fraction.split_at_mut(middle);
        let (liquidatable, liquidatable_rest) = self.liquidatable.split_at_mut(middle);
        (
            ScanOutput { net_equity, initial_margin, maintenance_margin, imr, mmr, margin_fraction, liquidatable },
            ScanOutput {
                net_equity: net_equity_rest,
                initial_margin: initial_margin_rest,
                maintenance_margin: maintenance_margin_rest,
                imr: imr_rest,
                mmr: mmr_rest,
                margin_fraction: margin_fraction_rest,
                liquidatable: liquidatable_rest,
            },
        )
    }
}

/// The margin of every account in `columns`; see the module docs.
///
/// # Errors
/// [`RiskError::InvalidValue`] for a parameter out of its domain, [`RiskError::Shape`] naming a
/// column whose length is not `accounts × assets` or `accounts × markets`, and
/// [`RiskError::Account`] wrapping the first account's error (leverage 0, negative orders, overflow).
pub fn scan(params: &RiskParams, columns: &Columns<'_>) -> Result<ScanResult, RiskError> {
    let mut result = ScanResult::zeroed(columns.max_leverage.len());
    scan_into(params, columns, result.output())?;
    Ok(result)
}

/// [`scan`] into existing buffers, one slice per column, each `accounts` long.
///
/// # Errors
/// As [`scan`], plus [`RiskError::Shape`] naming an output slice of the wrong length.
pub fn scan_into(params: &RiskParams, columns: &Columns<'_>, output: ScanOutput<'_>) -> Result<(), RiskError> {
    let accounts = columns.max_leverage.len();
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    scan_into_threads(params, columns, output, cores.min(accounts / MIN_ACCOUNTS_PER_THREAD).max(1))
}

/// [`scan_into`] on exactly `threads` threads (at least one) sharing chunks of at least
/// `CHUNKS_PER_THREAD` per thread, whatever the size: for benchmarks and tests of the split.
///
/// # Errors
/// As [`scan_into`].
pub fn scan_into_threads(
    params: &RiskParams,
    columns: &Columns<'_>,
    output: ScanOutput<'_>,
    threads: usize,
) -> Result<(), RiskError> {
    params.validate()?;
    let accounts = columns.max_leverage.len();
    let assets = params.assets.len();
    let markets = params.markets.len();
    check_column("holdings", columns.holdings.len(), accounts, assets, "asset")?;
    if !columns.borrowed.is_empty() {
        check_column("borrowed", columns.borrowed.len(), accounts, assets, "asset")?;
    }
    check_column("net_qty", columns.net_qty.len(), accounts, markets, "market")?;
    check_column("net_cost", columns.net_cost.len(), accounts, markets, "market")?;
    check_column("open_bids", columns.open_bids.len(), accounts, markets, "market")?;
    check_column("open_asks", columns.open_asks.len(), accounts, markets, "market")?;

    output.check_lengths(accounts)?;
    let constants = Prepared::new(params);
    let constants = &constants;
    let threads = threads.max(1);
    if threads == 1 {
        return scan_block(params, constants, columns, 0, output).map_err(account_error);
    }
    let chunk = accounts.div_ceil(threads * CHUNKS_PER_THREAD).clamp(1, MAX_CHUNK_ACCOUNTS);
    let mut chunks = Vec::with_capacity(accounts.div_ceil(chunk));
    let mut rest = output;
    for start in (0..accounts).step_by(chunk) {
        let (rows, tail) = rest.split_at(chunk.min(accounts - start));
        chunks.push((start, rows));
        rest = tail;
    }
    let queue = std::sync::Mutex::new(chunks.into_iter());
    let first_failure = std::thread::scope(|scope| {
        let queue = &queue;
        // Each thread stops at its first failing account. Chunks are taken in order, so the chunk of
        // the lowest failing account was taken before any thread stopped past it: the lowest of the
        // threads' failures is the scan's.
        let work = move || loop {
            let next = queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner).next();
            let (start, rows) = next?;
            if let Err(failure) = scan_block(params, constants, columns, start, rows) {
                return Some(failure);
            }
        };
        let handles: Vec<_> = (0..threads).map(|_| scope.spawn(work)).collect();
        handles
            .into_iter()
            .filter_map(|handle| handle.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
            .min_by_key(|&(index, _)| index)
    });
    first_failure.map_or(Ok(()), |failure| Err(account_error(failure)))
}

/// The error of a scan whose lowest failing account is `index`.
fn account_error((index, fault): (usize, Fault)) -> RiskError {
    RiskError::Account { index, source: Box::new(fault.into()) }
}

fn check_column(name: &str, length: usize, accounts: usize, per_account: usize, per: &str) -> Result<(), RiskError> {
    match accounts.checked_mul(per_account) {
        Some(expected) if expected == length => Ok(()),
        _ => Err(RiskError::Shape(format!(
            "{name} has {length} entries, expected {accounts} accounts × {per_account} (one per {per}) = {}",
            accounts.saturating_mul(per_account)
        ))),
    }
}

/// One block of rows, through the fast path where the parameters allow it and the CPU has AVX-512F
/// and DQ, or AVX2 and FMA, else through the exact path.
fn scan_block(
    params: &RiskParams,
    constants: &Prepared,
    columns: &Columns<'_>,
    first: usize,
    rows: ScanOutput<'_>,
) -> Result<(), (usize, Fault)> {
    #[cfg(target_arch = "x86_64")]
    if let Some(lanes) = &constants.lanes {
        if std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("avx512dq") {
            #[allow(unsafe_code)]
            // SAFETY: `scan_block_avx512` needs AVX-512F and DQ, checked just above, and AVX2 and
            // FMA, which every CPU with AVX-512F has.
            return unsafe { scan_block_avx512(params, constants, lanes, columns, first, rows) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            #[allow(unsafe_code)]
            // SAFETY: `scan_block_avx2` needs nothing but AVX2 and FMA, which the CPU has: checked
            // just above.
            return unsafe { scan_block_avx2(params, constants, lanes, columns, first, rows) };
        }
    }
    scan_rows(params, constants, columns, first, rows)
}

/// The lanes' AVX2 scan, which needs AVX2 and FMA, with the exact path for the accounts it declines.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn scan_block_avx2(
    params: &RiskParams,
    constants: &Prepared,
    lanes: &LanePlan,
    columns: &Columns<'_>,
    first: usize,
    rows: ScanOutput<'_>,
) -> Result<(), (usize, Fault)> {
    let (assets, markets) = (params.assets.len(), params.markets.len());
    super::lanes::avx2::scan(lanes, columns, first, rows, |index| {
        Ok(Row::of(&margin_of(params, constants, &columns.account(index, assets, markets))?))
    })
}

/// The lanes' AVX-512 scan, which needs AVX-512F and DQ, with the exact path for the accounts it
/// declines.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
fn scan_block_avx512(
    params: &RiskParams,
    constants: &Prepared,
    lanes: &LanePlan,
    columns: &Columns<'_>,
    first: usize,
    rows: ScanOutput<'_>,
) -> Result<(), (usize, Fault)> {
    let (assets, markets) = (params.assets.len(), params.markets.len());
    super::lanes::avx512::scan(lanes, columns, first, rows, |index| {
        Ok(Row::of(&margin_of(params, constants, &columns.account(index, assets, markets))?))
    })
}

/// Each row through the exact path.
fn scan_rows(
    params: &RiskParams,
    constants: &Prepared,
    columns: &Columns<'_>,
    first: usize,
    mut rows: ScanOutput<'_>,
) -> Result<(), (usize, Fault)> {
    let accounts = Accounts::from(columns, first, params.assets.len(), params.markets.len());
    for (row, account) in (0..rows.len()).zip(accounts) {
        let index = first + row;
        rows.set(row, &Row::of(&margin_of(params, constants, &account).map_err(|fault| (index, fault))?));
    }
    Ok(())
}

/// The accounts of a block, one after another: each column's rest, split a row at a time.
struct Accounts<'a> {
    holdings: &'a [i64],
    borrowed: &'a [i64],
    net_qty: &'a [i64],
    net_cost: &'a [i64],
    open_bids: &'a [i64],
    open_asks: &'a [i64],
    max_leverage: &'a [u32],
    assets: usize,
    markets: usize,
}

impl<'a> Iterator for Accounts<'a> {
    type Item = AccountState<'a>;

    #[inline(always)]
    fn next(&mut self) -> Option<AccountState<'a>> {
        let (&max_leverage, max_leverage_rest) = self.max_leverage.split_first()?;
        self.max_leverage = max_leverage_rest;
        let take = |column: &mut &'a [i64], width: usize| {
            let (row, rest) = column.split_at_checked(width)?;
            *column = rest;
            Some(row)
        };
        Some(AccountState {
            holdings: take(&mut self.holdings, self.assets)?,
            // An empty column (nothing borrowed) stays empty.
            borrowed: if self.borrowed.is_empty() { &[] } else { take(&mut self.borrowed, self.assets)? },
            net_qty: take(&mut self.net_qty, self.markets)?,
            net_cost: take(&mut self.net_cost, self.markets)?,
            open_bids: take(&mut self.open_bids, self.markets)?,
            open_asks: take(&mut self.open_asks, self.markets)?,
            max_leverage,
        })
    }
}

impl<'a> Accounts<'a> {
    /// From account `first` on (columns whose lengths were checked).
    fn from(columns: &Columns<'a>, first: usize, assets: usize, markets: usize) -> Accounts<'a> {
        let rest = |column: &'a [i64], width: usize| column.get(first * width..).unwrap_or(&[]);
        Accounts {
            holdings: rest(columns.holdings, assets),
            borrowed: rest(columns.borrowed, assets),
            net_qty: rest(columns.net_qty, markets),
            net_cost: rest(columns.net_cost, markets),
            open_bids: rest(columns.open_bids, markets),
            open_asks: rest(columns.open_asks, markets),
            max_leverage: columns.max_leverage.get(first..).unwrap_or(&[]),
            assets,
            markets,
        }
    }
}
