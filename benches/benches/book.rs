//! Criterion benchmark of the standard order-book workload (seed 42, 10,000 warm-up adds,
//! 1,000,000 operations) through `apply_batch`, the path behind `OrderBook.execute_batch`.
//! Run: `cargo bench -p crossbook-benches`.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use crossbook_core::book::EventRecords;
use crossbook_core::{workload, OrderBook};

fn standard_workload(c: &mut Criterion) {
    let (warmup, measured) = workload::standard(42, 10_000, 1_000_000);
    let mut group = c.benchmark_group("book");
    group.sample_size(10);
    group.throughput(Throughput::Elements(measured.len() as u64));
    group.bench_function("standard_workload_1m_ops", |bench| {
        bench.iter_batched(
            || {
                let mut book = OrderBook::default();
                book.apply_batch(&warmup.as_operations(), &mut EventRecords::default()).expect("valid warm-up");
                (book, EventRecords::with_capacity(measured.len() * 2))
            },
            |(mut book, mut events)| {
                book.apply_batch(&measured.as_operations(), &mut events).expect("valid workload");
                events.len()
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

criterion_group!(benches, standard_workload);
criterion_main!(benches);
