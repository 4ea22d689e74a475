//! Iterators over entries: all of them, a range, or those with a mark.
//!
//! Each is a [`Cursor`] plus a bound: it reads the live tree (no snapshot),
//! yields every entry once in index order, and costs amortised constant
//! work per entry, since the cursor keeps its path between steps.

use core::fmt;
use core::iter::FusedIterator;

use crate::cursor::batch::{lookup_batch, BATCH};
use crate::cursor::walk::Want;
use crate::cursor::Cursor;
use crate::entry::{self, EntryRef, Word};
use crate::value::Value;

/// An iterator over `(index, entry)` pairs; see
/// [`XArray::iter`](crate::XArray::iter),
/// [`range`](crate::XArray::range) and
/// [`iter_marked`](crate::XArray::iter_marked).
///
/// An entry erased ahead of the iterator is not yielded; one stored ahead
/// of it may be. A multi-order entry is yielded once, at its first index
/// (or at the range's start when the range begins inside it).
///
/// ```
/// use xradix::{pin, Entry, XArray};
/// let xa: XArray = XArray::new();
/// xa.store_order(0, 4, Entry::Value(1)).unwrap();
/// xa.store(100, Entry::Value(2)).unwrap();
/// let guard = pin();
/// let all: Vec<(u64, u64)> = xa.iter(&guard).map(|(i, e)| (i, e.value().unwrap())).collect();
/// assert_eq!(all, [(0, 1), (100, 2)]);
/// let from_5: Vec<u64> = xa.range(5.., &guard).map(|(i, _)| i).collect();
/// assert_eq!(from_5, [5, 100]);
/// ```
pub struct Iter<'a, 'g, T, V: Value = u64> {
    front: Cursor<'a, 'g, T, V>,
    back: Cursor<'a, 'g, T, V>,
    /// The range; `None` once the iterator is done.
    bounds: Option<(u64, u64)>,
    /// The highest index the front may still yield: the range's end, or
    /// just below the last index the back yielded.
    front_max: u64,
    /// The mirror: the lowest index the back may still yield, the range's
    /// start or just above the last index the front yielded. Each end
    /// writes the other's limit when it yields, so neither reads the other
    /// cursor on its fast path.
    back_min: u64,
    want: Want,
}

impl<'a, 'g, T: Send + Sync + 'static, V: Value> Iter<'a, 'g, T, V> {
    pub(crate) fn new(
        mut front: Cursor<'a, 'g, T, V>,
        mut back: Cursor<'a, 'g, T, V>,
        bounds: Option<(u64, u64)>,
        want: Want,
    ) -> Self {
        let (mut front_max, mut back_min) = (0, 0);
        if let Some((start, end)) = bounds {
            front.set(start);
            back.set(end);
            (front_max, back_min) = (end, start);
        }
        Iter {
            front,
            back,
            bounds,
            front_max,
            back_min,
            want,
        }
    }
}

impl<'a, 'g, T: Send + Sync + 'static, V: Value> Iterator for Iter<'a, 'g, T, V> {
    type Item = (u64, EntryRef<'g, T, V>);

    // Inlined into the caller's loop, as the kernel's `xas_for_each` is: the
    // common step is a few loads in `Walk::next_in_leaf`, and the item
    // stays in registers instead of going through memory.
    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        self.bounds?;
        // The walk never yields past `front_max` and never goes back (see
        // `Walk::scan_past`), so the indices rise strictly inside the range.
        // SAFETY: the cursor's guard is pinned for 'g.
        match unsafe { self.front.iter_next(self.front_max, self.want) } {
            Some(w) => {
                let index = self.front.index();
                match index.checked_add(1) {
                    Some(above) => self.back_min = above,
                    // `u64::MAX` from the front: nothing is left for either
                    // end.
                    None => self.bounds = None,
                }
                // SAFETY: loaded under the cursor's guard.
                unsafe { entry::word_ref(w) }.map(|e| (index, e))
            }
            None => {
                self.bounds = None;
                None
            }
        }
    }
}

