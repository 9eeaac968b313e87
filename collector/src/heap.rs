//! `Heap`: the shared handle to one managed heap.

use crate::config::Config;
use crate::error::HeapError;
use crate::gc_threads::GcThreads;
use crate::mutator::{LocalPtr, Mutator};
use crate::pins::PinTable;
use crate::safepoint::Rendezvous;
use crate::scan::TypeSummaries;
use crate::spaces::{promotion_need, Spaces};
use crate::stats::{CollectionKind, HeapStats, PauseRecord, PauseSummary, Stats};
use crate::sync::lock;
use contgc_heap::internal::{LargeObjectSpace, Nursery, OldSpace, PromotionBuffers, TypeTable};
use contgc_heap::size_classes::NUM_CLASSES;
use contgc_heap::{DescriptorError, TypeDescriptor, TypeId};
use contgc_roots::internal::{HandleTable, RootProviders, TaskRegistry, WeakTable};
use contgc_roots::{RootProvider, RootProviderId};
use std::sync::{Arc, Mutex};

pub(crate) struct HeapInner {
    pub id: u32,
    pub config: Config,
    pub types: TypeTable,
    pub spaces: Mutex<Spaces>,
    pub handles: Arc<HandleTable>,
    pub weak_handles: Arc<WeakTable>,
    pub pins: PinTable,
    /// The nursery's address range `(start, len)`, fixed for the heap's life.
    pub young: (usize, usize),
    pub tasks: Arc<TaskRegistry>,
    pub providers: RootProviders,
    pub rendezvous: Rendezvous,
    pub mutators: Mutex<Vec<LocalPtr>>,
    /// The GC helper threads of parallel collection phases.
    pub gc_threads: GcThreads,
}

/// One managed heap, shared by every thread that uses it (`Heap` is `Send + Sync` and
/// cheap to clone). Each thread that touches objects does so through its own
/// [`Mutator`].
///
/// ```
/// use contgc_collector::{Config, Heap, TypeDescriptor};
/// let heap = Heap::new(Config::default()).unwrap();
/// let node = heap.register_type(&TypeDescriptor::fixed("Node", 16).with_refs(&[0])).unwrap();
/// let mut m = heap.mutator();
/// m.scope(|s| {
///     let a = s.alloc(node).unwrap();
///     let b = s.alloc(node).unwrap();
///     s.set_ref(a, 0, Some(b));
///     s.write_u64(b, 8, 42);
///     s.collect(contgc_collector::CollectionKind::Minor);
///     let b2 = s.get_ref(a, 0).unwrap();
///     assert_eq!(s.read_u64(b2, 8), 42);
/// });
/// ```
#[derive(Clone)]
pub struct Heap {
    pub(crate) inner: Arc<HeapInner>,
}

/// A weak handle on a [`Heap`] ([`Heap::downgrade`]): it does not keep the heap alive,
/// and [`upgrade`](Self::upgrade) gives the heap back while anything that owns the
/// heap still exists: a `Heap`, a [`Mutator`], a `Pinned` object, an executor or one of
/// its spawners.
#[derive(Clone)]
pub struct WeakHeap {
    inner: std::sync::Weak<HeapInner>,
}

impl WeakHeap {
    /// The heap, if it has not been dropped.
    pub fn upgrade(&self) -> Option<Heap> {
        self.inner.upgrade().map(|inner| Heap { inner })
    }
}

impl std::fmt::Debug for WeakHeap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WeakHeap")
            .field("alive", &(self.inner.strong_count() > 0))
            .finish()
    }
}

impl std::fmt::Debug for Heap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Heap")
            .field("id", &self.inner.id)
            .field("stats", &self.stats())
            .finish()
    }
}

impl Heap {
    /// Creates a heap, reserving address space for the nursery and for the old
    /// generation up to the heap limit (plus the room a minor collection may need to
    /// promote the whole nursery). Memory is committed only as it is used.
    pub fn new(config: Config) -> Result<Heap, HeapError> {
        let types = TypeTable::new();
        let id = types.heap_id();
        let nursery =
            Nursery::new(config.nursery_size, config.survivor_size).map_err(HeapError::Reserve)?;
        let reserve = promotion_need(
            nursery.eden_capacity() + 2 * nursery.survivor_capacity(),
            NUM_CLASSES,
        );
        let old = OldSpace::new(config.heap_limit + reserve).map_err(HeapError::Reserve)?;
        let young = nursery.bounds();
        Ok(Heap {
            inner: Arc::new(HeapInner {
                id,
                types,
                spaces: Mutex::new(Spaces {
                    nursery,
                    old,
                    los: LargeObjectSpace::new(),
                    remset: Vec::new(),
                    stats: Stats::new(),
                    last_major_bytes: 0,
                    major_due: false,
                    summaries: TypeSummaries::new(config.promotion_age),
                    promo: PromotionBuffers::new(),
                }),
                handles: HandleTable::new(id),
                weak_handles: WeakTable::new(id),
                pins: PinTable::default(),
                young,
                tasks: TaskRegistry::new(id, config.root_mode),
                providers: RootProviders::new(id),
                rendezvous: Rendezvous::new(),
                mutators: Mutex::new(Vec::new()),
                gc_threads: GcThreads::new(),
                config,
            }),
        })
    }

