//! Engine tests on a small, fee-free or fee-bearing spec with exact expected numbers.

use super::test_specs::{asset, market, venue};
use super::*;
use crate::book::OrderStatus;
use crate::risk::Haircut;

const USDC: usize = 0;
const BTC: usize = 1;
const SOL: usize = 2;
const BTC_USDC: usize = 0;
const SOL_PERP: usize = 1;

fn decimal(text: &str) -> Decimal {
    Decimal::parse(text).unwrap()
}

/// USDC, BTC, SOL; BTC_USDC spot (tick 0.1, step 0.00001) and SOL_USDC_PERP (tick 0.01, step 0.01)
/// with the SPEC §2 functions; fees in e8 as given.
fn spec(maker_fee_e8: i64, taker_fee_e8: i64) -> EngineSpec {
    let fees = |market: MarketSpec| MarketSpec { maker_fee_e8, taker_fee_e8, ..market };
    EngineSpec {
        settlement_asset: USDC,
        assets: vec![
            asset("USDC", 6, Haircut::Identity),
            asset("BTC", 8, Haircut::InverseSqrt { base: 0.95, penalty: 0.00002 }),
            asset("SOL", 8, Haircut::InverseSqrt { base: 0.9, penalty: 0.0001 }),
        ],
        markets: vec![
            // 0.1 × 0.00001 BTC = 0.000001 USDC = 1 atom; 0.00001 BTC = 1000 sats.
            fees(MarketSpec {
                tick_size: decimal("0.1"),
                step_size: decimal("0.00001"),
                notional_per_tick_lot: 1,
                base_atoms_per_lot: 1000,
                ..market("BTC_USDC", MarketKind::Spot, BTC)
            }),
            // 0.01 × 0.01 SOL = 0.0001 USDC = 100 atoms; 0.01 SOL = 10^6 atoms.
            fees(market("SOL_USDC_PERP", MarketKind::Perp, SOL)),
        ],
        venue: venue(true),
    }
}

fn usdc(whole: i64) -> i64 {
    whole * 1_000_000
}

fn limit(side: Side, price: Price, quantity: Qty) -> OrderCommand {
    OrderCommand::limit(side, price, quantity)
}

fn market_order(side: Side, quantity: Qty) -> OrderCommand {
    OrderCommand {
        order_type: OrderType::Market,
        price: None,
        time_in_force: TimeInForce::Ioc,
        ..limit(side, 1, quantity)
    }
}

fn assert_balanced(engine: &Engine) {
    for (asset, audit) in engine.audit().iter().enumerate() {
        assert!(audit.balanced(), "asset {asset} does not reconcile: {audit:?}");
    }
}

/// An engine with SOL marked at 100 USDC and two funded traders, alice (taker side) and bob.
fn perp_engine(maker_fee_e8: i64, taker_fee_e8: i64) -> (Engine, AccountId, AccountId) {
    let mut engine = Engine::new(spec(maker_fee_e8, taker_fee_e8)).unwrap();
    let alice = engine.open_account("alice").unwrap();
    let bob = engine.open_account("bob").unwrap();
    engine.deposit(alice, USDC, usdc(10_000)).unwrap();
    engine.deposit(bob, USDC, usdc(1_000_000)).unwrap();
    engine.set_mark_price(SOL_PERP, 10_000).unwrap();
    (engine, alice, bob)
}

#[test]
fn spec_example_2_ratios_through_a_real_position() {
    let (mut engine, alice, bob) = perp_engine(0, 0);
    // 1,000 SOL at 100 USDC: N = 100,000 USDC (100,000 lots of 0.01 SOL at 10,000 ticks).
    engine.place_order(bob, SOL_PERP, &limit(Side::Ask, 10_000, 100_000)).unwrap();
    let outcome = engine.place_order(alice, SOL_PERP, &limit(Side::Bid, 10_000, 100_000)).unwrap();
    assert_eq!(outcome.book.filled, 100_000, "at 10x the order needs IM 10,000 = equity: exactly allowed");
    let at_10x = engine.margin(alice).unwrap();
    assert_eq!(at_10x.net_equity, usdc(10_000));
    assert_eq!(at_10x.initial_margin, usdc(10_000));
    assert!((at_10x.imr - 1.0).abs() < 1e-12);
    engine.set_max_leverage(alice, 50).unwrap();
    let at_50x = engine.margin(alice).unwrap();
    assert_eq!(at_50x.maintenance_margin, usdc(1_350));
    assert_eq!(at_50x.initial_margin, usdc(2_000));
    assert!((at_50x.mmr - 0.135).abs() < 1e-12);
    assert!((at_50x.imr - 0.20).abs() < 1e-12);
    assert_eq!(at_50x.available(), usdc(8_000));
    assert_balanced(&engine);
}

#[test]
fn an_order_that_would_take_imr_above_100_percent_is_rejected_as_an_event() {
    let (mut engine, alice, bob) = perp_engine(0, 0);
    engine.place_order(bob, SOL_PERP, &limit(Side::Ask, 10_000, 200_000)).unwrap();
    let before = engine.state_hash();
    let outcome = engine.place_order(alice, SOL_PERP, &limit(Side::Bid, 10_000, 100_001)).unwrap();
    assert_eq!(outcome.reject, Some(Reject::InsufficientMargin));
    assert_eq!(outcome.book.status, OrderStatus::Rejected);
    assert!(matches!(
        engine.events().last().unwrap().kind,
        EventKind::OrderRejected { reason: Reject::InsufficientMargin, .. }
    ));
    assert_eq!(engine.accounts().net_qty[0], 0);
    assert_ne!(engine.state_hash(), before, "the reject event advanced the sequence");
}

#[test]
fn reducing_orders_always_pass_the_margin_check() {
    let (mut engine, alice, bob) = perp_engine(0, 0);
    engine.place_order(bob, SOL_PERP, &limit(Side::Ask, 10_000, 100_000)).unwrap();
    engine.place_order(alice, SOL_PERP, &limit(Side::Bid, 10_000, 100_000)).unwrap();
    engine.set_mark_price(SOL_PERP, 9_500).unwrap();
    // Equity is now 5,000 against IM 9,500: no new exposure fits, but selling does.
    assert!(engine.margin(alice).unwrap().imr > 1.0);
    let outcome = engine.place_order(alice, SOL_PERP, &limit(Side::Ask, 9_500, 50_000)).unwrap();
    assert_eq!(outcome.reject, None);
    let more = engine.place_order(alice, SOL_PERP, &limit(Side::Bid, 9_000, 1)).unwrap();
    assert_eq!(more.reject, Some(Reject::InsufficientMargin));
}

