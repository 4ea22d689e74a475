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
//!
//! # Sibling runs and the change count
//!
//! A multi-order entry inside a node is a canonical slot followed by
//! sibling slots that point back at it. A reader that lands on a sibling
//! needs two loads (the sibling, then the canonical slot), and a writer can
//! act between them: erase the multi-order entry and store an order-0
//! entry at the canonical index. The canonical slot then holds an entry
//! that never covered the reader's index. Re-reading the sibling does not
//! help, since a later `store_order` can put the very same sibling word
//! back (an ABA).
//!
//! So every node has a *change count* (`seq`), a sequence lock for its
//! sibling runs: a writer makes it odd before it writes or removes any
//! sibling word in the node and even again after, and a reader that follows
//! a sibling reads the count before and after its loads and tries again if
//! it was odd or moved ([`Node::read_begin`], [`Node::read_valid`]). Slots
//! that hold no sibling before or after a change are written outside the
//! count, so the common paths (plain loads, order-0 stores) never touch it.
//!
//! Why that is enough: within a validated window no sibling word of the
//! node changed, so the sibling the reader loaded stayed in place for the
//! whole window, and a node whose slot `s` holds a sibling of `c` always
//! has, in slot `c`, an entry whose range holds `s` (writers keep that true
//! at every store outside a counted change: the only store to `c` outside
//! one replaces the entry with another of the same order). The canonical
//! load therefore returns an entry that covered the index when it was made.
//! The count is 32 bits: a reader would have to sleep through 2^31
//! multi-order changes to one node between two loads to be fooled.

use alloc::boxed::Box;
use core::cell::Cell;

use crate::entry::{self, Word, NULL};
use crate::mark::MARKS;
use crate::sync::{fence, AtomicPtr, AtomicU32, AtomicU64, Ordering};

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
    shift: u8,
    /// Non-empty slots (entries, siblings and nodes). Writers only.
    count: Cell<u8>,
    /// Slots holding a value entry or one of its siblings. Writers only.
    nr_values: Cell<u8>,
    /// The change count of the node's sibling runs: odd while a writer
    /// changes them (see the module docs).
    seq: AtomicU32,
    /// One bitmap per mark; bit `i` is slot `i`'s mark (or summary).
    pub(crate) marks: [AtomicU64; MARKS],
    /// The slot words; see [`entry`](crate::entry) for the encoding.
    pub(crate) slots: [AtomicPtr<()>; SLOTS],
}

impl Node {
    /// A new empty node at `shift`, not yet reachable by anyone.
    pub(crate) fn alloc(shift: u32) -> *mut Node {
        debug_assert!(shift < 64);
        Box::into_raw(Box::new(Node {
            shift: shift as u8,
            seq: AtomicU32::new(0),
            count: Cell::new(0),
            nr_values: Cell::new(0),
            slots: core::array::from_fn(|_| AtomicPtr::new(NULL)),
            marks: core::array::from_fn(|_| AtomicU64::new(0)),
        }))
    }

    /// Bits of the index below this node's slots. Fixed at creation.
    #[inline(always)]
    pub(crate) fn shift(&self) -> u32 {
        self.shift as u32
    }

    /// Starts a change to the node's sibling runs: readers that follow a
    /// sibling meanwhile try again. Writers only, and not nested; the
    /// change ends when the returned guard is dropped.
    #[inline]
    pub(crate) fn begin_change(&self) -> ChangeGuard<'_> {
        // Relaxed load: only writers store the count, under the lock.
        let s = self.seq.load(Ordering::Relaxed);
        debug_assert!(s & 1 == 0, "nested sibling-run change");
        // Relaxed store, then a Release fence: a reader whose Acquire slot
        // load sees any store made after this fence synchronises with it
        // through its own Acquire fence in `read_valid`, and so reads the
        // odd count (or a later one) there.
        self.seq.store(s.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        ChangeGuard(self)
    }

    /// A reader's start of a validated read of sibling runs: the count,
    /// or `None` while a writer is changing them.
    #[inline]
    pub(crate) fn read_begin(&self) -> Option<u32> {
        // Acquire: pairs with the Release store that ended the last change,
        // so the slot loads that follow see at least its stores.
        let s = self.seq.load(Ordering::Acquire);
        (s & 1 == 0).then_some(s)
    }

