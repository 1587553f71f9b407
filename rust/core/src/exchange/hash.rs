//! `state_hash`: a 64-bit FNV-1a digest over a canonical walk of the engine's state, taken a 64-bit
//! word at a time for integers (each step `h = (h ^ word) * prime` is a bijection of `h`, so two
//! walks of equal length that differ in one word always hash apart) and a byte at a time for text.
//!
//! The walk visits everything that determines future behaviour, in a fixed order (maps in key
//! order), so two engines that received the same commands hash equal, and any difference in a
//! balance, position, order (including its place in its level's queue and its fee and lock
//! records), price, mark EMA, setting, trigger, pool, funding sample, liquidation list, backstop,
//! ledger, the book's state and quantity limits, the clock or the event sequence shows. Undrained events are output,
//! not state, and are not hashed. Cost: O(state), about 0.3 µs per resting
//! order. FNV-1a is not collision-resistant against an adversary; it is a fingerprint for replay and
//! recovery checks. Snapshots record the hash and restoring checks it: a change to this walk must
//! come with a new `journal::SNAPSHOT_VERSION`.

use super::Engine;

struct Fnv(u64);

impl Fnv {
    fn bytes(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 ^= u64::from(byte);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn word(&mut self, word: u64) {
        self.0 ^= word;
        self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
    }

    fn int(&mut self, value: i128) {
        let bits = value.to_le_bytes();
        let (low, high) = bits.split_at(8);
        self.word(u64::from_le_bytes(low.try_into().unwrap_or_default()));
        self.word(u64::from_le_bytes(high.try_into().unwrap_or_default()));
    }

    fn ints(&mut self, values: impl IntoIterator<Item = i128>) {
        let mut count = 0;
        for value in values {
            self.int(value);
            count += 1;
        }
        self.int(count);
    }

    fn text(&mut self, text: &str) {
        self.int(i128::try_from(text.len()).unwrap_or(i128::MAX));
        self.bytes(text.as_bytes());
    }
}

pub(super) fn digest(engine: &Engine) -> u64 {
    // Destructured without `..`: a new engine field does not compile until it is hashed here or
    // named as derived or scratch (the same rule as `snapshot`).
    let Engine {
        spec,
        perp_of_market: _,
        risk,
        index_set,
        mark_set,
        basis_ema,
        owners,
        owner_by_name: _,
        accounts,
        books,
        orders,
        reduce_only,
        venue,
        deposits,
        withdrawals,
        time_ms,
        sequence,
        events: _,
        liquidatable,
        liquidating,
        backstops,
        book_events: _,
        what_if: _,
        risk_holdings: _,
        risk_borrowed: _,
        last_scan: _,
        firing_triggers: _,
        pools,
        premiums,
        fixed_funding_e18,
        last_price,
        triggers,
        next_trigger_id,
    } = engine;
    let mut hash = Fnv(0xcbf2_9ce4_8422_2325);
    hash.ints([i128::from(*time_ms), i128::from(*sequence)]);
    // The configuration's shape (a snapshot or journal replayed on another one differs here).
    hash.ints([spec.assets.len() as i128, spec.markets.len() as i128, spec.settlement_asset as i128]);
    for market in &spec.markets {
        hash.text(&market.symbol);
    }
    for owner in owners {
        hash.text(&owner.name);
        hash.ints(owner.accounts.iter().map(|&account| i128::from(account)));
    }
    for label in &accounts.label {
        hash.text(label);
    }
    for column in [
        &accounts.holding,
        &accounts.locked,
        &accounts.lend_shares,
        &accounts.borrow_shares,
        &accounts.net_qty,
        &accounts.net_cost,
        &accounts.entry_cost,
        &accounts.open_bids,
        &accounts.open_asks,
        &accounts.funding,
    ] {
        hash.ints(column.iter().map(|&value| i128::from(value)));
    }
    hash.ints(accounts.owner.iter().map(|&owner| i128::from(owner)));
    hash.ints(accounts.max_leverage.iter().map(|&leverage| i128::from(leverage)));
    hash.ints(accounts.settings.iter().map(|&bits| i128::from(bits)));
    hash.ints(risk.assets.iter().map(|asset| i128::from(asset.price)));
    hash.ints(risk.markets.iter().map(|market| i128::from(market.mark)));
    hash.ints(index_set.iter().chain(mark_set).map(|&set| i128::from(set)));
    hash.ints(basis_ema.iter().map(|ema| ema.unwrap_or(i128::MIN)));
    hash.ints(liquidatable.iter().map(|&account| i128::from(account)));
    hash.ints(liquidating.iter().map(|&account| i128::from(account)));
    for provider in backstops {
        hash.ints([i128::from(provider.account), i128::from(provider.capacity)]);
        hash.ints(provider.markets.iter().map(|&market| market as i128));
    }
    for (market, book) in books.iter().enumerate() {
        // The price and impact bands are not hashed: every place and amend recomputes them from the
        // mark and the best prices first (`set_bands`), so they carry nothing forward.
        let params = book.params();
        hash.ints([
            i128::from(book.next_order_id()),
            params.state as i128,
            i128::from(params.min_quantity),
            i128::from(params.max_quantity),
        ]);
        // Every level best first and its queue in priority order (FIFO matters, not just the set).
        for side in [crate::types::Side::Bid, crate::types::Side::Ask] {
            for (price, total) in book.depth(side, usize::MAX) {
                hash.ints([side as i128, i128::from(price), i128::from(total)]);
                for order_id in book.queue(side, price) {
                    let order = book.order(order_id);
                    hash.ints([
                        i128::from(order_id),
                        order.map_or(-1, |order| i128::from(order.owner)),
                        order.map_or(-1, |order| i128::from(order.quantity)),
                    ]);
                }
            }
        }
        let mut metas: Vec<_> = orders[market].iter().collect();
        metas.sort_unstable_by_key(|(&order_id, _)| order_id);
        for (&order_id, meta) in metas {
            hash.ints([
                i128::from(order_id),
                i128::from(meta.account),
                meta.side as i128,
                i128::from(meta.price),
                i128::from(meta.remaining),
                i128::from(meta.locked),
                i128::from(meta.filled_notional),
                i128::from(meta.reduce_only),
                i128::from(meta.auto_borrow),
            ]);
        }
    }
    let mut reduce_only: Vec<_> = reduce_only.iter().collect();
    reduce_only.sort_unstable_by_key(|(&key, _)| key);
    for (&(account, market), ids) in reduce_only {
        hash.ints([i128::from(account), market as i128]);
        hash.ints(ids.iter().map(|&id| i128::from(id)));
    }
    hash.ints(last_price.iter().map(|price| price.map_or(-1, i128::from)));
    hash.int(i128::from(*next_trigger_id));
    for trigger in triggers {
        let order = &trigger.order;
        hash.ints([
            i128::from(trigger.trigger_id),
            i128::from(trigger.account),
            i128::try_from(trigger.market).unwrap_or(-1),
            i128::from(trigger.trigger_price),
            trigger.by as i128,
            i128::from(trigger.rising),
            order.side as i128,
            order.order_type as i128,
            order.price.map_or(-1, i128::from),
            order.quantity.map_or(-1, i128::from),
            order.quote_quantity.map_or(-1, i128::from),
            order.time_in_force as i128,
            i128::from(order.post_only),
            i128::from(order.reduce_only),
            order.self_trade_prevention as i128,
            i128::from(order.auto_borrow),
        ]);
    }
    for pool in pools {
        hash.ints([
            i128::try_from(pool.lend_index).unwrap_or(-1),
            i128::try_from(pool.borrow_index).unwrap_or(-1),
            i128::try_from(pool.lend_shares).unwrap_or(-1),
            i128::try_from(pool.borrow_shares).unwrap_or(-1),
            pool.cash,
            i128::try_from(pool.rate_e18).unwrap_or(-1),
        ]);
    }
    for samples in premiums {
        hash.bytes(&samples.sum.to_bits().to_le_bytes());
        hash.int(i128::from(samples.count));
    }
    for rate in fixed_funding_e18 {
        hash.ints(rate.map_or([0, 0], |rate| [1, rate]));
    }
    hash.ints(venue.fees.iter().chain(&venue.liquidation_fund).map(|&value| i128::from(value)));
    hash.int(i128::from(venue.pnl_clearing));
    hash.ints(venue.conversions.iter().map(|&value| i128::from(value)));
    hash.ints(deposits.iter().chain(withdrawals).copied());
    hash.0
}