#[test]
fn perp_fills_realize_pnl_through_the_clearing_account_and_charge_fees() {
    // maker 2 bp, taker 5 bp.
    let (mut engine, alice, bob) = perp_engine(20_000, 50_000);
    engine.place_order(bob, SOL_PERP, &limit(Side::Ask, 10_000, 1_000)).unwrap();
    engine.place_order(alice, SOL_PERP, &limit(Side::Bid, 10_000, 1_000)).unwrap();
    // 10 SOL at 100: notional 1,000 USDC; taker fee 0.5, maker fee 0.2.
    assert_eq!(engine.accounts().holding[0], usdc(10_000) - 500_000);
    assert_eq!(engine.venue().fees[USDC], 700_000);
    engine.set_mark_price(SOL_PERP, 11_000).unwrap();
    engine.place_order(bob, SOL_PERP, &limit(Side::Bid, 11_000, 400)).unwrap();
    engine.place_order(alice, SOL_PERP, &limit(Side::Ask, 11_000, 400)).unwrap();
    // Alice closes 4 of 10 SOL at 110: realized (110 − 100) × 4 = 40 USDC; taker fee on 440 = 0.22.
    let realized = usdc(40);
    assert_eq!(engine.accounts().holding[0], usdc(10_000) - 500_000 + realized - 220_000);
    assert_eq!(engine.accounts().net_qty[0], 600);
    assert_eq!(engine.accounts().net_cost[0], usdc(600));
    assert_eq!(engine.venue().pnl_clearing, -realized + usdc(40), "bob realized −40 closing his short");
    assert_balanced(&engine);
}

#[test]
fn spot_orders_lock_what_they_may_spend_and_fills_move_balances_exactly() {
    let mut engine = Engine::new(spec(20_000, 50_000)).unwrap();
    let buyer = engine.open_account("buyer").unwrap();
    let seller = engine.open_account("seller").unwrap();
    engine.deposit(buyer, USDC, usdc(2_000)).unwrap();
    engine.deposit(seller, BTC, 100_000_000).unwrap();
    engine.set_index_price(BTC, usdc(100_000)).unwrap();
    // Bid 0.01 BTC (1,000 lots) at 100,000 (1,000,000 ticks): notional 1,000 USDC, lock + 5 bp.
    let bid = engine.place_order(buyer, BTC_USDC, &limit(Side::Bid, 1_000_000, 1_000)).unwrap();
    assert_eq!(bid.book.status, OrderStatus::New);
    assert_eq!(engine.accounts().locked[engine.accounts().asset_slot(buyer, USDC)], usdc(1_000) + 500_000);
    let too_big = engine.place_order(buyer, BTC_USDC, &limit(Side::Bid, 1_000_000, 1_000)).unwrap();
    assert_eq!(too_big.reject, Some(Reject::InsufficientBalance));
    engine.place_order(seller, BTC_USDC, &limit(Side::Ask, 1_000_000, 1_000)).unwrap();
    let holding =
        |engine: &Engine, account, asset| engine.accounts().holding[engine.accounts().asset_slot(account, asset)];
    // The buyer was the maker (2 bp = 0.2 USDC), the seller the taker (5 bp = 0.5 USDC).
    assert_eq!(holding(&engine, buyer, USDC), usdc(2_000) - usdc(1_000) - 200_000);
    assert_eq!(holding(&engine, buyer, BTC), 1_000_000);
    assert_eq!(holding(&engine, seller, USDC), usdc(1_000) - 500_000);
    assert_eq!(holding(&engine, seller, BTC), 100_000_000 - 1_000_000);
    assert_eq!(engine.accounts().locked, vec![0; engine.accounts().locked.len()], "a filled order locks nothing");
    assert_eq!(engine.venue().fees[USDC], 700_000);
    assert_balanced(&engine);
}

#[test]
fn reduce_only_orders_are_clipped_to_the_position_and_shrink_with_it() {
    let (mut engine, alice, bob) = perp_engine(0, 0);
    engine.place_order(bob, SOL_PERP, &limit(Side::Ask, 10_000, 500)).unwrap();
    engine.place_order(alice, SOL_PERP, &limit(Side::Bid, 10_000, 500)).unwrap();
    let opening = engine
        .place_order(alice, SOL_PERP, &OrderCommand { reduce_only: true, ..limit(Side::Bid, 9_000, 10) })
        .unwrap();
    assert_eq!(opening.reject, Some(Reject::ReduceOnlyNotReducing));
    let clipped = engine
        .place_order(alice, SOL_PERP, &OrderCommand { reduce_only: true, ..limit(Side::Ask, 12_000, 800) })
        .unwrap();
    assert_eq!(clipped.book.remaining, 500, "clipped to the 500-lot position");
    // Alice sells 300 elsewhere: her resting reduce-only ask shrinks to the 200 left.
    engine.place_order(bob, SOL_PERP, &limit(Side::Bid, 10_000, 300)).unwrap();
    engine.place_order(alice, SOL_PERP, &limit(Side::Ask, 10_000, 300)).unwrap();
    assert_eq!(engine.book(SOL_PERP).order(clipped.book.order_id).unwrap().quantity, 200);
    assert_eq!(engine.accounts().open_asks[0], 200);
    assert!(engine.events().iter().any(|event| matches!(event.kind, EventKind::OrderAmended { quantity: 200, .. })));
}

#[test]
fn withdrawals_and_transfers_are_refused_when_margin_would_not_hold() {
    let (mut engine, alice, bob) = perp_engine(0, 0);
    let hedge = engine.open_subaccount("alice", "hedge").unwrap();
    engine.place_order(bob, SOL_PERP, &limit(Side::Ask, 10_000, 50_000)).unwrap();
    engine.place_order(alice, SOL_PERP, &limit(Side::Bid, 10_000, 50_000)).unwrap();
    // IM 5,000 of equity 10,000: 5,000 can leave, 5,000.000001 cannot.
    let before = engine.state_hash();
    assert!(matches!(engine.withdraw(alice, USDC, usdc(5_000) + 1), Err(ExchangeError::InsufficientMargin { .. })));
    assert!(matches!(
        engine.transfer(alice, hedge, USDC, usdc(5_000) + 1),
        Err(ExchangeError::InsufficientMargin { .. })
    ));
    assert_eq!(engine.state_hash(), before);
    engine.transfer(alice, hedge, USDC, usdc(5_000)).unwrap();
    assert!(matches!(engine.transfer(alice, bob, USDC, 1), Err(ExchangeError::DifferentOwners { .. })));
    assert!(matches!(engine.withdraw(hedge, USDC, usdc(5_001)), Err(ExchangeError::InsufficientBalance { .. })));
    assert_balanced(&engine);
}

#[test]
fn an_owner_has_a_main_subaccount_and_at_most_ten_more() {
    let mut engine = Engine::new(spec(0, 0)).unwrap();
    engine.open_account("carol").unwrap();
    for index in 0..10 {
        engine.open_subaccount("carol", &format!("sub{index}")).unwrap();
    }
    assert!(matches!(
        engine.open_subaccount("carol", "eleventh"),
        Err(ExchangeError::SubaccountLimit { limit: 10, .. })
    ));
    assert!(matches!(engine.open_subaccount("carol", "sub3"), Err(ExchangeError::DuplicateLabel { .. })));
    assert!(matches!(engine.open_account("carol"), Err(ExchangeError::OwnerExists(_))));
    assert!(matches!(engine.open_subaccount("dave", "x"), Err(ExchangeError::UnknownOwner(_))));
}

