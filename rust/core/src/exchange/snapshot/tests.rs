//! Snapshot round trips over random sessions, and restores of damaged bytes that must fail
//! cleanly (the Python tests cover the full command surface, lending and liquidation).

use super::super::test_specs::{asset, market, venue};
use super::super::*;
use crate::risk::Haircut;
use proptest::prelude::*;

const USDC: usize = 0;
const SOL: usize = 1;
const SOL_PERP: usize = 1;

/// USDC and SOL; SOL_USDC spot and SOL_USDC_PERP (tick 0.01, step 0.01), maker/taker 2/5 bp.
fn spec() -> EngineSpec {
    let with_fees = |market: MarketSpec| MarketSpec { maker_fee_e8: 20_000, taker_fee_e8: 50_000, ..market };
    EngineSpec {
        settlement_asset: USDC,
        assets: vec![
            asset("USDC", 6, Haircut::Identity),
            asset("SOL", 8, Haircut::InverseSqrt { base: 0.9, penalty: 0.0001 }),
        ],
        markets: vec![
            with_fees(market("SOL_USDC", MarketKind::Spot, SOL)),
            with_fees(market("SOL_USDC_PERP", MarketKind::Perp, SOL)),
        ],
        venue: venue(false),
    }
}

fn order(side: Side, price: Price, quantity: Qty, time_in_force: TimeInForce) -> OrderCommand {
    OrderCommand { time_in_force, ..OrderCommand::limit(side, price, quantity) }
}

#[derive(Clone, Debug)]
enum Step {
    Place { account: u32, market: usize, bid: bool, price: Price, quantity: Qty, ioc: bool },
    Cancel { account: u32, market: usize, nth: usize },
    Amend { account: u32, market: usize, nth: usize, price: Price, quantity: Qty },
    Mark(Price),
    Index(i64),
    Trigger { account: u32, bid: bool, trigger: Price, quantity: Qty },
    Lend { account: u32, amount: i64 },
    Advance(i64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0u32..3, 0usize..2, any::<bool>(), 9_900i64..10_100, 1i64..300, any::<bool>())
            .prop_map(|(account, market, bid, price, quantity, ioc)| Step::Place { account, market, bid, price, quantity, ioc }),
        2 => (0u32..3, 0usize..2, 0usize..8).prop_map(|(account, market, nth)| Step::Cancel { account, market, nth }),
        1 => (0u32..3, 0usize..2, 0usize..8, 9_900i64..10_100, 1i64..300)
            .prop_map(|(account, market, nth, price, quantity)| Step::Amend { account, market, nth, price, quantity }),
        1 => (9_800i64..10_200).prop_map(Step::Mark),
        1 => (98_000_000i64..102_000_000).prop_map(Step::Index),
        1 => (0u32..3, any::<bool>(), 9_900i64..10_100, 1i64..50)
            .prop_map(|(account, bid, trigger, quantity)| Step::Trigger { account, bid, trigger, quantity }),
        1 => (0u32..3, 1i64..1_000_000_000).prop_map(|(account, amount)| Step::Lend { account, amount }),
        1 => (0i64..100_000).prop_map(Step::Advance),
    ]
}

/// Runs a step, ignoring refusals (they change nothing).
fn run(engine: &mut Engine, step: &Step) {
    let side = |bid: bool| if bid { Side::Bid } else { Side::Ask };
    let nth_order = |engine: &Engine, account: u32, market: usize, nth: usize| {
        let orders: Vec<OrderId> = engine
            .open_orders(account)
            .unwrap_or_default()
            .into_iter()
            .filter(|order| order.market == market)
            .map(|order| order.order_id)
            .collect();
        orders.get(nth % orders.len().max(1)).copied()
    };
    let _ = match *step {
        Step::Place { account, market, bid, price, quantity, ioc } => {
            let tif = if ioc { TimeInForce::Ioc } else { TimeInForce::Gtc };
            engine.place_order(account, market, &order(side(bid), price, quantity, tif)).map(|_| ())
        }
        Step::Cancel { account, market, nth } => match nth_order(engine, account, market, nth) {
            Some(order_id) => engine.cancel_order(account, market, order_id).map(|_| ()),
            None => Ok(()),
        },
        Step::Amend { account, market, nth, price, quantity } => match nth_order(engine, account, market, nth) {
            Some(order_id) => engine.amend_order(account, market, order_id, Some(price), Some(quantity)).map(|_| ()),
            None => Ok(()),
        },
        Step::Mark(price) => engine.set_mark_price(SOL_PERP, price),
        Step::Index(price) => engine.set_index_price(SOL, price),
        Step::Trigger { account, bid, trigger, quantity } => engine
            .place_trigger_order(
                account,
                SOL_PERP,
                &order(side(bid), trigger, quantity, TimeInForce::Gtc),
                trigger,
                TriggerBy::MarkPrice,
            )
            .map(|_| ()),
        Step::Lend { account, amount } => engine.lend(account, USDC, amount),
        Step::Advance(by) => engine.advance_to(engine.time_ms() + by),
    };
}

