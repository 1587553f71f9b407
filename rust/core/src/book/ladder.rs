//! One side of a book: its price levels, addressed by price, walked best first.
//!
//! Two representations behind one interface:
//! - **Dense** (the normal case): a window of levels indexed by `price − base`, with an occupancy
//!   bitmap. Finding, adding and removing a level is O(1); after the best level empties, the next
//!   one is found by scanning bitmap words (64 ticks per word). The window grows by doubling to
//!   cover new prices, up to `dense_limit` ticks (2^20 by default: 24 MiB of levels).
//! - **Sparse**: a `Vec` sorted so the best level is last (O(1) best, binary search, moves on insert
//!   and removal). A side switches to it when its resting prices span more than `dense_limit`
//!   ticks, and back to dense once it empties, so far-flung prices cost speed, never correctness.
//!
//! A *handle* names a level until the next insert or removal on the same side.

use crate::types::{Price, Qty, Side};

use super::store::NIL;

/// All resting orders at one price, as a FIFO queue threaded through the order slab.
#[derive(Clone, Debug)]
pub(crate) struct Level {
    pub price: Price,
    pub total: Qty,
    pub head: u32,
    pub tail: u32,
}

impl Level {
    fn empty(price: Price) -> Level {
        Level { price, total: 0, head: NIL, tail: NIL }
    }
}

/// The side-relative sort key: larger is better.
#[inline(always)]
pub(crate) fn key(side: Side, price: Price) -> i64 {
    match side {
        Side::Bid => price,
        Side::Ask => -price,
    }
}

/// Widest price span, in ticks, a side keeps in the dense representation.
pub(crate) const DENSE_LIMIT: usize = 1 << 20;
const MIN_WINDOW: usize = 1024;

#[derive(Clone, Debug)]
pub(crate) struct Ladder {
    pub side: Side,
    dense_limit: usize,
    repr: Repr,
}

#[derive(Clone, Debug)]
enum Repr {
    Dense(Dense),
    /// Sorted by `key`, ascending: the best level is last.
    Sparse(Vec<Level>),
}

#[derive(Clone, Debug)]
struct Dense {
    /// Price of `levels[0]`.
    base: i64,
    levels: Vec<Level>,
    occupied: Vec<u64>,
    /// Index of the best level (meaningful when `count > 0`).
    best: usize,
    count: usize,
}

impl Dense {
    fn new() -> Dense {
        Dense { base: 0, levels: Vec::new(), occupied: Vec::new(), best: 0, count: 0 }
    }

    #[inline(always)]
    fn index(&self, price: Price) -> Option<usize> {
        // `price - base` modulo 2^64: exact at or above the base, and a price below it wraps to
        // beyond any window.
        let offset = price.wrapping_sub(self.base) as u64;
        match usize::try_from(offset) {
            Ok(index) if index < self.levels.len() => Some(index),
            _ => None,
        }
    }

    #[inline(always)]
    fn is_occupied(&self, index: usize) -> bool {
        self.occupied[index / 64] & (1 << (index % 64)) != 0
    }

    fn better(side: Side, candidate: usize, than: usize) -> bool {
        match side {
            Side::Bid => candidate > than,
            Side::Ask => candidate < than,
        }
    }

    /// The next occupied index worse than `index` (lower for bids, higher for asks).
    fn next_worse(&self, side: Side, index: usize) -> Option<usize> {
        match side {
            Side::Bid => {
                let mut word = index / 64;
                let mut bits = self.occupied[word] & ((1u64 << (index % 64)) - 1);
                loop {
                    if bits != 0 {
                        return Some(word * 64 + 63 - bits.leading_zeros() as usize);
                    }
                    word = word.checked_sub(1)?;
                    bits = self.occupied[word];
                }
            }
            Side::Ask => {
                let mut word = index / 64;
                let shift = index % 64 + 1;
                let mut bits = if shift == 64 { 0 } else { self.occupied[word] & (u64::MAX << shift) };
                loop {
                    if bits != 0 {
                        return Some(word * 64 + bits.trailing_zeros() as usize);
                    }
                    word += 1;
                    bits = *self.occupied.get(word)?;
                }
            }
        }
    }