#[test]
fn self_trade_prevention_spans_an_owners_subaccounts() {
    let (mut engine, alice, _) = perp_engine(0, 0);
    let hedge = engine.open_subaccount("alice", "hedge").unwrap();
    engine.deposit(hedge, USDC, usdc(10_000)).unwrap();
    engine.place_order(hedge, SOL_PERP, &limit(Side::Ask, 10_000, 10)).unwrap();
    let outcome = engine.place_order(alice, SOL_PERP, &limit(Side::Bid, 10_000, 10)).unwrap();
    assert_eq!(outcome.reject, Some(Reject::Book(BookReason::SelfTradePrevention)));
    assert_eq!(outcome.book.filled, 0);
}

#[test]
fn cancelling_another_subaccounts_order_is_an_error_and_a_dead_id_is_false() {
    let (mut engine, alice, bob) = perp_engine(0, 0);
    let resting = engine.place_order(bob, SOL_PERP, &limit(Side::Ask, 10_500, 10)).unwrap();
    assert!(matches!(
        engine.cancel_order(alice, SOL_PERP, resting.book.order_id),
        Err(ExchangeError::NotYourOrder { .. })
    ));
    assert!(engine.cancel_order(bob, SOL_PERP, resting.book.order_id).unwrap());
    assert!(!engine.cancel_order(bob, SOL_PERP, resting.book.order_id).unwrap());
    assert!(matches!(engine.cancel_order(bob, SOL_PERP, 999), Err(ExchangeError::Book(BookError::UnknownOrder(..)))));
    assert_eq!(engine.accounts().open_asks[engine.accounts().perp_slot(bob, 0)], 0);
}

#[test]
fn limit_prices_outside_the_mark_band_are_rejected_and_market_orders_stop_at_the_impact_band() {
    let (mut engine, alice, bob) = perp_engine(0, 0);
    let far = engine.place_order(bob, SOL_PERP, &limit(Side::Ask, 20_001, 1)).unwrap();
    assert_eq!(far.reject, Some(Reject::Book(BookReason::PriceBand)));
    engine.place_order(bob, SOL_PERP, &limit(Side::Ask, 10_000, 10)).unwrap();
    engine.place_order(bob, SOL_PERP, &limit(Side::Ask, 10_600, 10)).unwrap();
    let sweep = engine.place_order(alice, SOL_PERP, &market_order(Side::Bid, 20)).unwrap();
    assert_eq!(sweep.book.filled, 10, "10,600 is beyond 10,000 × 1.05");
    assert_eq!(sweep.reject, Some(Reject::Book(BookReason::ImpactBand)));
}

#[test]
fn the_same_commands_give_the_same_state_hash() {
    let run = || {
        let (mut engine, alice, bob) = perp_engine(20_000, 50_000);
        engine.place_order(bob, SOL_PERP, &limit(Side::Ask, 10_000, 700)).unwrap();
        engine.place_order(alice, SOL_PERP, &limit(Side::Bid, 10_100, 300)).unwrap();
        engine.advance_to(1_000).unwrap();
        engine.set_mark_price(SOL_PERP, 10_050).unwrap();
        engine
    };
    let (first, second) = (run(), run());
    assert_eq!(first.state_hash(), second.state_hash());
    assert_eq!(first.events(), second.events());
    let mut third = run();
    third.deposit(0, USDC, 1).unwrap();
    assert_ne!(third.state_hash(), first.state_hash());
}

#[test]
fn time_only_moves_forward_and_bad_amounts_are_errors() {
    let (mut engine, alice, _) = perp_engine(0, 0);
    engine.advance_to(5_000).unwrap();
    assert!(matches!(engine.advance_to(4_999), Err(ExchangeError::TimeWentBack { .. })));
    assert!(matches!(engine.parse_amount(USDC, "1.0000001"), Err(ExchangeError::Decimal { .. })));
    assert!(matches!(engine.parse_amount(USDC, "-1"), Err(ExchangeError::NotPositive { .. })));
    assert!(matches!(engine.parse_price(SOL_PERP, "100.001"), Err(ExchangeError::Decimal { .. })));
    assert_eq!(engine.parse_quantity(SOL_PERP, "1.5").unwrap(), 150);
    assert!(matches!(engine.deposit(alice, USDC, 0), Err(ExchangeError::NotPositive { .. })));
    assert!(matches!(engine.set_max_leverage(alice, 51), Err(ExchangeError::InvalidLeverage { .. })));
    assert!(matches!(engine.set_max_leverage(alice, 0), Err(ExchangeError::InvalidLeverage { .. })));
}

#[test]
fn amending_a_spot_bid_relocks_for_its_new_size_and_price() {
    let mut engine = Engine::new(spec(20_000, 50_000)).unwrap();
    let buyer = engine.open_account("buyer").unwrap();
    engine.deposit(buyer, USDC, usdc(3_000)).unwrap();
    engine.set_index_price(BTC, usdc(100_000)).unwrap();
    let bid = engine.place_order(buyer, BTC_USDC, &limit(Side::Bid, 1_000_000, 1_000)).unwrap();
    let locked = |engine: &Engine| engine.accounts().locked[engine.accounts().asset_slot(buyer, USDC)];
    assert_eq!(locked(&engine), usdc(1_000) + 500_000);
    // Twice the size at 90,000: notional 1,800 plus 5 bp.
    assert_eq!(engine.amend_order(buyer, BTC_USDC, bid.book.order_id, Some(900_000), Some(2_000)).unwrap(), None);
    assert_eq!(locked(&engine), usdc(1_800) + 900_000);
    // 4,000 lots would need 3,601.8 USDC: refused, nothing changes.
    let before = (locked(&engine), engine.book(BTC_USDC).order(bid.book.order_id));
    let refused = engine.amend_order(buyer, BTC_USDC, bid.book.order_id, None, Some(4_000)).unwrap();
    assert_eq!(refused, Some(Reject::InsufficientBalance));
    assert_eq!((locked(&engine), engine.book(BTC_USDC).order(bid.book.order_id)), before);
    assert!(matches!(engine.events().last().unwrap().kind, EventKind::AmendRejected { .. }));
    engine.cancel_order(buyer, BTC_USDC, bid.book.order_id).unwrap();
    assert_eq!(locked(&engine), 0);
    assert_balanced(&engine);
}

