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
    #[inline]
    pub fn find(&self, price: Price) -> Result<usize, usize> {
        let target = key(self.side, price);
        // Activity sits near the top of the book, which is the end of the vector: look there first.
        let len = self.levels.len();
        let scan = len.min(4);
        for offset in 1..=scan {
            let position = len - offset;
            let level_key = key(self.side, self.levels[position].price);
            if level_key == target {
                return Ok(position);
            }
            if level_key < target {
                return Err(position + 1);
            }
        }
        self.levels[..len - scan].binary_search_by_key(&target, |level| key(self.side, level.price))
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
