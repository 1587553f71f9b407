//! Order storage: a slab of order nodes linked into per-level FIFO queues, and an id → slot index.
//!
//! Order ids are issued densely (1, 2, 3, …), so the index is a plain vector of slots over the id
//! range `[first_id, next_id)`: lookup, insert and remove are an offset and one load, O(1) with no
//! hashing. Ids at the front of the window whose orders are gone are skipped as they die and
//! dropped in bulk once they make up half the vector (amortized O(1)), so the window spans from the
//! oldest live order (or the oldest id not yet dropped) to the newest: 4 bytes per id in that span.
//! Freed slab slots are reused last-freed first, so the slab stays as small as the book and the
//! slots in use stay warm in cache.

use crate::types::{OrderId, OwnerId, Price, Qty, Side};

/// Marks "no slot": end of a queue, or an id whose order is gone.
pub(crate) const NIL: u32 = u32::MAX;

/// Dead ids at the front of the index are dropped once there are this many and they are at least
/// half of it, so dropping them costs O(1) per id.
const MIN_DROP: usize = 1024;

#[derive(Clone, Debug)]
pub(crate) struct OrderNode {
    pub id: OrderId,
    pub owner: OwnerId,
    pub price: Price,
    pub quantity: Qty,
    pub prev: u32,
    pub next: u32,
    pub side: Side,
}

#[derive(Clone, Debug)]
pub(crate) struct OrderStore {
    pub nodes: Vec<OrderNode>,
    free: Vec<u32>,
    /// Slot of id `first_id + i` at `index[i]` (NIL when it has none); `index[..front]` are all NIL.
    index: Vec<u32>,
    front: usize,
    first_id: OrderId,
    live: usize,
}

impl OrderStore {
    pub fn new() -> Self {
        OrderStore { nodes: Vec::new(), free: Vec::new(), index: Vec::new(), front: 0, first_id: 1, live: 0 }
    }

    /// The id the next [`OrderStore::issue_id`] returns.
    #[inline]
    pub fn next_id(&self) -> OrderId {
        self.first_id + self.index.len() as u64
    }

    /// Issues the next id, with no order behind it yet.
    #[inline]
    pub fn issue_id(&mut self) -> OrderId {
        let id = self.next_id();
        if self.front == self.index.len() {
            // Nothing older is pending, so the window can start past this id.
            self.first_id = id + 1;
            self.index.clear();
            self.front = 0;
        } else {
            self.index.push(NIL);
        }
        id
    }

    pub fn live_count(&self) -> usize {
        self.live
    }

    /// The slot of a live order.
    #[inline]
    pub fn slot_of(&self, id: OrderId) -> Option<u32> {
        let offset = id.checked_sub(self.first_id)?;
        match self.index.get(usize::try_from(offset).ok()?) {
            Some(&slot) if slot != NIL => Some(slot),
            _ => None,
        }
    }

    /// Stores a new resting order under an id issued by [`OrderStore::issue_id`] (the newest id).
    #[inline(always)]
    pub fn insert(&mut self, node: OrderNode) -> u32 {
        let id = node.id;
        let slot = match self.free.pop() {
            Some(slot) => {
                self.nodes[slot as usize] = node;
                slot
            }
            None => {
                self.nodes.push(node);
                u32::try_from(self.nodes.len() - 1).expect("fewer than 2^32 resting orders")
            }
        };
        if id < self.first_id {
            // The window moved past this id while it was pending (nothing else was live): reopen it
            // here. Only the newest id can be pending, so the window is empty.
            self.first_id = id;
            self.index.clear();
            self.index.push(slot);
            self.front = 0;
        } else {
            let offset = (id - self.first_id) as usize;
            self.index[offset] = slot;
            // Makers removed while this id was pending may have moved `front` past it.
            self.front = self.front.min(offset);
        }
        self.live += 1;
        slot
    }

    /// Forgets a live order's slot (the caller has unlinked it from its level).
    #[inline(always)]
    pub fn remove(&mut self, slot: u32) {
        let id = self.nodes[slot as usize].id;
        let offset = (id - self.first_id) as usize;
        self.index[offset] = NIL;
        self.free.push(slot);
        self.live -= 1;
        if offset == self.front {
            self.skip_dead_front();
        }
    }

    /// Moves `front` past dead ids, dropping them from the vector once they are many.
    fn skip_dead_front(&mut self) {
        while self.index.get(self.front) == Some(&NIL) {
            self.front += 1;
        }
        if self.front >= MIN_DROP && self.front * 2 >= self.index.len() {
            self.index.drain(..self.front);
            self.first_id += self.front as u64;
            self.front = 0;
        }
    }
}
