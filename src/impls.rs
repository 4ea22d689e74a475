//! The standard traits a Rust collection is expected to have, and the
//! choices behind the ones it does not.
//!
//! - [`Extend`] and [`FromIterator`] of `(u64, Arc<T>)` for every tree:
//!   an item always fits a slot, so nothing can be refused.
//! - [`Extend`] and [`FromIterator`] of `(u64, Entry<T, V>)` only for trees
//!   whose value type is a [`SmallValue`]: the crate never panics on bad
//!   input, and a store of a value too wide for its [`Value::BITS`] is
//!   refused with [`Error::Invalid`]. The infallible traits exist only
//!   where no value can be refused; [`XArray::try_extend`] is the fallible
//!   form for every `V`.
//! - [`Clone`] is an exact copy, made under the source's lock: same
//!   entries, orders, marks, reservations, flags and collector; items are
//!   shared (`Arc` clones), not deep-copied. It costs O(n) stores and
//!   blocks the source's writers (not its readers) for that long.
//! - [`Debug`](fmt::Debug) for the handles ([`Cursor`], [`CursorMut`],
//!   [`Locked`]) shows where they are, never entries (they would need
//!   `T: Debug` and a walk); the tree's own `Debug` shows its first 64
//!   entries.
//!
//! Not implemented: `PartialEq`/`Hash` (two live trees cannot be compared
//! atomically; compare snapshots instead), `IntoIterator` by value (the
//! tree hands out `Arc`s through [`get`](XArray::get) or borrowed entries
//! through [`iter`](XArray::iter); a draining iterator would have to walk
//! and erase under the lock) and `Index` (a hole has nothing to return a
//! reference to, and references need a guard).

use core::fmt;

use alloc::sync::Arc;

use crate::cursor::walk::{Walk, Want};
use crate::cursor::write::FREE_MARK;
use crate::cursor::{Cursor, CursorMut};
use crate::entry::{self, Entry, Word, ZERO};
use crate::error::Error;
use crate::mark::Mark;
use crate::value::Value;
use crate::xarray::{Locked, XArray};

mod sealed {
    /// Keeps [`SmallValue`](super::SmallValue) closed: its promise is about
    /// `into_raw`, which the crate can only vouch for in its own impls.
    pub trait Sealed {}
}

/// A [`Value`] type every value of which fits a slot, so that storing one
/// can never fail: `u8`, `u16`, `i8`, `i16`, `bool`, and `u32` and `i32` on
/// 64-bit targets (a slot carries [`max_value_bits`](crate::max_value_bits)
/// bits: 62 there, 30 on 32-bit targets).
///
/// Trees with such a value type implement [`Extend`] and [`FromIterator`]
/// of `(u64, Entry<T, V>)`. Other value types (`u64`, `usize`, `i64`,
/// `isize`, your own [`Value`]s, whose `into_raw` the crate cannot vouch
/// for) may produce a payload too wide to store; use
/// [`XArray::try_extend`] for them. Items always fit: every tree, whatever
/// its `V`, collects and extends from `(u64, Arc<T>)`. The trait is sealed.
///
/// ```
/// use xradix::{Entry, XArray};
///
/// let xa: XArray<(), u32> = (0..10u32).map(|i| (u64::from(i) * 3, Entry::Value(i))).collect();
/// assert_eq!(xa.len(), 10);
/// assert_eq!(xa.get(27), Some(Entry::Value(9)));
/// ```
pub trait SmallValue: Value + sealed::Sealed {}

