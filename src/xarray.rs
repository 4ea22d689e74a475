//! [`XArray`], the normal API: a few lines over the cursor each.

use core::fmt;
use core::marker::PhantomData;
use core::ops::{Bound, RangeBounds, RangeInclusive};

use alloc::sync::Arc;

use crate::cursor::walk::{self, Walk, Want};
use crate::cursor::{Cursor, CursorMut, Root};
use crate::entry::{self, Entry, EntryRef, Word, NULL, ZERO};
use crate::error::{Error, InvalidInput};
use crate::iter::{Iter, LoadMany};
use crate::mark::Mark;
use crate::node;
use crate::sync::{self, Collector, Guard, InFlight, LockGuard, Ordering, Reclaimer};
use crate::value::Value;

bitflags::bitflags! {
    /// Options fixed when a tree is made (the kernel's `XA_FLAGS_*`).
    ///
    /// ```
    /// use xradix::{Entry, Flags, XArray};
    /// let ids: XArray = XArray::with_flags(Flags::ALLOC1);
    /// assert_eq!(ids.alloc(Entry::Value(0), 0..=100).unwrap(), 1);
    /// ```
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
    pub struct Flags: u32 {
        /// Track free indices so that [`XArray::alloc`] finds the lowest
        /// free one in O(height) (`XA_FLAGS_ALLOC`). Uses mark 0 (DIRTY)
        /// for the purpose: `set_mark(i, Mark::DIRTY)` does nothing in such
        /// a tree and `get_mark(i, Mark::DIRTY)` is false; use TOWRITE or
        /// MARK_2 there.
        ///
        /// ```
        /// use xradix::{Entry, Flags, XArray};
        /// let ids: XArray = XArray::with_flags(Flags::ALLOC);
        /// assert_eq!(ids.alloc(Entry::Value(0), 0..=9).unwrap(), 0);
        /// ```
        const ALLOC = 1;
        /// As `ALLOC`, and never hand out index 0 (`XA_FLAGS_ALLOC1`).
        ///
        /// ```
        /// use xradix::{Entry, Flags, XArray};
        /// let ids: XArray = XArray::with_flags(Flags::ALLOC1);
        /// assert_eq!(ids.alloc(Entry::Value(0), 0..=9).unwrap(), 1);
        /// ```
        const ALLOC1 = 2;
        /// Loom models only: bottom nodes shrink on erase (see
        /// `Root::may_shrink`). Off by default there, so that a model
        /// about something else does not also explore every schedule of a
        /// shrink conversion; the shrink models turn it on.
        #[cfg(xradix_loom)]
        #[doc(hidden)]
        const LOOM_SHRINK = 1 << 31;
    }
}

/// A concurrent radix tree from `u64` indices to entries: shared items
/// (`Arc<T>`) or small values of type `V` stored in the slot itself (the
/// Linux kernel's XArray).
///
/// Reads (`load`, `get`, the iterators, [`Cursor`]) never take a lock and
/// never write shared memory; writes take the tree's lock for the call, or
/// for as long as a [`Locked`] handle lives. See the [crate
/// documentation](crate) for what readers may see while writers work.
///
/// ```
/// use std::sync::Arc;
/// use xradix::{pin, Entry, EntryRef, Mark, XArray};
///
/// let xa: XArray<String, u64> = XArray::new();
/// xa.store(5, Entry::Value(7)).unwrap();
/// xa.store(6, Entry::Item(Arc::new("six".into()))).unwrap();
/// let g = pin();
/// assert!(matches!(xa.load(5, &g), Some(EntryRef::Value(7))));
/// xa.set_mark(5, Mark::DIRTY);
/// assert_eq!(xa.tag_range(.., Mark::DIRTY, Mark::TOWRITE), 1);
/// ```
///
/// # Thread safety
///
/// A tree is `Send` and `Sync` when its items are: readers on any thread
/// borrow `&T` (so `T: Sync`), and the thread that erases an item may drop
/// it (so `T: Send`). Every method needs `T: Send + Sync + 'static`, so a
/// tree of `Rc`s or `Cell`s cannot even be made:
///
/// ```compile_fail
/// use std::rc::Rc;
/// let xa: xradix::XArray<Rc<u8>> = xradix::XArray::new();
/// ```
///
/// [`Cursor`], [`CursorMut`], [`Locked`] and the iterators hold an epoch
/// guard or the lock and stay on the thread that made them.
///
/// # Standard traits
///
/// `Default` (with `std`), `Debug` (the first 64 entries in index order),
/// `Clone` (an exact copy under the lock; see its impl), `Extend` and
/// `FromIterator` of `(u64, Arc<T>)` items for every tree (`collect()` a
/// tree of items), and of `(u64, Entry<T, V>)` only where every value fits
/// a slot (`V` a [`SmallValue`](crate::SmallValue): `u8`, `u16`, `i8`,
/// `i16`, `bool`, and on 64-bit targets `u32`, `i32`);
/// [`try_extend`](XArray::try_extend) for the others (`u64`, `i64`,
/// `usize`, `isize`, your own [`Value`]s), which may be refused. With the
/// `serde` feature, `Serialize` and `Deserialize`.
///
/// ```
/// use std::sync::Arc;
/// use xradix::XArray;
///
/// let xa: XArray<String> = ["a", "b"]
///     .iter()
///     .enumerate()
///     .map(|(i, s)| (i as u64, Arc::new(s.to_string())))
///     .collect();
/// for (i, e) in &xa.pin() {
///     println!("{i}: {}", e.item().unwrap());
/// }
/// ```
pub struct XArray<T = (), V: Value = u64> {
    pub(crate) root: Root,
    collector: Collector,
    default_collector: bool,
    flags: Flags,
    /// Items let go of whose deferred drop has not run ([`XArray::flush`]).
    in_flight: InFlight,
    _entries: PhantomData<(Arc<T>, V)>,
}

/// The tree's lock, held: every write method of [`XArray`], and
/// [`cursor_mut`](Locked::cursor_mut) for many changes under one
/// acquisition (the kernel's `xa_lock`).
///
/// Readers on other threads carry on while it is held; writers wait. Reads
/// on the thread holding it never block either. Writes on that thread go
/// through the handle: the tree's own write methods would wait for the
/// lock this thread holds, so they panic instead (with `std`; see
/// [`XArray::lock`]).
///
/// ```
/// use xradix::{Entry, XArray};
/// let xa: XArray = XArray::new();
/// let locked = xa.lock();
/// for i in 0..10 {
///     locked.store(i, Entry::Value(i)).unwrap();
/// }
/// drop(locked);
/// assert_eq!(xa.len(), 10);
/// ```
pub struct Locked<'a, T: Send + Sync + 'static, V: Value = u64> {
    xa: &'a XArray<T, V>,
    reclaim: Reclaimer<'a>,
    _lock: LockGuard<'a>,
}

fn bounds(r: &impl RangeBounds<u64>) -> Option<(u64, u64)> {
    let start = match r.start_bound() {
        Bound::Included(&s) => s,
        Bound::Excluded(&s) => s.checked_add(1)?,
        Bound::Unbounded => 0,
    };
    let end = match r.end_bound() {
        Bound::Included(&e) => e,
        Bound::Excluded(&e) => e.checked_sub(1)?,
        Bound::Unbounded => u64::MAX,
    };
    (start <= end).then_some((start, end))
}

#[cfg(feature = "std")]
impl<T: Send + Sync + 'static, V: Value> Default for XArray<T, V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Send + Sync + 'static, V: Value> XArray<T, V> {
    /// An empty tree using the default epoch collector (the one [`pin`]
    /// pins to).
    ///
    /// ```
    /// let xa: xradix::XArray = xradix::XArray::new();
    /// assert!(xa.is_empty());
    /// ```
    ///
    /// [`pin`]: crate::pin
    #[cfg(feature = "std")]
    pub fn new() -> Self {
        Self::with_flags(Flags::empty())
    }

