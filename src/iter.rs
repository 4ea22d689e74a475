//! Iterators over entries: all of them, a range, or those with a mark.
//!
//! Each is a [`Cursor`] plus a bound: it reads the live tree (no snapshot),
//! yields every entry once in index order, and costs amortised constant
//! work per entry, since the cursor keeps its path between steps.

use core::fmt;
use core::iter::FusedIterator;

use crate::cursor::walk::Want;
use crate::cursor::Cursor;
use crate::entry::{self, EntryRef};
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
    cursor: Cursor<'a, 'g, T, V>,
    /// The last index to look at; `None` once the iterator is done.
    max: Option<u64>,
    want: Want,
}

impl<'a, 'g, T: Send + Sync + 'static, V: Value> Iter<'a, 'g, T, V> {
    pub(crate) fn new(
        mut cursor: Cursor<'a, 'g, T, V>,
        bounds: Option<(u64, u64)>,
        want: Want,
    ) -> Self {
        if let Some((start, _)) = bounds {
            cursor.set(start);
        }
        Iter {
            cursor,
            max: bounds.map(|(_, end)| end),
            want,
        }
    }
}

impl<'a, 'g, T: Send + Sync + 'static, V: Value> Iterator for Iter<'a, 'g, T, V> {
    type Item = (u64, EntryRef<'g, T, V>);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let max = self.max?;
        // SAFETY: the cursor's guard is pinned for 'g.
        let found = unsafe { self.cursor.find_raw(max, self.want) };
        let Some(w) = found else {
            self.max = None;
            return None;
        };
        // SAFETY: loaded under the cursor's guard.
        let e = unsafe { entry::word_ref(w) }?;
        Some((self.cursor.index(), e))
    }
}

impl<T: Send + Sync + 'static, V: Value> FusedIterator for Iter<'_, '_, T, V> {}

/// Where the iterator is and where it stops, not the entries.
///
/// ```
/// use xradix::{pin, XArray};
/// let xa: XArray = XArray::new();
/// let guard = pin();
/// assert_eq!(format!("{:?}", xa.range(5..10, &guard)), "Iter { index: 5, end: Some(9) }");
/// ```
impl<T: Send + Sync + 'static, V: Value> fmt::Debug for Iter<'_, '_, T, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Iter")
            .field("index", &self.cursor.index())
            .field("end", &self.max)
            .finish()
    }
}
