//! Trigger orders (SPEC §6): an order held off the book until the mark or the last trade price
//! reaches its trigger price, then placed as the market or limit order it describes.
//!
//! Contract:
//! - The direction is fixed when the trigger is accepted: a trigger above the reference price fires
//!   when the reference rises to it or beyond, one below when it falls to it or below; one at the
//!   reference fires at once.
//! - Triggers are checked after every price update and after every order placement (which may have
//!   traded and moved the last price), in trigger-id order, until none fires; a fired order goes
//!   through every check of [`Engine::place_order`] at that moment (margin, reduce-only, filters).
//! - Trigger ids are their own sequence (1, 2, …), separate from the books' order ids.
//! - `cancel_all` cancels a subaccount's triggers too.

use super::*;

/// Which price a trigger watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TriggerBy {
    MarkPrice,
    LastPrice,
}

impl TriggerBy {
    /// The name Python sees (Backpack's spelling).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            TriggerBy::MarkPrice => "MarkPrice",
            TriggerBy::LastPrice => "LastPrice",
        }
    }
}

/// A trigger waiting to fire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PendingTrigger {
    pub trigger_id: u64,
    pub account: AccountId,
    pub market: usize,
    pub order: OrderCommand,
    pub trigger_price: Price,
    pub by: TriggerBy,
    /// Fires when the reference reaches the trigger price from below (else from above).
    pub rising: bool,
}

impl Engine {
    /// The price a trigger on `market` watches, if there is one yet.
    fn reference_price(&self, market: usize, by: TriggerBy) -> Option<Price> {
        match by {
            TriggerBy::MarkPrice => self.mark(market),
            TriggerBy::LastPrice => self.last_price[market],
        }
    }

    /// Accepts a trigger order; returns its trigger id, or the reason it was refused (also an
    /// `OrderRejected` event). A trigger already reached fires at once.
    ///
    /// # Errors
    /// Misuse, as for [`Engine::place_order`], or a non-positive trigger price.
    pub fn place_trigger_order(
        &mut self,
        account: AccountId,
        market: usize,
        order: &OrderCommand,
        trigger_price: Price,
        by: TriggerBy,
    ) -> Result<Result<u64, Reject>, ExchangeError> {
        self.check_account(account)?;
        self.check_market(market)?;
        trading::check_order_shape(order, self.perp_of_market[market].is_some())?;
        check_positive("trigger price", trigger_price)?;
        if self.is_liquidating(account) {
            self.emit(EventKind::OrderRejected {
                account,
                market,
                order_id: None,
                side: order.side,
                reason: Reject::Liquidating,
            });
            return Ok(Err(Reject::Liquidating));
        }
        let Some(reference) = self.reference_price(market, by) else {
            self.emit(EventKind::OrderRejected {
                account,
                market,
                order_id: None,
                side: order.side,
                reason: Reject::NoPrice,
            });
            return Ok(Err(Reject::NoPrice));
        };
        self.next_trigger_id += 1;
        let trigger_id = self.next_trigger_id;
        self.triggers.push(PendingTrigger {
            trigger_id,
            account,
            market,
            order: *order,
            trigger_price,
            by,
            rising: trigger_price > reference,
        });
        self.emit(EventKind::TriggerAccepted { account, market, trigger_id, side: order.side, trigger_price });
        self.fire_triggers()?;
        Ok(Ok(trigger_id))
    }

    /// Cancels a pending trigger: `Ok(true)` if cancelled, `Ok(false)` if it already fired or was
    /// cancelled.
    ///
    /// # Errors
    /// Unknown account, a trigger id never issued, or another subaccount's trigger.
    pub fn cancel_trigger(&mut self, account: AccountId, trigger_id: u64) -> Result<bool, ExchangeError> {
        self.check_account(account)?;
        if trigger_id == 0 || trigger_id > self.next_trigger_id {
            return Err(ExchangeError::InvalidRequest("no trigger with that id was ever issued"));
        }
        let Some(position) = self.triggers.iter().position(|trigger| trigger.trigger_id == trigger_id) else {
            return Ok(false);
        };
        let trigger = self.triggers[position];
        if trigger.account != account {
            return Err(ExchangeError::NotYourOrder {
                market: self.spec.markets[trigger.market].symbol.clone(),
                order_id: trigger_id,
            });
        }
        self.triggers.remove(position);
        self.emit(EventKind::TriggerCancelled { account, market: trigger.market, trigger_id });
        Ok(true)
    }

    /// Cancels every pending trigger of an account (in one market, or all); returns how many.
    pub(super) fn cancel_triggers_of(&mut self, account: AccountId, market: Option<usize>) -> usize {
        let mut cancelled = Vec::new();
        self.triggers.retain(|trigger| {
            let mine = trigger.account == account && market.is_none_or(|market| trigger.market == market);
            if mine {
                cancelled.push((trigger.market, trigger.trigger_id));
            }
            !mine
        });
        for &(market, trigger_id) in &cancelled {
            self.emit(EventKind::TriggerCancelled { account, market, trigger_id });
        }
        cancelled.len()
    }

    /// A subaccount's pending triggers, by id.
    ///
    /// # Errors
    /// Unknown account.
    pub fn pending_triggers(&self, account: AccountId) -> Result<Vec<PendingTrigger>, ExchangeError> {
        self.check_account(account)?;
        Ok(self.triggers.iter().filter(|trigger| trigger.account == account).copied().collect())
    }

    /// Fires every trigger whose price has been reached, in id order, until none is.
    pub(super) fn fire_triggers(&mut self) -> Result<(), ExchangeError> {
        if self.firing_triggers {
            return Ok(());
        }
        self.firing_triggers = true;
        let fired = self.fire_reached_triggers();
        self.firing_triggers = false;
        fired
    }

    fn fire_reached_triggers(&mut self) -> Result<(), ExchangeError> {
        loop {
            let reached = self.triggers.iter().position(|trigger| {
                self.reference_price(trigger.market, trigger.by).is_some_and(|reference| {
                    if trigger.rising {
                        reference >= trigger.trigger_price
                    } else {
                        reference <= trigger.trigger_price
                    }
                })
            });
            let Some(position) = reached else { return Ok(()) };
            let trigger = self.triggers.remove(position);
            self.emit(EventKind::Triggered {
                account: trigger.account,
                market: trigger.market,
                trigger_id: trigger.trigger_id,
            });
            self.place_order(trigger.account, trigger.market, &trigger.order)?;
        }
    }
}