    /// An empty tree with `flags`, using the default epoch collector.
    ///
    /// ```
    /// use xradix::{Entry, Flags, XArray};
    /// let ids: XArray = XArray::with_flags(Flags::ALLOC);
    /// assert_eq!(ids.alloc(Entry::Value(1), 0..=9).unwrap(), 0);
    /// ```
    #[cfg(feature = "std")]
    pub fn with_flags(flags: Flags) -> Self {
        let mut xa = Self::with_collector(sync::default_collector().clone(), flags);
        xa.default_collector = true;
        xa
    }

    /// An empty tree whose nodes and items are freed through `collector`:
    /// the constructor for `no_std` builds, and for trees whose garbage
    /// should stay apart from the rest of the program. Readers must pin
    /// guards from a handle registered with the same collector.
    ///
    /// Read it through handles it hands out ([`XArray::handle`]).
    ///
    /// ```
    /// use xradix::{Collector, Entry, Flags, XArray};
    /// let xa: XArray = XArray::with_collector(Collector::new(), Flags::empty());
    /// xa.store(1, Entry::Value(2)).unwrap();
    /// let handle = xa.handle();
    /// let guard = handle.pin();
    /// assert_eq!(xa.load(1, &guard).and_then(|e| e.value()), Some(2));
    /// ```
    pub fn with_collector(collector: Collector, flags: Flags) -> Self {
        XArray {
            root: Root::new(
                flags.intersects(Flags::ALLOC | Flags::ALLOC1),
                cfg!(not(xradix_loom)) || Self::loom_shrink(flags),
            ),
            collector,
            default_collector: false,
            flags,
            in_flight: InFlight::new(),
            _entries: PhantomData,
        }
    }

    /// Whether a loom model asked for shrinking bottom nodes.
    #[cfg(xradix_loom)]
    fn loom_shrink(flags: Flags) -> bool {
        flags.contains(Flags::LOOM_SHRINK)
    }

    #[cfg(not(xradix_loom))]
    fn loom_shrink(_: Flags) -> bool {
        false
    }

    /// The flags the tree was made with.
    ///
    /// ```
    /// use xradix::{Flags, XArray};
    /// assert_eq!(XArray::<()>::with_flags(Flags::ALLOC).flags(), Flags::ALLOC);
    /// ```
    #[must_use]
    pub fn flags(&self) -> Flags {
        self.flags
    }

