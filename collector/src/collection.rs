//! One collection, from a stopped world to a restarted one: retiring allocation
//! buffers, choosing minor or major, running it, verifying, recording the pause, and
//! the policy that decides when the next major collection is due.

use crate::heap::HeapInner;
use crate::mutator::LocalPtr;
use crate::safepoint::WorldStopped;
use crate::scan::object_size;
use crate::spaces::{promotion_need, Spaces};
use crate::stats::{Census, CollectionKind, LiveHeap, PauseParts, PauseRecord, PhaseClock};
use crate::sync::lock;
use crate::{major, minor, verify};
use contgc_heap::header::MARK;
use contgc_heap::internal::Nursery;
use contgc_heap::size_classes::{class_of, NUM_CLASSES};
use contgc_heap::types::FILLER_TYPE_INDEX;
use contgc_heap::TypeInfo;
use std::sync::{Arc, MutexGuard};
use std::time::{Duration, Instant};

/// What a collection did.
#[derive(Clone, Debug)]
pub(crate) struct Outcome {
    pub kind: CollectionKind,
    /// False if the nursery could not be evacuated (a major collection found the old
    /// generation too full to take the nursery's live objects).
    pub minor_ran: bool,
    /// The pause, to be recorded (its duration set) once the world has restarted.
    pub record: PauseRecord,
    /// What the verifier found wrong, if it ran and did.
    pub verify_error: Option<String>,
    /// The pause's timed parts added up: the rest of the pause is `parts.other`.
    pub timed: Duration,
}

/// Why a collection was asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Request {
    /// The embedder asked for this kind.
    Explicit(CollectionKind),
    /// Eden is exhausted.
    NurseryFull,
}

