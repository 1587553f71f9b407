//! Order storage: a slab of order nodes linked into per-level FIFO queues, and an id → slot index.
//!
//! Order ids are issued densely (1, 2, 3, …), so the index is a window of slots over the id range
//! `[first_id, next_id)`: lookup, insert and remove are O(1). Ids at the front of the window whose
//! orders are gone are dropped as they die, so the window spans from the oldest live order (or the
//! oldest id not yet pruned) to the newest: 4 bytes per id in that span.

use std::collections::VecDeque;

use crate::types::{OrderId, OwnerId, Price, Qty, Side};

/// Marks "no slot": end of a queue, or an id whose order is gone.
pub(crate) const NIL: u32 = u32::MAX;

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
    index: VecDeque<u32>,
    first_id: OrderId,
    live: usize,
}

impl OrderStore {
    pub fn new() -> Self {
        OrderStore { nodes: Vec::new(), free: Vec::new(), index: VecDeque::new(), first_id: 1, live: 0 }
    }

    /// The id the next [`OrderStore::issue_id`] returns.
    pub fn next_id(&self) -> OrderId {
        self.first_id + self.index.len() as u64
    }

    /// Issues the next id, with no order behind it yet.
    pub fn issue_id(&mut self) -> OrderId {
        let id = self.next_id();
        if self.index.is_empty() {
            // Nothing older is pending, so the window can start at this id.
            self.first_id = id + 1;
        } else {
            self.index.push_back(NIL);
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
        if self.index.is_empty() && id + 1 == self.first_id {
            // `issue_id` advanced an empty window past this id; reopen it here.
            self.first_id = id;
            self.index.push_back(slot);
        } else {
            let offset = (id - self.first_id) as usize;
            self.index[offset] = slot;
        }
        self.live += 1;
        slot
    }

    /// Forgets a live order's slot (the caller has unlinked it from its level).
    pub fn remove(&mut self, slot: u32) {
        let id = self.nodes[slot as usize].id;
        let offset = (id - self.first_id) as usize;
        self.index[offset] = NIL;
        self.free.push(slot);
        self.live -= 1;
        while self.index.front() == Some(&NIL) {
            self.index.pop_front();
            self.first_id += 1;
        }
    }
}
