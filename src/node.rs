//! The node: one level of the radix tree.
//!
//! A node has `SLOTS` slots (64, or 16 in test builds with
//! `--cfg xradix_small_nodes`) and covers `SLOTS << shift` indices: slot
//! `i` covers the indices whose bits `shift .. shift + CHUNK_SHIFT` equal
//! `i`. A node at shift 0 holds entries for single indices; a slot of a
//! node at shift 6 holds a child node, nothing, or one entry of order 6..11
//! (the last with sibling slots).
//!
//! ```text
//!            head ──► [shift 12 | 0 | 1 | ... | 63 ]
//!                          │    ╰─► [shift 6 | ... ]
//!                          ╰─► [shift 6 | 0 | 1 | ... ]
//!                                    ╰─► [shift 0 | v | v | sib | ... ]
//! ```
//!
//! # What readers see
//!
//! `shift` never changes once a node is published, and the slot and mark
//! words are atomics, so a reader holding an epoch guard may read any node
//! it reached, even one that has since left the tree. `count` and
//! `nr_values` are bookkeeping for writers only: readers never touch them,
//! so they are plain cells read and written under the tree's lock.
//!
//! Nodes carry no parent pointer and no offset: the cursor keeps the path
//! it walked, and a slot's offset follows from the index. That keeps the
//! node at 8 + 8·64 + 8·3 = 544 bytes, 8.5 bytes per slot.

use alloc::boxed::Box;
use core::cell::Cell;

use crate::entry::{self, Word, NULL};
use crate::mark::MARKS;
use crate::sync::{AtomicPtr, AtomicU64, Ordering};

/// log2 of the slots per node (the kernel's `XA_CHUNK_SHIFT`).
#[cfg(not(any(xradix_small_nodes, xradix_loom)))]
pub const CHUNK_SHIFT: u32 = 6;
/// log2 of the slots per node (the kernel's `XA_CHUNK_SHIFT`); 4 in test
/// builds so that deep trees and cross-node splits stay small.
#[cfg(any(xradix_small_nodes, xradix_loom))]
pub const CHUNK_SHIFT: u32 = 4;

/// Slots per node.
pub(crate) const SLOTS: usize = 1 << CHUNK_SHIFT;
/// The most nodes a path from the head to an entry can pass.
pub(crate) const MAX_HEIGHT: usize = 64_usize.div_ceil(CHUNK_SHIFT as usize);

/// A node of the tree (the kernel's `struct xa_node`).
///
/// `repr(C)` keeps the header and the mark bitmaps together in the first
/// 32 bytes: a marked walk or `tag_range` that only looks at the bitmaps of
/// a node touches one cache line of it, not two.
#[repr(C)]
pub(crate) struct Node {
    /// Bits of the index below this node's slots. Fixed at creation.
    pub(crate) shift: u32,
    /// Non-empty slots (entries, siblings and nodes). Writers only.
    count: Cell<u8>,
    /// Slots holding a value entry or one of its siblings. Writers only.
    nr_values: Cell<u8>,
    /// One bitmap per mark; bit `i` is slot `i`'s mark (or summary).
    pub(crate) marks: [AtomicU64; MARKS],
    /// The slot words; see [`entry`](crate::entry) for the encoding.
    pub(crate) slots: [AtomicPtr<()>; SLOTS],
}

impl Node {
    /// A new empty node at `shift`, not yet reachable by anyone.
    pub(crate) fn alloc(shift: u32) -> *mut Node {
        Box::into_raw(Box::new(Node {
            shift,
            count: Cell::new(0),
            nr_values: Cell::new(0),
            slots: core::array::from_fn(|_| AtomicPtr::new(NULL)),
            marks: core::array::from_fn(|_| AtomicU64::new(0)),
        }))
    }

    /// Frees a node nobody can reach any more.
    ///
    /// # Safety
    /// `node` came from [`Node::alloc`], is not linked from the tree, and no
    /// guard that could have seen it is still pinned (or the caller defers
    /// this call through the epoch collector).
    pub(crate) unsafe fn free(node: *mut Node) {
        // SAFETY: the caller's contract; the Box was made by `alloc`.
        drop(unsafe { Box::from_raw(node) });
    }

    /// Loads slot `offset`.
    ///
    /// Acquire: pairs with the Release store that published the word, so a
    /// node found here is seen fully initialised, and an item's contents
    /// written before it was stored are visible.
    #[inline]
    pub(crate) fn load(&self, offset: usize) -> Word {
        self.slots[offset].load(Ordering::Acquire)
    }

    /// Publishes `word` in slot `offset`. Writers only.
    ///
    /// Release: everything written before (a new node's slots and marks,
    /// an item's contents) is visible to a reader that loads `word`.
    #[inline]
    pub(crate) fn publish(&self, offset: usize, word: Word) {
        self.slots[offset].store(word, Ordering::Release);
    }

    /// The bitmap of `mark`.
    ///
    /// Relaxed: marks are hints for finding entries. A reader that follows
    /// a mark bit confirms it by loading the slot with Acquire, and marks
    /// are documented as possibly stale while writers work; writers read
    /// their own stores under the lock.
    #[inline]
    pub(crate) fn marks(&self, mark: usize) -> u64 {
        self.marks[mark].load(Ordering::Relaxed)
    }