    /// A handle for pinning guards to this tree's collector, one per thread
    /// that reads; it borrows the tree (see [`Handle`](crate::Handle) for
    /// why). The way to read a tree made [`with_collector`](XArray::with_collector);
    /// it works for every tree.
    ///
    /// ```
    /// use xradix::{Collector, Entry, Flags, XArray};
    /// let xa: XArray = XArray::with_collector(Collector::new(), Flags::empty());
    /// xa.store(3, Entry::Value(30)).unwrap();
    /// let handle = xa.handle();
    /// let guard = handle.pin();
    /// assert_eq!(xa.load(3, &guard).and_then(|e| e.value()), Some(30));
    /// ```
    #[must_use]
    pub fn handle(&self) -> crate::Handle<'_> {
        crate::Handle::new(&self.collector)
    }

    /// The collector the tree frees nodes and items through.
    ///
    /// A [`LocalHandle`](crate::LocalHandle) registered with it directly
    /// must be dropped, with its guards, before the tree, or its drop is
    /// undefined behaviour inside crossbeam-epoch (crossbeam-rs/crossbeam#545);
    /// [`XArray::handle`] makes that order a compile-time rule.
    ///
    /// ```
    /// let xa: xradix::XArray = xradix::XArray::new();
    /// let handle = xa.handle();
    /// let guard = handle.pin();
    /// assert!(xa.load(0, &guard).is_none());
    /// ```
    #[must_use]
    pub fn collector(&self) -> &Collector {
        &self.collector
    }

    /// Panics unless `guard` is pinned to this tree's collector: a guard of
    /// another collector would not keep the tree's nodes alive.
    #[inline]
    pub(crate) fn check_guard(&self, guard: &Guard) {
        assert!(
            sync::guard_belongs(guard, &self.collector),
            "xradix: the guard is not pinned to this tree's collector (pin it with xradix::pin() \
             or a handle of XArray::collector())"
        );
    }

    fn writer_guard(&self) -> Guard {
        sync::writer_guard(&self.collector, self.default_collector)
    }

    /// A guard pinned to this tree's collector, for [`XArray::pin`].
    pub(crate) fn reader_guard(&self) -> Guard {
        self.writer_guard()
    }

    // -----------------------------------------------------------------
    // Reads.

    /// The entry at `index`, borrowed for the guard's lifetime (the
    /// kernel's `xa_load`). `None` for a hole or a reserved index. Inside a
    /// multi-order entry, that entry.
    ///
    /// Lock-free: no lock, no reference count, no store to shared memory.
    ///
    /// # Panics
    /// If `guard` is not pinned to this tree's collector.
    ///
    /// ```
    /// use xradix::{pin, Entry, XArray};
    /// let xa: XArray = XArray::new();
    /// xa.store(3, Entry::Value(30)).unwrap();
    /// let guard = pin();
    /// assert_eq!(xa.load(3, &guard).and_then(|e| e.value()), Some(30));
    /// assert!(xa.load(4, &guard).is_none());
    /// ```
    #[inline]
    #[must_use]
    pub fn load<'g>(&self, index: u64, guard: &'g Guard) -> Option<EntryRef<'g, T, V>> {
        self.check_guard(guard);
        // SAFETY: `guard` is pinned to our collector (checked above).
        let w = unsafe { walk::lookup(&self.root, index) };
        // SAFETY: loaded under `guard`.
        unsafe { entry::word_ref(w) }
    }

    /// The entries at many indices, in the order given: one `Option` per
    /// index, as [`load`](XArray::load) would return it. The lookups are
    /// walked in batches, a level at a time, so that their cache misses
    /// overlap instead of being paid one after another: on a tree too large
    /// for the cache, many times faster than a loop of `load`.
    ///
    /// Lock-free, like `load`; each result covered its index at some
    /// moment while its batch was read.
    ///
    /// # Panics
    /// If `guard` is not pinned to this tree's collector.
    ///
    /// ```
    /// use xradix::{pin, Entry, XArray};
    /// let xa: XArray = XArray::new();
    /// xa.store(7, Entry::Value(70)).unwrap();
    /// xa.store_order(64, 6, Entry::Value(1)).unwrap();
    /// let guard = pin();
    /// let values: Vec<Option<u64>> =
    ///     xa.load_many([7, 8, 100], &guard).map(|e| e.and_then(|e| e.value())).collect();
    /// assert_eq!(values, [Some(70), None, Some(1)]);
    /// ```
    #[must_use = "iterators do nothing unless consumed"]
    pub fn load_many<'a, 'g, I: IntoIterator<Item = u64>>(
        &'a self,
        indices: I,
        guard: &'g Guard,
    ) -> LoadMany<'a, 'g, T, V, I::IntoIter> {
        self.check_guard(guard);
        LoadMany::new(&self.root, indices.into_iter())
    }

    /// An owned copy of the entry at `index` (items: a new `Arc`
    /// reference). Pins internally.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use xradix::{Entry, XArray};
    /// let xa: XArray<u32> = XArray::new();
    /// let item = Arc::new(7);
    /// xa.store(1, Entry::Item(item.clone())).unwrap();
    /// let got = xa.get(1).unwrap();
    /// assert!(got.same(&Entry::Item(item)));
    /// ```
    #[must_use]
    pub fn get(&self, index: u64) -> Option<Entry<T, V>> {
        let _guard = self.writer_guard();
        let mut walk = Walk::new(index);
        // SAFETY: `guard` is pinned to our collector.
        let w = unsafe { walk.load(&self.root) };
        // SAFETY: loaded under `guard`, which is still pinned.
        unsafe { entry::word_clone(w) }
    }

    /// Whether the entry at `index` carries `mark` (the kernel's
    /// `xa_get_mark`). False in a hole.
    ///
    /// In a [`Flags::ALLOC`] or [`Flags::ALLOC1`] tree, mark 0
    /// (`Mark::DIRTY`) tracks free indices, not entries: it cannot be set
    /// on an entry there, and `get_mark(i, Mark::DIRTY)` is always false.
    /// Use `TOWRITE` or `MARK_2` in such a tree.
    ///
    /// ```
    /// use xradix::{Entry, Mark, XArray};
    /// let xa: XArray = XArray::new();
    /// xa.store(3, Entry::Value(1)).unwrap();
    /// xa.set_mark(3, Mark::TOWRITE);
    /// assert!(xa.get_mark(3, Mark::TOWRITE));
    /// assert!(!xa.get_mark(4, Mark::TOWRITE));
    /// ```
    #[must_use]
    pub fn get_mark(&self, index: u64, mark: Mark) -> bool {
        let _guard = self.writer_guard();
        // SAFETY: `_guard` is pinned to our collector.
        unsafe { walk::lookup_mark(&self.root, index, mark.index()) }
    }

    /// Whether any entry carries `mark` (the kernel's `xa_marked`). In a
    /// [`Flags::ALLOC`] or [`Flags::ALLOC1`] tree, mark 0 (`Mark::DIRTY`)
    /// is the free-index bookkeeping, not an entry's mark: do not ask it
    /// there.
    ///
    /// ```
    /// use xradix::{Entry, Mark, XArray};
    /// let xa: XArray = XArray::new();
    /// xa.store(1 << 30, Entry::Value(1)).unwrap();
    /// assert!(!xa.has_mark(Mark::DIRTY));
    /// xa.set_mark(1 << 30, Mark::DIRTY);
    /// assert!(xa.has_mark(Mark::DIRTY));
    /// ```
    #[must_use]
    pub fn has_mark(&self, mark: Mark) -> bool {
        self.root.marks.load(Ordering::Relaxed) & mark.bit() != 0
    }

    /// The order of the entry covering `index`: `k` for an entry covering
    /// 2^k indices, 0 where nothing is stored.
    ///
    /// ```
    /// use xradix::{Entry, XArray};
    /// let xa: XArray = XArray::new();
    /// xa.store_order(512, 9, Entry::Value(1)).unwrap();
    /// assert_eq!(xa.get_order(700), 9);
    /// assert_eq!(xa.get_order(2000), 0);
    /// ```
    #[must_use]
    pub fn get_order(&self, index: u64) -> u32 {
        let _guard = self.writer_guard();
        // SAFETY: `_guard` is pinned to our collector.
        unsafe { walk::lookup_order(&self.root, index) }.1
    }

    /// How many entries the tree holds; a multi-order entry and a
    /// reservation count once each. A snapshot: writers may change it
    /// right after.
    ///
    /// ```
    /// use xradix::{Entry, XArray};
    /// let xa: XArray = XArray::new();
    /// xa.store_order(0, 9, Entry::Value(1)).unwrap();
    /// xa.reserve(1000).unwrap();
    /// assert_eq!(xa.len(), 2);
    /// ```
    #[must_use]
    pub fn len(&self) -> usize {
        self.root.writer.len.load(Ordering::Relaxed)
    }

    /// Whether the tree holds no entry and no reservation (`xa_empty`).
    ///
    /// ```
    /// let xa: xradix::XArray = xradix::XArray::new();
    /// assert!(xa.is_empty());
    /// ```
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every entry, in index order; a multi-order entry once, at its first
    /// index.
    ///
    /// ```
    /// use xradix::{pin, Entry, XArray};
    /// let xa: XArray = XArray::new();
    /// for i in [9, 1, 5] {
    ///     xa.store(i, Entry::Value(i)).unwrap();
    /// }
    /// let guard = pin();
    /// let keys: Vec<u64> = xa.iter(&guard).map(|(i, _)| i).collect();
    /// assert_eq!(keys, [1, 5, 9]);
    /// ```
    #[must_use = "iterators are lazy and do nothing unless consumed"]
    pub fn iter<'a, 'g>(&'a self, guard: &'g Guard) -> Iter<'a, 'g, T, V> {
        self.range(.., guard)
    }

    /// The entries covering indices in `r`, in index order; an entry that
    /// begins before the range is yielded at the range's start. An empty
    /// or reversed range yields nothing.
    ///
    /// ```
    /// use xradix::{pin, Entry, XArray};
    /// let xa: XArray = XArray::new();
    /// for i in 0..100 {
    ///     xa.store(i, Entry::Value(i)).unwrap();
    /// }
    /// let guard = pin();
    /// assert_eq!(xa.range(10..20, &guard).count(), 10);
    /// assert_eq!(xa.range(95.., &guard).count(), 5);
    /// ```
    #[must_use = "iterators are lazy and do nothing unless consumed"]
    pub fn range<'a, 'g>(
        &'a self,
        r: impl RangeBounds<u64>,
        guard: &'g Guard,
    ) -> Iter<'a, 'g, T, V> {
        self.check_guard(guard);
        Iter::new(
            Cursor::new(&self.root, 0, guard),
            Cursor::new(&self.root, 0, guard),
            bounds(&r),
            Want::ANY,
        )
    }

    /// The entries in `r` that carry `mark`, in index order. Unmarked
    /// subtrees are skipped: k marked entries among n cost O(k log n).
    /// In a [`Flags::ALLOC`] or [`Flags::ALLOC1`] tree no entry carries
    /// mark 0 (`Mark::DIRTY`, the free-index mark), so it yields nothing.
    ///
    /// ```
    /// use xradix::{pin, Entry, Mark, XArray};
    /// let xa: XArray = XArray::new();
    /// for i in 0..1000 {
    ///     xa.store(i, Entry::Value(i)).unwrap();
    /// }
    /// xa.set_mark(3, Mark::DIRTY);
    /// xa.set_mark(900, Mark::DIRTY);
    /// let guard = pin();
    /// let dirty: Vec<u64> = xa.iter_marked(.., Mark::DIRTY, &guard).map(|(i, _)| i).collect();
    /// assert_eq!(dirty, [3, 900]);
    /// ```
    #[must_use = "iterators are lazy and do nothing unless consumed"]
    pub fn iter_marked<'a, 'g>(
        &'a self,
        r: impl RangeBounds<u64>,
        mark: Mark,
        guard: &'g Guard,
    ) -> Iter<'a, 'g, T, V> {
        self.check_guard(guard);
        Iter::new(
            Cursor::new(&self.root, 0, guard),
            Cursor::new(&self.root, 0, guard),
            bounds(&r),
            Want::marked(mark.index()),
        )
    }

    /// A read-only cursor at `index`; see [`Cursor`].
    ///
    /// ```
    /// use xradix::{pin, Entry, XArray};
    /// let xa: XArray = XArray::new();
    /// xa.store(2, Entry::Value(2)).unwrap();
    /// let guard = pin();
    /// let mut c = xa.cursor(2, &guard);
    /// assert!(c.next().is_some());
    /// ```
    #[must_use = "a cursor does nothing until it is moved or read"]
    pub fn cursor<'a, 'g>(&'a self, index: u64, guard: &'g Guard) -> Cursor<'a, 'g, T, V> {
        self.check_guard(guard);
        Cursor::new(&self.root, index, guard)
    }

    /// Takes the tree's lock and returns the handle that holds it; see
    /// [`Locked`] (the kernel's `xa_lock`). Other threads' writers wait
    /// until the handle is dropped; readers never do.
    ///
    /// While the handle is alive, write through it: `locked.set_mark(..)`,
    /// not `xa.set_mark(..)`. The lock is not reentrant, so a write method
    /// of the tree itself (or `lock()`, `clone()`, serialising the tree)
    /// on the thread that holds the lock could only wait for itself; with
    /// `std` it panics at once instead, with a message that says so.
    ///
    /// ```
    /// use xradix::{Entry, XArray};
    /// let xa: XArray = XArray::new();
    /// let locked = xa.lock();
    /// locked.store(1, Entry::Value(1)).unwrap();
    /// ```
    ///
    /// # Panics
    ///
    /// With `std`, if this thread already holds the tree's lock (a
    /// programming error, like a `RefCell` borrowed twice; the message
    /// names the call and says to use the [`Locked`] handle). Without
    /// `std` the spin lock cannot tell which thread holds it, and the same
    /// mistake spins for ever.
    ///
    /// ```should_panic
    /// use xradix::{Entry, Mark, XArray};
    /// let xa: XArray = XArray::new();
    /// xa.store(1, Entry::Value(1)).unwrap();
    /// let locked = xa.lock();
    /// // Panics: "xradix: XArray::set_mark on a thread that already holds
    /// // this tree's lock ..."; `locked.set_mark(1, Mark::TOWRITE)` works.
    /// xa.set_mark(1, Mark::TOWRITE);
    /// ```
    #[must_use = "the lock is released as soon as the Locked handle is dropped"]
    #[track_caller]
    pub fn lock(&self) -> Locked<'_, T, V> {
        self.lock_for("XArray::lock")
    }

    /// [`XArray::lock`] on behalf of `what` (named in the panic message).
    #[track_caller]
    #[inline]
    pub(crate) fn lock_for(&self, what: &str) -> Locked<'_, T, V> {
        let Some(lock) = self.root.writer.lock.lock() else {
            relock_panic(what)
        };
        Locked {
            xa: self,
            reclaim: Reclaimer::new(&self.collector, self.default_collector, &self.in_flight),
            _lock: lock,
        }
    }

    /// Checks the tree's internal structure (node counts, value counts,
    /// sibling runs, mark summaries, free tracking, `len`, shrinking).
    /// For tests; takes the lock.
    ///
    /// # Panics
    /// With a message naming the first broken invariant.
    ///
    /// ```
    /// let xa: xradix::XArray = xradix::XArray::new();
    /// xa.check_invariants();
    /// ```
    #[doc(hidden)]
    #[track_caller]
    pub fn check_invariants(&self) {
        let Some(_lock) = self.root.writer.lock.lock() else {
            relock_panic("XArray::check_invariants")
        };
        // SAFETY: we hold the lock.
        if let Err(e) = unsafe { self.root.check() } {
            panic!("xradix invariant broken: {e}");
        }
    }

    /// How many times this tree has converted a bottom node from one kind
    /// to another, by conversion: `[insert_below, grow, grow_to_full,
    /// to_full_for_siblings, shrink, full_to_compact]`
    /// (docs/sparse-nodes.md). For tests, which assert that each conversion
    /// happened; not a stable API.
    ///
    /// ```
    /// let xa: xradix::XArray = xradix::XArray::new();
    /// assert_eq!(xa.conversion_stats(), [0; 6]);
    /// ```
    #[doc(hidden)]
    pub fn conversion_stats(&self) -> [usize; 6] {
        self.root.conversions()
    }
}