/// Collects. `started` is when the world-stop was requested (the pause starts there).
///
/// An explicit request is honoured: a major one runs a major collection, a minor one
/// a minor collection, unless the old generation lacks the room to promote the whole
/// nursery (a minor collection must be able to), in which case a major collection
/// runs instead. A major collection that policy wants (the old generation grew past
/// its threshold or the heap limit) waits for the next collection the collector
/// starts itself, when eden is exhausted. The caller records the pause.
///
/// Returns with the spaces still locked, so that the caller can carve its buffer and
/// record the pause (after restarting the world) without locking them again.
pub(crate) fn collect<'h>(
    heap: &'h HeapInner,
    request: Request,
    started: Instant,
    _world: &WorldStopped,
) -> (Outcome, MutexGuard<'h, Spaces>) {
    let mut guard = lock(&heap.spaces);
    let mutators = lock(&heap.mutators);
    let types = heap.types.read();
    let sp = &mut *guard;
    let mut clock = PhaseClock::new(started);
    let mut parts = PauseParts::default();

    for m in mutators.iter() {
        // SAFETY: the world is stopped (`_world`), so no mutator touches its local
        // state; each pointer in the list is a live, registered mutator.
        let local = unsafe { &mut *m.0 };
        local.retire_buffer(&sp.nursery);
        sp.remset.append(&mut local.remset);
    }
    if mutators.len() > 1 {
        parts.stop = clock.lap_always();
    }
    let before = sp.in_use();
    let over_limit = sp.old_and_large() > heap.config.heap_limit;
    let kind = match request {
        Request::Explicit(CollectionKind::Major) => CollectionKind::Major,
        Request::Explicit(CollectionKind::Minor) if sp.minor_is_safe() => CollectionKind::Minor,
        Request::NurseryFull if !sp.major_due && !over_limit && sp.minor_is_safe() => {
            CollectionKind::Minor
        }
        _ => CollectionKind::Major,
    };
    let number = sp.stats.next_number();

    let mut roots = |f: &mut dyn FnMut(&mut usize)| visit_roots(heap, &mutators, f);
    let mut out = minor::MinorOutcome::default();
    let mut byrefs_resolved = 0;
    let mut minor_ran = false;
    let mut live_young = None;
    let mut gc_workers = 1;
    if kind == CollectionKind::Major {
        sp.summaries.update(&types);
        let workers = if before >= heap.config.parallel_threshold {
            heap.config.gc_workers
        } else {
            1
        };
        let spaces = major::MarkSpaces {
            types: &types,
            sums: sp.summaries.as_slice(),
            nursery: &sp.nursery,
            old: &sp.old,
            los: &sp.los,
        };
        let marked = major::mark(spaces, &mut roots, &heap.tasks, workers);
        byrefs_resolved += marked.byrefs_resolved;
        gc_workers = marked.workers;
        // Weak handles to objects marking did not reach are cleared before anything
        // is freed.
        // A handle's slot holds an object that was live until this collection.
        heap.weak_handles
            .settle_all(|v| if major::is_marked(&sp.old, v) { v } else { 0 });
        parts.byref_index += marked.byref_index;
        clock.exclude(marked.byref_index);
        parts.mark = clock.lap_always();
        // Remembered objects that died are dropped before their cells are freed.
        // Remembered objects are old (small or large) objects, live until this sweep.
        let old = &sp.old;
        sp.remset.retain(|&a| major::is_marked(old, a));
        sp.old.sweep_shared(|work| {
            let n = heap.gc_threads.start(marked.workers);
            heap.gc_threads.run(n, |_| work());
        });
        sp.los.sweep();
        live_young = Some(clear_young_marks(&sp.nursery, &types));
        sp.last_major_bytes = sp.old.cell_bytes() + sp.los.bytes();
        sp.major_due = false;
        parts.sweep = clock.lap_always();
    }
    // After a major collection the live young bytes are known: the minor collection
    // needs room for those only, and must not take the old generation past its
    // limit (the heap is then full: allocation fails until something dies). An empty
    // live set always fits: the minor then only empties eden.
    let safe = match live_young {
        Some((0, _)) => true,
        Some((live, classes)) => {
            let need = promotion_need(live, classes as usize);
            sp.old_and_large() + need <= heap.config.heap_limit && sp.old.available_bytes() >= need
        }
        None => sp.minor_is_safe(),
    };
    if safe {
        // Several workers need room for one partly used block per size class each.
        let (young, classes) = match live_young {
            Some((live, classes)) => (live, classes as usize),
            None => (sp.nursery.used_bytes(), NUM_CLASSES),
        };
        let w = heap.config.gc_workers;
        let workers = if w > 1 && sp.old.available_bytes() >= promotion_need(young, classes * w) {
            w
        } else {
            1
        };
        let workers = minor::MinorWorkers {
            threads: &heap.gc_threads,
            workers,
            eager: heap.config.parallel_threshold == 0,
        };
        out = minor::collect(
            &types,
            sp,
            &mut roots,
            &heap.tasks,
            &heap.weak_handles,
            workers,
            &mut clock,
        );
        byrefs_resolved += out.byrefs_resolved;
        parts.roots = out.roots;
        parts.task_groups = out.task_groups;
        parts.remembered = out.remembered;
        parts.copy = out.copy;
        parts.byref_index += out.byref_index;
        gc_workers = gc_workers.max(out.workers);
        minor_ran = true;
    }

    if kind == CollectionKind::Major {
        // Everything in the old generation is live now (swept), and so is everything
        // left in the nursery if it was evacuated; otherwise eden still holds the
        // garbage the marks told apart.
        let old_bytes = sp.old.cell_bytes() + sp.los.bytes();
        let young_bytes = if minor_ran {
            sp.nursery.used_bytes()
        } else {
            live_young.map_or(0, |(live, _)| live)
        };
        sp.stats.set_live(LiveHeap {
            collection: number,
            bytes: old_bytes + young_bytes,
            old_bytes,
            young_bytes,
        });
    }
    let verify_error = if heap.config.verify {
        clock.skip();
        let e = verify::verify(sp, &types, &mut roots, &heap.tasks, !minor_ran)
            .err()
            .map(|e| format!("heap verification failed after a {kind:?} collection: {e}"));
        parts.verify = clock.lap_always();
        e
    } else {
        None
    };
    let old_now = sp.old.cell_bytes() + sp.los.bytes();
    let threshold = ((sp.last_major_bytes as f64) * heap.config.major_growth_factor) as usize;
    if old_now > threshold.max(heap.config.min_major_bytes) {
        sp.major_due = true;
    }
    let after = sp.in_use();
    let record = PauseRecord {
        kind,
        number,
        nursery_evacuated: minor_ran,
        started,
        // Set once the world has restarted.
        duration: Duration::ZERO,
        promoted_bytes: out.promoted_bytes,
        survivors: out.survivors,
        survivor_bytes: out.survivor_bytes,
        heap_before: before,
        heap_after: after,
        byrefs_resolved,
        gc_workers,
        // `other` is set with the duration.
        parts,
    };
    drop((types, mutators));
    let outcome = Outcome {
        kind,
        minor_ran,
        record,
        verify_error,
        timed: clock.timed(),
    };
    (outcome, guard)
}

