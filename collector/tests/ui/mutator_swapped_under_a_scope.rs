// The mutator under an open scope cannot be replaced from safe code: its locals index
// that mutator's scoped roots. `Scope::mutator` is `unsafe` for this reason.
use contgc_collector::{Config, Heap};

fn main() {
    let heap = Heap::new(Config::default()).unwrap();
    let (mut m1, mut m2) = (heap.mutator(), heap.mutator());
    m1.scope(|s| std::mem::swap(s.mutator(), &mut m2));
}
