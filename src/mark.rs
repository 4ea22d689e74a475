//! Marks: three flags per entry, summarised up the tree.
//!
//! Every slot of every node has one bit per mark. On a slot holding an
//! entry the bit is the entry's mark; on a slot holding a child node it is
//! set when any entry below carries the mark. The summary is what lets
//! [`iter_marked`](crate::XArray::iter_marked) skip a whole unmarked
//! subtree with one bitmap test.

use core::fmt;

/// One of the three marks an entry can carry (the kernel's `xa_mark_t`).
///
/// The kernel's page cache calls mark 0 DIRTY and mark 1 TOWRITE; the
/// names here follow that use, but the tree gives them no meaning of its
/// own, with one exception: **a tree made with
/// [`Flags::ALLOC`](crate::Flags::ALLOC) or
/// [`Flags::ALLOC1`](crate::Flags::ALLOC1) uses mark 0 (`DIRTY`) to track
/// free indices**, so there `set_mark(i, Mark::DIRTY)` does nothing,
/// `get_mark(i, Mark::DIRTY)` is false and `iter_marked(.., Mark::DIRTY)`
/// yields nothing. Use `TOWRITE` or `MARK_2` in such a tree:
///
/// ```
/// use xradix::{Entry, Flags, Mark, XArray};
///
/// let ids: XArray = XArray::with_flags(Flags::ALLOC);
/// let id = ids.alloc(Entry::Value(1), 0..=99).unwrap();
/// ids.set_mark(id, Mark::DIRTY); // mark 0 is the free-index mark here
/// assert!(!ids.get_mark(id, Mark::DIRTY));
/// ids.set_mark(id, Mark::MARK_2); // the user's marks work as usual
/// assert!(ids.get_mark(id, Mark::MARK_2));
/// ```
///
///
/// ```
/// use xradix::{Entry, Mark, XArray};
///
/// let xa: XArray = XArray::new();
/// xa.store(7, Entry::Value(1)).unwrap();
/// xa.set_mark(7, Mark::DIRTY);
/// assert!(xa.get_mark(7, Mark::DIRTY));
/// assert!(!xa.get_mark(7, Mark::TOWRITE));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mark(u8);

impl Mark {
    /// Mark 0 (`XA_MARK_0`).
    ///
    /// ```
    /// assert_eq!(xradix::Mark::MARK_0.index(), 0);
    /// ```
    pub const MARK_0: Mark = Mark(0);
    /// Mark 1 (`XA_MARK_1`).
    ///
    /// ```
    /// assert_eq!(xradix::Mark::MARK_1.index(), 1);
    /// ```
    pub const MARK_1: Mark = Mark(1);
    /// Mark 2 (`XA_MARK_2`), free for the user.
    ///
    /// ```
    /// use xradix::{Entry, Mark, XArray};
    /// let xa: XArray = XArray::new();
    /// xa.store(1, Entry::Value(1)).unwrap();
    /// xa.set_mark(1, Mark::MARK_2);
    /// assert!(xa.has_mark(Mark::MARK_2));
    /// ```
    pub const MARK_2: Mark = Mark(2);
    /// The page cache's dirty mark: mark 0 (`PAGECACHE_TAG_DIRTY`).
    ///
    /// ```
    /// use xradix::{Entry, Mark, XArray};
    /// let pages: XArray = XArray::new();
    /// pages.store(3, Entry::Value(3)).unwrap();
    /// pages.set_mark(3, Mark::DIRTY); // written to since it was read
    /// assert_eq!(Mark::DIRTY, Mark::MARK_0);
    /// ```
    pub const DIRTY: Mark = Mark::MARK_0;
    /// The page cache's writeback snapshot: mark 1 (`PAGECACHE_TAG_TOWRITE`).
    ///
    /// ```
    /// use xradix::{Entry, Mark, XArray};
    /// let pages: XArray = XArray::new();
    /// pages.store(3, Entry::Value(3)).unwrap();
    /// pages.set_mark(3, Mark::DIRTY);
    /// // Writeback starts: the dirty pages now are the ones it writes.
    /// assert_eq!(pages.tag_range(.., Mark::DIRTY, Mark::TOWRITE), 1);
    /// assert!(pages.get_mark(3, Mark::TOWRITE));
    /// ```
    pub const TOWRITE: Mark = Mark::MARK_1;
    /// Every mark, in order.
    ///
    /// ```
    /// use xradix::Mark;
    /// let numbers: Vec<usize> = Mark::ALL.iter().map(|m| m.index()).collect();
    /// assert_eq!(numbers, [0, 1, 2]);
    /// ```
    pub const ALL: [Mark; 3] = [Mark::MARK_0, Mark::MARK_1, Mark::MARK_2];

    /// The mark's number: 0, 1 or 2.
    ///
    /// ```
    /// assert_eq!(xradix::Mark::TOWRITE.index(), 1);
    /// ```
    #[inline]
    pub const fn index(self) -> usize {
        self.0 as usize
    }

    /// The mark numbered `n`, or `None` when `n > 2`.
    ///
    /// ```
    /// assert_eq!(xradix::Mark::from_index(2), Some(xradix::Mark::MARK_2));
    /// assert_eq!(xradix::Mark::from_index(3), None);
    /// ```
    #[inline]
    pub const fn from_index(n: usize) -> Option<Mark> {
        if n < MARKS {
            Some(Mark(n as u8))
        } else {
            None
        }
    }

    /// This mark's bit in a [`MarkSet`]-style byte.
    #[inline]
    pub(crate) const fn bit(self) -> u8 {
        1 << self.0
    }
}

impl fmt::Debug for Mark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            0 => f.write_str("Mark::DIRTY"),
            1 => f.write_str("Mark::TOWRITE"),
            _ => f.write_str("Mark::MARK_2"),
        }
    }
}

/// How many marks each slot has.
pub(crate) const MARKS: usize = 3;