#[test]
fn amending_a_perp_order_larger_is_margin_checked_and_smaller_always_passes() {
    let (mut engine, alice, _) = perp_engine(0, 0);
    // Equity 10,000 at 10x: 100,000 of notional fits, 100,001 does not.
    let bid = engine.place_order(alice, SOL_PERP, &limit(Side::Bid, 9_900, 50_000)).unwrap();
    let id = bid.book.order_id;
    assert_eq!(engine.amend_order(alice, SOL_PERP, id, None, Some(100_000)).unwrap(), None);
    assert_eq!(engine.accounts().open_bids[0], 100_000);
    assert_eq!(engine.amend_order(alice, SOL_PERP, id, None, Some(100_001)).unwrap(), Some(Reject::InsufficientMargin));
    assert_eq!(engine.amend_order(alice, SOL_PERP, id, None, Some(10)).unwrap(), None);
    assert_eq!(engine.accounts().open_bids[0], 10);
    assert_eq!(
        engine.amend_order(alice, SOL_PERP, id, Some(10_100), None).unwrap(),
        None,
        "no ask rests, so a higher bid does not cross"
    );
    assert_eq!(engine.book(SOL_PERP).order(id).unwrap().price, 10_100);
}

#[test]
fn amend_misuse_is_an_error_and_races_are_refusals() {
    let (mut engine, alice, bob) = perp_engine(0, 0);
    let ask = engine.place_order(bob, SOL_PERP, &limit(Side::Ask, 10_100, 10)).unwrap();
    let id = ask.book.order_id;
    assert!(matches!(
        engine.amend_order(alice, SOL_PERP, id, Some(10_200), None),
        Err(ExchangeError::NotYourOrder { .. })
    ));
    assert!(matches!(engine.amend_order(bob, SOL_PERP, id, None, None), Err(ExchangeError::InvalidOrder(_))));
    assert!(matches!(engine.amend_order(bob, SOL_PERP, id, Some(0), None), Err(ExchangeError::InvalidOrder(_))));
    assert!(matches!(engine.amend_order(bob, SOL_PERP, 99, Some(10_200), None), Err(ExchangeError::Book(_))));
    let crossing = engine.place_order(alice, SOL_PERP, &limit(Side::Bid, 10_000, 5)).unwrap();
    assert_eq!(
        engine.amend_order(alice, SOL_PERP, crossing.book.order_id, Some(10_100), None).unwrap(),
        Some(Reject::Book(BookReason::AmendWouldCross))
    );
    engine.cancel_order(bob, SOL_PERP, id).unwrap();
    assert_eq!(
        engine.amend_order(bob, SOL_PERP, id, Some(10_200), None).unwrap(),
        Some(Reject::Book(BookReason::OrderNotLive))
    );
}

#[test]
fn a_stop_loss_fires_when_the_mark_falls_to_it_and_closes_the_position() {
    let (mut engine, alice, bob) = perp_engine(0, 0);
    engine.place_order(bob, SOL_PERP, &limit(Side::Ask, 10_000, 100)).unwrap();
    engine.place_order(alice, SOL_PERP, &limit(Side::Bid, 10_000, 100)).unwrap();
    let stop = OrderCommand { reduce_only: true, ..market_order(Side::Ask, 100) };
    let trigger = engine.place_trigger_order(alice, SOL_PERP, &stop, 9_500, TriggerBy::MarkPrice).unwrap().unwrap();
    engine.place_order(bob, SOL_PERP, &limit(Side::Bid, 9_400, 100)).unwrap();
    engine.set_mark_price(SOL_PERP, 9_600).unwrap();
    assert_eq!(engine.pending_triggers(alice).unwrap().len(), 1, "9,600 is above the 9,500 trigger");
    engine.set_mark_price(SOL_PERP, 9_500).unwrap();
    assert!(engine.pending_triggers(alice).unwrap().is_empty());
    assert_eq!(engine.accounts().net_qty[0], 0, "the stop sold the whole position to bob's bid");
    assert!(engine
        .events()
        .iter()
        .any(|event| event.kind == EventKind::Triggered { account: alice, market: SOL_PERP, trigger_id: trigger }));
    assert_balanced(&engine);
}

#[test]
fn a_last_price_trigger_above_the_market_fires_on_a_trade_at_or_above_it() {
    let (mut engine, alice, bob) = perp_engine(0, 0);
    engine.place_order(bob, SOL_PERP, &limit(Side::Ask, 10_000, 10)).unwrap();
    engine.place_order(alice, SOL_PERP, &limit(Side::Bid, 10_000, 10)).unwrap();
    let breakout = limit(Side::Bid, 10_300, 5);
    engine.place_trigger_order(alice, SOL_PERP, &breakout, 10_200, TriggerBy::LastPrice).unwrap().unwrap();
    let carol = engine.open_account("carol").unwrap();
    engine.deposit(carol, USDC, usdc(100_000)).unwrap();
    engine.place_order(bob, SOL_PERP, &limit(Side::Ask, 10_200, 1)).unwrap();
    assert_eq!(engine.pending_triggers(alice).unwrap().len(), 1);
    engine.place_order(carol, SOL_PERP, &limit(Side::Bid, 10_200, 1)).unwrap();
    assert!(engine.pending_triggers(alice).unwrap().is_empty(), "the trade at 10,200 fired it");
    let resting: Vec<_> = engine.open_orders(alice).unwrap();
    assert_eq!(resting.len(), 1);
    assert_eq!((resting[0].side, resting[0].price, resting[0].remaining), (Side::Bid, 10_300, 5));
}

#[test]
fn triggers_are_cancelled_one_by_one_or_with_cancel_all_and_need_a_price() {
    let mut engine = Engine::new(spec(0, 0)).unwrap();
    let alice = engine.open_account("alice").unwrap();
    let bob = engine.open_account("bob").unwrap();
    let refused =
        engine.place_trigger_order(alice, SOL_PERP, &market_order(Side::Bid, 1), 10_000, TriggerBy::LastPrice);
    assert_eq!(refused.unwrap(), Err(Reject::NoPrice));
    engine.set_mark_price(SOL_PERP, 10_000).unwrap();
    let first = engine.place_trigger_order(alice, SOL_PERP, &market_order(Side::Bid, 1), 11_000, TriggerBy::MarkPrice);
    let first = first.unwrap().unwrap();
    engine
        .place_trigger_order(alice, SOL_PERP, &market_order(Side::Bid, 1), 12_000, TriggerBy::MarkPrice)
        .unwrap()
        .unwrap();
    assert!(matches!(engine.cancel_trigger(bob, first), Err(ExchangeError::NotYourOrder { .. })));
    assert!(engine.cancel_trigger(alice, first).unwrap());
    assert!(!engine.cancel_trigger(alice, first).unwrap());
    assert!(matches!(engine.cancel_trigger(alice, 99), Err(ExchangeError::InvalidRequest(_))));
    assert_eq!(engine.cancel_all(alice, None).unwrap(), 1);
    assert!(engine.pending_triggers(alice).unwrap().is_empty());
}

/// 10% APR for one hour, in 1e-18 per interval, rounded up (against the borrower).
const TEN_PERCENT_HOURLY_E18: u128 = 11_415_525_114_156;