    /// Makes the window cover `price`; false if that would need more than `limit` ticks.
    fn cover(&mut self, price: Price, limit: usize) -> bool {
        let price = i128::from(price);
        if self.count == 0 {
            let len = self.levels.len().max(MIN_WINDOW).min(limit.max(1));
            self.levels.clear();
            self.levels.resize(len, Level::empty(0));
            self.occupied.clear();
            self.occupied.resize(len.div_ceil(64), 0);
            self.base = i64::try_from(price - (len / 2) as i128).expect("a price less half a window fits");
            return true;
        }
        let old_base = i128::from(self.base);
        let top = old_base + self.levels.len() as i128 - 1;
        let (low, high) = (old_base.min(price), top.max(price));
        let Ok(needed) = usize::try_from(high - low + 1) else { return false };
        if needed > limit {
            return false;
        }
        let len = needed.max(self.levels.len() * 2).min(limit).max(needed);
        let base = if price < old_base { high - len as i128 + 1 } else { low };
        let shift = usize::try_from(old_base - base).expect("the new window starts at or below the old one");
        let old_levels = std::mem::take(&mut self.levels);
        let old_occupied = std::mem::take(&mut self.occupied);
        self.levels.resize(len, Level::empty(0));
        self.occupied.resize(len.div_ceil(64), 0);
        for (index, level) in old_levels.into_iter().enumerate() {
            if old_occupied[index / 64] & (1 << (index % 64)) != 0 {
                let moved = index + shift;
                self.occupied[moved / 64] |= 1 << (moved % 64);
                self.levels[moved] = level;
            }
        }
        self.best += shift;
        self.base = i64::try_from(base).expect("the window's lowest price is within the prices it covers");
        true
    }
}

impl Ladder {
    pub fn new(side: Side) -> Self {
        Ladder::with_dense_limit(side, DENSE_LIMIT)
    }

    pub fn with_dense_limit(side: Side, dense_limit: usize) -> Self {
        Ladder { side, dense_limit, repr: Repr::Dense(Dense::new()) }
    }

