//! Cursors: the advanced API, and the raw core every operation stands on.
//!
//! [`Cursor`] is a read-only position in the tree (the kernel's `xa_state`
//! used under `rcu_read_lock`): it keeps the path it walked, so moving to
//! the next index or the next marked entry costs a slot load, not a walk
//! from the head. [`CursorMut`] is the same position under the tree's lock,
//! with stores, marks and splits, for doing many changes under one lock
//! acquisition (the kernel's `xa_lock` + `xas_*` pattern).
//!
//! The modules below hold the raw core: [`walk`] (positions and lock-free
//! reads), [`write`] (stores, counts, marks, growing and shrinking),
//! [`split`] (multi-order splits), [`tag`] (`tag_range`), [`alloc`]
//! (free-index search) and
//! [`check`] (the structural invariants, for tests).

pub(crate) mod alloc;
pub(crate) mod batch;
pub(crate) mod bulk;
pub(crate) mod check;
pub(crate) mod split;
pub(crate) mod tag;
pub(crate) mod walk;
pub(crate) mod write;

use core::marker::PhantomData;

use crate::entry::{self, Entry, EntryRef, Word, NULL};
use crate::mark::Mark;
use crate::node::NodeRef;
use crate::sync::{
    AtomicPtr, AtomicU8, CachePadded, Guard, Lock, Ordering, Reclaimer, StatCounter,
};
use crate::value::Value;
use crate::xarray::XArray;
use walk::{Walk, Want};

/// The tree's shared state: its head and the summary of its marks.
pub(crate) struct Root {
    /// Null, the entry for index 0, or the top node.
    pub(crate) head: AtomicPtr<()>,
    /// Bit `m`: some entry carries mark `m` (the kernel keeps these in
    /// `xa_flags`). When the head is an entry, its own marks.
    pub(crate) marks: AtomicU8,
    /// Mark 0 tracks free slots (`Flags::ALLOC`).
    pub(crate) track_free: bool,
    /// Bottom nodes shrink on erase: always, except in loom models that
    /// did not ask for it (`Flags::LOOM_SHRINK`).
    pub(crate) shrink_leaves: bool,
    /// What writers change on every operation, on cache lines of its own.
    pub(crate) writer: CachePadded<WriterSide>,
}

/// The writers' side of the root: the lock and the counters kept under it.
pub(crate) struct WriterSide {
    /// The tree's writer lock.
    pub(crate) lock: Lock,
    /// Entries in the tree; a multi-order entry counts once.
    pub(crate) len: StatCounter,
    /// Bumped under the lock by every change to entries or to the tree's
    /// shape (not by mark changes): a writing cursor whose walk was made at
    /// the current version can trust its path without walking again.
    pub(crate) version: StatCounter,
    /// Conversions of bottom nodes made, per kind (`write::Conversion`).
    pub(crate) conversions: [StatCounter; write::CONVERSIONS],
}

impl Root {
    pub(crate) fn new(track_free: bool, shrink_leaves: bool) -> Root {
        Root {
            head: AtomicPtr::new(NULL),
            marks: AtomicU8::new(0),
            track_free,
            shrink_leaves,
            writer: CachePadded(WriterSide {
                lock: Lock::new(),
                len: StatCounter::new(0),
                version: StatCounter::new(0),
                conversions: core::array::from_fn(|_| StatCounter::new(0)),
            }),
        }
    }

    /// Stores `word` (null to erase) for an entry of `order` at
    /// `walk.index` and returns a clone of what covered the index before.
    ///
    /// # Safety
    /// The lock is held for as long as `reclaim` lives; `word`
    /// is null or a leaf word of a `T`/`V` tree whose reference the tree
    /// takes over.
    pub(crate) unsafe fn store_entry<T, V: Value>(
        &self,
        walk: &mut Walk,
        order: u32,
        word: Word,
        reclaim: &Reclaimer<'_>,
    ) -> Option<Entry<T, V>> {
        // Until the tree holds `word`, the store owns its reference: if the
        // pin below (or in `replace`) raises an item's panic, the reference
        // is given back on the way out instead of leaking.
        let incoming = Incoming::<T, V>(word, PhantomData);
        if order > 0 && !word.is_null() {
            // A multi-order store that must grow the tree or make nodes
            // first may then displace what growing moved (the old top, into
            // slot 0): pin before the first store (see `Reclaimer::prepare`).
            // Where its slots exist already, nothing is made, and `replace`
            // decides from what they hold, as for an order-0 store or an
            // erase (an erase makes no nodes, and a slot that holds
            // something needs no new ones).
            // SAFETY: the caller holds the lock.
            if !unsafe { self.slots_exist(walk.index, order) } {
                reclaim.prepare();
            }
        }
        // SAFETY: the caller's contract.
        let target = unsafe { self.target(walk, order, !word.is_null(), reclaim) };
        let Some(target) = target else {
            // Nothing to erase. (A store always finds its target: the tree
            // was grown for it.)
            debug_assert!(word.is_null());
            return None;
        };
        // SAFETY: the caller's contract.
        let replaced = unsafe { self.replace::<T>(walk, target, word, reclaim) };
        // The tree holds `word` now.
        core::mem::forget(incoming);
        // SAFETY: an item's old reference was handed to the collector
        // through `reclaim`, whose guard stays pinned while the lock is held.
        unsafe { entry::word_clone(replaced.old) }
    }

