// An object view holds the object's address: no collection (which could move the
// object) may run while it lives, so holding one across `collect` does not compile.
use contgc_collector::{CollectionKind, Config, Heap, TypeDescriptor};

fn main() {
    let heap = Heap::new(Config::default()).unwrap();
    let t = heap.register_type(&TypeDescriptor::fixed("P", 8)).unwrap();
    let f = heap.data_field(t, 0).unwrap();
    let mut m = heap.mutator();
    m.scope(|s| {
        let p = s.alloc(t).unwrap();
        let v = s.view(p);
        s.collect(CollectionKind::Minor);
        let _ = v.get(f);
    });
}