macro_rules! small_value {
    ($($(#[$cfg:meta])* $t:ty),*) => {$(
        $(#[$cfg])*
        impl sealed::Sealed for $t {}
        $(#[$cfg])*
        impl SmallValue for $t {}
    )*};
}

small_value!(
    u8,
    u16,
    i8,
    i16,
    bool,
    #[cfg(target_pointer_width = "64")]
    u32,
    #[cfg(target_pointer_width = "64")]
    i32
);

// Every SmallValue fits every slot on the targets it is implemented for
// (a signed one is stored in its own width, as two's complement).
const _: () = {
    assert!(u16::BITS <= crate::value::max_value_bits());
    assert!(<i16 as Value>::BITS <= crate::value::max_value_bits());
    #[cfg(target_pointer_width = "64")]
    assert!(u32::BITS <= crate::value::max_value_bits());
    #[cfg(target_pointer_width = "64")]
    assert!(<i32 as Value>::BITS <= crate::value::max_value_bits());
};

impl<T: Send + Sync + 'static, V: Value> XArray<T, V> {
    /// Stores every `(index, entry)` of `iter` in turn, as
    /// [`store`](XArray::store) does (a later entry at the same index
    /// replaces an earlier one, keeping its marks), under one acquisition
    /// of the lock.
    ///
    /// Takes `&mut self` so that `iter` cannot write to this tree while the
    /// lock is held (it would wait for itself). For a shared tree, use
    /// [`Locked::try_extend`].
    ///
    /// # Errors
    /// Stops at the first entry that cannot be stored ([`Error::Invalid`]
    /// for a value too wide) and returns the error; the entries before it
    /// stay stored, the rest of `iter` is not consumed.
    ///
    /// ```
    /// use xradix::{Entry, Error, XArray};
    ///
    /// let mut xa: XArray = XArray::new();
    /// xa.try_extend((0..4).map(|i| (i, Entry::Value(i * 10)))).unwrap();
    /// assert_eq!(xa.len(), 4);
    /// // 1 << 62 does not fit in a slot: refused, not truncated.
    /// let err = xa.try_extend([(9, Entry::Value(1)), (10, Entry::Value(1 << 62))]).unwrap_err();
    /// assert!(matches!(err, Error::Invalid { .. }));
    /// assert_eq!(xa.get(9), Some(Entry::Value(1)));
    /// assert_eq!(xa.get(10), None);
    /// ```
    pub fn try_extend<I>(&mut self, iter: I) -> Result<(), Error>
    where
        I: IntoIterator<Item = (u64, Entry<T, V>)>,
    {
        self.lock().try_extend(iter)
    }
}

impl<T: Send + Sync + 'static, V: Value> Locked<'_, T, V> {
    /// [`XArray::try_extend`] under this lock, for a tree shared between
    /// threads. `iter` must not write to this tree: the lock is held.
    ///
    /// # Errors
    /// As for [`XArray::try_extend`].
    ///
    /// ```
    /// use std::sync::Arc;
    /// use xradix::{Entry, XArray};
    ///
    /// let xa: Arc<XArray> = Arc::new(XArray::new());
    /// xa.lock().try_extend([(1, Entry::Value(1)), (2, Entry::Value(2))]).unwrap();
    /// assert_eq!(xa.len(), 2);
    /// ```
    pub fn try_extend<I>(&self, iter: I) -> Result<(), Error>
    where
        I: IntoIterator<Item = (u64, Entry<T, V>)>,
    {
        // Ascending runs fill whole bottom nodes and link each once (see
        // `cursor::bulk`); the rest is stored one by one. If `iter` fails or
        // panics, what came before it is stored.
        let mut bulk = self.bulk();
        for (index, entry) in iter {
            let word = entry::into_word(entry)?;
            // SAFETY: we hold the lock for the builder's life; `word` is a
            // non-null leaf word of this tree's types.
            if let Err(word) = unsafe { bulk.push(index, word) } {
                drop(self.store_word(index, 0, word));
            }
        }
        Ok(())
    }

    /// An exact copy of the tree, made under this lock: the same entries
    /// (items shared: `Arc` clones), orders, marks, reservations, flags and
    /// collector. What [`Clone`] does after taking the lock; call this one
    /// when you already hold it.
    ///
    /// O(n): one [`store_order`](Locked::store_order) per entry, plus one
    /// [`set_mark`](Locked::set_mark) per mark, while the source's writers
    /// wait.
    ///
    /// ```
    /// use xradix::{Entry, Mark, XArray};
    ///
    /// let xa: XArray = XArray::new();
    /// let locked = xa.lock();
    /// locked.store_order(64, 6, Entry::Value(1)).unwrap();
    /// locked.set_mark(64, Mark::TOWRITE);
    /// let copy = locked.snapshot();
    /// drop(locked);
    /// assert_eq!(copy.get_order(100), 6);
    /// assert!(copy.get_mark(64, Mark::TOWRITE));
    /// ```
    #[must_use]
    pub fn snapshot(&self) -> XArray<T, V> {
        let copy = empty_like(self.tree());
        {
            let dst = copy.lock();
            let copied: Result<(), Error> = self.for_each_record(|r| {
                if r.word == ZERO {
                    dst.reserve(r.index)?;
                } else {
                    // SAFETY: `r.word` is a leaf of the source, which cannot
                    // change or free it while we hold its lock.
                    if let Some(e) = unsafe { entry::word_clone::<T, V>(r.word) } {
                        dst.store_order(r.index, r.order, e)?;
                    }
                }
                for mark in Mark::ALL {
                    if r.marks & mark.bit() != 0 {
                        dst.set_mark(r.index, mark);
                    }
                }
                Ok(())
            });
            // Cannot fail: every index, order and value was accepted by the
            // source tree, and the copy has the same flags.
            let _ = copied;
        }
        copy
    }

    /// Calls `f` on every entry and reservation in index order, each once,
    /// at its first index; stops at the first error `f` returns.
    pub(crate) fn for_each_record<E>(
        &self,
        mut f: impl FnMut(Record) -> Result<(), E>,
    ) -> Result<(), E> {
        let root = &self.tree().root;
        let want = Want {
            mark: None,
            reserved: true,
        };
        let user_mark = |m: Mark| !(root.track_free && m.index() == FREE_MARK);
        let mut walk = Walk::new(0);
        // SAFETY: we hold the tree's lock (and the pinned guard of this
        // `Locked`): no writer changes the tree or frees a node on the walk's
        // path while the walk is used.
        let mut found = unsafe { walk.find(root, u64::MAX, want) };
        while let Some(word) = found {
            let mut marks = 0;
            // SAFETY: as above; the walk is fresh after `find`/`find_next`.
            let (index, order) = unsafe {
                for mark in Mark::ALL {
                    if user_mark(mark) && walk.is_marked(root, mark.index()) {
                        marks |= mark.bit();
                    }
                }
                (walk.entry_range_locked().0, walk.order_locked())
            };
            f(Record {
                index,
                order,
                word,
                marks,
            })?;
            // SAFETY: as above.
            found = unsafe { walk.find_next(root, u64::MAX, want) };
        }
        Ok(())
    }
}

/// One entry of a tree as a walk under the lock sees it.
pub(crate) struct Record {
    /// The entry's first index.
    pub(crate) index: u64,
    /// The entry covers 2^order indices.
    pub(crate) order: u32,
    /// An item or value word, or [`ZERO`] for a reservation; valid while
    /// the lock is held.
    pub(crate) word: Word,
    /// Bit `m` ([`Mark::bit`]): the entry carries mark `m`. The free-slot
    /// mark of an allocating tree is not included.
    pub(crate) marks: u8,
}

/// An empty tree with `src`'s flags and collector.
fn empty_like<T: Send + Sync + 'static, V: Value>(src: &XArray<T, V>) -> XArray<T, V> {
    #[cfg(feature = "std")]
    if src.collector() == crate::sync::default_collector() {
        return XArray::with_flags(src.flags());
    }
    XArray::with_collector(src.collector().clone(), src.flags())
}

/// An exact copy: same entries, orders, marks, reservations, flags and
/// collector; items are shared (`Arc` clones), not deep-copied.
///
/// Takes the source's lock for the whole copy, so the copy is a consistent
/// snapshot; the source's writers wait O(n) meanwhile, its readers do not.
/// **On a thread that holds the tree's [`Locked`], use
/// [`Locked::snapshot`]**: the lock is not reentrant, and cloning the tree
/// there panics (with `std`; without it, spins for ever).
///
/// ```
/// use std::sync::Arc;
/// use xradix::{Entry, Mark, XArray};
///
/// let xa: XArray<String> = XArray::new();
/// let item = Arc::new("page".to_string());
/// xa.store(1, Entry::Item(item.clone())).unwrap();
/// xa.store_order(512, 9, Entry::Value(7)).unwrap();
/// xa.set_mark(512, Mark::DIRTY);
/// xa.reserve(2000).unwrap();
///
/// let copy = xa.clone();
/// assert!(copy.get(1).unwrap().same(&Entry::Item(item))); // the same Arc
/// assert_eq!(copy.get_order(700), 9);
/// assert!(copy.get_mark(600, Mark::DIRTY));
/// assert_eq!(copy.len(), 3); // the reservation too
/// copy.erase(1);
/// assert_eq!(xa.len(), 3); // the trees are independent
/// ```
impl<T: Send + Sync + 'static, V: Value> Clone for XArray<T, V> {
    #[track_caller]
    fn clone(&self) -> Self {
        self.lock_for("XArray::clone").snapshot()
    }
}