macro_rules! write_methods {
    ($($(#[$doc:meta])* $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)*) => {
        impl<T: Send + Sync + 'static, V: Value> XArray<T, V> {
            $(
                $(#[$doc])*
                #[doc = ""]
                #[doc = concat!("Takes the lock for the call; [`Locked::", stringify!($name), "`] does the same under a held lock.")]
                #[doc = ""]
                #[doc = "# Panics"]
                #[doc = ""]
                #[doc = concat!("With `std`, if this thread holds the tree's lock (a [`Locked`] handle is alive): call `", stringify!($name), "` on that handle instead. See [`XArray::lock`].")]
                #[track_caller]
                pub fn $name(&self, $($arg: $ty),*) -> $ret {
                    self.lock_for(concat!("XArray::", stringify!($name))).$name($($arg),*)
                }
            )*
        }
    };
}

write_methods! {
    /// Stores `entry` at `index` and returns what was there (the kernel's
    /// `xa_store`); inside a multi-order entry, replaces the whole entry.
    /// The tree's own reference to a displaced item is dropped later, when
    /// no guard can still see it (see [`XArray::flush`]). Details: [`Locked::store`].
    /// ```
    /// use xradix::{Entry, XArray};
    /// let xa: XArray = XArray::new();
    /// assert_eq!(xa.store(1, Entry::Value(1)).unwrap(), None);
    /// assert_eq!(xa.store(1, Entry::Value(2)).unwrap(), Some(Entry::Value(1)));
    /// ```
    store(index: u64, entry: Entry<T, V>) -> Result<Option<Entry<T, V>>, Error>;
    /// Stores `entry` at `index` only if nothing is there, else
    /// [`Error::Busy`] (the kernel's `xa_insert`). Details: [`Locked::insert`].
    /// ```
    /// use xradix::{Entry, Error, XArray};
    /// let xa: XArray = XArray::new();
    /// xa.insert(1, Entry::Value(1)).unwrap();
    /// assert!(matches!(xa.insert(1, Entry::Value(2)), Err(Error::Busy { index: 1 })));
    /// ```
    insert(index: u64, entry: Entry<T, V>) -> Result<(), Error>;
    /// Removes the entry at `index` (a multi-order entry: all of it) and
    /// returns it (the kernel's `xa_erase`). The tree's own reference to an
    /// item is dropped later, when no guard can still see it (see
    /// [`XArray::flush`]). Details: [`Locked::erase`].
    /// ```
    /// use xradix::{Entry, XArray};
    /// let xa: XArray = XArray::new();
    /// xa.store(4, Entry::Value(4)).unwrap();
    /// assert_eq!(xa.erase(4), Some(Entry::Value(4)));
    /// assert_eq!(xa.erase(4), None);
    /// ```
    erase(index: u64) -> Option<Entry<T, V>>;
    /// Stores `new` at `index` only if `old` is what is there, and returns
    /// what was there either way (the kernel's `xa_cmpxchg`). Details:
    /// [`Locked::cmpxchg`].
    /// ```
    /// use xradix::{Entry, XArray};
    /// let xa: XArray = XArray::new();
    /// assert_eq!(xa.cmpxchg(1, None, Some(Entry::Value(5))).unwrap(), None);
    /// assert_eq!(xa.cmpxchg(1, None, Some(Entry::Value(6))).unwrap(), Some(Entry::Value(5)));
    /// assert_eq!(xa.get(1), Some(Entry::Value(5)));
    /// ```
    cmpxchg(index: u64, old: Option<&Entry<T, V>>, new: Option<Entry<T, V>>) -> Result<Option<Entry<T, V>>, Error>;
    /// Reserves `index`: it reads as empty but [`insert`](XArray::insert)
    /// finds it busy (the kernel's `xa_reserve`). Details: [`Locked::reserve`].
    /// ```
    /// use xradix::XArray;
    /// let xa: XArray = XArray::new();
    /// xa.reserve(9).unwrap();
    /// assert!(xa.get(9).is_none());
    /// assert_eq!(xa.len(), 1);
    /// ```
    reserve(index: u64) -> Result<(), Error>;
    /// Drops the reservation at `index`, if any (the kernel's
    /// `xa_release`). Details: [`Locked::release`].
    /// ```
    /// use xradix::XArray;
    /// let xa: XArray = XArray::new();
    /// xa.reserve(9).unwrap();
    /// xa.release(9);
    /// assert!(xa.is_empty());
    /// ```
    release(index: u64) -> ();
    /// Stores one entry covering the 2^`order` indices from `index` (the
    /// kernel's `xa_store_order`). Details: [`Locked::store_order`].
    /// ```
    /// use xradix::{Entry, XArray};
    /// let xa: XArray = XArray::new();
    /// xa.store_order(512, 9, Entry::Value(1)).unwrap();
    /// assert_eq!(xa.get(1023), Some(Entry::Value(1)));
    /// assert_eq!(xa.get_order(600), 9);
    /// ```
    store_order(index: u64, order: u32, entry: Entry<T, V>) -> Result<Option<Entry<T, V>>, Error>;
    /// Covers `first ..= last` with `entry` in the fewest aligned
    /// multi-order pieces (the kernel's `xa_store_range`). Details:
    /// [`Locked::store_range`].
    /// ```
    /// use xradix::{Entry, XArray};
    /// let xa: XArray = XArray::new();
    /// xa.store_range(3, 12, Entry::Value(1)).unwrap();
    /// assert_eq!(xa.len(), 4); // 3, 4..=7, 8..=11, 12
    /// ```
    store_range(first: u64, last: u64, entry: Entry<T, V>) -> Result<(), Error>;
    /// Splits the multi-order entry covering `index` into pieces of
    /// `order`, each the same entry with the same marks (the kernel's
    /// `xas_split`). Details: [`Locked::split`].
    /// ```
    /// use xradix::{Entry, XArray};
    /// let xa: XArray = XArray::new();
    /// xa.store_order(0, 4, Entry::Value(1)).unwrap();
    /// xa.split(0, 2).unwrap();
    /// assert_eq!(xa.len(), 4);
    /// assert_eq!(xa.get_order(5), 2);
    /// ```
    split(index: u64, order: u32) -> Result<(), Error>;
    /// Sets `mark` on the entry covering `index`; nothing happens in a hole
    /// (the kernel's `xa_set_mark`). In a [`Flags::ALLOC`] or
    /// [`Flags::ALLOC1`] tree, `Mark::DIRTY` (mark 0) tracks free indices
    /// and setting it does nothing: use `TOWRITE` or `MARK_2` there.
    /// Details: [`Locked::set_mark`].
    /// ```
    /// use xradix::{Entry, Mark, XArray};
    /// let xa: XArray = XArray::new();
    /// xa.store(3, Entry::Value(3)).unwrap();
    /// xa.set_mark(3, Mark::DIRTY);
    /// assert!(xa.get_mark(3, Mark::DIRTY));
    /// ```
    set_mark(index: u64, mark: Mark) -> ();
    /// Clears `mark` on the entry covering `index` (the kernel's
    /// `xa_clear_mark`). In a [`Flags::ALLOC`] or [`Flags::ALLOC1`] tree,
    /// clearing `Mark::DIRTY` (mark 0, the free-index mark) does nothing.
    /// Details: [`Locked::clear_mark`].
    /// ```
    /// use xradix::{Entry, Mark, XArray};
    /// let xa: XArray = XArray::new();
    /// xa.store(3, Entry::Value(3)).unwrap();
    /// xa.set_mark(3, Mark::DIRTY);
    /// xa.clear_mark(3, Mark::DIRTY);
    /// assert!(!xa.get_mark(3, Mark::DIRTY));
    /// ```
    clear_mark(index: u64, mark: Mark) -> ();
    /// Stores `entry` at the lowest free index in `limit` and returns that
    /// index (the kernel's `xa_alloc`). Details: [`Locked::alloc`].
    /// ```
    /// use xradix::{Entry, Flags, XArray};
    /// let ids: XArray = XArray::with_flags(Flags::ALLOC1);
    /// assert_eq!(ids.alloc(Entry::Value(0), 0..=9).unwrap(), 1);
    /// assert_eq!(ids.alloc(Entry::Value(0), 0..=9).unwrap(), 2);
    /// ```
    alloc(entry: Entry<T, V>, limit: RangeInclusive<u64>) -> Result<u64, Error>;
}

impl<T: Send + Sync + 'static, V: Value> XArray<T, V> {
    /// Removes every entry (the kernel's `xa_destroy`). Takes the lock for
    /// the call; [`Locked::clear`] does the same under a held lock.
    ///
    /// The whole tree goes to the collector as one batch; after releasing
    /// the lock, `clear` pushes the collector along a few times, so that
    /// when no reader is pinned, the nodes (and the items nobody else
    /// holds) are freed before it returns. A reader pinned meanwhile holds
    /// the memory back until it unpins, as it must: the tree's own
    /// references to the items are then dropped later, when no guard can
    /// still see them ([`XArray::flush`] waits for that).
    ///
    /// ```
    /// use xradix::{Entry, XArray};
    /// let xa: XArray = XArray::new();
    /// xa.store(1 << 40, Entry::Value(1)).unwrap();
    /// xa.clear();
    /// assert!(xa.is_empty());
    /// ```
    ///
    /// # Panics
    ///
    /// With `std`, if this thread holds the tree's lock (a [`Locked`]
    /// handle is alive): call `clear` on that handle instead. See
    /// [`XArray::lock`].
    #[track_caller]
    pub fn clear(&self) {
        self.lock_for("XArray::clear").clear();
        sync::collect_now(&self.collector, self.default_collector);
    }

    /// Gives every entry in `r` that carries `from` the mark `to` as well,
    /// and returns how many entries carry `from` (the kernel's
    /// `tag_pages_for_writeback`: DIRTY → TOWRITE takes the snapshot that
    /// a writeback pass then works through, so that pages dirtied during
    /// the pass wait for the next one).
    ///
    /// An entry that begins before the range but reaches into it counts.
    /// Takes the lock for the call.
    ///
    /// ```
    /// use xradix::{Entry, Mark, XArray};
    /// let xa: XArray = XArray::new();
    /// for i in 0..10 {
    ///     xa.store(i, Entry::Value(i)).unwrap();
    /// }
    /// xa.set_mark(2, Mark::DIRTY);
    /// xa.set_mark(8, Mark::DIRTY);
    /// assert_eq!(xa.tag_range(0..5, Mark::DIRTY, Mark::TOWRITE), 1);
    /// assert!(xa.get_mark(2, Mark::TOWRITE));
    /// assert!(!xa.get_mark(8, Mark::TOWRITE));
    /// ```
    ///
    /// # Panics
    ///
    /// With `std`, if this thread holds the tree's lock: call
    /// [`Locked::tag_range`] on that handle instead. See [`XArray::lock`].
    #[track_caller]
    pub fn tag_range(&self, r: impl RangeBounds<u64>, from: Mark, to: Mark) -> usize {
        self.lock_for("XArray::tag_range").tag_range(r, from, to)
    }
}

impl<'a, T: Send + Sync + 'static, V: Value> Locked<'a, T, V> {
    /// The tree this lock belongs to.
    ///
    /// ```
    /// let xa: xradix::XArray = xradix::XArray::new();
    /// assert!(std::ptr::eq(xa.lock().tree(), &xa));
    /// ```
    #[must_use]
    pub fn tree(&self) -> &'a XArray<T, V> {
        self.xa
    }

    /// A writing cursor at `index` under this lock; see [`CursorMut`].
    ///
    /// The cursor and this handle may be used in turn: a change made
    /// through the handle while the cursor lives (a store, erase or split)
    /// is seen by the cursor's next move, which walks again from its index
    /// instead of trusting the path it kept. (The alternative, a cursor that
    /// borrows the handle exclusively, would forbid the common pattern of
    /// reading through the handle during a walk.)
    ///
    /// ```
    /// use xradix::{Entry, XArray};
    /// let xa: XArray = XArray::new();
    /// let locked = xa.lock();
    /// let mut c = locked.cursor_mut(4);
    /// c.store(Entry::Value(4)).unwrap();
    /// ```
    #[must_use = "a cursor does nothing until it is moved, read or written through"]
    pub fn cursor_mut(&self, index: u64) -> CursorMut<'_, T, V> {
        CursorMut::new(&self.xa.root, index, &self.reclaim)
    }

    /// The entry at `index`, borrowed while the lock is held.
    ///
    /// ```
    /// use xradix::{Entry, XArray};
    /// let xa: XArray = XArray::new();
    /// let locked = xa.lock();
    /// locked.store(1, Entry::Value(5)).unwrap();
    /// assert_eq!(locked.load(1).and_then(|e| e.value()), Some(5));
    /// ```
    #[must_use]
    pub fn load(&self, index: u64) -> Option<EntryRef<'_, T, V>> {
        // SAFETY: we hold the lock, so nothing in the tree is freed; what we
        // erase ourselves waits for `reclaim`'s guard, which outlives the
        // borrow of `self`.
        let w = unsafe { walk::lookup(&self.xa.root, index) };
        // SAFETY: as above.
        unsafe { entry::word_ref(w) }
    }

    /// Whether the entry at `index` carries `mark`, exact while the lock is
    /// held (the kernel's `xa_get_mark` under `xa_lock`). False in a hole,
    /// and for `Mark::DIRTY` in a [`Flags::ALLOC`] or [`Flags::ALLOC1`]
    /// tree (see [`XArray::get_mark`]).
    ///
    /// ```
    /// use xradix::{Entry, Mark, XArray};
    /// let xa: XArray = XArray::new();
    /// let locked = xa.lock();
    /// locked.store(1, Entry::Value(5)).unwrap();
    /// locked.set_mark(1, Mark::DIRTY);
    /// assert!(locked.get_mark(1, Mark::DIRTY));
    /// ```
    pub fn get_mark(&self, index: u64, mark: Mark) -> bool {
        let (walk, w) = self.peek(index);
        // SAFETY: we hold the lock; the walk is fresh.
        !w.is_null() && unsafe { walk.is_marked(&self.xa.root, mark.index()) }
    }

    /// The order of the entry covering `index`: it covers 2^order indices;
    /// 0 where nothing is stored (see [`XArray::get_order`]).
    ///
    /// ```
    /// use xradix::{Entry, XArray};
    /// let xa: XArray = XArray::new();
    /// let locked = xa.lock();
    /// locked.store_order(0, 3, Entry::Value(5)).unwrap();
    /// assert_eq!(locked.get_order(7), 3);
    /// ```
    pub fn get_order(&self, index: u64) -> u32 {
        let (walk, _) = self.peek(index);
        // SAFETY: we hold the lock; the walk is fresh.
        unsafe { walk.order_locked() }
    }

    /// Stores `entry` at `index` and returns what was there (the kernel's
    /// `xa_store`). An existing entry keeps its marks.
    ///
    /// **Inside a multi-order entry this replaces the whole entry and
    /// keeps its order**: storing at one page of a 2 MiB entry rewrites all
    /// 512. To change part of a multi-order entry, [`split`](Locked::split)
    /// it first.
    ///
    /// A displaced item comes back as a new `Arc`; **the tree's own
    /// reference to it is dropped later**, once no guard pinned before the
    /// store can still see it (so `Arc::strong_count` stays one higher
    /// until then). [`XArray::flush`] waits for that.
    ///
    /// # Errors
    /// [`Error::Invalid`] if a value does not fit its `Value::BITS`.
    ///
    /// ```
    /// use xradix::{Entry, XArray};
    /// let xa: XArray = XArray::new();
    /// assert_eq!(xa.store(1, Entry::Value(1)).unwrap(), None);
    /// assert_eq!(xa.store(1, Entry::Value(2)).unwrap(), Some(Entry::Value(1)));
    /// assert!(xa.store(2, Entry::Value(1 << 62)).is_err());
    /// ```
    pub fn store(&self, index: u64, entry: Entry<T, V>) -> Result<Option<Entry<T, V>>, Error> {
        let word = entry::into_word(entry)?;
        Ok(self.store_word(index, 0, word))
    }

    /// A bulk builder for ascending stores under this lock.
    pub(crate) fn bulk(&self) -> crate::cursor::bulk::Bulk<'_, T, V> {
        crate::cursor::bulk::Bulk::new(&self.xa.root, &self.reclaim)
    }

    pub(crate) fn store_word(&self, index: u64, order: u32, word: Word) -> Option<Entry<T, V>> {
        let mut walk = Walk::new(index);
        // SAFETY: we hold the lock and a pinned guard; `word` is a leaf
        // word (or null) of this tree's types.
        unsafe {
            self.xa
                .root
                .store_entry::<T, V>(&mut walk, order, word, &self.reclaim)
        }
    }

    /// What `load` would see at `index`, as a raw word, plus a fresh walk.
    fn peek(&self, index: u64) -> (Walk, Word) {
        let mut walk = Walk::new(index);
        // SAFETY: we hold the lock.
        let w = unsafe { walk.load(&self.xa.root) };
        (walk, w)
    }

    /// Stores `entry` at `index` only if nothing is there (the kernel's
    /// `xa_insert`).
    ///
    /// # Errors
    /// [`Error::Busy`] if `index` holds an entry or a reservation (inside a
    /// multi-order entry included); [`Error::Invalid`] for a value too wide.
    ///
    /// ```
    /// use xradix::{Entry, Error, XArray};
    /// let xa: XArray = XArray::new();
    /// xa.insert(1, Entry::Value(1)).unwrap();
    /// assert!(matches!(xa.insert(1, Entry::Value(2)), Err(Error::Busy { index: 1 })));
    /// ```
    pub fn insert(&self, index: u64, entry: Entry<T, V>) -> Result<(), Error> {
        let word = entry::into_word(entry)?;
        if !self.peek(index).1.is_null() {
            // SAFETY: `word` never entered the tree; take its reference back.
            drop(unsafe { entry::word_into_entry::<T, V>(word) });
            return Err(Error::Busy { index });
        }
        self.store_word(index, 0, word);
        Ok(())
    }

    /// Erases the entry at `index` and returns it (the kernel's
    /// `xa_erase`); its marks go with it.
    ///
    /// **Inside a multi-order entry this erases the whole entry**, every
    /// index it covers. To erase part of it, [`split`](Locked::split) first.
    ///
    /// The item comes back as a new `Arc`; **the tree's own reference to it
    /// is dropped later**, once no guard pinned before the erase can still
    /// see it: until then `Arc::strong_count` counts it, and the item's
    /// `Drop` has not run. [`XArray::flush`] waits for that (see the crate
    /// docs, "When is my item dropped?").
    ///
    /// ```
    /// use xradix::{Entry, XArray};
    /// let xa: XArray = XArray::new();
    /// xa.store_order(0, 4, Entry::Value(1)).unwrap();
    /// assert_eq!(xa.erase(3), Some(Entry::Value(1)));
    /// assert!(xa.is_empty());
    /// ```
    pub fn erase(&self, index: u64) -> Option<Entry<T, V>> {
        self.store_word(index, 0, NULL)
    }

    /// Stores `new` at `index` if what is there is `old` (`None`: nothing,
    /// or a reservation), and returns what was there either way (the
    /// kernel's `xa_cmpxchg`). Items compare by `Arc` identity, values by
    /// value. `new` of `None` erases.
    ///
    /// # Errors
    /// [`Error::Invalid`] if `new` is a value too wide.
    ///
    /// ```
    /// use xradix::{Entry, XArray};
    /// let xa: XArray = XArray::new();
    /// assert_eq!(xa.cmpxchg(1, None, Some(Entry::Value(5))).unwrap(), None);
    /// // Not 4, so nothing changes; the current entry comes back.
    /// assert_eq!(xa.cmpxchg(1, Some(&Entry::Value(4)), None).unwrap(), Some(Entry::Value(5)));
    /// assert_eq!(xa.cmpxchg(1, Some(&Entry::Value(5)), None).unwrap(), Some(Entry::Value(5)));
    /// assert!(xa.is_empty());
    /// ```
    pub fn cmpxchg(
        &self,
        index: u64,
        old: Option<&Entry<T, V>>,
        new: Option<Entry<T, V>>,
    ) -> Result<Option<Entry<T, V>>, Error> {
        let word = match new {
            Some(e) => entry::into_word(e)?,
            None => NULL,
        };
        let (_, cur) = self.peek(index);
        let matches = match old {
            None => cur.is_null() || cur == ZERO,
            Some(Entry::Item(a)) => {
                entry::is_item(cur) && cur.cast_const() == Arc::as_ptr(a).cast::<()>()
            }
            Some(Entry::Value(v)) => entry::is_value(cur) && entry::word_value(cur) == v.into_raw(),
        };
        if !matches || (cur.is_null() && word.is_null()) {
            // SAFETY: `word` never entered the tree.
            drop(unsafe { entry::word_into_entry::<T, V>(word) });
            // SAFETY: `cur` was loaded under the lock and our guard.
            return Ok(unsafe { entry::word_clone(cur) });
        }
        Ok(self.store_word(index, 0, word))
    }

    /// Reserves `index`: loads see nothing there, [`insert`](Locked::insert)
    /// sees it busy, [`len`](XArray::len) counts it, and
    /// `cmpxchg(index, None, Some(e))` fills it (the kernel's
    /// `xa_reserve`). An occupied index is left alone.
    ///
    /// ```
    /// use xradix::{Entry, XArray};
    /// let xa: XArray = XArray::new();
    /// xa.reserve(3).unwrap();
    /// assert!(xa.get(3).is_none());
    /// assert!(xa.insert(3, Entry::Value(1)).is_err());
    /// xa.cmpxchg(3, None, Some(Entry::Value(1))).unwrap();
    /// assert_eq!(xa.get(3), Some(Entry::Value(1)));
    /// ```
    pub fn reserve(&self, index: u64) -> Result<(), Error> {
        if self.peek(index).1.is_null() {
            self.store_word(index, 0, ZERO);
        }
        Ok(())
    }

    /// Drops the reservation at `index`, if there is one; an entry stored
    /// there since is left alone (the kernel's `xa_release`).
    ///
    /// ```
    /// use xradix::XArray;
    /// let xa: XArray = XArray::new();
    /// xa.reserve(3).unwrap();
    /// xa.release(3);
    /// assert!(xa.is_empty());
    /// ```
    pub fn release(&self, index: u64) {
        if self.peek(index).1 == ZERO {
            self.store_word(index, 0, NULL);
        }
    }

    /// Stores `entry` as one entry of order `order`, covering the 2^order
    /// indices from `index`, and returns what was there before: the entry
    /// covering `index`, or where the range held several, the first in
    /// index order (the kernel's `xa_store_order`). Whatever lay in the
    /// range is replaced; the new entry gets the union of their marks.
    ///
    /// If the range lies inside a larger entry, that whole entry is
    /// replaced and keeps its larger order, as with [`store`](Locked::store).
    ///
    /// # Errors
    /// [`Error::Invalid`] if `order >= 64`, if `index` is not a multiple of
    /// 2^order, or if a value is too wide.
    ///
    /// ```
    /// use xradix::{Entry, XArray};
    /// let xa: XArray = XArray::new();
    /// xa.store_order(512, 9, Entry::Value(1)).unwrap();
    /// assert_eq!(xa.get(1023), Some(Entry::Value(1)));
    /// assert_eq!(xa.len(), 1);
    /// assert!(xa.store_order(100, 9, Entry::Value(1)).is_err());
    /// ```
    pub fn store_order(
        &self,
        index: u64,
        order: u32,
        entry: Entry<T, V>,
    ) -> Result<Option<Entry<T, V>>, Error> {
        if order >= 64 {
            return Err(Error::invalid(InvalidInput::Order { order }));
        }
        if index & node::low_mask(order) != 0 {
            return Err(Error::invalid(InvalidInput::Misaligned { index, order }));
        }
        let word = entry::into_word(entry)?;
        Ok(self.store_word(index, order, word))
    }

    /// Covers `first ..= last` with `entry`, using the fewest aligned
    /// multi-order pieces (the kernel's `xa_store_range`). Each piece is a
    /// [`store_order`](Locked::store_order); an item is shared by all.
    ///
    /// # Errors
    /// [`Error::Invalid`] if `first > last` or a value is too wide.
    ///
    /// ```
    /// use xradix::{Entry, XArray};
    /// let xa: XArray = XArray::new();
    /// xa.store_range(3, 12, Entry::Value(1)).unwrap();
    /// // 3, 4..=7, 8..=11, 12
    /// assert_eq!(xa.len(), 4);
    /// assert_eq!(xa.get_order(9), 2);
    /// ```
    pub fn store_range(&self, first: u64, last: u64, entry: Entry<T, V>) -> Result<(), Error> {
        if first > last {
            return Err(Error::invalid(InvalidInput::Range { first, last }));
        }
        if let Entry::Value(v) = entry {
            crate::value::checked_raw(v)?;
        }
        let mut index = first;
        loop {
            let align = if index == 0 {
                63
            } else {
                index.trailing_zeros().min(63)
            };
            let room = (last - index)
                .checked_add(1)
                .map_or(63, |n| 63 - n.leading_zeros());
            let order = align.min(room);
            let piece = entry::into_word(entry.clone())?;
            self.store_word(index, order, piece);
            match (index | node::low_mask(order)).checked_add(1) {
                Some(next) if next <= last => index = next,
                _ => return Ok(()),
            }
        }
    }

    /// Splits the entry covering `index` into 2^(its order − `order`)
    /// entries of `order`, each the same entry (items: the same `Arc`) with
    /// the same marks (the kernel's `xas_split`). Readers see, at every
    /// index, the old entry or a piece, never nothing.
    ///
    /// This is the way to change part of a multi-order entry: split, then
    /// store or erase the pieces. Nothing to split at `index` is fine.
    ///
    /// # Errors
    /// [`Error::Invalid`] if `order` is not smaller than the entry's order
    /// (or is 64 or more), or if the split would allocate more than 65,536
    /// nodes at once.
    ///
    /// ```
    /// use xradix::{Entry, Mark, XArray};
    /// let xa: XArray = XArray::new();
    /// xa.store_order(512, 9, Entry::Value(1)).unwrap();
    /// xa.set_mark(512, Mark::DIRTY);
    /// xa.split(512, 0).unwrap();
    /// xa.erase(600);
    /// assert_eq!(xa.len(), 511);
    /// assert!(xa.get_mark(601, Mark::DIRTY));
    /// ```
    pub fn split(&self, index: u64, order: u32) -> Result<(), Error> {
        let mut walk = Walk::new(index);
        // SAFETY: we hold the lock and a pinned guard.
        unsafe { self.xa.root.split::<T>(&mut walk, order, &self.reclaim) }
    }

    /// Sets `mark` on the entry covering `index`; nothing happens where
    /// nothing is stored. On a multi-order entry the mark covers it whole
    /// (the kernel's `xa_set_mark`).
    ///
    /// **In a [`Flags::ALLOC`] or [`Flags::ALLOC1`] tree, `Mark::DIRTY`
    /// does nothing**: mark 0 tracks the free indices there (as the
    /// kernel's `XA_FREE_MARK` does), so the tree keeps it to itself. Use
    /// `Mark::TOWRITE` or `Mark::MARK_2` in such a tree.
    ///
    /// ```
    /// use xradix::{Entry, Mark, XArray};
    /// let xa: XArray = XArray::new();
    /// xa.store_order(64, 6, Entry::Value(1)).unwrap();
    /// xa.set_mark(100, Mark::DIRTY);
    /// assert!(xa.get_mark(64, Mark::DIRTY));
    /// xa.set_mark(5, Mark::DIRTY); // a hole: no effect
    /// assert!(!xa.get_mark(5, Mark::DIRTY));
    /// ```
    pub fn set_mark(&self, index: u64, mark: Mark) {
        let mut walk = Walk::new(index);
        // SAFETY: we hold the lock.
        unsafe { self.xa.root.mark(&mut walk, mark, true) }
    }

    /// Clears `mark` on the entry covering `index` (the kernel's
    /// `xa_clear_mark`); nothing happens where nothing is stored. In a
    /// [`Flags::ALLOC`] or [`Flags::ALLOC1`] tree, `Mark::DIRTY` (the
    /// free-index mark there) is left alone.
    ///
    /// ```
    /// use xradix::{Entry, Mark, XArray};
    /// let xa: XArray = XArray::new();
    /// xa.store(1, Entry::Value(1)).unwrap();
    /// xa.set_mark(1, Mark::DIRTY);
    /// xa.clear_mark(1, Mark::DIRTY);
    /// assert!(!xa.has_mark(Mark::DIRTY));
    /// ```
    pub fn clear_mark(&self, index: u64, mark: Mark) {
        let mut walk = Walk::new(index);
        // SAFETY: we hold the lock.
        unsafe { self.xa.root.mark(&mut walk, mark, false) }
    }

    /// Gives every entry in `r` that carries `from` the mark `to` as well,
    /// and returns how many carry `from` (the kernel's
    /// `tag_pages_for_writeback`); see [`XArray::tag_range`]. In a
    /// [`Flags::ALLOC`] or [`Flags::ALLOC1`] tree, `Mark::DIRTY` is never
    /// given (as `to`) nor found (as `from`: the count is 0).
    ///
    /// ```
    /// use xradix::{Entry, Mark, XArray};
    /// let xa: XArray = XArray::new();
    /// xa.store(1, Entry::Value(1)).unwrap();
    /// xa.set_mark(1, Mark::DIRTY);
    /// assert_eq!(xa.lock().tag_range(.., Mark::DIRTY, Mark::TOWRITE), 1);
    /// ```
    pub fn tag_range(&self, r: impl RangeBounds<u64>, from: Mark, to: Mark) -> usize {
        let Some((start, end)) = bounds(&r) else {
            return 0;
        };
        // SAFETY: we hold the lock.
        unsafe {
            self.xa
                .root
                .tag_range(start, end, from.index(), Some(to.index()))
        }
    }

    /// Stores `entry` at the lowest free index in `limit` and returns it
    /// (the kernel's `xa_alloc`). The tree must be made with
    /// [`Flags::ALLOC`] (ids from the limit's start) or [`Flags::ALLOC1`]
    /// (ids from at least 1). O(height): free indices are tracked in mark 0.
    ///
    /// # Errors
    /// [`Error::Full`] when no index in `limit` is free;
    /// [`Error::Invalid`] for an empty limit, a tree made without either
    /// flag, or a value too wide.
    ///
    /// ```
    /// use xradix::{Entry, Error, Flags, XArray};
    /// let ids: XArray = XArray::with_flags(Flags::ALLOC);
    /// assert_eq!(ids.alloc(Entry::Value(7), 0..=1).unwrap(), 0);
    /// assert_eq!(ids.alloc(Entry::Value(7), 0..=1).unwrap(), 1);
    /// assert!(matches!(ids.alloc(Entry::Value(7), 0..=1), Err(Error::Full { .. })));
    /// ids.erase(0);
    /// assert_eq!(ids.alloc(Entry::Value(7), 0..=1).unwrap(), 0);
    /// ```
    pub fn alloc(&self, entry: Entry<T, V>, limit: RangeInclusive<u64>) -> Result<u64, Error> {
        let flags = self.xa.flags;
        if !flags.intersects(Flags::ALLOC | Flags::ALLOC1) {
            return Err(Error::invalid(InvalidInput::NotAllocating));
        }
        let (mut start, end) = (*limit.start(), *limit.end());
        if start > end {
            return Err(Error::invalid(InvalidInput::Range {
                first: start,
                last: end,
            }));
        }
        if flags.contains(Flags::ALLOC1) {
            start = start.max(1);
        }
        // SAFETY: we hold the lock.
        let free = unsafe { self.xa.root.find_free(start) };
        match free {
            Some(index) if index <= end && start <= end => {
                let word = entry::into_word(entry)?;
                self.store_word(index, 0, word);
                Ok(index)
            }
            _ => Err(Error::Full {
                start: *limit.start(),
                end,
            }),
        }
    }

    /// Erases every entry (the kernel's `xa_destroy`). The tree's
    /// references to the items are dropped later, once no guard pinned
    /// before the call can still see them; [`XArray::flush`] waits for
    /// that.
    ///
    /// ```
    /// use xradix::{Entry, XArray};
    /// let xa: XArray = XArray::new();
    /// xa.store(1 << 40, Entry::Value(1)).unwrap();
    /// xa.clear();
    /// assert!(xa.is_empty());
    /// ```
    pub fn clear(&self) {
        // SAFETY: we hold the lock and a pinned guard.
        unsafe { self.xa.root.clear::<T>(&self.reclaim) }
    }
}

