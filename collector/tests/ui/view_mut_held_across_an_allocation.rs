// A mutable object view borrows the scope: allocating (which may collect) while it
// lives does not compile.
use contgc_collector::{Config, Heap, TypeDescriptor};

fn main() {
    let heap = Heap::new(Config::default()).unwrap();
    let t = heap.register_type(&TypeDescriptor::fixed("P", 8)).unwrap();
    let f = heap.data_field(t, 0).unwrap();
    let mut m = heap.mutator();
    m.scope(|s| {
        let p = s.alloc(t).unwrap();
        let mut w = s.view_mut(p);
        let _q = s.alloc(t).unwrap();
        w.put(f, 1);
    });
}