    /// Sets or clears `mark` on the entry at `walk.index`, if there is one.
    /// Mark 0 of an allocating tree is the free-slot mark and not the
    /// user's to change.
    ///
    /// # Safety
    /// The lock is held.
    pub(crate) unsafe fn mark(&self, walk: &mut Walk, mark: Mark, set: bool) {
        // SAFETY: the caller's contract.
        unsafe { self.mark_at(walk, mark, set, false) }
    }

    /// [`Root::mark`], trusting the walk's path and entry when `trusted`
    /// (a writing cursor's fresh walk made at the current version).
    ///
    /// # Safety
    /// The lock is held; a trusted walk is fresh and nothing changed since.
    pub(crate) unsafe fn mark_at(&self, walk: &mut Walk, mark: Mark, set: bool, trusted: bool) {
        let m = mark.index();
        if self.track_free && m == write::FREE_MARK {
            return;
        }
        let w = if trusted {
            walk.entry()
        } else {
            // SAFETY: the caller holds the lock.
            unsafe { walk.load(self) }
        };
        if w.is_null() || w == entry::ZERO {
            // Nothing stored (a reservation reads as nothing): no marks.
            return;
        }
        // SAFETY: as above; the walk is fresh.
        unsafe { self.change_mark(walk, m, set) };
    }

    /// Sets or clears mark `m` on the entry the (fresh) walk is on.
    ///
    /// # Safety
    /// The lock is held and the walk was made under it.
    pub(crate) unsafe fn change_mark(&self, walk: &Walk, m: usize, set: bool) {
        match walk.leaf_node() {
            None => {
                if set {
                    self.marks.fetch_or(1 << m, Ordering::Relaxed);
                } else {
                    self.marks.fetch_and(!(1 << m), Ordering::Relaxed);
                }
            }
            Some(ptr) => {
                // SAFETY: the caller's contract.
                let node = unsafe { NodeRef::new(ptr) };
                let bit = 1u64 << walk.offset();
                if set {
                    node.set_marks(m, bit);
                } else {
                    node.clear_marks(m, bit);
                }
                // SAFETY: as above.
                unsafe { self.propagate(walk, walk.depth(), m) };
            }
        }
    }
}

/// A leaf word on its way into the tree, whose reference is dropped if the
/// store unwinds before the tree takes it over.
struct Incoming<T, V: Value>(Word, PhantomData<(::alloc::sync::Arc<T>, V)>);

impl<T, V: Value> Drop for Incoming<T, V> {
    fn drop(&mut self) {
        // SAFETY: `self.0` is null or a leaf word whose reference nobody
        // else owns: the tree never published it.
        drop(unsafe { entry::word_into_entry::<T, V>(self.0) });
    }
}

/// A read-only cursor: a position in the tree that moves index by index or
/// entry by entry without walking from the head each time (the kernel's
/// `xa_state` with `xas_next`, `xas_prev`, `xas_find_marked`).
///
/// What it returns is borrowed for the guard's lifetime. Like every read,
/// it may see the tree as it was a moment ago: an entry stored or erased
/// while the cursor moves may or may not be seen, but an entry present the
/// whole time is. Each [`next`](Cursor::next), [`prev`](Cursor::prev) or
/// [`load`](Cursor::load) answers as a [`load`](crate::XArray::load) of
/// the index it lands on would *during that call*: the nodes the cursor
/// keeps from its last call are checked, never trusted, so a hole that a
/// writer filled before the call began is not reported.
///
/// ```
/// use xradix::{pin, Entry, Mark, XArray};
///
/// let xa: XArray = XArray::new();
/// for i in [3, 4, 9] {
///     xa.store(i, Entry::Value(i * 10)).unwrap();
/// }
/// xa.set_mark(9, Mark::DIRTY);
/// let guard = pin();
/// let mut c = xa.cursor(3, &guard);
/// assert_eq!(c.next().and_then(|e| e.value()), Some(30)); // index 3 itself
/// assert_eq!(c.next().and_then(|e| e.value()), Some(40)); // index 4
/// assert!(c.next().is_none());                            // index 5: a hole
/// assert_eq!(c.next_marked(Mark::DIRTY, u64::MAX).and_then(|e| e.value()), Some(90));
/// assert_eq!(c.index(), 9);
/// ```
pub struct Cursor<'a, 'g, T, V: Value = u64> {
    root: &'a Root,
    _guard: PhantomData<&'g Guard>,
    _types: PhantomData<&'a XArray<T, V>>,
    walk: Walk,
    started: bool,
    exhausted: bool,
}

