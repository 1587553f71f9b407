//! Runs the standard workload and prints ns/op with event columns and with a counting sink: a
//! target for `perf record` and `valgrind --tool=callgrind --toggle-collect='*measured*'`.
//! `--count` counts only; `--rounds N` runs N rounds (9 by default); `--batch N` runs the columns
//! rounds in batches of N rows into one reused buffer, as `crossbook bench` does from Python.
use crossbook_core::book::{EventRecords, Operations};
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

fn main() {
    let (warmup, operations) = workload::standard(42, 10_000, 1_000_000);
    let rounds =
        std::env::args().skip_while(|arg| arg != "--rounds").nth(1).map_or(9, |n| n.parse().expect("a number"));
    let count_only = std::env::args().any(|arg| arg == "--count");
    let batch: Option<usize> =
        std::env::args().skip_while(|arg| arg != "--batch").nth(1).map(|n| n.parse().expect("a number"));
    let mut reused = EventRecords::with_capacity(batch.unwrap_or(0) * 2);
    for round in 0..rounds {
        let mut book = OrderBook::default();
        book.apply_batch(&warmup.as_operations(), &mut EventRecords::default()).expect("valid warm-up");
        let columns = round % 2 == 0 && !count_only;
        let start = std::time::Instant::now();
        let events = if let (true, Some(rows)) = (columns, batch) {
            let mut events = 0;
            for start in (0..operations.len()).step_by(rows) {
                let end = (start + rows).min(operations.len());
                let all = operations.as_operations();
                let slice = Operations {
                    op: &all.op[start..end],
                    side: &all.side[start..end],
                    price: &all.price[start..end],
                    quantity: &all.quantity[start..end],
                    owner: &all.owner[start..end],
                    order_id: &all.order_id[start..end],
                    flags: &all.flags[start..end],
                };
                reused.clear();
                measured(&mut book, &slice, &mut reused);
                events += reused.len();
            }
            events
        } else if columns {
            let mut events = EventRecords::with_capacity(operations.len() * 2);
            measured(&mut book, &operations.as_operations(), &mut events);
            events.len()
        } else {
            let mut count = Count(0);
            measured(&mut book, &operations.as_operations(), &mut count);
            count.0
        };
        let elapsed = start.elapsed();
        let kind = if columns { "columns" } else { "count" };
        println!("{kind}: {:.1} ns/op, {events} events", elapsed.as_nanos() as f64 / operations.len() as f64);
    }
}
