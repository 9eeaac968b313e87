// A nested scope's locals are released when it closes: they cannot be kept in a
// variable of the enclosing scope.
use contgc_collector::{Config, Heap, TypeDescriptor};

fn main() {
    let heap = Heap::new(Config::default()).unwrap();
    let t = heap.register_type(&TypeDescriptor::fixed("T", 8)).unwrap();
    let mut m = heap.mutator();
    m.scope(|s| {
        let mut leaked = None;
        s.scope(|inner| leaked = Some(inner.alloc(t).unwrap()));
        s.read_u64(leaked.unwrap(), 0);
    });
}