fn session(steps: &[Step]) -> Engine {
    let mut engine = Engine::new(spec()).unwrap();
    for owner in ["alice", "bob", "carol"] {
        let account = engine.open_account(owner).unwrap();
        engine.deposit(account, USDC, 1_000_000_000_000).unwrap();
        engine.deposit(account, SOL, 100_000_000_000).unwrap();
    }
    engine.set_index_price(SOL, 100_000_000).unwrap();
    engine.set_mark_price(SOL_PERP, 10_000).unwrap();
    for step in steps {
        run(&mut engine, step);
    }
    engine
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn a_restored_engine_hashes_equal_and_behaves_identically(
        before in proptest::collection::vec(step(), 0..60),
        after in proptest::collection::vec(step(), 0..30),
    ) {
        let mut live = session(&before);
        let bytes = live.snapshot();
        let mut restored = Engine::restore(spec(), &bytes).unwrap();
        prop_assert_eq!(restored.state_hash(), live.state_hash());
        prop_assert_eq!(restored.snapshot(), bytes, "equal states give equal bytes");
        for step in &after {
            run(&mut live, step);
            run(&mut restored, step);
            prop_assert_eq!(restored.state_hash(), live.state_hash(), "diverged at {:?}", step);
        }
    }

    #[test]
    fn damaged_snapshots_never_panic(
        steps in proptest::collection::vec(step(), 0..30),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..4),
        cut in any::<prop::sample::Index>(),
        truncate: bool,
    ) {
        let mut bytes = session(&steps).snapshot();
        for (at, mask) in &flips {
            let position = at.index(bytes.len());
            bytes[position] ^= mask;
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len()));
        }
        if let Ok(mut engine) = Engine::restore(spec(), &bytes) {
            // Whatever restores is usable: commands run without panicking.
            for step in &steps {
                run(&mut engine, step);
            }
            let _ = engine.state_hash();
        }
    }
}

#[test]
fn fifo_order_within_a_level_survives_amends() {
    let mut engine = session(&[]);
    let ids: Vec<OrderId> = (0..3)
        .map(|account| {
            engine.place_order(account, SOL_PERP, &order(Side::Bid, 9_990, 10, TimeInForce::Gtc)).unwrap().book.order_id
        })
        .collect();
    // Growing the first order sends it to the back: queue 2, 3, 1.
    engine.amend_order(0, SOL_PERP, ids[0], None, Some(20)).unwrap();
    let restored = Engine::restore(spec(), &engine.snapshot()).unwrap();
    assert_eq!(restored.book(SOL_PERP).queue(Side::Bid, 9_990), vec![ids[1], ids[2], ids[0]]);
    assert_eq!(restored.book(SOL_PERP).next_order_id(), engine.book(SOL_PERP).next_order_id());
    assert_eq!(restored.state_hash(), engine.state_hash());
}

#[test]
fn a_snapshot_for_other_markets_is_refused() {
    let bytes = session(&[]).snapshot();
    let mut other = spec();
    other.markets.pop();
    assert!(matches!(Engine::restore(other, &bytes), Err(SnapshotError::Inconsistent(_))));
    assert!(matches!(Engine::restore(spec(), &bytes[..bytes.len() - 1]), Err(SnapshotError::Malformed(_))));
}

