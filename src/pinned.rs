//! [`Pinned`]: a tree and a guard held together, for reads without a guard
//! argument (papaya's `map.pin()`).
//!
//! The guard-passing reads ([`XArray::load`] and friends) let a caller pin
//! once and read many trees, or hand one guard through a call chain. Most
//! callers read one tree for a while; for them `xa.pin()` pins once and
//! the reads need nothing else. Entries borrowed from a `Pinned` live as
//! long as the borrow of the `Pinned`, which is what the guard protects.
//!
//! The guard is pinned to the tree's own collector: the default one for a
//! tree made with [`XArray::new`], the tree's for one made
//! [`with_collector`](XArray::with_collector) (the `no_std` case), through
//! a handle registered for the guard's lifetime. A `Pinned` borrows the
//! tree, so it and its guard are gone before the tree and its collector
//! are (the order crossbeam-epoch needs, crossbeam-rs/crossbeam#545).

use core::fmt;
use core::ops::RangeBounds;

use crate::cursor::{walk, Cursor};
use crate::entry::EntryRef;
use crate::iter::{Iter, LoadMany};
use crate::mark::Mark;
use crate::sync::Guard;
use crate::value::Value;
use crate::xarray::XArray;

/// A tree with a guard pinned for it: the lock-free reads of [`XArray`]
/// without the guard argument. Made by [`XArray::pin`].
///
/// What a read returns is borrowed from the `Pinned` and stays valid
/// while it is: nothing the tree lets go of meanwhile is freed (or
/// dropped) until the `Pinned` is. Hold one for a batch of reads, not for
/// ever. `&Pinned` is [`IntoIterator`], so a `for` loop walks every entry.
///
/// ```
/// use std::sync::Arc;
/// use xradix::{Entry, EntryRef, Mark, XArray};
///
/// let xa: XArray<String> = XArray::new();
/// xa.store(1, Entry::Item(Arc::new("one".into()))).unwrap();
/// xa.store(2, Entry::Value(2)).unwrap();
/// xa.set_mark(2, Mark::DIRTY);
///
/// let p = xa.pin();
/// assert_eq!(p.load(1).and_then(|e| e.item()).map(String::as_str), Some("one"));
/// assert!(p.get_mark(2, Mark::DIRTY));
/// for (i, e) in &p {
///     println!("{i}: {e:?}");
/// }
/// assert_eq!(p.iter_marked(.., Mark::DIRTY).count(), 1);
/// ```
///
/// A `Pinned` holds an epoch guard, so it stays on the thread that made it
/// (it is neither `Send` nor `Sync`).
pub struct Pinned<'a, T, V: Value = u64> {
    xa: &'a XArray<T, V>,
    guard: Guard,
}

impl<T: Send + Sync + 'static, V: Value> XArray<T, V> {
    /// Pins the current thread for reads of this tree and returns the tree
    /// and the guard together: [`Pinned`] has the lock-free reads without
    /// the guard argument, as papaya's `map.pin()` does.
    ///
    /// Works for every tree: one made with [`XArray::new`] pins to the
    /// default collector (as [`pin`](crate::pin) does), one made
    /// [`with_collector`](XArray::with_collector) to its own, which is the
    /// way to read it without `std`.
    ///
    /// ```
    /// use xradix::{Entry, XArray};
    ///
    /// let xa: XArray = XArray::new();
    /// for i in 0..4 {
    ///     xa.store(i * 10, Entry::Value(i)).unwrap();
    /// }
    /// let keys: Vec<u64> = (&xa.pin()).into_iter().map(|(i, _)| i).collect();
    /// assert_eq!(keys, [0, 10, 20, 30]);
    ///
    /// let mut sum = 0;
    /// for (_, e) in &xa.pin() {
    ///     sum += e.value().unwrap();
    /// }
    /// assert_eq!(sum, 6);
    /// ```
    ///
    /// A tree with its own collector (the `no_std` way):
    ///
    /// ```
    /// use xradix::{Collector, Entry, Flags, XArray};
    ///
    /// let xa: XArray<(), u32> = XArray::with_collector(Collector::new(), Flags::empty());
    /// xa.store(7, Entry::Value(70)).unwrap();
    /// let p = xa.pin();
    /// assert_eq!(p.load(7).and_then(|e| e.value()), Some(70));
    /// ```
    ///
    /// # Panics
    ///
    /// Pinning may run deferred drops of items; if one of them panicked,
    /// the panic is raised here (see the crate docs, "When is my item
    /// dropped?").
    #[must_use = "a Pinned only holds the guard; read through it"]
    pub fn pin(&self) -> Pinned<'_, T, V> {
        Pinned {
            xa: self,
            guard: self.reader_guard(),
        }
    }
}