impl<T: Send + Sync + 'static, V: Value> XArray<T, V> {
    /// Waits for the tree's own references to the items it let go of (by
    /// [`erase`](XArray::erase), a [`store`](XArray::store) over them,
    /// [`clear`](XArray::clear), ...) to be dropped, as far as this thread
    /// can bring that about, and returns how many are still waiting: 0
    /// when all of them have been dropped.
    ///
    /// The tree does not drop an item's `Arc` when the item leaves it:
    /// readers pinned at that moment may still hold a `&T`, so the drop is
    /// deferred until no guard can see it (see the crate docs, "When is my
    /// item dropped?"). `flush` pushes this thread's deferred drops to the
    /// epoch collector and lets it collect, round after round, until the
    /// tree has no drop outstanding or until 4,096 rounds in a row made no
    /// progress (yielding the thread between them).
    ///
    /// **What 0 guarantees:** every item the tree let go of before the call
    /// has had its reference dropped, and those drops happened before
    /// `flush` returned (a drop counter read afterwards shows them).
    ///
    /// **What holds drops back**, so that `flush` gives up and returns the
    /// count still waiting:
    /// - a guard that stays pinned, on this thread or another, on the
    ///   tree's collector (for a tree made with [`XArray::new`], the
    ///   default collector: any guard in the program): a [`Pinned`](crate::Pinned),
    ///   a guard from [`pin`](crate::pin) or a [`Handle`](crate::Handle), an
    ///   iterator's or cursor's guard, a [`Locked`] handle that has
    ///   written. Drop them first;
    /// - on the default collector only: items let go of by a writer on
    ///   *another* thread wait in that thread's own batch of deferred
    ///   drops (crossbeam-epoch keeps up to 64 per thread) until that
    ///   thread calls `flush`, fills the batch or exits; no other thread
    ///   can reach them. A tree made [`with_collector`](XArray::with_collector)
    ///   hands each writer's batch to its collector at the end of the call,
    ///   so there `flush` on any thread reaches every drop.
    ///
    /// Items let go of while `flush` runs may or may not be waited for.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use xradix::{Entry, XArray};
    ///
    /// let folio = Arc::new([0u8; 64]);
    /// let xa: XArray<[u8; 64]> = XArray::new();
    /// xa.store(1, Entry::Item(folio.clone())).unwrap();
    /// drop(xa.erase(1)); // the Arc erase returned: dropped here
    /// // The tree's own reference may still be alive: a reader pinned
    /// // before the erase could still be reading the item.
    /// assert_eq!(xa.flush(), 0); // nothing on this thread is pinned
    /// assert_eq!(Arc::strong_count(&folio), 1);
    /// ```
    ///
    /// # Panics
    ///
    /// If an item's `Drop` panicked inside the collector on this thread
    /// (during this call or before), that panic is raised here, after the
    /// other drops have run.
    pub fn flush(&self) -> usize {
        sync::flush(&self.collector, self.default_collector, &self.in_flight)
    }
}

