// A local of one mutator is not accepted by a scope of another mutator (here of the
// same heap; another heap's mutator is refused the same way).
use contgc_collector::{Config, Heap, TypeDescriptor};

fn main() {
    let heap = Heap::new(Config::default()).unwrap();
    let t = heap.register_type(&TypeDescriptor::fixed("T", 8)).unwrap();
    let (mut m1, mut m2) = (heap.mutator(), heap.mutator());
    m1.scope(|s1| {
        let a = s1.alloc(t).unwrap();
        m2.scope(|s2| s2.read_u64(a, 0));
    });
}