    /// Whether no change to the node's sibling runs overlapped the loads
    /// made since [`Node::read_begin`] returned `s`.
    #[inline]
    pub(crate) fn read_valid(&self, s: u32) -> bool {
        // Acquire fence: if any slot load since `read_begin` saw a store a
        // writer made inside a change, the writer's Release fence after
        // making the count odd synchronises with this fence, and the load
        // below sees the odd count or a later one.
        fence(Ordering::Acquire);
        self.seq.load(Ordering::Relaxed) == s
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

    /// What covers slot `offset`, read lock-free as one snapshot of the
    /// node's sibling runs: the canonical slot, the word it holds and, when
    /// `count_span` is set, how many slots the entry spans (1 otherwise).
    /// `None` while a writer changes the node's sibling runs, or when one
    /// changed them during the read: the caller walks again.
    ///
    /// A slot that holds no sibling costs one load and no count check: a
    /// word in its own slot covers that slot's indices by itself.
    #[inline]
    pub(crate) fn read_covering(
        &self,
        offset: usize,
        count_span: bool,
    ) -> Option<(usize, Word, usize)> {
        let w = self.load(offset);
        if !count_span && !entry::is_sibling(w) {
            return Some((offset, w, 1));
        }
        self.read_covering_slow(offset, count_span)
    }

    #[inline(never)]
    fn read_covering_slow(&self, offset: usize, count_span: bool) -> Option<(usize, Word, usize)> {
        let s = self.read_begin()?;
        // Loaded again after the count: the first load came before it.
        let found = self.covering_unchecked(offset, count_span)?;
        self.read_valid(s).then_some(found)
    }

    /// The loads of [`Node::read_covering`], for a caller that has read the
    /// change count already ([`Node::read_begin`]) and validates it after
    /// ([`Node::read_valid`]): what covers slot `offset`, or `None` for a
    /// sibling of something that is no entry.
    #[inline]
    pub(crate) fn covering_unchecked(
        &self,
        offset: usize,
        count_span: bool,
    ) -> Option<(usize, Word, usize)> {
        let w = self.load(offset);
        let (canonical, w) = match entry::as_sibling(w) {
            Some(c) => (c, self.load(c)),
            None => (offset, w),
        };
        if canonical != offset && !entry::is_leaf(w) {
            // A sibling of something that is no entry: the run is being
            // rewritten (a split into subtrees, or the node left the tree).
            return None;
        }
        let mut end = canonical + 1;
        if count_span && entry::is_leaf(w) {
            while end < SLOTS && entry::as_sibling(self.load(end)) == Some(canonical) {
                end += 1;
            }
        }
        Some((canonical, w, end - canonical))
    }

    /// Starts loading the cache line of slot `offset` of `node` without
    /// waiting for it (see [`Node::prefetch`]); for batched lookups, which
    /// read that slot a moment later.
    #[inline(always)]
    pub(crate) fn prefetch_slot(node: *const Node, offset: usize) {
        #[cfg(all(target_arch = "x86_64", target_feature = "sse"))]
        // SAFETY: a prefetch never faults and reads nothing the program
        // sees, whatever the address; `wrapping_add` computes the slot's
        // address without asserting anything about it.
        unsafe {
            let slots = core::ptr::addr_of!((*node).slots).cast::<AtomicPtr<()>>();
            core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(
                slots.wrapping_add(offset).cast::<i8>(),
            );
        }
        #[cfg(not(all(target_arch = "x86_64", target_feature = "sse")))]
        let _ = (node, offset);
    }

    /// The canonical slot and slot count of the entry in slot `offset`
    /// (following a sibling back to its canonical slot). Writers only: a
    /// reader uses [`Node::read_covering`].
    pub(crate) fn entry_span(&self, offset: usize) -> (usize, usize) {
        let canonical = entry::as_sibling(self.load(offset)).unwrap_or(offset);
        let mut end = canonical + 1;
        while end < SLOTS && entry::as_sibling(self.load(end)) == Some(canonical) {
            end += 1;
        }
        (canonical, end - canonical)
    }
}

/// A change to a node's sibling runs in progress; dropping it ends the
/// change ([`Node::begin_change`]).
pub(crate) struct ChangeGuard<'a>(&'a Node);

impl Drop for ChangeGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        let s = self.0.seq.load(Ordering::Relaxed);
        // Release: a reader that reads the even count with Acquire in
        // `read_begin` sees every slot store of the change.
        self.0.seq.store(s.wrapping_add(1), Ordering::Release);
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