/// The message for a thread that asks for a lock it already holds: a
/// programming error, reported as a `RefCell` reports a double borrow,
/// rather than a thread waiting for itself for ever.
#[cold]
#[track_caller]
fn relock_panic(what: &str) -> ! {
    panic!(
        "xradix: {what} on a thread that already holds this tree's lock: the lock is not \
         reentrant, so this would wait for ever. While a `Locked` handle (from `XArray::lock`) \
         is alive, do it through that handle (`locked.set_mark(..)` rather than `xa.set_mark(..)`, \
         `locked.snapshot()` rather than `xa.clone()`), or drop the handle first"
    )
}

impl<T, V: Value> Drop for XArray<T, V> {
    /// Frees the tree's nodes at once (nobody can reach them: a reader
    /// needs `&self`), and hands its items to the collector, since a reader
    /// may still hold an item it loaded under a guard. A tree of values
    /// gives all its memory back before `drop` returns.
    fn drop(&mut self) {
        let reclaim = Reclaimer::new(&self.collector, self.default_collector, &self.in_flight);
        // Relaxed: `&mut self`: every store to the head happened before.
        let head = self.root.head.load(Ordering::Relaxed);
        // SAFETY: we own the tree: nobody else can write or read it, and
        // readers that still hold items borrowed under a guard keep them
        // alive until that guard is dropped, since items go through the
        // collector.
        unsafe { crate::cursor::write::free_tree::<T>(head, &reclaim) }
    }
}

impl<T: fmt::Debug + Send + Sync + 'static, V: Value + fmt::Debug> fmt::Debug for XArray<T, V> {
    /// The entries in index order, at most the first 64 of them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let guard = self.writer_guard();
        let mut map = f.debug_map();
        for (shown, (i, e)) in self.iter(&guard).enumerate() {
            if shown == 64 {
                map.entry(
                    &"..",
                    &format_args!("{} more", self.len().saturating_sub(64)),
                );
                break;
            }
            map.entry(&i, &e);
        }
        map.finish()
    }
}
