// A local cannot outlive its scope on another thread.
use contgc_collector::{Config, Heap, TypeDescriptor};

fn main() {
    let heap = Heap::new(Config::default()).unwrap();
    let t = heap.register_type(&TypeDescriptor::fixed("T", 8)).unwrap();
    let mut m = heap.mutator();
    m.scope(|s| {
        let a = s.alloc(t).unwrap();
        std::thread::spawn(move || drop(a));
    });
}
