//! binary-trees (depth 16 by default) through contgc's safe API and raw layer, `Box`
//! and gc-arena, interleaved in each round.

use super::*;

/// What the binary-trees benchmark measured: medians in ms.
#[derive(Clone, Copy, Debug)]
pub struct TreesFigures {
    /// contgc through the safe API (scopes, locals, field tokens and views).
    pub safe_ms: f64,
    /// contgc through the raw layer (`alloc_raw`, `store_ref`, shadow-stack roots).
    pub raw_ms: f64,
    /// `Box` (malloc and free).
    pub box_ms: f64,
    /// gc-arena (non-moving incremental mark-sweep), collecting between iterations.
    pub gc_arena_ms: f64,
}

/// The binary-trees benchmark in its four versions, interleaved in each of `runs`
/// rounds; every version must count the same nodes.
pub(super) fn binary_trees(opts: &Options, runs: usize) -> TreesFigures {
    let max_depth = opts.depth;
    let (mut safe, mut raw, mut boxed, mut arena) = (vec![], vec![], vec![], vec![]);
    let time = |v: &mut Vec<f64>, f: &dyn Fn() -> u64| {
        let t = Instant::now();
        let n = f();
        v.push(t.elapsed().as_secs_f64() * 1e3);
        n
    };
    for _ in 0..runs.max(1) {
        let c = time(&mut safe, &|| trees_contgc(max_depth, default_config(opts)));
        let r = time(&mut raw, &|| trees_raw(max_depth, default_config(opts)));
        let b = time(&mut boxed, &|| trees_box(max_depth));
        let g = time(&mut arena, &|| trees_gc_arena(max_depth));
        assert_eq!(c, b, "the safe API version must count the nodes Box does");
        assert_eq!(r, b, "the raw version must count the nodes Box does");
        assert_eq!(g, b, "the gc-arena version must count the nodes Box does");
    }
    TreesFigures {
        safe_ms: median(safe),
        raw_ms: median(raw),
        box_ms: median(boxed),
        gc_arena_ms: median(arena),
    }
}

struct BoxNode {
    left: Option<Box<BoxNode>>,
    right: Option<Box<BoxNode>>,
}

fn box_tree(depth: u32) -> Box<BoxNode> {
    if depth == 0 {
        return Box::new(BoxNode {
            left: None,
            right: None,
        });
    }
    Box::new(BoxNode {
        left: Some(box_tree(depth - 1)),
        right: Some(box_tree(depth - 1)),
    })
}

fn box_check(n: &BoxNode) -> u64 {
    1 + n.left.as_deref().map_or(0, box_check) + n.right.as_deref().map_or(0, box_check)
}

fn trees_box(max_depth: u32) -> u64 {
    let min_depth = 4;
    let mut total = box_check(&box_tree(max_depth + 1));
    let long_lived = box_tree(max_depth);
    let mut d = min_depth;
    while d <= max_depth {
        let iterations = 1u64 << (max_depth - d + min_depth);
        for _ in 0..iterations {
            total += box_check(&box_tree(d));
        }
        d += 2;
    }
    total + box_check(&long_lived)
}

fn trees_contgc(max_depth: u32, config: Config) -> u64 {
    let heap = heap_with(config);
    let node = heap
        .register_type(&TypeDescriptor::fixed("TreeNode", 16).with_refs(&[0, 8]))
        .unwrap();
    let t = SafeTree {
        node,
        left: heap.ref_field(node, 0).unwrap(),
        right: heap.ref_field(node, 8).unwrap(),
    };
    let mut m = heap.mutator();
    m.scope(|s| {
        let min_depth = 4;
        let stretch = t.build(s, max_depth + 1);
        let mut total = t.check(s.view(stretch));
        let long_lived = t.build(s, max_depth);
        let mut d = min_depth;
        while d <= max_depth {
            let iterations = 1u64 << (max_depth - d + min_depth);
            for _ in 0..iterations {
                total += s.scope(|s| {
                    let tree = t.build(s, d);
                    t.check(s.view(tree))
                });
            }
            d += 2;
        }
        total + t.check(s.view(long_lived))
    })
}

/// binary-trees through the safe API, written as its documentation recommends: field
/// tokens for the two children, a nested scope per inner node (its children's locals
/// are released when it returns the node), and a read-only walk through views, which
/// need no locals.
struct SafeTree {
    node: crate::TypeId,
    left: crate::RefField,
    right: crate::RefField,
}

impl SafeTree {
    /// A tree of `depth`, bottom-up: the children first, then the node that holds
    /// them. A leaf is a local of the caller's scope.
    fn build<'s>(&self, s: &mut crate::Scope<'s>, depth: u32) -> crate::Local<'s> {
        if depth == 0 {
            return s.alloc(self.node).expect("alloc");
        }
        s.scope_escape(|s| {
            let l = self.build(s, depth - 1);
            let r = self.build(s, depth - 1);
            let n = s.alloc(self.node).expect("alloc");
            s.set_field(n, self.left, Some(l));
            s.set_field(n, self.right, Some(r));
            Some(n)
        })
        .expect("a tree")
    }

    fn check(&self, n: crate::ObjView<'_>) -> u64 {
        1 + n.get_field(self.left).map_or(0, |l| self.check(l))
            + n.get_field(self.right).map_or(0, |r| self.check(r))
    }
}

