// A mutator owns one thread's allocation buffer and scoped roots: it can move to
// another thread (Send) but not be shared between threads (not Sync).
use contgc_collector::{Config, Heap};

fn shared<T: Sync>(_: &T) {}

fn main() {
    let heap = Heap::new(Config::default()).unwrap();
    let m = heap.mutator();
    shared(&m);
}
