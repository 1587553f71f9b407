//! One side of a book: its price levels, sorted so that the best level is last.
//!
//! Levels are kept in a `Vec` ordered by a side-relative key (`price` for bids, `−price` for asks),
//! ascending, so the best price is at the end on both sides: taking the best level and dropping an
//! emptied one are O(1), and inserting or removing a level costs a move of the levels better than
//! it — few, because activity concentrates at the top of the book. Lookup is a binary search.

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

/// The side-relative sort key: larger is better.
#[inline]
pub(crate) fn key(side: Side, price: Price) -> i64 {
    match side {
        Side::Bid => price,
        Side::Ask => -price,
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Ladder {
    pub side: Side,
    pub levels: Vec<Level>,
}

impl Ladder {
    pub fn new(side: Side) -> Self {
        Ladder { side, levels: Vec::new() }
    }

    /// The position of the level at `price`, or where it would be inserted.
    ///
    /// Keys are distinct integers, so the level `d` ticks behind the best is at most `d` positions
    /// from the end: in a book with a level at every tick the first guess is exact. The guess is
    /// walked toward the top for a few steps and then refined by binary search, so a sparse book
    /// costs no more than a plain binary search.
    #[inline]
    pub fn find(&self, price: Price) -> Result<usize, usize> {
        let target = key(self.side, price);
        let len = self.levels.len();
        let Some(best) = self.levels.last() else { return Err(0) };
        let best_key = key(self.side, best.price);
        if target >= best_key {
            return if target == best_key { Ok(len - 1) } else { Err(len) };
        }
        let behind = usize::try_from(best_key - target).unwrap_or(usize::MAX);
        let mut position = len.saturating_sub(1 + behind.min(len));
        for _ in 0..4 {
            let level_key = key(self.side, self.levels[position].price);
            if level_key == target {
                return Ok(position);
            }
            if level_key > target {
                return Err(position);
            }
            position += 1;
        }
        match self.levels[position..].binary_search_by_key(&target, |level| key(self.side, level.price)) {
            Ok(offset) => Ok(position + offset),
            Err(offset) => Err(position + offset),
        }
    }

    #[inline]
    pub fn best(&self) -> Option<&Level> {
        self.levels.last()
    }

    /// Inserts an empty level at `position` (from [`Ladder::find`]).
    pub fn insert_empty(&mut self, position: usize, price: Price) {
        self.levels.insert(position, Level { price, total: 0, head: NIL, tail: NIL });
    }
}
