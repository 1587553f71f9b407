//! `state_hash`: a 64-bit FNV-1a digest over a canonical walk of the engine's state.
//!
//! The walk visits everything that determines future behaviour, in a fixed order (maps in key
//! order), so two engines that received the same commands hash equal, and any difference in a
//! balance, position, order, price, setting, ledger or the clock shows. FNV-1a is not
//! collision-resistant against an adversary; it is a fingerprint for replay and recovery checks.

use super::Engine;

struct Fnv(u64);

impl Fnv {
    fn bytes(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 ^= u64::from(byte);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn int(&mut self, value: i128) {
        self.bytes(&value.to_le_bytes());
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
    let mut hash = Fnv(0xcbf2_9ce4_8422_2325);
    hash.ints([i128::from(engine.time_ms), i128::from(engine.sequence)]);
    for owner in &engine.owners {
        hash.text(&owner.name);
        hash.ints(owner.accounts.iter().map(|&account| i128::from(account)));
    }
    let accounts = &engine.accounts;
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
    hash.ints(engine.risk.assets.iter().map(|asset| i128::from(asset.price)));
    hash.ints(engine.risk.markets.iter().map(|market| i128::from(market.mark)));
    hash.ints(engine.index_set.iter().chain(&engine.mark_set).map(|&set| i128::from(set)));
    hash.ints(engine.basis_ema.iter().map(|ema| ema.unwrap_or(i128::MIN)));
    hash.ints(engine.liquidating.iter().map(|&account| i128::from(account)));
    for provider in &engine.backstops {
        hash.ints([i128::from(provider.account), i128::from(provider.capacity)]);
        hash.ints(provider.markets.iter().map(|&market| market as i128));
    }
    for (market, book) in engine.books.iter().enumerate() {
        hash.int(i128::from(book.next_order_id()));
        hash.int(book.params().state as i128);
        for order in book.orders() {
            let meta = engine.orders[market].get(&order.order_id);
            hash.ints([
                i128::from(order.order_id),
                i128::from(order.owner),
                order.side as i128,
                i128::from(order.price),
                i128::from(order.quantity),
                meta.map_or(-1, |meta| i128::from(meta.account)),
                meta.map_or(-1, |meta| i128::from(meta.locked)),
                meta.map_or(-1, |meta| i128::from(meta.reduce_only)),
            ]);
        }
    }
    hash.ints(engine.last_price.iter().map(|price| price.map_or(-1, i128::from)));
    hash.int(i128::from(engine.next_trigger_id));
    for trigger in &engine.triggers {
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
        ]);
    }
    for pool in &engine.pools {
        hash.ints([
            i128::try_from(pool.lend_index).unwrap_or(-1),
            i128::try_from(pool.borrow_index).unwrap_or(-1),
            i128::try_from(pool.lend_shares).unwrap_or(-1),
            i128::try_from(pool.borrow_shares).unwrap_or(-1),
            pool.cash,
            i128::try_from(pool.rate_e18).unwrap_or(-1),
        ]);
    }
    for samples in &engine.premiums {
        hash.bytes(&samples.sum.to_bits().to_le_bytes());
        hash.int(i128::from(samples.count));
    }
    let venue = &engine.venue;
    hash.ints(venue.fees.iter().chain(&venue.liquidation_fund).map(|&value| i128::from(value)));
    hash.int(i128::from(venue.pnl_clearing));
    hash.ints(venue.conversions.iter().map(|&value| i128::from(value)));
    hash.ints(engine.deposits.iter().chain(&engine.withdrawals).copied());
    hash.0
}