    /// Validates and registers a type; the returned id is used to allocate objects.
    pub fn register_type(&self, desc: &TypeDescriptor) -> Result<TypeId, DescriptorError> {
        crate::collection::refuse_inside_root_provider(self.inner.id, "Heap::register_type");
        self.inner.types.register(desc)
    }

    /// The name of a registered type.
    pub fn type_name(&self, ty: TypeId) -> Option<String> {
        (ty.heap_id() == self.inner.id)
            .then(|| {
                self.inner
                    .types
                    .get(ty.index())
                    .map(|t| t.name().to_owned())
            })
            .flatten()
    }

    /// A handle that does not keep the heap alive: for what the heap itself owns, such
    /// as a finalizer's cleanup that needs the heap (a cleanup that captured a `Heap`
    /// would keep its own heap alive, and the heap would never be dropped).
    ///
    /// ```
    /// use contgc_collector::{Config, Heap};
    /// let heap = Heap::new(Config::default()).unwrap();
    /// let weak = heap.downgrade();
    /// assert!(weak.upgrade().is_some());
    /// drop(heap);
    /// assert!(weak.upgrade().is_none(), "the heap is gone");
    /// ```
    pub fn downgrade(&self) -> WeakHeap {
        WeakHeap {
            inner: Arc::downgrade(&self.inner),
        }
    }

    /// Attaches a new mutator for the calling thread. Waits if a collection is in
    /// progress.
    ///
    /// A thread must not keep two mutators of one heap running at once: a collection
    /// started through one would wait forever for the other to reach a safepoint. Put
    /// the idle one in [`Mutator::blocking`] or [park](Mutator::park) it, or use one
    /// mutator per thread.
    pub fn mutator(&self) -> Mutator {
        crate::collection::refuse_inside_root_provider(self.inner.id, "Heap::mutator");
        Mutator::attach(Arc::clone(&self.inner))
    }

    /// Registers an embedder's root provider; it is asked for its roots at every
    /// collection until removed. The heap owns the provider until then, so a
    /// provider that needs the heap holds a [`WeakHeap`] ([`downgrade`](Self::downgrade)):
    /// one that holds a `Heap` keeps its own heap alive forever. See
    /// [`RootProvider::visit_roots`] for what a provider may do while it runs.
    pub fn add_root_provider(&self, provider: Box<dyn RootProvider>) -> RootProviderId {
        crate::collection::refuse_inside_root_provider(self.inner.id, "Heap::add_root_provider");
        self.inner.providers.add(provider)
    }

    /// Unregisters a root provider and returns it; `None` if it was removed already.
    /// Panics if `id` was handed out by another heap.
    pub fn remove_root_provider(&self, id: RootProviderId) -> Option<Box<dyn RootProvider>> {
        crate::collection::refuse_inside_root_provider(self.inner.id, "Heap::remove_root_provider");
        self.inner.providers.remove(id)
    }

    /// This heap's id (types, handles and objects of other heaps are refused).
    pub fn id(&self) -> u32 {
        self.inner.id
    }

    /// The configuration the heap was created with.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Occupancy and collection counts.
    pub fn stats(&self) -> HeapStats {
        let sp = self.spaces("Heap::stats");
        HeapStats {
            minor_collections: sp.stats.count(CollectionKind::Minor),
            major_collections: sp.stats.count(CollectionKind::Major),
            collections: sp.stats.numbered(),
            live: sp.stats.live(),
            young_bytes: sp.nursery.used_bytes(),
            old_bytes: sp.old.cell_bytes(),
            old_committed_bytes: sp.old.committed_bytes(),
            old_ready_bytes: sp.old.ready_blocks() * contgc_heap::internal::BLOCK_SIZE,
            large_bytes: sp.los.bytes(),
            large_objects: sp.los.len(),
            remembered: sp.remset.len(),
            handles: self.inner.handles.len(),
            suspended_tasks: self.inner.tasks.len(),
            task_groups: self.inner.tasks.groups(),
        }
    }

    /// The most recent pauses (up to [`MAX_RECORDS`](crate::stats::MAX_RECORDS)), oldest
    /// first.
    pub fn pauses(&self) -> Vec<PauseRecord> {
        self.spaces("Heap::pauses").stats.records()
    }

    /// Median, p99 and maximum pause of one kind since the heap was created (or the
    /// statistics were reset).
    pub fn pause_summary(&self, kind: CollectionKind) -> PauseSummary {
        self.spaces("Heap::pause_summary").stats.summary(kind)
    }

    /// Forgets recorded pauses (the minor and major collection counts restart from 0;
    /// collection numbers and the live-heap figure are kept).
    pub fn reset_pause_stats(&self) {
        self.spaces("Heap::reset_pause_stats").stats.reset();
    }

    /// The spaces, locked, for `what` (the caller's name): refused from inside a root
    /// provider, whose collection holds this lock.
    fn spaces(&self, what: &str) -> std::sync::MutexGuard<'_, Spaces> {
        crate::collection::refuse_inside_root_provider(self.inner.id, what);
        lock(&self.inner.spaces)
    }
}