    /// Sets the bits of `mask` in `mark`'s bitmap; returns the old bitmap.
    /// Writers only.
    ///
    /// A plain load and store, not a read-modify-write: only writers change
    /// marks, and they hold the tree's lock, so nobody can store between
    /// the two; readers see the old bitmap or the new one. (The kernel uses
    /// its non-atomic `__set_bit` under `xa_lock` for the same reason.)
    /// Relaxed for the reason given at [`Node::marks`].
    #[inline]
    pub(crate) fn set_marks(&self, mark: usize, mask: u64) -> u64 {
        let old = self.marks[mark].load(Ordering::Relaxed);
        self.marks[mark].store(old | mask, Ordering::Relaxed);
        old
    }

    /// Clears the bits of `mask` in `mark`'s bitmap; returns the old bitmap.
    /// Writers only; a plain load and store, as in [`Node::set_marks`].
    ///
    /// Relaxed: an erase clears an entry's marks *before* it publishes the
    /// empty slot with a Release store, which orders this clear too; a
    /// reader that sees the empty slot (Acquire) sees the mark gone.
    #[inline]
    pub(crate) fn clear_marks(&self, mark: usize, mask: u64) -> u64 {
        let old = self.marks[mark].load(Ordering::Relaxed);
        self.marks[mark].store(old & !mask, Ordering::Relaxed);
        old
    }

    #[inline]
    pub(crate) fn count(&self) -> usize {
        self.count.get() as usize
    }

    #[inline]
    pub(crate) fn set_count(&self, n: usize) {
        debug_assert!(n <= SLOTS);
        self.count.set(n as u8);
    }

    #[inline]
    pub(crate) fn nr_values(&self) -> usize {
        self.nr_values.get() as usize
    }

    #[inline]
    pub(crate) fn set_nr_values(&self, n: usize) {
        debug_assert!(n <= SLOTS);
        self.nr_values.set(n as u8);
    }

    /// Starts loading the node's first cache line (its header and mark
    /// bitmaps) without waiting for it: a walk that will visit several
    /// children lets their cache misses overlap instead of paying them one
    /// after another. A hint only; a no-op off x86_64.
    #[inline(always)]
    pub(crate) fn prefetch(node: *const Node) {
        #[cfg(all(target_arch = "x86_64", target_feature = "sse"))]
        // SAFETY: a prefetch never faults and reads nothing the program
        // sees, whatever the address.
        unsafe {
            core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(
                node.cast::<i8>(),
            );
        }
        #[cfg(not(all(target_arch = "x86_64", target_feature = "sse")))]
        let _ = node;
    }

    /// The canonical slot and slot count of the entry in slot `offset`
    /// (following a sibling back to its canonical slot).
    pub(crate) fn entry_span(&self, offset: usize) -> (usize, usize) {
        let canonical = entry::as_sibling(self.load(offset)).unwrap_or(offset);
        let mut end = canonical + 1;
        while end < SLOTS && entry::as_sibling(self.load(end)) == Some(canonical) {
            end += 1;
        }
        (canonical, end - canonical)
    }
}

// ---------------------------------------------------------------------------
// Index arithmetic. Every shift here is below 64, and node spans that reach
// past bit 63 saturate instead of overflowing.

/// The slot of `index` in a node at `shift`.
#[inline]
pub(crate) fn offset_of(index: u64, shift: u32) -> usize {
    ((index >> shift) as usize) & (SLOTS - 1)
}

/// A mask of the low `bits` bits (all ones from 64 up).
#[inline]
pub(crate) fn low_mask(bits: u32) -> u64 {
    if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    }
}

/// The highest index a top node at `shift` can reach.
#[inline]
pub(crate) fn max_index(shift: u32) -> u64 {
    low_mask(shift + CHUNK_SHIFT)
}

/// How many slots of a node at `shift` can hold indices: all of them, but
/// at the top of a 64-bit index space where only `64 - shift` bits remain.
#[inline]
pub(crate) fn usable_slots(shift: u32) -> usize {
    if shift + CHUNK_SHIFT > 64 {
        1 << (64 - shift)
    } else {
        SLOTS
    }
}

/// The first index of slot `offset` in the node at `shift` that `index`
/// passes through.
#[inline]
pub(crate) fn slot_start(index: u64, shift: u32, offset: usize) -> u64 {
    (index & !low_mask(shift + CHUNK_SHIFT)) | ((offset as u64) << shift)
}

/// The smallest shift (a multiple of `CHUNK_SHIFT`) of a top node that
/// reaches `index`.
#[inline]
pub(crate) fn shift_for(index: u64) -> u32 {
    let mut shift = 0;
    while index > max_index(shift) {
        shift += CHUNK_SHIFT;
    }
    shift
}

/// A bitmap with bits `from .. from + n` set.
#[inline]
pub(crate) fn bit_range(from: usize, n: usize) -> u64 {
    low_mask(n as u32) << from
}