/// Stores every `(index, entry)` in turn, as [`XArray::store`] does; only
/// for [`SmallValue`] value types, where no store can fail (see
/// [`XArray::try_extend`] for the others).
///
/// ```
/// use std::sync::Arc;
/// use xradix::{Entry, XArray};
///
/// let mut xa: XArray<&str, u8> = XArray::new();
/// xa.extend([(1, Entry::Item(Arc::new("one"))), (2, Entry::Value(2))]);
/// assert_eq!(xa.len(), 2);
/// ```
impl<T: Send + Sync + 'static, V: SmallValue> Extend<(u64, Entry<T, V>)> for XArray<T, V> {
    fn extend<I: IntoIterator<Item = (u64, Entry<T, V>)>>(&mut self, iter: I) {
        // Cannot fail: a SmallValue always fits a slot, and a store fails
        // for nothing else.
        let _ = self.try_extend(iter);
    }
}

/// A tree holding every `(index, entry)`, later ones replacing earlier ones
/// at the same index; only for [`SmallValue`] value types (see
/// [`XArray::try_extend`] for the others). Needs `std` (the default
/// collector).
///
/// ```
/// use xradix::{Entry, XArray};
///
/// let xa: XArray<(), bool> = [(5, Entry::Value(true)), (9, Entry::Value(false))].into_iter().collect();
/// assert_eq!(xa.get(9), Some(Entry::Value(false)));
/// ```
#[cfg(feature = "std")]
impl<T: Send + Sync + 'static, V: SmallValue> FromIterator<(u64, Entry<T, V>)> for XArray<T, V> {
    fn from_iter<I: IntoIterator<Item = (u64, Entry<T, V>)>>(iter: I) -> Self {
        let mut xa = XArray::new();
        xa.extend(iter);
        xa
    }
}