/// Every piece of state is in the hash and survives a snapshot: changing any one field of a busy
/// engine changes `state_hash`, and the changed engine restores to the changed hash.
#[test]
fn every_field_is_hashed_and_snapshotted() {
    let steps: Vec<Step> = (0..40)
        .map(|index| Step::Place {
            account: index % 3,
            market: SOL_PERP,
            bid: index % 2 == 0,
            price: 9_950 + i64::from(index % 7) * 10,
            quantity: 5,
            ioc: false,
        })
        .collect();
    let mut base = session(&steps);
    base.place_trigger_order(0, SOL_PERP, &order(Side::Ask, 9_000, 5, TimeInForce::Gtc), 9_500, TriggerBy::MarkPrice)
        .unwrap()
        .unwrap();
    base.register_backstop_provider(2, &[SOL_PERP], 1_000).unwrap();
    base.lend(1, USDC, 1_000_000).unwrap();
    base.set_index_price(SOL, 100_500_000).unwrap();
    base.liquidating.push(1);
    base.liquidatable.push(2);
    let first_order = *base.orders[SOL_PERP].keys().min().unwrap();
    base.reduce_only.insert((base.orders[SOL_PERP][&first_order].account, SOL_PERP), vec![first_order]);
    let mutations: Vec<(&str, fn(&mut Engine))> = vec![
        ("time", |e| e.time_ms += 1),
        ("sequence", |e| e.sequence += 1),
        ("index price", |e| e.risk.assets[SOL].price += 1),
        ("mark", |e| e.risk.markets[0].mark += 1),
        ("index set", |e| e.index_set[SOL] = !e.index_set[SOL]),
        ("mark set", |e| e.mark_set[SOL_PERP] = !e.mark_set[SOL_PERP]),
        ("basis ema", |e| e.basis_ema[SOL_PERP] = Some(e.basis_ema[SOL_PERP].unwrap_or(0) + 1)),
        ("owner name", |e| e.owners[0].name.push('x')),
        ("label", |e| e.accounts.label[0].push('x')),
        ("holding", |e| e.accounts.holding[0] += 1),
        ("locked", |e| e.accounts.locked[1] += 1),
        ("lend shares", |e| e.accounts.lend_shares[0] += 1),
        ("borrow shares", |e| e.accounts.borrow_shares[0] += 1),
        ("net qty", |e| e.accounts.net_qty[0] += 1),
        ("net cost", |e| e.accounts.net_cost[0] += 1),
        ("entry cost", |e| e.accounts.entry_cost[0] += 1),
        ("open bids", |e| e.accounts.open_bids[0] += 1),
        ("open asks", |e| e.accounts.open_asks[0] += 1),
        ("funding", |e| e.accounts.funding[0] += 1),
        ("max leverage", |e| e.accounts.max_leverage[0] += 1),
        ("settings", |e| e.accounts.settings[0] ^= 1),
        ("order meta locked", |e| e.orders[SOL_PERP].values_mut().for_each(|meta| meta.locked += 1)),
        ("order meta filled", |e| e.orders[SOL_PERP].values_mut().for_each(|meta| meta.filled_notional += 1)),
        ("order meta auto-borrow", |e| e.orders[SOL_PERP].values_mut().for_each(|meta| meta.auto_borrow ^= true)),
        ("reduce-only lists", |e| e.reduce_only.clear()),
        ("fees", |e| e.venue.fees[USDC] += 1),
        ("liquidation fund", |e| e.venue.liquidation_fund[USDC] += 1),
        ("pnl clearing", |e| e.venue.pnl_clearing += 1),
        ("conversions", |e| e.venue.conversions[SOL] += 1),
        ("deposits", |e| e.deposits[USDC] += 1),
        ("withdrawals", |e| e.withdrawals[USDC] += 1),
        ("liquidatable", |e| e.liquidatable.clear()),
        ("liquidating", |e| e.liquidating.clear()),
        ("backstop capacity", |e| e.backstops[0].capacity += 1),
        ("pool cash", |e| e.pools[USDC].cash += 1),
        ("pool index", |e| e.pools[USDC].lend_index += 1),
        ("pool rate", |e| e.pools[USDC].rate_e18 += 1),
        ("premiums", |e| e.premiums[SOL_PERP].count += 1),
        ("fixed funding rate", |e| e.fixed_funding_e18[SOL_PERP] = Some(-7)),
        ("last price", |e| e.last_price[SOL_PERP] = Some(e.last_price[SOL_PERP].unwrap_or(0) + 1)),
        ("trigger price", |e| e.triggers[0].trigger_price += 1),
        ("trigger auto-borrow", |e| e.triggers[0].order.auto_borrow ^= true),
        ("next trigger id", |e| e.next_trigger_id += 1),
        ("book state", |e| e.books[SOL_PERP].set_state(crate::types::BookState::PostOnly)),
        ("book quantity limits", |e| e.books[SOL_PERP].set_quantity_limits(2, 1_000_000).unwrap()),
    ];
    let base_hash = base.state_hash();
    for (name, mutate) in mutations {
        let mut changed = base.clone();
        mutate(&mut changed);
        assert_ne!(changed.state_hash(), base_hash, "{name} is not in state_hash");
        let restored = Engine::restore(spec(), &changed.snapshot())
            .unwrap_or_else(|error| panic!("{name}: the changed engine does not restore: {error}"));
        assert_eq!(restored.state_hash(), changed.state_hash(), "{name} does not survive a snapshot");
    }
    // The place in a queue alone: amending the first order to a larger size and back sends it to
    // the back of its level.
    let mut requeued = base.clone();
    let meta = requeued.orders[SOL_PERP][&first_order];
    requeued.amend_order(meta.account, SOL_PERP, first_order, None, Some(meta.remaining + 1)).unwrap();
    requeued.amend_order(meta.account, SOL_PERP, first_order, None, Some(meta.remaining)).unwrap();
    requeued.sequence = base.sequence;
    assert_ne!(requeued.state_hash(), base_hash, "FIFO order is not in state_hash");
    let restored = Engine::restore(spec(), &requeued.snapshot()).unwrap();
    assert_eq!(restored.state_hash(), requeued.state_hash());
}