    /// Number of levels.
    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Dense(dense) => dense.count,
            Repr::Sparse(levels) => levels.len(),
        }
    }

    /// Whether the side uses the dense representation (for tests of the switch).
    #[cfg(test)]
    pub fn is_dense(&self) -> bool {
        matches!(self.repr, Repr::Dense(_))
    }

    /// The handle of the level at `price`.
    #[inline(always)]
    pub fn handle(&self, price: Price) -> Option<usize> {
        match &self.repr {
            Repr::Dense(dense) => match dense.index(price) {
                Some(index) if dense.is_occupied(index) => Some(index),
                _ => None,
            },
            Repr::Sparse(levels) => {
                let side = self.side;
                levels.binary_search_by_key(&key(side, price), |level| key(side, level.price)).ok()
            }
        }
    }

    #[inline(always)]
    pub fn at(&self, handle: usize) -> &Level {
        match &self.repr {
            Repr::Dense(dense) => &dense.levels[handle],
            Repr::Sparse(levels) => &levels[handle],
        }
    }

    #[inline(always)]
    pub fn at_mut(&mut self, handle: usize) -> &mut Level {
        match &mut self.repr {
            Repr::Dense(dense) => &mut dense.levels[handle],
            Repr::Sparse(levels) => &mut levels[handle],
        }
    }

    #[inline(always)]
    pub fn best_handle(&self) -> Option<usize> {
        match &self.repr {
            Repr::Dense(dense) => (dense.count > 0).then_some(dense.best),
            Repr::Sparse(levels) => levels.len().checked_sub(1),
        }
    }

    #[inline(always)]
    pub fn best(&self) -> Option<&Level> {
        self.best_handle().map(|handle| self.at(handle))
    }

    /// The level after `handle` in priority order.
    pub fn next_worse(&self, handle: usize) -> Option<usize> {
        match &self.repr {
            Repr::Dense(dense) => dense.next_worse(self.side, handle),
            Repr::Sparse(_) => handle.checked_sub(1),
        }
    }

    /// Levels, best first.
    pub fn iter(&self) -> impl Iterator<Item = &Level> + '_ {
        std::iter::successors(self.best_handle(), |&handle| self.next_worse(handle)).map(|handle| self.at(handle))
    }

    /// Adds an empty level at `price` (which has none) and returns its handle.
    pub fn insert(&mut self, price: Price) -> usize {
        let side = self.side;
        if let Repr::Sparse(levels) = &self.repr {
            if levels.is_empty() {
                self.repr = Repr::Dense(Dense::new());
            }
        }
        if let Repr::Dense(dense) = &mut self.repr {
            if dense.index(price).is_some() || dense.cover(price, self.dense_limit) {
                let index = dense.index(price).expect("the window covers the price");
                dense.levels[index] = Level::empty(price);
                dense.occupied[index / 64] |= 1 << (index % 64);
                if dense.count == 0 || Dense::better(side, index, dense.best) {
                    dense.best = index;
                }
                dense.count += 1;
                return index;
            }
            self.make_sparse();
        }
        let Repr::Sparse(levels) = &mut self.repr else { unreachable!("made sparse above") };
        let target = key(side, price);
        let position = levels.partition_point(|level| key(side, level.price) < target);
        levels.insert(position, Level::empty(price));
        position
    }

    /// Removes the (empty) level at `handle`.
    pub fn remove(&mut self, handle: usize) {
        let side = self.side;
        match &mut self.repr {
            Repr::Dense(dense) => {
                dense.occupied[handle / 64] &= !(1 << (handle % 64));
                dense.levels[handle].total = 0;
                dense.levels[handle].head = NIL;
                dense.count -= 1;
                if handle == dense.best && dense.count > 0 {
                    dense.best = dense.next_worse(side, handle).expect("another level is occupied");
                }
            }
            Repr::Sparse(levels) => {
                levels.remove(handle);
            }
        }
    }

    fn make_sparse(&mut self) {
        let mut levels: Vec<Level> = self.iter().cloned().collect();
        levels.reverse();
        self.repr = Repr::Sparse(levels);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;

    fn prices_best_first(ladder: &Ladder) -> Vec<Price> {
        ladder.iter().map(|level| level.price).collect()
    }

    fn model_best_first(side: Side, model: &BTreeSet<Price>) -> Vec<Price> {
        match side {
            Side::Bid => model.iter().rev().copied().collect(),
            Side::Ask => model.iter().copied().collect(),
        }
    }

    #[test]
    fn a_side_spanning_more_than_the_dense_limit_turns_sparse_and_back() {
        let mut ladder = Ladder::with_dense_limit(Side::Ask, 128);
        ladder.insert(100);
        assert!(ladder.is_dense());
        ladder.insert(10_000);
        assert!(!ladder.is_dense(), "a 9,900-tick span exceeds a 128-tick window");
        assert_eq!(prices_best_first(&ladder), vec![100, 10_000]);
        let far = ladder.handle(10_000).expect("level exists");
        ladder.remove(far);
        let near_again = ladder.handle(100).expect("level exists");
        ladder.remove(near_again);
        assert_eq!(ladder.len(), 0);
        ladder.insert(5);
        assert!(ladder.is_dense(), "an emptied side starts dense again");
        assert_eq!(prices_best_first(&ladder), vec![5]);
    }

    #[test]
    fn the_dense_window_grows_both_ways_and_keeps_levels() {
        let mut ladder = Ladder::with_dense_limit(Side::Bid, 1 << 16);
        for price in [5_000, 1, 9_000, 4_000, 30_000] {
            ladder.insert(price);
            assert!(ladder.is_dense());
        }
        assert_eq!(prices_best_first(&ladder), vec![30_000, 9_000, 5_000, 4_000, 1]);
        assert_eq!(ladder.at(ladder.best_handle().expect("non-empty")).price, 30_000);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Any sequence of inserts and removals leaves the same levels, in the same order, as a
        /// sorted-set model, across window growth and dense/sparse switches.
        #[test]
        fn matches_a_sorted_set(
            ask in any::<bool>(),
            steps in proptest::collection::vec((any::<bool>(), 1i64..400), 1..200),
        ) {
            let side = if ask { Side::Ask } else { Side::Bid };
            let mut ladder = Ladder::with_dense_limit(side, 96);
            let mut model = BTreeSet::new();
            for (add, price) in steps {
                if add && !model.contains(&price) {
                    let handle = ladder.insert(price);
                    ladder.at_mut(handle).head = 0;
                    model.insert(price);
                } else if !add {
                    if let Some(&victim) = model.range(price..).next() {
                        let handle = ladder.handle(victim).expect("the model's level exists");
                        ladder.at_mut(handle).head = NIL;
                        ladder.remove(handle);
                        model.remove(&victim);
                    }
                }
                prop_assert_eq!(prices_best_first(&ladder), model_best_first(side, &model));
                prop_assert_eq!(ladder.len(), model.len());
                for &price in &model {
                    let handle = ladder.handle(price);
                    prop_assert!(handle.is_some_and(|handle| ladder.at(handle).price == price));
                }
            }
        }
    }
}
