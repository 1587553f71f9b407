//! Derived perpetual marks (SPEC §8): `index + EMA(mid − index)`, clamped to the price band.
//!
//! Contract:
//! - A perp whose mark the caller has set ([`Engine::set_mark_price`]) keeps it; from then on the
//!   caller owns it. Every other perp derives its mark whenever its base asset's index price is set.
//! - Derivation, in the market's ticks: `index` is the base index rounded down to a tick. If the book
//!   is two-sided, the basis sample `mid − index` (exact, in millionths of a tick) updates the EMA:
//!   the first sample seeds it, each later one moves it by `(sample − ema) × 2 / (span + 1)`, floored.
//!   Without a two-sided book the EMA keeps its value (none: 0). The mark is
//!   `index + floor(ema)`, clamped to `[ceil(index × min_multiplier), floor(index × max_multiplier)]`
//!   and to at least one tick.
//! - A derived mark that changes is announced with a `MarkPrice` event, like a caller's mark.
//! - The EMA is part of the state (and of `state_hash`); it is only sampled on index updates, so it
//!   depends on the sequence of commands and never on a clock.

use super::*;

/// Millionths of a tick: the EMA's fixed-point unit.
const BASIS_SCALE: i128 = 1_000_000;

impl Engine {
    /// Updates the derived marks of the perps on `asset` after its index moved. Returns the previous
    /// (mark, EMA) of every market it touched, for [`Engine::restore_marks`].
    pub(super) fn derive_marks(&mut self, asset: usize) -> Vec<(usize, Price, Option<i128>)> {
        let mut previous = Vec::new();
        for market in 0..self.spec.markets.len() {
            let Some(perp) = self.perp_of_market[market] else { continue };
            if self.mark_set[market] || self.spec.markets[market].base != asset {
                continue;
            }
            previous.push((market, self.risk.markets[perp].mark, self.basis_ema[market]));
            let Some(index) = self.index_in_ticks(market) else {
                self.risk.markets[perp].mark = 0;
                continue;
            };
            let book = &self.books[market];
            if let (Some((bid, _)), Some((ask, _))) = (book.best(Side::Bid), book.best(Side::Ask)) {
                let sample = (i128::from(bid) + i128::from(ask)) * BASIS_SCALE / 2 - i128::from(index) * BASIS_SCALE;
                let span = i128::from(self.spec.markets[market].mark_ema_span);
                self.basis_ema[market] = Some(match self.basis_ema[market] {
                    None => sample,
                    Some(ema) => ema + ((sample - ema) * 2).div_euclid(span + 1),
                });
            }
            self.risk.markets[perp].mark = self.banded_mark(market, index);
        }
        previous
    }

    /// `index + floor(ema)` within the market's band around the index, at least one tick.
    fn banded_mark(&self, market: usize, index: Price) -> Price {
        let spec = &self.spec.markets[market];
        let basis = self.basis_ema[market].unwrap_or(0).div_euclid(BASIS_SCALE);
        #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
        let (lower, upper) =
            ((index as f64 * spec.min_multiplier).ceil() as i128, (index as f64 * spec.max_multiplier).floor() as i128);
        let mark = (i128::from(index) + basis).clamp(lower, upper).max(1);
        Price::try_from(mark).expect("a mark within twice the index fits a price")
    }

    /// Puts back what [`Engine::derive_marks`] changed.
    pub(super) fn restore_marks(&mut self, previous: Vec<(usize, Price, Option<i128>)>) {
        for (market, mark, ema) in previous {
            let perp = self.perp_of_market[market].expect("derived marks are perps'");
            self.risk.markets[perp].mark = mark;
            self.basis_ema[market] = ema;
        }
    }

    /// Announces the derived marks that moved.
    pub(super) fn emit_derived_marks(&mut self, previous: &[(usize, Price, Option<i128>)]) {
        for &(market, before, _) in previous {
            let perp = self.perp_of_market[market].expect("derived marks are perps'");
            let price = self.risk.markets[perp].mark;
            if price != before && price > 0 {
                self.emit(EventKind::MarkPrice { market, price });
            }
        }
    }
}