/// A lender with 10,000 USDC in the pool and a borrower holding 1 BTC at 100,000 USDC.
fn lending_engine() -> (Engine, AccountId, AccountId) {
    let mut engine = Engine::new(spec(0, 0)).unwrap();
    let lender = engine.open_account("lender").unwrap();
    let borrower = engine.open_account("borrower").unwrap();
    engine.deposit(lender, USDC, usdc(10_000)).unwrap();
    engine.lend(lender, USDC, usdc(10_000)).unwrap();
    engine.deposit(borrower, BTC, 100_000_000).unwrap();
    engine.set_index_price(BTC, usdc(100_000)).unwrap();
    (engine, lender, borrower)
}

#[test]
fn spec_example_4_an_hour_of_10_percent_on_2000_usdc_costs_22832_atoms() {
    let (mut engine, lender, borrower) = lending_engine();
    engine.borrow(borrower, USDC, usdc(2_000), 0).unwrap();
    assert_eq!(engine.borrowed_amount(borrower, USDC), usdc(2_000));
    engine.accrue_interest(USDC, TEN_PERCENT_HOURLY_E18, INDEX_ONE * 9 / 10).unwrap();
    assert_eq!(engine.borrowed_amount(borrower, USDC), usdc(2_000) + 22_832);
    // Lenders get 90% of it, rounded down; the venue the rest.
    assert_eq!(engine.lent_amount(lender, USDC), usdc(10_000) + 20_548);
    let audit = engine.audit()[USDC];
    assert_eq!(audit.lending_income, 22_832 - 20_548);
    assert!(audit.balanced());
}

#[test]
fn spec_example_4_borrowing_at_12_50_pays_an_entry_fee_of_3806_atoms() {
    let (mut engine, _, borrower) = lending_engine();
    engine.advance_to(12 * 3_600_000 + 50 * 60_000).unwrap();
    engine.borrow(borrower, USDC, usdc(2_000), TEN_PERCENT_HOURLY_E18).unwrap();
    assert!(matches!(
        engine.events().last().unwrap().kind,
        EventKind::Borrow { entry_fee: 3_806, amount: 2_000_000_000, .. }
    ));
    assert_eq!(engine.borrowed_amount(borrower, USDC), usdc(2_000) + 3_806);
    assert_eq!(engine.accounts().free(borrower, USDC), usdc(2_000));
    assert!(engine.audit()[USDC].balanced());
}

#[test]
fn repaying_and_redeeming_return_everything_and_leave_the_venue_the_dust() {
    let (mut engine, lender, borrower) = lending_engine();
    engine.borrow(borrower, USDC, usdc(2_000), TEN_PERCENT_HOURLY_E18).unwrap();
    for _ in 0..24 {
        engine.accrue_interest(USDC, TEN_PERCENT_HOURLY_E18, INDEX_ONE * 9 / 10).unwrap();
    }
    let owed = engine.borrowed_amount(borrower, USDC);
    engine.deposit(borrower, USDC, owed - usdc(2_000)).unwrap();
    assert_eq!(engine.repay(borrower, USDC, owed + 1).unwrap(), owed, "repaying more repays the debt");
    assert_eq!(engine.borrowed_amount(borrower, USDC), 0);
    let claim = engine.lent_amount(lender, USDC);
    assert!(claim > usdc(10_000));
    engine.redeem(lender, USDC, claim, true).unwrap();
    assert_eq!(engine.lent_amount(lender, USDC), 0);
    let audit = engine.audit()[USDC];
    assert_eq!(audit.pool_cash, audit.lending_income, "all that is left in the pool is the venue's");
    assert!(audit.lending_income > 0 && audit.balanced());
}

#[test]
fn throttled_or_empty_pools_refuse_borrows_and_voluntary_redemptions() {
    let (mut engine, lender, borrower) = lending_engine();
    assert!(matches!(
        engine.borrow(borrower, USDC, usdc(9_300), 0),
        Err(ExchangeError::LendingRefused { reason, .. }) if reason.contains("throttled")
    ));
    engine.borrow(borrower, USDC, usdc(9_200), 0).unwrap();
    let before = engine.state_hash();
    assert!(matches!(engine.redeem(lender, USDC, usdc(1), true), Err(ExchangeError::LendingRefused { .. })));
    assert!(matches!(engine.withdraw(lender, USDC, usdc(1)), Err(ExchangeError::LendingRefused { .. })));
    assert!(matches!(engine.redeem(lender, USDC, usdc(801), false), Err(ExchangeError::LendingRefused { .. })));
    assert_eq!(engine.state_hash(), before);
    engine.redeem(lender, USDC, usdc(800), false).unwrap();
    assert_eq!(engine.pools()[USDC].cash, 0);
}

#[test]
fn lends_count_as_collateral_and_borrows_as_liabilities_in_margin() {
    let (mut engine, lender, borrower) = lending_engine();
    assert_eq!(engine.margin(lender).unwrap().collateral, usdc(10_000));
    let before = engine.margin(borrower).unwrap();
    engine.borrow(borrower, USDC, usdc(2_000), 0).unwrap();
    let after = engine.margin(borrower).unwrap();
    assert_eq!(after.liabilities, usdc(2_000));
    assert_eq!(after.collateral, before.collateral + usdc(2_000));
    assert!(after.initial_margin > 0);
    let scan = engine.scan().unwrap();
    assert_eq!(scan.net_equity[borrower as usize], after.net_equity);
    assert_eq!(scan.initial_margin[borrower as usize], after.initial_margin);
}

#[test]
fn a_withdrawal_beyond_the_free_balance_redeems_the_rest() {
    let (mut engine, lender, _) = lending_engine();
    engine.withdraw(lender, USDC, usdc(4_000)).unwrap();
    assert_eq!(engine.lent_amount(lender, USDC), usdc(6_000));
    assert!(matches!(engine.withdraw(lender, USDC, usdc(6_000) + 1), Err(ExchangeError::InsufficientBalance { .. })));
    assert!(engine.audit().iter().all(AssetAudit::balanced));
}

/// SPEC §12 example 7's subaccount: 100 USDC free and 150 lent, 1 BTC at 100,000, in a pool with
/// another lender's 1,000 USDC of cash.
fn owing_engine(auto_borrow: bool) -> (Engine, AccountId) {
    let mut engine = Engine::new(spec(0, 0)).unwrap();
    let other = engine.open_account("other").unwrap();
    engine.deposit(other, USDC, usdc(1_000)).unwrap();
    engine.lend(other, USDC, usdc(1_000)).unwrap();
    let owing = engine.open_account("owing").unwrap();
    engine.deposit(owing, USDC, usdc(250)).unwrap();
    engine.lend(owing, USDC, usdc(150)).unwrap();
    engine.deposit(owing, BTC, 100_000_000).unwrap();
    engine.set_index_price(BTC, usdc(100_000)).unwrap();
    engine.set_setting(owing, Setting::AutoBorrowSettlements, auto_borrow).unwrap();
    (engine, owing)
}