/// Stores every `(index, item)` in turn, as [`XArray::store`] of
/// [`Entry::Item`] does (a later item at the same index replaces an
/// earlier one, keeping its marks), under one acquisition of the lock. For
/// every value type: an item always fits a slot.
///
/// ```
/// use std::sync::Arc;
/// use xradix::XArray;
///
/// let mut pages: XArray<String> = XArray::new();
/// pages.extend([(1, Arc::new("one".to_string())), (2, Arc::new("two".to_string()))]);
/// assert_eq!(pages.len(), 2);
/// ```
impl<T: Send + Sync + 'static, V: Value> Extend<(u64, Arc<T>)> for XArray<T, V> {
    fn extend<I: IntoIterator<Item = (u64, Arc<T>)>>(&mut self, iter: I) {
        // Cannot fail: an item always fits a slot, and a store fails for
        // nothing else. (`try_extend` is the one path by which a tree is
        // filled from an iterator.)
        let stored = self.try_extend(
            iter.into_iter()
                .map(|(index, item)| (index, Entry::Item(item))),
        );
        debug_assert!(stored.is_ok(), "xradix: an item was refused: {stored:?}");
    }
}

/// A tree holding every `(index, item)`, later ones replacing earlier ones
/// at the same index. For every value type: an item always fits a slot.
/// Needs `std` (the default collector); without it, make the tree
/// [`with_collector`](XArray::with_collector) and [`Extend`] it.
///
/// ```
/// use std::sync::Arc;
/// use xradix::XArray;
///
/// let words = ["zero", "one", "two"];
/// let xa: XArray<String> = words
///     .iter()
///     .enumerate()
///     .map(|(i, s)| (i as u64, Arc::new(s.to_string())))
///     .collect();
/// assert_eq!(xa.len(), 3);
/// assert_eq!(xa.pin().load(2).and_then(|e| e.item()).map(String::as_str), Some("two"));
/// ```
#[cfg(feature = "std")]
impl<T: Send + Sync + 'static, V: Value> FromIterator<(u64, Arc<T>)> for XArray<T, V> {
    fn from_iter<I: IntoIterator<Item = (u64, Arc<T>)>>(iter: I) -> Self {
        let mut xa = XArray::new();
        xa.extend(iter);
        xa
    }
}

/// The cursor's index only (entries would need `T: Debug`).
///
/// ```
/// use xradix::{pin, XArray};
/// let xa: XArray = XArray::new();
/// let guard = pin();
/// assert_eq!(format!("{:?}", xa.cursor(7, &guard)), "Cursor { index: 7 }");
/// ```
impl<T: Send + Sync + 'static, V: Value> fmt::Debug for Cursor<'_, '_, T, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cursor")
            .field("index", &self.index())
            .finish()
    }
}

/// The cursor's index only (entries would need `T: Debug`).
///
/// ```
/// use xradix::XArray;
/// let xa: XArray = XArray::new();
/// let locked = xa.lock();
/// assert_eq!(format!("{:?}", locked.cursor_mut(3)), "CursorMut { index: 3 }");
/// ```
impl<T: Send + Sync + 'static, V: Value> fmt::Debug for CursorMut<'_, T, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CursorMut")
            .field("index", &self.index())
            .finish()
    }
}

/// The tree's length and flags, not its entries (format
/// [`tree()`](Locked::tree) for those).
///
/// ```
/// use xradix::{Entry, XArray};
/// let xa: XArray = XArray::new();
/// xa.store(1, Entry::Value(1)).unwrap();
/// assert_eq!(format!("{:?}", xa.lock()), "Locked { len: 1, flags: Flags(0x0) }");
/// ```
impl<T: Send + Sync + 'static, V: Value> fmt::Debug for Locked<'_, T, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let xa = self.tree();
        f.debug_struct("Locked")
            .field("len", &xa.len())
            .field("flags", &xa.flags())
            .finish()
    }
}
