// A local cannot be returned out of the scope that made it.
use contgc_collector::{Config, Heap, TypeDescriptor};

fn main() {
    let heap = Heap::new(Config::default()).unwrap();
    let t = heap.register_type(&TypeDescriptor::fixed("T", 8)).unwrap();
    let mut m = heap.mutator();
    let escaped = m.scope(|s| s.alloc(t).unwrap());
    m.scope(|s| s.read_u64(escaped, 0));
}