impl<'a, 'g, T: Send + Sync + 'static, V: Value> Cursor<'a, 'g, T, V> {
    /// A cursor at `index`; the caller checked that `guard` is pinned to
    /// the tree's collector.
    pub(crate) fn new(root: &'a Root, index: u64, guard: &'g Guard) -> Self {
        let _ = guard;
        Cursor {
            root,
            _guard: PhantomData,
            _types: PhantomData,
            walk: Walk::new(index),
            started: false,
            exhausted: false,
        }
    }

    /// The index the cursor is at.
    ///
    /// ```
    /// use xradix::{pin, XArray};
    /// let xa: XArray = XArray::new();
    /// let guard = pin();
    /// assert_eq!(xa.cursor(42, &guard).index(), 42);
    /// ```
    #[inline]
    pub fn index(&self) -> u64 {
        self.walk.index
    }

    /// Moves the cursor to `index`; the next [`next`](Cursor::next) or
    /// [`next_marked`](Cursor::next_marked) looks at `index` itself first
    /// (the kernel's `xas_set`).
    ///
    /// ```
    /// use xradix::{pin, Entry, XArray};
    /// let xa: XArray = XArray::new();
    /// xa.store(8, Entry::Value(1)).unwrap();
    /// let guard = pin();
    /// let mut c = xa.cursor(0, &guard);
    /// c.set(8);
    /// assert_eq!(c.next().and_then(|e| e.value()), Some(1));
    /// ```
    pub fn set(&mut self, index: u64) {
        self.walk.set(index);
        self.started = false;
        self.exhausted = false;
    }

    /// The entry at the cursor's index (`None` in a hole or at a
    /// reservation). Inside a multi-order entry, that entry.
    ///
    /// ```
    /// use xradix::{pin, Entry, XArray};
    /// let xa: XArray = XArray::new();
    /// xa.store_order(64, 6, Entry::Value(5)).unwrap();
    /// let guard = pin();
    /// assert_eq!(xa.cursor(100, &guard).load().and_then(|e| e.value()), Some(5));
    /// ```
    pub fn load(&mut self) -> Option<EntryRef<'g, T, V>> {
        // SAFETY: the cursor holds a guard pinned to the tree's collector
        // (checked in `new`) for 'g.
        let w = unsafe { self.walk.load(self.root) };
        // SAFETY: loaded under the 'g guard.
        unsafe { entry::word_ref(w) }
    }

    /// The order of the entry at the cursor's index (0 in a hole).
    ///
    /// ```
    /// use xradix::{pin, Entry, XArray};
    /// let xa: XArray = XArray::new();
    /// xa.store_order(512, 9, Entry::Value(5)).unwrap();
    /// let guard = pin();
    /// assert_eq!(xa.cursor(700, &guard).order(), 9);
    /// ```
    pub fn order(&mut self) -> u32 {
        // A hole the cursor read in an earlier call may have been filled
        // since, and a hole has no node word to check it by: look again.
        if !self.walk.is_fresh() || self.walk.entry().is_null() {
            // SAFETY: as in `load`.
            unsafe { self.walk.load(self.root) };
        }
        // SAFETY: as in `load`; the walk is fresh.
        unsafe { self.walk.order(self.root) }
    }

    /// The first call after the cursor is made or [`set`](Cursor::set)
    /// returns the entry at the cursor's own index; each later call moves
    /// one index up (wrapping from `u64::MAX` to 0) and returns the entry
    /// there (the kernel's `xas_next`).
    ///
    /// ```
    /// use xradix::{pin, Entry, XArray};
    /// let xa: XArray = XArray::new();
    /// xa.store(u64::MAX, Entry::Value(1)).unwrap();
    /// xa.store(0, Entry::Value(2)).unwrap();
    /// let guard = pin();
    /// let mut c = xa.cursor(u64::MAX, &guard);
    /// assert_eq!(c.next().and_then(|e| e.value()), Some(1));
    /// assert_eq!(c.next().and_then(|e| e.value()), Some(2)); // wrapped to 0
    /// ```
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Option<EntryRef<'g, T, V>> {
        // The walk arms its leaf only in a move that found something, and
        // every move that ends the cursor (or `set`) disarms it: an armed
        // leaf implies `started && !exhausted`, so the step needs neither.
        // SAFETY: as in `load`.
        if let Some(w) = unsafe { self.walk.step_in_leaf(true) } {
            debug_assert!(self.started && !self.exhausted);
            // SAFETY: loaded under the 'g guard.
            return unsafe { entry::word_ref(w) };
        }
        let index = if self.started {
            self.walk.index.wrapping_add(1)
        } else {
            self.walk.index
        };
        self.started = true;
        self.exhausted = false;
        // SAFETY: as in `load`.
        let w = unsafe { self.walk.step(self.root, index) };
        // SAFETY: loaded under the 'g guard.
        unsafe { entry::word_ref(w) }
    }

    /// Like [`next`](Cursor::next), one index down (the kernel's
    /// `xas_prev`), wrapping from 0 to `u64::MAX`.
    ///
    /// ```
    /// use xradix::{pin, Entry, XArray};
    /// let xa: XArray = XArray::new();
    /// xa.store(4, Entry::Value(4)).unwrap();
    /// let guard = pin();
    /// let mut c = xa.cursor(5, &guard);
    /// assert!(c.prev().is_none());                              // 5 itself
    /// assert_eq!(c.prev().and_then(|e| e.value()), Some(4));    // then 4
    /// ```
    pub fn prev(&mut self) -> Option<EntryRef<'g, T, V>> {
        // The walk arms its leaf only in a move that found something, and
        // every move that ends the cursor (or `set`) disarms it: an armed
        // leaf implies `started && !exhausted`, so the step needs neither.
        // SAFETY: as in `load`.
        if let Some(w) = unsafe { self.walk.step_in_leaf(false) } {
            debug_assert!(self.started && !self.exhausted);
            // SAFETY: loaded under the 'g guard.
            return unsafe { entry::word_ref(w) };
        }
        let index = if self.started {
            self.walk.index.wrapping_sub(1)
        } else {
            self.walk.index
        };
        self.started = true;
        self.exhausted = false;
        // SAFETY: as in `load`.
        let w = unsafe { self.walk.step(self.root, index) };
        // SAFETY: loaded under the 'g guard.
        unsafe { entry::word_ref(w) }
    }

    /// The next entry carrying `mark`, up to index `max`: the first call
    /// (after the cursor is made or set) looks at the cursor's own index
    /// first, later calls move past the current entry. `None` when no
    /// marked entry is left up to `max` (the kernel's `xas_find_marked`).
    ///
    /// Unmarked subtrees are skipped by their summary bits, so visiting k
    /// marked entries among n costs O(k log n).
    ///
    /// ```
    /// use xradix::{pin, Entry, Mark, XArray};
    /// let xa: XArray = XArray::new();
    /// for i in 0..1000 {
    ///     xa.store(i, Entry::Value(i)).unwrap();
    /// }
    /// xa.set_mark(10, Mark::TOWRITE);
    /// xa.set_mark(700, Mark::TOWRITE);
    /// let guard = pin();
    /// let mut c = xa.cursor(0, &guard);
    /// let mut seen = vec![];
    /// while let Some(e) = c.next_marked(Mark::TOWRITE, 999) {
    ///     seen.push(e.value().unwrap());
    /// }
    /// assert_eq!(seen, [10, 700]);
    /// ```
    pub fn next_marked(&mut self, mark: Mark, max: u64) -> Option<EntryRef<'g, T, V>> {
        // SAFETY: as in `load`.
        let w = unsafe { self.find_raw(max, Want::marked(mark.index())) }?;
        // SAFETY: loaded under the 'g guard.
        unsafe { entry::word_ref(w) }
    }

    /// The next present entry up to index `max`, with the same first-call
    /// rule as [`next_marked`](Cursor::next_marked) (the kernel's
    /// `xas_find`). An entry that begins before the cursor's index but
    /// covers it is returned, with the cursor left at its own index.
    ///
    /// ```
    /// use xradix::{pin, Entry, XArray};
    /// let xa: XArray = XArray::new();
    /// xa.store(5, Entry::Value(5)).unwrap();
    /// xa.store(1 << 40, Entry::Value(6)).unwrap();
    /// let guard = pin();
    /// let mut c = xa.cursor(0, &guard);
    /// assert_eq!(c.find(u64::MAX).and_then(|e| e.value()), Some(5));
    /// assert_eq!(c.find(u64::MAX).and_then(|e| e.value()), Some(6));
    /// assert_eq!(c.index(), 1 << 40);
    /// assert!(c.find(u64::MAX).is_none());
    /// ```
    pub fn find(&mut self, max: u64) -> Option<EntryRef<'g, T, V>> {
        // SAFETY: as in `load`.
        let w = unsafe { self.find_raw(max, Want::ANY) }?;
        // SAFETY: loaded under the 'g guard.
        unsafe { entry::word_ref(w) }
    }

    /// # Safety
    /// The cursor's guard is pinned (always true for a live cursor).
    #[inline(always)]
    pub(crate) unsafe fn find_raw(&mut self, max: u64, want: Want) -> Option<Word> {
        if want.mark.is_none() {
            // The walk arms its leaf fast path only where a forward scan
            // stopped on an entry, so this needs no `started` check.
            // SAFETY: the caller's contract.
            if let Some(w) = unsafe { self.walk.next_in_leaf(max) } {
                return Some(w);
            }
        }
        // SAFETY: the caller's contract.
        unsafe { self.find_past_leaf(max, want) }
    }

    /// [`Cursor::find_raw`] once the leaf step has not answered: the
    /// marked step inside the node, else the slow path.
    ///
    /// # Safety
    /// As for [`Cursor::find_raw`].
    #[inline(always)]
    unsafe fn find_past_leaf(&mut self, max: u64, want: Want) -> Option<Word> {
        if want.mark.is_some() && self.started && !self.exhausted {
            // SAFETY: the caller's contract.
            if let Some(w) = unsafe { self.walk.next_in_node(max, want) } {
                return Some(w);
            }
        }
        // SAFETY: the caller's contract.
        unsafe { self.find_slow(max, want) }
    }

    /// The forward step of an iterator ([`Iter`](crate::Iter)), whose
    /// cursor scans with the one `want` all its life: [`Cursor::find_raw`]
    /// with the leaf tried first. A marked scan never arms the leaf, so an
    /// armed one means an unmarked iteration, and the common step looks
    /// at neither `want` nor the cursor's flags.
    ///
    /// # Safety
    /// As for [`Cursor::find_raw`].
    #[inline(always)]
    pub(crate) unsafe fn iter_next(&mut self, max: u64, want: Want) -> Option<Word> {
        // SAFETY: the caller's contract.
        if let Some(w) = unsafe { self.walk.next_in_leaf(max) } {
            debug_assert!(want.mark.is_none() && self.started && !self.exhausted);
            return Some(w);
        }
        // The leaf has been tried: not again through `find_raw`.
        // SAFETY: the caller's contract.
        unsafe { self.find_past_leaf(max, want) }
    }

    /// The mirror of [`Cursor::iter_next`], for the back of an iterator:
    /// the previous plain entry in the armed bottom node, down to `min`, or
    /// `None` for [`Cursor::find_back_slow`].
    ///
    /// # Safety
    /// As for [`Cursor::find_raw`].
    #[inline(always)]
    pub(crate) unsafe fn iter_prev(&mut self, min: u64, want: Want) -> Option<Word> {
        // SAFETY: the caller's contract.
        let w = unsafe { self.walk.prev_in_leaf(min) }?;
        debug_assert!(want.mark.is_none() && self.started && !self.exhausted);
        Some(w)
    }

    /// The last entry `want` accepts that covers an index in `min ..=` the
    /// cursor's index (the first call), or below the current entry (later
    /// calls): a reverse iteration past its fast path.
    ///
    /// # Safety
    /// As for [`Cursor::find_raw`].
    #[inline(never)]
    pub(crate) unsafe fn find_back_slow(&mut self, min: u64, want: Want) -> Option<Word> {
        if self.exhausted {
            return None;
        }
        let root = self.root;
        // SAFETY: the caller's contract.
        let found = unsafe {
            if self.started {
                self.walk.find_prev(root, min, want)
            } else {
                self.walk.find_back(root, min, want)
            }
        };
        self.started = true;
        self.exhausted = found.is_none();
        found
    }

    /// [`Cursor::find_raw`] past the fast path: climbing, descending, the
    /// first call, and the end.
    ///
    /// # Safety
    /// As for [`Cursor::find_raw`].
    #[inline(never)]
    unsafe fn find_slow(&mut self, max: u64, want: Want) -> Option<Word> {
        if self.exhausted {
            return None;
        }
        let root = self.root;
        // SAFETY: the caller's contract.
        let found = unsafe {
            if self.started {
                self.walk.find_next(root, max, want)
            } else {
                self.walk.find(root, max, want)
            }
        };
        self.started = true;
        if found.is_none() {
            self.exhausted = true;
        }
        found
    }
}