impl<'a, 'g, T: Send + Sync + 'static, V: Value> DoubleEndedIterator for Iter<'a, 'g, T, V> {
    /// Entries from the end of the range down, each at the same index the
    /// forward direction would give it.
    ///
    /// ```
    /// use xradix::{pin, Entry, XArray};
    /// let xa: XArray = XArray::new();
    /// for i in [1, 5, 9] {
    ///     xa.store(i, Entry::Value(i)).unwrap();
    /// }
    /// xa.store_order(64, 4, Entry::Value(64)).unwrap();
    /// let guard = pin();
    /// let down: Vec<u64> = xa.range(..=70, &guard).rev().map(|(i, _)| i).collect();
    /// assert_eq!(down, [64, 9, 5, 1]);
    /// let mut both = xa.iter(&guard);
    /// assert_eq!(both.next().map(|(i, _)| i), Some(1));
    /// assert_eq!(both.next_back().map(|(i, _)| i), Some(64));
    /// assert_eq!(both.next().map(|(i, _)| i), Some(5));
    /// assert_eq!(both.next_back().map(|(i, _)| i), Some(9));
    /// assert!(both.next().is_none());
    /// ```
    #[inline(always)]
    fn next_back(&mut self) -> Option<Self::Item> {
        let (min, _) = self.bounds?;
        // SAFETY: the cursor's guard is pinned for 'g.
        let found = match unsafe { self.back.iter_prev(self.back_min, self.want) } {
            Some(w) => Some(w),
            // SAFETY: as above.
            None => match unsafe { self.back.find_back_slow(min, self.want) } {
                // The back yields an entry at its first index (or `min`),
                // so the search goes down to `min`: an entry that began
                // below `back_min` but reaches it was yielded by the front
                // already (or the two ends have met), and is not taken.
                Some(w) if self.back.index() >= self.back_min => Some(w),
                _ => None,
            },
        };
        let Some(w) = found else {
            self.bounds = None;
            return None;
        };
        let index = self.back.index();
        match index.checked_sub(1) {
            Some(below) => self.front_max = below,
            // Index 0 from the back: nothing is left for either end.
            None => self.bounds = None,
        }
        // SAFETY: loaded under the cursor's guard.
        unsafe { entry::word_ref(w) }.map(|e| (index, e))
    }
}

impl<T: Send + Sync + 'static, V: Value> FusedIterator for Iter<'_, '_, T, V> {}

/// Where the iterator is and where it stops, not the entries.
///
/// ```
/// use xradix::{pin, XArray};
/// let xa: XArray = XArray::new();
/// let guard = pin();
/// assert_eq!(format!("{:?}", xa.range(5..10, &guard)), "Iter { front: 5, back: 9, range: Some((5, 9)) }");
/// ```
impl<T: Send + Sync + 'static, V: Value> fmt::Debug for Iter<'_, '_, T, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Iter")
            .field("front", &self.front.index())
            .field("back", &self.back.index())
            .field("range", &self.bounds)
            .finish()
    }
}

/// The entries at many indices, looked up in batches whose cache misses
/// overlap; see [`XArray::load_many`](crate::XArray::load_many).
///
/// Yields one `Option<EntryRef>` per index, in the order the indices come.
/// Each lookup is an independent read with the guarantees of
/// [`load`](crate::XArray::load): what it returns covered its index at some
/// moment while the batch holding it was read.
///
/// ```
/// use xradix::{pin, Entry, XArray};
/// let xa: XArray = XArray::new();
/// for i in 0..100 {
///     xa.store(i * 3, Entry::Value(i)).unwrap();
/// }
/// let guard = pin();
/// let got: Vec<Option<u64>> = xa
///     .load_many([9, 10, 297, 1 << 40], &guard)
///     .map(|e| e.and_then(|e| e.value()))
///     .collect();
/// assert_eq!(got, [Some(3), None, Some(99), None]);
/// ```
pub struct LoadMany<'a, 'g, T, V: Value, I> {
    root: &'a crate::cursor::Root,
    indices: I,
    /// The current batch: its indices, what was found, and how far it
    /// has been handed out.
    batch: [u64; BATCH],
    found: [Word; BATCH],
    len: usize,
    next: usize,
    _types: core::marker::PhantomData<(&'g crate::sync::Guard, &'a crate::XArray<T, V>)>,
}

impl<'a, 'g, T, V: Value, I> LoadMany<'a, 'g, T, V, I> {
    /// The caller checked that the guard for 'g is pinned to the tree's
    /// collector.
    pub(crate) fn new(root: &'a crate::cursor::Root, indices: I) -> Self {
        LoadMany {
            root,
            indices,
            batch: [0; BATCH],
            found: [core::ptr::null_mut(); BATCH],
            len: 0,
            next: 0,
            _types: core::marker::PhantomData,
        }
    }
}

impl<'a, 'g, T: Send + Sync + 'static, V: Value, I: Iterator<Item = u64>> Iterator
    for LoadMany<'a, 'g, T, V, I>
{
    type Item = Option<EntryRef<'g, T, V>>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.next == self.len {
            self.len = 0;
            self.next = 0;
            for slot in &mut self.batch {
                match self.indices.next() {
                    Some(index) => {
                        *slot = index;
                        self.len += 1;
                    }
                    None => break,
                }
            }
            if self.len == 0 {
                return None;
            }
            // SAFETY: the guard for 'g is pinned to the tree's collector
            // (checked when the iterator was made) and outlives what we
            // hand out.
            unsafe { lookup_batch(self.root, &self.batch[..self.len], &mut self.found) };
        }
        let w = self.found[self.next];
        self.next += 1;
        // SAFETY: loaded under the 'g guard.
        Some(unsafe { entry::word_ref(w) })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let (lo, hi) = self.indices.size_hint();
        let left = self.len - self.next;
        (
            lo.saturating_add(left),
            hi.and_then(|h| h.checked_add(left)),
        )
    }
}

impl<T, V: Value, I> fmt::Debug for LoadMany<'_, '_, T, V, I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadMany")
            .field("buffered", &(self.len - self.next))
            .finish_non_exhaustive()
    }
}