#[test]
fn spec_example_7_paying_300_takes_free_then_lends_then_a_borrow() {
    let (mut engine, owing) = owing_engine(true);
    engine.pay(owing, usdc(300));
    engine.venue.fees[USDC] += usdc(300); // the payee of this test's settlement
    let usdc_balance = engine.balances(owing).unwrap()[USDC];
    assert_eq!((usdc_balance.free, usdc_balance.lent, usdc_balance.borrowed), (0, 0, usdc(50)));
    assert_eq!(engine.accounts().holding[engine.accounts().asset_slot(owing, BTC)], 100_000_000, "no conversion");
    assert!(engine.audit().iter().all(AssetAudit::balanced));
}

#[test]
fn spec_example_7_without_borrowing_converts_50_usdc_of_collateral_at_the_discount() {
    let (mut engine, owing) = owing_engine(false);
    engine.pay(owing, usdc(300));
    engine.venue.fees[USDC] += usdc(300); // the payee of this test's settlement
                                          // 50 USDC at 100,000 × 0.995 per BTC: 50,252 sats (rounded up), raising 50.00074 USDC.
    let btc = engine.accounts().holding[engine.accounts().asset_slot(owing, BTC)];
    assert_eq!(btc, 100_000_000 - 50_252);
    let usdc_balance = engine.balances(owing).unwrap()[USDC];
    assert_eq!((usdc_balance.free, usdc_balance.lent, usdc_balance.borrowed), (740, 0, 0));
    assert!(engine
        .events()
        .iter()
        .any(|event| event.kind
            == EventKind::Conversion { account: owing, asset: BTC, sold: 50_252, raised: 50_000_740 }));
    assert!(engine.audit().iter().all(AssetAudit::balanced));
}

#[test]
fn realizing_pnl_moves_it_into_usdc_and_resets_the_cost_basis() {
    let (mut engine, alice, bob) = perp_engine(0, 0);
    engine.place_order(bob, SOL_PERP, &limit(Side::Ask, 10_000, 1_000)).unwrap();
    engine.place_order(alice, SOL_PERP, &limit(Side::Bid, 10_000, 1_000)).unwrap();
    engine.set_mark_price(SOL_PERP, 10_500).unwrap();
    engine.realize_pnl();
    // Alice is long 10 SOL: +50 USDC; bob short: −50, paid from his free balance.
    let holding = |engine: &Engine, account| engine.accounts().holding[engine.accounts().asset_slot(account, USDC)];
    assert_eq!(holding(&engine, alice), usdc(10_050));
    assert_eq!(holding(&engine, bob), usdc(1_000_000) - usdc(50));
    assert_eq!(engine.accounts().net_cost[0], usdc(1_050));
    assert_eq!(engine.accounts().net_qty[0], 1_000, "sizes do not change");
    assert_eq!(engine.venue().pnl_clearing, 0, "every position realized at one mark");
    assert_eq!(engine.margin(alice).unwrap().unrealized_pnl, 0);
    assert!(engine.audit().iter().all(AssetAudit::balanced));
}

#[test]
fn funding_moves_from_longs_to_shorts_rounding_against_both_with_the_dust_to_the_venue() {
    let (mut engine, alice, bob) = perp_engine(0, 0);
    engine.place_order(bob, SOL_PERP, &limit(Side::Ask, 10_000, 1_000)).unwrap();
    engine.place_order(alice, SOL_PERP, &limit(Side::Bid, 10_000, 1_000)).unwrap();
    let holding = |engine: &Engine, account| engine.accounts().holding[engine.accounts().asset_slot(account, USDC)];
    let before = (holding(&engine, alice), holding(&engine, bob));
    // 1,000 USDC of notional at 1/30,000 per interval: 33,333.33 atoms.
    engine.pay_funding(SOL_PERP, 33_333_333_333_333).unwrap();
    assert_eq!(holding(&engine, alice), before.0 - 33_334, "the long pays, rounded up");
    assert_eq!(holding(&engine, bob), before.1 + 33_333, "the short receives, rounded down");
    assert_eq!(engine.venue().fees[USDC], 1, "the atom of dust goes to the venue");
    engine.pay_funding(SOL_PERP, -100_000_000_000_000).unwrap();
    assert_eq!(holding(&engine, alice), before.0 - 33_334 + 100_000, "a negative rate pays the longs");
    assert!(engine.audit().iter().all(AssetAudit::balanced));
}

#[test]
fn the_premium_is_the_mean_of_mid_against_index_over_price_updates() {
    let (mut engine, alice, bob) = perp_engine(0, 0);
    engine.place_order(bob, SOL_PERP, &limit(Side::Ask, 10_100, 1)).unwrap();
    engine.place_order(alice, SOL_PERP, &limit(Side::Bid, 9_900, 1)).unwrap();
    assert!(engine.funding_premium(SOL_PERP).abs() < f64::EPSILON, "no index, no sample");
    engine.set_index_price(SOL, usdc(100)).unwrap(); // mid 100 = index: premium 0
    engine.set_index_price(SOL, usdc(80)).unwrap(); // mid 100 against 80: premium 0.25
    assert!((engine.funding_premium(SOL_PERP) - 0.125).abs() < 1e-12);
    engine.pay_funding(SOL_PERP, 0).unwrap();
    assert!(engine.funding_premium(SOL_PERP).abs() < f64::EPSILON, "a payment resets the samples");
}

#[test]
fn spec_example_6_a_spot_buy_with_auto_borrow_borrows_its_shortfall() {
    let (mut engine, _, _) = lending_engine();
    let buyer = engine.open_account("buyer").unwrap();
    let seller = engine.open_account("seller").unwrap();
    engine.deposit(buyer, USDC, usdc(1_000)).unwrap();
    engine.deposit(seller, BTC, 100_000_000).unwrap();
    engine.place_order(seller, BTC_USDC, &limit(Side::Ask, 1_000_000, 2_000)).unwrap();
    // 2,000 USDC of BTC (0.02 BTC at 100,000) with 1,000 USDC free.
    let plain = engine.place_order(buyer, BTC_USDC, &limit(Side::Bid, 1_000_000, 2_000)).unwrap();
    assert_eq!(plain.reject, Some(Reject::InsufficientBalance));
    let margin_buy = OrderCommand { auto_borrow: true, ..limit(Side::Bid, 1_000_000, 2_000) };
    let outcome = engine.place_order(buyer, BTC_USDC, &margin_buy).unwrap();
    assert_eq!(outcome.book.filled, 2_000);
    let balance = engine.balances(buyer).unwrap();
    assert_eq!((balance[USDC].free, balance[USDC].borrowed), (0, usdc(1_000)));
    assert_eq!(balance[BTC].free, 2_000_000);
    assert!(engine.audit().iter().all(AssetAudit::balanced));
}