/// A cursor under the tree's lock: everything [`Cursor`] does, plus
/// stores, erases, marks and splits at its position (the kernel's
/// `xas_store`, `xas_set_mark`, `xas_split` under `xa_lock`).
///
/// Made by [`Locked::cursor_mut`](crate::Locked::cursor_mut). Nothing else
/// can write while it lives, and readers on other threads carry on.
///
/// ```
/// use xradix::{Entry, Mark, XArray};
///
/// let xa: XArray = XArray::new();
/// for i in 0..100 {
///     xa.store(i, Entry::Value(i)).unwrap();
///     if i % 10 == 0 {
///         xa.set_mark(i, Mark::DIRTY);
///     }
/// }
/// // Clean every dirty entry under one lock acquisition.
/// let locked = xa.lock();
/// let mut c = locked.cursor_mut(0);
/// let mut cleaned = 0;
/// while c.next_marked(Mark::DIRTY, u64::MAX).is_some() {
///     c.clear_mark(Mark::DIRTY);
///     cleaned += 1;
/// }
/// drop(c);
/// drop(locked);
/// assert_eq!(cleaned, 10);
/// assert!(!xa.has_mark(Mark::DIRTY));
/// ```
pub struct CursorMut<'l, T: Send + Sync + 'static, V: Value = u64> {
    root: &'l Root,
    reclaim: &'l Reclaimer<'l>,
    _types: PhantomData<&'l XArray<T, V>>,
    walk: Walk,
    started: bool,
    exhausted: bool,
    /// Whether [`load`](CursorMut::load) or [`order`](CursorMut::order)
    /// looked at the cursor's index since it was made or set: `pause` then
    /// moves past what is there, as after a move.
    loaded: bool,
    /// `Root::version` when the walk was last made fresh.
    version: usize,
    _not_send: PhantomData<*mut ()>,
}

