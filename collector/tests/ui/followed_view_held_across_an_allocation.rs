// A view reached by following a reference (`ObjView::get_field`) is as short-lived as
// the view it came from: it borrows the scope, so allocating (which may collect and
// move the object) while it lives does not compile.
use contgc_collector::{Config, Heap, TypeDescriptor};

fn main() {
    let heap = Heap::new(Config::default()).unwrap();
    let t = heap.register_type(&TypeDescriptor::fixed("N", 16).with_refs(&[0])).unwrap();
    let (next, val) = (heap.ref_field(t, 0).unwrap(), heap.data_field(t, 8).unwrap());
    let mut m = heap.mutator();
    m.scope(|s| {
        let a = s.alloc(t).unwrap();
        let b = s.alloc(t).unwrap();
        s.set_field(a, next, Some(b));
        let followed = s.view(a).get_field(next).unwrap();
        let _c = s.alloc(t).unwrap();
        let _ = followed.get(val);
    });
}