#[test]
fn a_spot_margin_order_beyond_margin_or_the_pool_is_rejected() {
    let (mut engine, _, _) = lending_engine();
    let buyer = engine.open_account("buyer").unwrap();
    engine.deposit(buyer, USDC, usdc(100)).unwrap();
    // 0.09 BTC (9,000 USDC) on 100 USDC: 8,550 of haircut collateral against 8,900 borrowed.
    let too_big = OrderCommand { auto_borrow: true, ..limit(Side::Bid, 1_000_000, 9_000) };
    assert_eq!(engine.place_order(buyer, BTC_USDC, &too_big).unwrap().reject, Some(Reject::InsufficientMargin));
    // More than the pool holds: 20,000 USDC of BTC.
    engine.deposit(buyer, BTC, 100_000_000).unwrap();
    let beyond_pool = OrderCommand { auto_borrow: true, ..limit(Side::Bid, 1_000_000, 20_000) };
    assert_eq!(engine.place_order(buyer, BTC_USDC, &beyond_pool).unwrap().reject, Some(Reject::InsufficientBalance));
    let perp = OrderCommand { auto_borrow: true, ..limit(Side::Bid, 10_000, 1) };
    assert!(matches!(engine.place_order(buyer, SOL_PERP, &perp), Err(ExchangeError::InvalidOrder(_))));
}

#[test]
fn at_full_utilization_a_settlement_still_completes_through_conversion() {
    let (mut engine, owing) = owing_engine(true);
    // Drain the pool: another account's settlement borrows all its cash.
    let drainer = engine.open_account("drainer").unwrap();
    engine.deposit(drainer, BTC, 100_000_000).unwrap();
    let cash = engine.pools()[USDC].cash_atoms();
    engine.borrow_unchecked(drainer, USDC, cash).unwrap();
    assert_eq!(engine.pools()[USDC].cash, 0);
    assert!(matches!(engine.redeem(owing, USDC, 1, true), Err(ExchangeError::LendingRefused { .. })));
    engine.pay(owing, usdc(300));
    engine.venue.fees[USDC] += usdc(300);
    // Its lends could not be redeemed nor anything borrowed: 200 USDC of BTC was converted.
    let balance = engine.balances(owing).unwrap()[USDC];
    assert_eq!((balance.lent, balance.borrowed), (usdc(150), 0));
    assert!(engine
        .events()
        .iter()
        .any(|event| matches!(event.kind, EventKind::Conversion { account, .. } if account == owing)));
    assert!(engine.audit().iter().all(AssetAudit::balanced));
}

#[test]
fn a_spot_order_redeems_lends_to_lock_once_the_book_accepts_it() {
    let mut engine = Engine::new(spec(0, 0)).unwrap();
    let buyer = engine.open_account("buyer").unwrap();
    engine.deposit(buyer, USDC, usdc(1_000)).unwrap();
    engine.lend(buyer, USDC, usdc(800)).unwrap();
    engine.set_index_price(BTC, usdc(100_000)).unwrap();
    // A price outside the band is rejected by the book: nothing is redeemed.
    let banded = engine.place_order(buyer, BTC_USDC, &limit(Side::Bid, 3_000_000, 5)).unwrap();
    assert_eq!(banded.reject, Some(Reject::Book(BookReason::PriceBand)));
    assert_eq!(engine.lent_amount(buyer, USDC), usdc(800));
    // 0.009 BTC at 100,000 = 900 USDC: 200 free, 700 redeemed, all locked.
    let bid = engine.place_order(buyer, BTC_USDC, &limit(Side::Bid, 1_000_000, 900)).unwrap();
    assert_eq!(bid.book.status, OrderStatus::New);
    assert_eq!(engine.lent_amount(buyer, USDC), usdc(100));
    assert_eq!(engine.accounts().locked[engine.accounts().asset_slot(buyer, USDC)], usdc(900));
    assert!(engine.audit().iter().all(AssetAudit::balanced));
}

#[test]
fn an_open_borrow_lend_limit_stops_new_lends_and_borrows_past_it() {
    let mut capped = spec(0, 0);
    capped.assets[USDC].open_borrow_lend_limit = Some(usdc(1_500));
    let mut engine = Engine::new(capped).unwrap();
    let lender = engine.open_account("lender").unwrap();
    let borrower = engine.open_account("borrower").unwrap();
    engine.deposit(lender, USDC, usdc(2_000)).unwrap();
    engine.lend(lender, USDC, usdc(1_500)).unwrap();
    let before = engine.state_hash();
    assert!(matches!(
        engine.lend(lender, USDC, 1),
        Err(ExchangeError::LendingRefused { reason, .. }) if reason.contains("limit")
    ));
    assert_eq!(engine.state_hash(), before);
    engine.deposit(borrower, BTC, 100_000_000).unwrap();
    engine.set_index_price(BTC, usdc(100_000)).unwrap();
    engine.borrow(borrower, USDC, usdc(1_000), 0).unwrap();
    assert_eq!(engine.borrowed_amount(borrower, USDC), usdc(1_000));
}

// ----- liquidation ------------------------------------------------------------------------------

#[test]
fn adl_closes_a_bankrupt_long_at_the_price_that_leaves_it_exactly_zero() {
    let (mut engine, alice, bob) = perp_engine(0, 0);
    let carol = engine.open_account("carol").unwrap();
    engine.deposit(carol, USDC, usdc(100_000)).unwrap();
    engine.set_max_leverage(alice, 50).unwrap();
    // alice buys 1,000 SOL at 100: 600 from bob, 400 from carol.
    engine.place_order(bob, SOL_PERP, &limit(Side::Ask, 10_000, 60_000)).unwrap();
    engine.place_order(carol, SOL_PERP, &limit(Side::Ask, 10_000, 40_000)).unwrap();
    engine.place_order(alice, SOL_PERP, &limit(Side::Bid, 10_000, 100_000)).unwrap();
    // At 85 alice has lost 15,000 of her 10,000: equity -5,000.
    engine.set_mark_price(SOL_PERP, 8_500).unwrap();
    assert_eq!(engine.liquidatable(), &[alice]);
    assert_eq!(engine.margin(alice).unwrap().net_equity, usdc(-5_000));
    assert!(engine.start_liquidation(alice).unwrap());
    let order = engine.place_order(alice, SOL_PERP, &limit(Side::Bid, 8_500, 1)).unwrap();
    assert_eq!(order.reject, Some(Reject::Liquidating));
    assert_eq!(engine.auto_deleverage(alice).unwrap(), 100_000);
    // The shorts buy back 1,000 SOL for 85,000 + 5,000 = 90,000 USDC (90 a SOL), split 600:400.
    let margin = engine.margin(alice).unwrap();
    assert_eq!((margin.net_equity, margin.maintenance_margin), (0, 0));
    let positions: Vec<Qty> =
        [alice, bob, carol].iter().map(|&account| engine.accounts.net_qty[account as usize]).collect();
    assert_eq!(positions, vec![0, 0, 0]);
    let adl: Vec<(Option<AccountId>, i64, i64)> = engine
        .events()
        .iter()
        .filter_map(|event| match event.kind {
            EventKind::Liquidation(step) if step.stage == LiquidationStage::Adl => {
                Some((step.counterparty, step.quantity, step.notional))
            }
            _ => None,
        })
        .collect();
    // Equal PnL% and leverage ranks by notional / equity: bob's 60,000 short on 1,000,000 equity
    // against carol's 40,000 on 100,000, so carol (more levered) goes first.
    assert_eq!(adl, vec![(Some(carol), 40_000, usdc(36_000)), (Some(bob), 60_000, usdc(54_000))]);
    // Each short gave up 5 a SOL of its gain at the mark (15): bob keeps 6,000, carol 4,000.
    assert_eq!(engine.margin(bob).unwrap().net_equity, usdc(1_000_000 + 6_000));
    assert_eq!(engine.margin(carol).unwrap().net_equity, usdc(100_000 + 4_000));
    assert_balanced(&engine);
}