impl<'l, T: Send + Sync + 'static, V: Value> CursorMut<'l, T, V> {
    /// A cursor at `index`; the caller holds the tree's lock for 'l.
    pub(crate) fn new(root: &'l Root, index: u64, reclaim: &'l Reclaimer<'l>) -> Self {
        CursorMut {
            root,
            reclaim,
            _types: PhantomData,
            walk: Walk::new(index),
            started: false,
            exhausted: false,
            loaded: false,
            version: 0,
            _not_send: PhantomData,
        }
    }

    /// The cursor as a reader, for a move or a load. A walk made before
    /// the tree changed (through this cursor or through the `Locked` handle
    /// it came from) is dropped first, so the move starts from the tree as
    /// it is now, at the cursor's index.
    fn reader(&mut self) -> Cursor<'l, 'l, T, V> {
        if !self.trusted() {
            self.walk.invalidate();
        }
        let walk = core::mem::replace(&mut self.walk, Walk::new(0));
        Cursor {
            root: self.root,
            _guard: PhantomData,
            _types: PhantomData,
            walk,
            started: self.started,
            exhausted: self.exhausted,
        }
    }

    fn restore(&mut self, c: Cursor<'l, 'l, T, V>) {
        self.walk = c.walk;
        self.started = c.started;
        self.exhausted = c.exhausted;
        self.version = self.root.writer.version.load(Ordering::Relaxed);
    }

    /// Whether the walk still describes the tree: fresh, and nothing
    /// stored, erased or split since it was made (by this cursor or by any
    /// other use of the same lock).
    fn trusted(&self) -> bool {
        self.walk.is_fresh() && self.version == self.root.writer.version.load(Ordering::Relaxed)
    }

    /// The index the cursor is at.
    ///
    /// ```
    /// use xradix::XArray;
    /// let xa: XArray = XArray::new();
    /// let locked = xa.lock();
    /// assert_eq!(locked.cursor_mut(7).index(), 7);
    /// ```
    #[inline]
    pub fn index(&self) -> u64 {
        self.walk.index
    }

    /// See [`Cursor::set`].
    ///
    /// ```
    /// use xradix::XArray;
    /// let xa: XArray = XArray::new();
    /// let locked = xa.lock();
    /// let mut c = locked.cursor_mut(7);
    /// c.set(9);
    /// assert_eq!(c.index(), 9);
    /// ```
    pub fn set(&mut self, index: u64) {
        self.walk.set(index);
        self.started = false;
        self.exhausted = false;
        self.loaded = false;
    }

    /// See [`Cursor::load`].
    ///
    /// ```
    /// use xradix::{Entry, XArray};
    /// let xa: XArray = XArray::new();
    /// xa.store(7, Entry::Value(70)).unwrap();
    /// let locked = xa.lock();
    /// assert_eq!(locked.cursor_mut(7).load().and_then(|e| e.value()), Some(70));
    /// ```
    pub fn load(&mut self) -> Option<EntryRef<'_, T, V>> {
        let mut c = self.reader();
        let e = c.load();
        self.restore(c);
        self.loaded = true;
        e
    }

    /// See [`Cursor::order`].
    ///
    /// ```
    /// use xradix::{Entry, XArray};
    /// let xa: XArray = XArray::new();
    /// xa.store_order(0, 4, Entry::Value(1)).unwrap();
    /// let locked = xa.lock();
    /// assert_eq!(locked.cursor_mut(3).order(), 4);
    /// ```
    pub fn order(&mut self) -> u32 {
        let mut c = self.reader();
        let o = c.order();
        self.restore(c);
        self.loaded = true;
        o
    }

    /// See [`Cursor::next`].
    ///
    /// ```
    /// use xradix::{Entry, XArray};
    /// let xa: XArray = XArray::new();
    /// xa.store(1, Entry::Value(1)).unwrap();
    /// let locked = xa.lock();
    /// let mut c = locked.cursor_mut(0);
    /// assert!(c.next().is_none());
    /// assert!(c.next().is_some());
    /// ```
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Option<EntryRef<'_, T, V>> {
        let mut c = self.reader();
        let e = c.next();
        self.restore(c);
        e
    }

    /// See [`Cursor::prev`].
    ///
    /// ```
    /// use xradix::{Entry, XArray};
    /// let xa: XArray = XArray::new();
    /// xa.store(0, Entry::Value(1)).unwrap();
    /// let locked = xa.lock();
    /// let mut c = locked.cursor_mut(1);
    /// assert!(c.prev().is_none());
    /// assert!(c.prev().is_some());
    /// ```
    pub fn prev(&mut self) -> Option<EntryRef<'_, T, V>> {
        let mut c = self.reader();
        let e = c.prev();
        self.restore(c);
        e
    }

    /// See [`Cursor::next_marked`].
    ///
    /// ```
    /// use xradix::{Entry, Mark, XArray};
    /// let xa: XArray = XArray::new();
    /// xa.store(5, Entry::Value(1)).unwrap();
    /// xa.set_mark(5, Mark::MARK_2);
    /// let locked = xa.lock();
    /// let mut c = locked.cursor_mut(0);
    /// assert!(c.next_marked(Mark::MARK_2, 10).is_some());
    /// assert_eq!(c.index(), 5);
    /// ```
    pub fn next_marked(&mut self, mark: Mark, max: u64) -> Option<EntryRef<'_, T, V>> {
        let mut c = self.reader();
        let e = c.next_marked(mark, max);
        self.restore(c);
        e
    }

    /// See [`Cursor::find`].
    ///
    /// ```
    /// use xradix::{Entry, XArray};
    /// let xa: XArray = XArray::new();
    /// xa.store(5, Entry::Value(1)).unwrap();
    /// let locked = xa.lock();
    /// let mut c = locked.cursor_mut(0);
    /// assert!(c.find(10).is_some());
    /// assert_eq!(c.index(), 5);
    /// ```
    pub fn find(&mut self, max: u64) -> Option<EntryRef<'_, T, V>> {
        let mut c = self.reader();
        let e = c.find(max);
        self.restore(c);
        e
    }

    /// Stores `entry` at the cursor's index and returns what was there.
    /// Inside a multi-order entry this replaces the whole entry and keeps
    /// its order, as [`XArray::store`] does.
    ///
    /// ```
    /// use xradix::{Entry, XArray};
    /// let xa: XArray = XArray::new();
    /// let locked = xa.lock();
    /// let mut c = locked.cursor_mut(3);
    /// assert_eq!(c.store(Entry::Value(1)).unwrap(), None);
    /// assert_eq!(c.store(Entry::Value(2)).unwrap(), Some(Entry::Value(1)));
    /// ```
    pub fn store(&mut self, entry: Entry<T, V>) -> Result<Option<Entry<T, V>>, crate::Error> {
        let word = entry::into_word(entry)?;
        // SAFETY: the lock is held for 'l, as long as `reclaim` lives.
        Ok(unsafe {
            self.root
                .store_entry::<T, V>(&mut self.walk, 0, word, self.reclaim)
        })
    }

    /// Erases the entry at the cursor's index (a multi-order entry: the
    /// whole entry) and returns it.
    ///
    /// ```
    /// use xradix::{Entry, XArray};
    /// let xa: XArray = XArray::new();
    /// xa.store(3, Entry::Value(1)).unwrap();
    /// let locked = xa.lock();
    /// assert_eq!(locked.cursor_mut(3).erase(), Some(Entry::Value(1)));
    /// ```
    pub fn erase(&mut self) -> Option<Entry<T, V>> {
        // SAFETY: the lock is held for 'l, as long as `reclaim` lives.
        unsafe {
            self.root
                .store_entry::<T, V>(&mut self.walk, 0, NULL, self.reclaim)
        }
    }

    /// Sets `mark` on the entry at the cursor's index (nothing in a hole).
    ///
    /// ```
    /// use xradix::{Entry, Mark, XArray};
    /// let xa: XArray = XArray::new();
    /// xa.store(3, Entry::Value(1)).unwrap();
    /// xa.lock().cursor_mut(3).set_mark(Mark::DIRTY);
    /// assert!(xa.get_mark(3, Mark::DIRTY));
    /// ```
    pub fn set_mark(&mut self, mark: Mark) {
        let trusted = self.trusted();
        // SAFETY: the lock is held for 'l; a trusted walk is current.
        unsafe { self.root.mark_at(&mut self.walk, mark, true, trusted) }
    }

    /// Clears `mark` on the entry at the cursor's index.
    ///
    /// ```
    /// use xradix::{Entry, Mark, XArray};
    /// let xa: XArray = XArray::new();
    /// xa.store(3, Entry::Value(1)).unwrap();
    /// xa.set_mark(3, Mark::DIRTY);
    /// xa.lock().cursor_mut(3).clear_mark(Mark::DIRTY);
    /// assert!(!xa.get_mark(3, Mark::DIRTY));
    /// ```
    pub fn clear_mark(&mut self, mark: Mark) {
        let trusted = self.trusted();
        // SAFETY: the lock is held for 'l; a trusted walk is current.
        unsafe { self.root.mark_at(&mut self.walk, mark, false, trusted) }
    }

    /// Splits the entry at the cursor's index into entries of `order`; see
    /// [`XArray::split`].
    ///
    /// ```
    /// use xradix::{Entry, XArray};
    /// let xa: XArray = XArray::new();
    /// xa.store_order(0, 4, Entry::Value(1)).unwrap();
    /// xa.lock().cursor_mut(5).split(0).unwrap();
    /// assert_eq!(xa.get_order(5), 0);
    /// assert_eq!(xa.len(), 16);
    /// ```
    pub fn split(&mut self, order: u32) -> Result<(), crate::Error> {
        // SAFETY: the lock is held for 'l, as long as `reclaim` lives.
        unsafe { self.root.split::<T>(&mut self.walk, order, self.reclaim) }
    }

    /// Moves the cursor just past the entry under it (past a whole
    /// multi-order entry), so that a walk can resume from
    /// [`index`](CursorMut::index) after the lock is dropped and taken
    /// again (the kernel's `xas_pause`). The next `next_marked` or `find`
    /// looks at the new index first. Pausing on the entry at `u64::MAX`
    /// ends the walk.
    ///
    /// "The entry under it" is what the last move ([`next`](CursorMut::next),
    /// [`find`](CursorMut::find), [`next_marked`](CursorMut::next_marked),
    /// ...) or [`load`](CursorMut::load) looked at, as it is *now*: if the
    /// tree changed since (through the cursor or its `Locked` handle), the
    /// cursor looks again at its index first. A cursor that was made or
    /// [`set`](CursorMut::set) and has not looked yet stays where it is.
    ///
    /// ```
    /// use xradix::{Entry, Mark, XArray};
    /// let xa: XArray = XArray::new();
    /// for i in 0..10 {
    ///     xa.store(i, Entry::Value(i)).unwrap();
    ///     xa.set_mark(i, Mark::DIRTY);
    /// }
    /// let mut resume = 0;
    /// let mut seen = 0;
    /// loop {
    ///     let locked = xa.lock();
    ///     let mut c = locked.cursor_mut(resume);
    ///     let mut batch = 0;
    ///     while batch < 3 && c.next_marked(Mark::DIRTY, u64::MAX).is_some() {
    ///         c.clear_mark(Mark::DIRTY);
    ///         batch += 1;
    ///     }
    ///     seen += batch;
    ///     if batch < 3 {
    ///         break;
    ///     }
    ///     c.pause();
    ///     resume = c.index();
    /// }
    /// assert_eq!(seen, 10);
    /// ```
    pub fn pause(&mut self) {
        if !self.started && !self.loaded {
            return;
        }
        if !self.trusted() {
            // A store, erase or split since the last move, through this
            // cursor or the `Locked` handle: look again.
            // SAFETY: the lock is held for 'l.
            unsafe { self.walk.load(self.root) };
        }
        let last = if !self.walk.entry().is_null() {
            // SAFETY: the walk is fresh and made under the lock.
            unsafe { self.walk.entry_range_locked() }.1
        } else {
            self.walk.index
        };
        self.set(last.wrapping_add(1));
        self.exhausted = last == u64::MAX;
    }
}
