//! Criterion benchmarks of suspension (docs/BENCHMARKS.md sections 2 and 3): capturing a
//! chain of continuations and resuming it to completion, at depths 1, 8 and 64, with
//! continuations in the nursery and pretenured; and a minor collection while 100,000
//! resolved byrefs are held by suspended frames.

use contgc::{CollectionKind, ContinuationPlacement};
use contgc_bench::suspend_bench::ChainBench;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

fn suspend_resume(c: &mut Criterion) {
    let mut g = c.benchmark_group("suspend-resume");
    for (name, placement) in [
        ("nursery", ContinuationPlacement::Nursery),
        ("old", ContinuationPlacement::OldGeneration),
    ] {
        let b = ChainBench::new(placement);
        let mut m = b.heap.mutator();
        m.scope(|s| {
            let obj = s.alloc(b.object_type()).unwrap();
            for depth in [1usize, 8, 64] {
                g.throughput(Throughput::Elements(depth as u64));
                g.bench_with_input(BenchmarkId::new(name, depth), &depth, |bn, &depth| {
                    bn.iter(|| b.run_chain(s, obj, depth))
                });
            }
        });
    }
    g.finish();
}

fn minor_with_byrefs(c: &mut Criterion) {
    let b = ChainBench::new(ContinuationPlacement::Nursery);
    let mut m = b.heap.mutator();
    let _frames = contgc_bench::suspend_bench::hold_byrefs(&b.heap, &mut m, 100_000, 100_000);
    m.collect(CollectionKind::Minor); // resolves them
    c.bench_function("minor-gc-100000-resolved-byrefs", |bn| {
        bn.iter(|| m.collect(CollectionKind::Minor))
    });
}

criterion_group!(benches, suspend_resume, minor_with_byrefs);
criterion_main!(benches);