impl<'a, T: Send + Sync + 'static, V: Value> Pinned<'a, T, V> {
    /// The tree this guard was pinned for.
    ///
    /// ```
    /// let xa: xradix::XArray = xradix::XArray::new();
    /// assert!(std::ptr::eq(xa.pin().tree(), &xa));
    /// ```
    #[must_use]
    pub fn tree(&self) -> &'a XArray<T, V> {
        self.xa
    }

    /// The guard, for the guard-passing API ([`XArray::load`] and the rest)
    /// or for another tree on the same collector.
    ///
    /// ```
    /// use xradix::{Entry, XArray};
    /// let xa: XArray = XArray::new();
    /// xa.store(1, Entry::Value(1)).unwrap();
    /// let p = xa.pin();
    /// assert_eq!(xa.load(1, p.guard()).and_then(|e| e.value()), Some(1));
    /// ```
    #[must_use]
    pub fn guard(&self) -> &Guard {
        &self.guard
    }

    /// The entry at `index`, borrowed while the `Pinned` is; `None` for a
    /// hole or a reserved index, and inside a multi-order entry, that
    /// entry. As [`XArray::load`] (the kernel's `xa_load`).
    ///
    /// ```
    /// use xradix::{Entry, XArray};
    /// let xa: XArray = XArray::new();
    /// xa.store_order(64, 6, Entry::Value(3)).unwrap();
    /// let p = xa.pin();
    /// assert_eq!(p.load(100).and_then(|e| e.value()), Some(3));
    /// assert!(p.load(0).is_none());
    /// ```
    #[inline]
    #[must_use]
    pub fn load(&self, index: u64) -> Option<EntryRef<'_, T, V>> {
        self.xa.load(index, &self.guard)
    }

    /// The entries at many indices, in the order given, with their cache
    /// misses overlapped; as [`XArray::load_many`].
    ///
    /// ```
    /// use xradix::{Entry, XArray};
    /// let xa: XArray = XArray::new();
    /// xa.store(2, Entry::Value(20)).unwrap();
    /// let p = xa.pin();
    /// let got: Vec<Option<u64>> = p.load_many([1, 2]).map(|e| e.and_then(|e| e.value())).collect();
    /// assert_eq!(got, [None, Some(20)]);
    /// ```
    #[must_use = "iterators do nothing unless consumed"]
    pub fn load_many<I: IntoIterator<Item = u64>>(
        &self,
        indices: I,
    ) -> LoadMany<'a, '_, T, V, I::IntoIter> {
        self.xa.load_many(indices, &self.guard)
    }

    /// Whether the entry at `index` carries `mark`; false in a hole. As
    /// [`XArray::get_mark`] (the kernel's `xa_get_mark`), including its
    /// caveat for a [`Flags::ALLOC`](crate::Flags::ALLOC) tree.
    ///
    /// ```
    /// use xradix::{Entry, Mark, XArray};
    /// let xa: XArray = XArray::new();
    /// xa.store(3, Entry::Value(1)).unwrap();
    /// xa.set_mark(3, Mark::TOWRITE);
    /// let p = xa.pin();
    /// assert!(p.get_mark(3, Mark::TOWRITE));
    /// assert!(!p.get_mark(3, Mark::DIRTY));
    /// ```
    #[must_use]
    pub fn get_mark(&self, index: u64, mark: Mark) -> bool {
        // SAFETY: `self.guard` was pinned to the tree's collector by
        // `XArray::pin` and is pinned while `self` lives.
        unsafe { walk::lookup_mark(&self.xa.root, index, mark.index()) }
    }

    /// The order of the entry covering `index` (it covers 2^order
    /// indices); 0 where nothing is stored. As [`XArray::get_order`].
    ///
    /// ```
    /// use xradix::{Entry, XArray};
    /// let xa: XArray = XArray::new();
    /// xa.store_order(512, 9, Entry::Value(1)).unwrap();
    /// let p = xa.pin();
    /// assert_eq!(p.get_order(700), 9);
    /// assert_eq!(p.get_order(5), 0);
    /// ```
    #[must_use]
    pub fn get_order(&self, index: u64) -> u32 {
        // SAFETY: as in `get_mark`.
        unsafe { walk::lookup_order(&self.xa.root, index) }.1
    }

    /// Every entry, in index order; a multi-order entry once, at its first
    /// index. As [`XArray::iter`]; `for (i, e) in &pinned` does the same.
    ///
    /// ```
    /// use xradix::{Entry, XArray};
    /// let xa: XArray = XArray::new();
    /// for i in [9, 1, 5] {
    ///     xa.store(i, Entry::Value(i)).unwrap();
    /// }
    /// let p = xa.pin();
    /// let keys: Vec<u64> = p.iter().map(|(i, _)| i).collect();
    /// assert_eq!(keys, [1, 5, 9]);
    /// ```
    #[must_use = "iterators are lazy and do nothing unless consumed"]
    pub fn iter(&self) -> Iter<'a, '_, T, V> {
        self.xa.iter(&self.guard)
    }

    /// The entries covering indices in `r`, in index order; an entry that
    /// begins before the range is yielded at the range's start. As
    /// [`XArray::range`].
    ///
    /// ```
    /// use xradix::{Entry, XArray};
    /// let xa: XArray = XArray::new();
    /// for i in 0..100 {
    ///     xa.store(i, Entry::Value(i)).unwrap();
    /// }
    /// let p = xa.pin();
    /// assert_eq!(p.range(10..20).count(), 10);
    /// assert_eq!(p.range(95..).rev().map(|(i, _)| i).next(), Some(99));
    /// ```
    #[must_use = "iterators are lazy and do nothing unless consumed"]
    pub fn range(&self, r: impl RangeBounds<u64>) -> Iter<'a, '_, T, V> {
        self.xa.range(r, &self.guard)
    }

    /// The entries in `r` that carry `mark`, in index order, skipping
    /// unmarked subtrees. As [`XArray::iter_marked`] (the kernel's
    /// `xa_for_each_marked`).
    ///
    /// ```
    /// use xradix::{Entry, Mark, XArray};
    /// let xa: XArray = XArray::new();
    /// for i in 0..1000 {
    ///     xa.store(i, Entry::Value(i)).unwrap();
    /// }
    /// xa.set_mark(3, Mark::DIRTY);
    /// xa.set_mark(900, Mark::DIRTY);
    /// let p = xa.pin();
    /// let dirty: Vec<u64> = p.iter_marked(.., Mark::DIRTY).map(|(i, _)| i).collect();
    /// assert_eq!(dirty, [3, 900]);
    /// ```
    #[must_use = "iterators are lazy and do nothing unless consumed"]
    pub fn iter_marked(&self, r: impl RangeBounds<u64>, mark: Mark) -> Iter<'a, '_, T, V> {
        self.xa.iter_marked(r, mark, &self.guard)
    }

    /// A read-only cursor at `index`, for moving index by index or entry by
    /// entry; see [`Cursor`]. As [`XArray::cursor`].
    ///
    /// ```
    /// use xradix::{Entry, XArray};
    /// let xa: XArray = XArray::new();
    /// xa.store(2, Entry::Value(20)).unwrap();
    /// xa.store(3, Entry::Value(30)).unwrap();
    /// let p = xa.pin();
    /// let mut c = p.cursor(2);
    /// assert_eq!(c.next().and_then(|e| e.value()), Some(20));
    /// assert_eq!(c.next().and_then(|e| e.value()), Some(30));
    /// ```
    #[must_use = "a cursor does nothing until it is moved or read"]
    pub fn cursor(&self, index: u64) -> Cursor<'a, '_, T, V> {
        self.xa.cursor(index, &self.guard)
    }
}

/// Every entry in index order, as [`Pinned::iter`]: `for (i, e) in &xa.pin()`.
///
/// ```
/// use xradix::{Entry, XArray};
/// let xa: XArray = XArray::new();
/// xa.store(4, Entry::Value(40)).unwrap();
/// for (i, e) in &xa.pin() {
///     assert_eq!((i, e.value()), (4, Some(40)));
/// }
/// ```
impl<'p, 'a, T: Send + Sync + 'static, V: Value> IntoIterator for &'p Pinned<'a, T, V> {
    type Item = (u64, EntryRef<'p, T, V>);
    type IntoIter = Iter<'a, 'p, T, V>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// The tree's length, not its entries (format [`tree()`](Pinned::tree) for
/// those).
///
/// ```
/// use xradix::{Entry, XArray};
/// let xa: XArray = XArray::new();
/// xa.store(1, Entry::Value(1)).unwrap();
/// assert_eq!(format!("{:?}", xa.pin()), "Pinned { len: 1 }");
/// ```
impl<T: Send + Sync + 'static, V: Value> fmt::Debug for Pinned<'_, T, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pinned")
            .field("len", &self.xa.len())
            .finish()
    }
}
