//! Criterion micro-benchmarks of the heap (docs/BENCHMARKS.md section 4): the allocation
//! fast path against `Box::new` of the same size, the write barrier fast path against a
//! plain store, the minor-GC pause with an empty nursery and 0 or 1,000,000 old objects,
//! and the minor-GC cost per surviving byte.

use contgc::{CollectionKind, Config, Heap, TypeDescriptor};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use std::time::{Duration, Instant};

fn alloc(c: &mut Criterion) {
    let mut g = c.benchmark_group("alloc");
    for size in [16u32, 64, 256] {
        let heap = Heap::new(Config::default()).unwrap();
        let ty = heap
            .register_type(&TypeDescriptor::fixed("Payload", size))
            .unwrap();
        let mut m = heap.mutator();
        g.bench_with_input(BenchmarkId::new("contgc", size), &size, |b, _| {
            b.iter(|| black_box(m.alloc_raw(ty).unwrap()))
        });
        g.bench_with_input(
            BenchmarkId::new("box", size),
            &size,
            |b, &size| match size {
                16 => b.iter(|| black_box(Box::new([0u64; 2]))),
                64 => b.iter(|| black_box(Box::new([0u64; 8]))),
                _ => b.iter(|| black_box(Box::new([0u64; 32]))),
            },
        );
    }
    g.finish();
}

fn barrier(c: &mut Criterion) {
    let heap = Heap::new(Config::builder().promotion_age(1).build().unwrap()).unwrap();
    let ty = heap
        .register_type(&TypeDescriptor::fixed("Pair", 16).with_refs(&[0, 8]))
        .unwrap();
    let mut m = heap.mutator();
    let a = m.alloc_raw(ty).unwrap();
    // SAFETY: `a` was allocated just now, with no allocation since.
    let ia = unsafe { m.push_root(Some(a)) };
    m.collect(CollectionKind::Minor);
    let a = m.root(ia).unwrap();
    let mut g = c.benchmark_group("ref-store");
    g.bench_function("barrier", |b| {
        // SAFETY: `a` is rooted and no collection runs while storing; slot 0 is a
        // reference slot; the stored value is `a` itself.
        b.iter(|| unsafe { m.store_ref(black_box(a), 0, Some(black_box(a))) })
    });
    let mut plain = [0usize; 2];
    g.bench_function("plain", |b| {
        b.iter(|| black_box(&mut plain)[0] = black_box(a.addr()))
    });
    g.finish();
}

fn minor_pause(c: &mut Criterion) {
    let mut g = c.benchmark_group("minor-gc-empty-nursery");
    for old in [0usize, 1_000_000] {
        let (heap, _keep) = contgc_bench::heap_bench::old_generation(old);
        let mut m = heap.mutator();
        g.bench_with_input(BenchmarkId::new("old-objects", old), &old, |b, _| {
            b.iter(|| m.collect(CollectionKind::Minor))
        });
    }
    g.finish();
}

fn minor_per_surviving_byte(c: &mut Criterion) {
    let mut g = c.benchmark_group("minor-gc-survivors");
    let heap = Heap::new(Config::builder().nursery_size(16 << 20).build().unwrap()).unwrap();
    let node = heap
        .register_type(&TypeDescriptor::fixed("Node", 24).with_refs(&[0]))
        .unwrap();
    let array = heap
        .register_type(&TypeDescriptor::array("Refs", 0, 8).with_elem_refs(&[0]))
        .unwrap();
    let mut m = heap.mutator();
    let n = 10_000u32;
    // Each survivor is a 32-byte node; the 8-byte slot per node in the array too.
    g.throughput(Throughput::Bytes(n as u64 * 40));
    g.bench_function("10000-survivors", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                m.collect(CollectionKind::Minor); // empty the nursery first
                total += m.scope(|s| {
                    let arr = s.alloc_array(array, n).unwrap();
                    for i in 0..n as usize {
                        s.scope(|s| {
                            let o = s.alloc(node).unwrap();
                            let (a, o) = (s.raw(arr), s.raw(o));
                            // SAFETY: `a` is the live array (no allocation since
                            // `raw`), slot i*8 is one of its reference slots, and `o`
                            // is live.
                            unsafe { s.mutator().store_ref(a, i * 8, Some(o)) };
                        });
                    }
                    let t = Instant::now();
                    s.collect(CollectionKind::Minor);
                    t.elapsed()
                });
            }
            total
        })
    });
    g.finish();
}

criterion_group!(
    benches,
    alloc,
    barrier,
    minor_pause,
    minor_per_surviving_byte
);
criterion_main!(benches);