#[test]
fn a_bankrupt_borrowers_lenders_are_paid_in_notional_and_the_rest_is_socialized() {
    let mut engine = Engine::new(spec(0, 0)).unwrap();
    let lenders = [engine.open_account("l1").unwrap(), engine.open_account("l2").unwrap()];
    let borrower = engine.open_account("borrower").unwrap();
    engine.set_index_price(BTC, usdc(100_000)).unwrap();
    for (lender, btc) in lenders.into_iter().zip([3, 1]) {
        engine.deposit(lender, BTC, btc * 100_000_000).unwrap();
        engine.lend(lender, BTC, btc * 100_000_000).unwrap();
    }
    engine.deposit(borrower, USDC, usdc(120_000)).unwrap();
    engine.borrow(borrower, BTC, 100_000_000, 0).unwrap();
    engine.withdraw(borrower, BTC, 100_000_000).unwrap();
    // BTC at 125,000: the borrower owes 125,000 USDC of value and has 120,000.
    engine.set_index_price(BTC, usdc(125_000)).unwrap();
    assert_eq!(engine.margin(borrower).unwrap().net_equity, usdc(-5_000));
    engine.start_liquidation(borrower).unwrap();
    engine.settle_liquidation_debts(borrower).unwrap();
    assert_eq!(engine.borrowed_amount(borrower, BTC), 0);
    assert_eq!(engine.margin(borrower).unwrap().net_equity, 0);
    // Lenders 3:1 get 120,000 USDC and lose 1 BTC of claims; the other 5,000 is socialized.
    let paid: Vec<i64> = lenders.iter().map(|&lender| engine.balances(lender).unwrap()[USDC].free).collect();
    assert_eq!(paid, vec![usdc(90_000), usdc(30_000)]);
    let lent: Vec<i64> = lenders.iter().map(|&lender| engine.lent_amount(lender, BTC)).collect();
    assert_eq!(lent, vec![225_000_000, 75_000_000]);
    let stages: Vec<(LiquidationStage, i64)> = engine
        .events()
        .iter()
        .filter_map(|event| match event.kind {
            EventKind::Liquidation(step) if step.asset == Some(BTC) => Some((step.stage, step.notional)),
            _ => None,
        })
        .collect();
    assert_eq!(
        stages,
        vec![(LiquidationStage::LenderPayout, usdc(120_000)), (LiquidationStage::SocializedLoss, usdc(5_000))]
    );
    assert_balanced(&engine);
}

#[test]
fn a_backstop_provider_takes_what_its_capacity_and_margin_allow_at_the_mark_and_earns_the_fee() {
    let (mut engine, alice, bob) = perp_engine(0, 0);
    let provider = engine.open_account("provider").unwrap();
    engine.deposit(provider, USDC, usdc(3_000)).unwrap();
    engine.set_max_leverage(alice, 50).unwrap();
    engine.place_order(bob, SOL_PERP, &limit(Side::Ask, 10_000, 100_000)).unwrap();
    engine.place_order(alice, SOL_PERP, &limit(Side::Bid, 10_000, 100_000)).unwrap();
    engine.register_backstop_provider(provider, &[SOL_PERP], usdc(50_000)).unwrap();
    assert!(engine.register_backstop_provider(provider, &[BTC_USDC], usdc(1)).is_err());
    assert!(engine.register_backstop_provider(provider, &[SOL_PERP], 0).is_err());
    engine.set_mark_price(SOL_PERP, 9_200).unwrap();
    engine.start_liquidation(alice).unwrap();
    let transferred = engine.liquidate_to_backstop(alice, 1_000_000).unwrap();
    // At 10x the provider's 3,000 carries 30,000 of notional: 326.08 SOL at 92 (29,999.36 USDC).
    assert_eq!(transferred, 29_999_360_000);
    assert_eq!(engine.accounts.net_qty[provider as usize], 32_608);
    assert_eq!(engine.accounts.net_qty[alice as usize], 100_000 - 32_608);
    // 1% of the notional moves from alice to the provider.
    assert_eq!(engine.balances(provider).unwrap()[USDC].free, usdc(3_000) + 299_993_600);
    assert_eq!(engine.backstop_providers()[0].capacity, usdc(50_000) - 29_999_360_000);
    assert_balanced(&engine);
}

#[test]
fn a_write_off_of_everything_lent_retires_the_lenders_shares_and_the_pool_takes_new_lends() {
    let (mut engine, lender, borrower) = lending_engine();
    engine.borrow(borrower, USDC, usdc(9_200), 0).unwrap();
    engine.withdraw(borrower, USDC, usdc(9_200)).unwrap();
    engine.redeem(lender, USDC, usdc(800), false).unwrap();
    assert_eq!(engine.pools()[USDC].cash, 0);
    // BTC falls to one atom of USDC: the borrower's collateral raises nothing against its 9,200 USDC
    // debt, and nothing else (no fund, no fee account) stands behind it.
    engine.set_index_price(BTC, 1).unwrap();
    engine.start_liquidation(borrower).unwrap();
    engine.settle_liquidation_debts(borrower).unwrap();
    assert_eq!(engine.borrowed_amount(borrower, USDC), 0);
    assert_eq!(engine.pools()[USDC].lent(), 0, "the lenders' claims are gone");
    assert_eq!(engine.pools()[USDC].lend_index, INDEX_ONE, "and the index restarts");
    assert_eq!(engine.lent_amount(lender, USDC), 0);
    assert!(engine.events().iter().any(|event| matches!(
        event.kind,
        EventKind::Liquidation(LiquidationStep { stage: LiquidationStage::SocializedLoss, .. })
    )));
    assert!(engine.audit()[USDC].balanced());
    engine.deposit(lender, USDC, usdc(50)).unwrap();
    engine.lend(lender, USDC, usdc(50)).unwrap();
    assert_eq!(engine.lent_amount(lender, USDC), usdc(50));
    assert_eq!(engine.pools()[USDC].lent(), u128::try_from(usdc(50)).unwrap());
    assert!(engine.audit()[USDC].balanced());
}