/// Counts the objects of every space (see `Mutator::census`).
pub(crate) fn census(heap: &HeapInner, _world: &WorldStopped) -> Census {
    let sp = lock(&heap.spaces);
    let mutators = lock(&heap.mutators);
    let types = heap.types.read();
    for m in mutators.iter() {
        // SAFETY: as in `collect`: the world is stopped, the pointers are registered.
        unsafe { &mut *m.0 }.retire_buffer(&sp.nursery);
    }
    let mut c = Census::default();
    for (start, top) in [sp.nursery.eden_range(), sp.nursery.from_range()] {
        // SAFETY: every buffer was just retired, so both ranges are walkable.
        unsafe {
            Nursery::walk(
                start,
                top,
                |h| object_size(&types, h),
                |_, h| {
                    if h.type_index() != FILLER_TYPE_INDEX {
                        c.young_objects += 1;
                        c.young_bytes += object_size(&types, h);
                    }
                },
            );
        }
    }
    sp.old.for_each_object(|_, h| {
        c.old_objects += 1;
        // Cells, as the old space counts them (see `Census::old_bytes`).
        c.old_bytes += contgc_heap::cell_size(object_size(&types, h)).unwrap_or(0);
    });
    sp.los.for_each_object(|_, h| {
        c.large_objects += 1;
        c.large_bytes += object_size(&types, h);
    });
    c
}

/// Hands every root slot to `f`: persistent handles, every mutator's scoped roots and
/// parked objects, the embedder's root providers, and pinned objects.
pub(crate) fn visit_roots(heap: &HeapInner, mutators: &[LocalPtr], f: &mut dyn FnMut(&mut usize)) {
    heap.handles.for_each_slot(|s| f(s));
    for m in mutators {
        // SAFETY: the world is stopped (only the collector calls this), so the
        // mutator's local state is not in use; the pointer is live while registered.
        let local = unsafe { &mut *m.0 };
        local.shadow.for_each_slot(|s| f(s));
        for s in local.parked.slots.iter_mut().filter(|s| **s != 0) {
            f(s);
        }
    }
    {
        let _inside = InsideRootProviders::enter(heap.id);
        heap.providers.visit_all(f);
    }
    heap.pins.for_each_root(f);
}

thread_local! {
    /// The heap whose root providers this thread is running (`visit_roots`), 0 for
    /// none (heap ids start at 1).
    static IN_ROOT_PROVIDERS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Marks this thread as running heap `id`'s root providers until dropped.
struct InsideRootProviders(u32);

impl InsideRootProviders {
    fn enter(id: u32) -> Self {
        InsideRootProviders(IN_ROOT_PROVIDERS.replace(id))
    }
}

impl Drop for InsideRootProviders {
    fn drop(&mut self) {
        IN_ROOT_PROVIDERS.set(self.0);
    }
}

/// Panics, saying why, if this thread is running a root provider of heap `heap`: the
/// collection that runs it holds the heap's locks (its spaces, its types, its
/// providers) and has every other mutator stopped, so `what` would wait for the
/// collection to end, that is for itself, forever. (A panic there aborts the process,
/// with this message, rather than hanging it silently.)
#[inline]
pub(crate) fn refuse_inside_root_provider(heap: u32, what: &str) {
    if IN_ROOT_PROVIDERS.get() == heap {
        refused_inside_root_provider(what)
    }
}

#[cold]
#[inline(never)]
fn refused_inside_root_provider(what: &str) -> ! {
    panic!(
        "contgc: {what} called from a root provider's visit_roots: the collection running \
         it holds the heap's locks, so the call would wait for itself forever"
    )
}

/// Clears the marks a major collection left on nursery objects; returns the bytes of
/// the marked (live) ones and how many size classes they fall in.
fn clear_young_marks(nursery: &Nursery, types: &[Arc<TypeInfo>]) -> (usize, u32) {
    let (mut live, mut classes) = (0, 0u64);
    for (start, top) in [nursery.eden_range(), nursery.from_range()] {
        // SAFETY: every buffer was retired, so both ranges are walkable; the world is
        // stopped.
        unsafe {
            Nursery::walk(
                start,
                top,
                |h| object_size(types, h),
                |obj, h| {
                    if h.is_marked() {
                        let size = object_size(types, h);
                        live += size;
                        classes |= 1 << class_of(size);
                        obj.set_header(h.without(MARK));
                    }
                },
            );
        }
    }
    (live, classes.count_ones())
}