/// binary-trees through the raw layer, as generated code would do it: each node is
/// rooted on the shadow stack while its children are allocated (an allocation may
/// collect and move it), and re-read from its root after each.
fn trees_raw(max_depth: u32, config: Config) -> u64 {
    let heap = heap_with(config);
    let node = heap
        .register_type(&TypeDescriptor::fixed("TreeNode", 16).with_refs(&[0, 8]))
        .unwrap();
    let mut m = heap.mutator();
    let min_depth = 4;
    let base = m.roots_len();
    let stretch = raw_tree(&mut m, node, max_depth + 1);
    let mut total = raw_check(&m, stretch);
    let long_lived = raw_tree(&mut m, node, max_depth);
    // SAFETY: `long_lived` was just allocated, with no allocation since.
    let keep = unsafe { m.push_root(Some(long_lived)) };
    let mut d = min_depth;
    while d <= max_depth {
        let iterations = 1u64 << (max_depth - d + min_depth);
        for _ in 0..iterations {
            let t = raw_tree(&mut m, node, d);
            total += raw_check(&m, t);
        }
        d += 2;
    }
    let long_lived = m.root(keep).expect("rooted");
    total += raw_check(&m, long_lived);
    // SAFETY: only the root pushed above is released; no scope is open.
    unsafe { m.truncate_roots(base) };
    total
}

/// A tree of `depth` built through the raw layer; the result is valid until the next
/// allocation.
fn raw_tree(m: &mut Mutator, node: crate::TypeId, depth: u32) -> crate::ObjectRef {
    let n = m.alloc_raw(node).expect("alloc");
    if depth == 0 {
        return n;
    }
    // The root keeps `n` (and, once stored, its left child) alive and up to date
    // across the children's allocations; each store re-reads it from the root after
    // the allocation, and stores an object returned by the allocation just made.
    // SAFETY: `n` was just allocated; see above.
    unsafe {
        let r = m.push_root(Some(n));
        let left = raw_tree(m, node, depth - 1);
        m.store_ref(m.root(r).expect("rooted"), 0, Some(left));
        let right = raw_tree(m, node, depth - 1);
        let n = m.root(r).expect("rooted");
        m.store_ref(n, 8, Some(right));
        m.truncate_roots(r as usize);
        n
    }
}

fn raw_check(m: &Mutator, n: crate::ObjectRef) -> u64 {
    // SAFETY: `n` and every node below it are live (reachable from the caller's
    // object, which is valid since no allocation happens while checking); 0 and 8
    // are the node's reference slots.
    let (l, r) = unsafe { (m.load_ref(n, 0), m.load_ref(n, 8)) };
    1 + l.map_or(0, |l| raw_check(m, l)) + r.map_or(0, |r| raw_check(m, r))
}

/// A binary-trees node in a gc-arena `Arena`.
#[derive(gc_arena::Collect)]
#[collect(no_drop)]
struct ArenaNode<'gc> {
    left: Option<gc_arena::Gc<'gc, ArenaNode<'gc>>>,
    right: Option<gc_arena::Gc<'gc, ArenaNode<'gc>>>,
}

fn arena_tree<'gc>(mc: &gc_arena::Mutation<'gc>, depth: u32) -> gc_arena::Gc<'gc, ArenaNode<'gc>> {
    let node = if depth == 0 {
        ArenaNode {
            left: None,
            right: None,
        }
    } else {
        ArenaNode {
            left: Some(arena_tree(mc, depth - 1)),
            right: Some(arena_tree(mc, depth - 1)),
        }
    };
    gc_arena::Gc::new(mc, node)
}

fn arena_check(n: &ArenaNode<'_>) -> u64 {
    1 + n.left.as_deref().map_or(0, arena_check) + n.right.as_deref().map_or(0, arena_check)
}

/// Allocation debt (gc-arena's unit of collector work) below which binary-trees does
/// not collect between `mutate` calls: `Arena::collect_debt`'s documentation advises a
/// minimum threshold, and this is the granularity gc-arena's own users (the piccolo
/// interpreter) use.
const GC_ARENA_GRANULARITY: f64 = 1024.0;

/// binary-trees on gc-arena, written as its documentation recommends: the long-lived
/// tree is the arena's root, each tree is built and checked inside one `mutate` call,
/// and the collector runs between calls (`collect_debt`: the incremental work the
/// allocations since have paid for, once it is worth a call) with the default pacing.
fn trees_gc_arena(max_depth: u32) -> u64 {
    type Root = gc_arena::Rootable![Option<gc_arena::Gc<'_, ArenaNode<'_>>>];
    let mut arena = gc_arena::Arena::<Root>::new(|_| None);
    let collect = |arena: &mut gc_arena::Arena<Root>| {
        if arena.metrics().allocation_debt() > GC_ARENA_GRANULARITY {
            arena.collect_debt();
        }
    };
    let min_depth = 4;
    let mut total = arena.mutate(|mc, _| arena_check(&arena_tree(mc, max_depth + 1)));
    collect(&mut arena);
    arena.mutate_root(|mc, root| *root = Some(arena_tree(mc, max_depth)));
    collect(&mut arena);
    let mut d = min_depth;
    while d <= max_depth {
        let iterations = 1u64 << (max_depth - d + min_depth);
        for _ in 0..iterations {
            total += arena.mutate(|mc, _| arena_check(&arena_tree(mc, d)));
            collect(&mut arena);
        }
        d += 2;
    }
    total + arena.mutate(|_, root| arena_check(root.as_ref().expect("the long-lived tree")))
}
