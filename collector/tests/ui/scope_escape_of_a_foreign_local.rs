// `scope_escape` only lets the nested scope's own locals (or its enclosing scopes')
// out, never another mutator's.
use contgc_collector::{Config, Heap, TypeDescriptor};

fn main() {
    let heap = Heap::new(Config::default()).unwrap();
    let t = heap.register_type(&TypeDescriptor::fixed("T", 8)).unwrap();
    let (mut m1, mut m2) = (heap.mutator(), heap.mutator());
    m1.scope(|s1| {
        m2.scope(|s2| {
            let b = s2.alloc(t).unwrap();
            s1.scope_escape(|_| Some(b));
        })
    });
}
