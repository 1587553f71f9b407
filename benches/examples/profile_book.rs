//! Runs the standard workload and prints ns/op with event columns and with a counting sink: a
//! target for `perf record`.
use crossbook_core::book::EventRecords;
use crossbook_core::{workload, Event, EventSink, OrderBook};

struct Count(usize);
impl EventSink for Count {
    fn push(&mut self, _event: Event) {
        self.0 += 1;
    }
}

fn main() {
    let (warmup, measured) = workload::standard(42, 10_000, 1_000_000);
    for round in 0..9 {
        let mut book = OrderBook::default();
        book.apply_batch(&warmup.as_operations(), &mut EventRecords::default()).expect("valid warm-up");
        let start = std::time::Instant::now();
        let count_only = std::env::args().any(|arg| arg == "--count");
        let events = if round % 2 == 0 && !count_only {
            let mut events = EventRecords::with_capacity(measured.len() * 2);
            book.apply_batch(&measured.as_operations(), &mut events).expect("valid workload");
            events.len()
        } else {
            let mut count = Count(0);
            book.apply_batch(&measured.as_operations(), &mut count).expect("valid workload");
            count.0
        };
        let elapsed = start.elapsed();
        let kind = if round % 2 == 0 && !count_only { "columns" } else { "count" };
        println!("{kind}: {:.1} ns/op, {events} events", elapsed.as_nanos() as f64 / measured.len() as f64);
    }
}
