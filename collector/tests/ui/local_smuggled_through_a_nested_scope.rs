// A nested scope of one mutator, opened inside another mutator's scope, still refuses
// the other mutator's locals (a scope cannot be narrowed to accept them).
use contgc_collector::{Config, Heap, TypeDescriptor};

fn main() {
    let heap = Heap::new(Config::default()).unwrap();
    let t = heap.register_type(&TypeDescriptor::fixed("T", 8)).unwrap();
    let (mut m1, mut m2) = (heap.mutator(), heap.mutator());
    m1.scope(|s1| {
        m2.scope(|s2| {
            let b = s2.alloc(t).unwrap();
            s1.scope(|i| i.read_u64(b, 0))
        })
    });
}
