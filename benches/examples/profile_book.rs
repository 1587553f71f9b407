//! Runs the standard workload and prints ns/op with event columns, with a counting sink and
//! through the minimal baseline book, rounds of each in turn: a target for `perf record` and
//! `valgrind --tool=callgrind --toggle-collect='*measured*'`. `--count` counts only; `--rounds N`
//! runs N rounds (9 by default); `--batch N` runs the columns rounds in batches of N rows into one
//! reused buffer, as `crossbook bench` does from Python; `--baseline` adds rounds of the baseline.
use crossbook_core::baseline_book::BaselineBook;
use crossbook_core::book::{EventRecords, OperationColumns, Operations};
use crossbook_core::{workload, Event, EventSink, OrderBook};

struct Count(usize);
impl EventSink for Count {
    fn push(&mut self, _event: Event) {
        self.0 += 1;
    }
}

/// The timed part, kept out of line so a profiler can select it.
#[inline(never)]
fn measured<S: EventSink>(book: &mut OrderBook, operations: &Operations<'_>, sink: &mut S) {
    book.apply_batch(operations, sink).expect("valid workload");
}

#[derive(Clone, Copy)]
enum Mode {
    Columns,
    Count,
    Baseline,
}

fn main() {
    let (warmup, operations) = workload::standard(42, 10_000, 1_000_000);
    let rounds =
        std::env::args().skip_while(|arg| arg != "--rounds").nth(1).map_or(9, |n| n.parse().expect("a number"));
    let count_only = std::env::args().any(|arg| arg == "--count");
    let with_baseline = std::env::args().any(|arg| arg == "--baseline");
    let batch: Option<usize> =
        std::env::args().skip_while(|arg| arg != "--batch").nth(1).map(|n| n.parse().expect("a number"));
    let modes: Vec<Mode> = match (count_only, with_baseline) {
        (true, false) => vec![Mode::Count],
        (true, true) => vec![Mode::Count, Mode::Baseline],
        (false, false) => vec![Mode::Columns, Mode::Count],
        (false, true) => vec![Mode::Columns, Mode::Count, Mode::Baseline],
    };
    let rows = batch.unwrap_or(operations.len());
    let batches: Vec<Operations<'_>> =
        (0..operations.len()).step_by(rows).map(|start| rows_of(&operations, start, start + rows)).collect();
    let (lowest, highest) = price_window(&[&warmup, &operations]);
    let mut reused = EventRecords::with_capacity(rows * 2);
    for round in 0..rounds {
        let mode = modes[round % modes.len()];
        let mut book = OrderBook::default();
        book.apply_batch(&warmup.as_operations(), &mut EventRecords::default()).expect("valid warm-up");
        let mut baseline = BaselineBook::new(lowest, highest).expect("a window of the workload's prices");
        baseline.check(&warmup.as_operations()).expect("a workload the baseline runs");
        baseline.run(&warmup.as_operations());
        baseline.check(&operations.as_operations()).expect("a workload the baseline runs");
        let start = std::time::Instant::now();
        let (kind, outcomes) = match mode {
            Mode::Columns => {
                let mut events = 0;
                for batch in &batches {
                    reused.clear();
                    measured(&mut book, batch, &mut reused);
                    events += reused.len();
                }
                ("columns", format!("{events} events"))
            }
            Mode::Count => {
                let mut count = Count(0);
                measured(&mut book, &operations.as_operations(), &mut count);
                ("count", format!("{} events", count.0))
            }
            Mode::Baseline => {
                let fills: u64 = batches.iter().map(|batch| baseline.run(batch)).sum();
                ("baseline", format!("{fills} fills"))
            }
        };
        let elapsed = start.elapsed();
        println!("{kind}: {:.1} ns/op, {outcomes}", elapsed.as_nanos() as f64 / operations.len() as f64);
    }
}

/// Rows `start..end` (clamped) of every column.
fn rows_of(columns: &OperationColumns, start: usize, end: usize) -> Operations<'_> {
    let end = end.min(columns.len());
    Operations {
        op: &columns.op[start..end],
        side: &columns.side[start..end],
        price: &columns.price[start..end],
        quantity: &columns.quantity[start..end],
        owner: &columns.owner[start..end],
        order_id: &columns.order_id[start..end],
        flags: &columns.flags[start..end],
    }
}

/// The lowest and highest limit price of the workloads' places.
fn price_window(workloads: &[&OperationColumns]) -> (i64, i64) {
    let prices = workloads.iter().flat_map(|columns| columns.price.iter().copied().filter(|&price| price > 0));
    let (lowest, highest) = prices.fold((i64::MAX, i64::MIN), |(low, high), price| (low.min(price), high.max(price)));
    (lowest, highest)
}
