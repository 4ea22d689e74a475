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

use crate::entry::{self, Word, NULL, RETRY};
use crate::mark::MARKS;
use crate::sync::{fence, AtomicPtr, AtomicU32, AtomicU64, Ordering};

mod compact;

use compact::Single;
pub(crate) use compact::CONVERT_PUBLISH;

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

/// The kind byte: today's 64-slot node.
pub(crate) const FULL: u8 = 0;
/// The kind byte: one slot for one offset fixed at creation (C1).
pub(crate) const SINGLE: u8 = 1;
/// The kind bytes of the compact classes C2, C4, C8, C16 (`C2 + k` holds
/// `2 << k` slots).
pub(crate) const C2: u8 = 2;
/// The largest compact class: 16 slots, or `SLOTS / 4` in small-node
/// builds (C1, C2, C4, then Full), so that tests reach every conversion
/// with a few entries.
pub(crate) const MAX_COMPACT: usize = SLOTS / 4;
/// An erase that leaves a Full bottom node with at most this many entries
/// (and no sibling run) shrinks it to a compact class: half the largest
/// compact class, 8 (2 in small-node builds), so that a node that grew to
/// Full (more than [`MAX_COMPACT`] entries) is erased into more than
/// [`MAX_COMPACT`] / 2 times before it shrinks, and a shrunk node takes
/// more than [`MAX_COMPACT`] / 2 stores before it grows to Full again.
pub(crate) const FULL_SHRINK: usize = MAX_COMPACT / 2;

/// The header every kind of node starts with (the first 4 bytes), so that
/// a reader can tell the kind before it knows anything else. A `Node` is
/// only ever handled through a [`NodeRef`] (or a raw pointer): the kinds
/// differ in size, and a reference to one kind's struct made from another
/// kind's allocation would claim bytes that are not there.
#[repr(C)]
pub(crate) struct Node {
    /// Bits of the index below this node's slots. Fixed at creation.
    shift: u8,
    /// Non-empty slots (entries, siblings and nodes). Writers only.
    count: Cell<u8>,
    /// Slots holding a value entry or one of its siblings. Writers only.
    nr_values: Cell<u8>,
    /// [`FULL`], [`SINGLE`] or a compact class. Fixed at creation.
    kind: u8,
}

impl Node {
    const fn header(shift: u32, kind: u8) -> Node {
        Node {
            shift: shift as u8,
            count: Cell::new(0),
            nr_values: Cell::new(0),
            kind,
        }
    }

    /// A new empty Full node at `shift`, not yet reachable by anyone.
    pub(crate) fn alloc(shift: u32) -> *mut Node {
        debug_assert!(shift < 64);
        Box::into_raw(Box::new(Full {
            hdr: Node::header(shift, FULL),
            seq: AtomicU32::new(0),
            marks: core::array::from_fn(|_| AtomicU64::new(0)),
            slots: core::array::from_fn(|_| AtomicPtr::new(NULL)),
        }))
        .cast::<Node>()
    }

    /// A new empty Single leaf (shift 0) for `offset`, not yet reachable.
    pub(crate) fn alloc_single(offset: usize) -> *mut Node {
        Single::alloc(offset)
    }

    /// Frees a node nobody can reach any more (of any kind; its slots'
    /// contents are the caller's business).
    ///
    /// # Safety
    /// `node` came from one of the `alloc` functions here, is not linked
    /// from the tree, and no guard that could have seen it is still pinned
    /// (or the caller defers this call through the epoch collector).
    pub(crate) unsafe fn free(node: *mut Node) {
        // SAFETY: the caller's contract; the kind byte is fixed at creation
        // and names the type the Box was made with.
        unsafe {
            match (*node).kind {
                FULL => drop(Box::from_raw(node.cast::<Full>())),
                _ => compact::free(node),
            }
        }
    }

    /// Starts loading the node's first cache line (its header and mark
    /// bitmaps) without waiting for it: a walk that will visit several
    /// children lets their cache misses overlap instead of paying them one
    /// after another. A hint only; a no-op off x86_64.
    #[inline(always)]
    pub(crate) fn prefetch(node: *const Node) {
        prefetch_addr(node.cast::<u8>());
    }

    /// Starts loading the cache line that slot `offset` of `node` has if
    /// `node` is Full, without waiting for it and without knowing the kind
    /// (see [`Node::prefetch`]); for batched lookups, which read that slot
    /// a moment later. For a smaller kind the address may lie past the
    /// allocation: it is computed with wrapping arithmetic and only ever
    /// prefetched, which reads nothing the program sees.
    #[inline(always)]
    pub(crate) fn prefetch_slot(node: *const Node, offset: usize) {
        let at = node
            .cast::<u8>()
            .wrapping_add(core::mem::offset_of!(Full, slots))
            .wrapping_add(offset * core::mem::size_of::<AtomicPtr<()>>());
        prefetch_addr(at);
    }
}

#[inline(always)]
fn prefetch_addr(at: *const u8) {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse"))]
    // SAFETY: a prefetch never faults and reads nothing the program sees,
    // whatever the address.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(at.cast::<i8>());
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse")))]
    let _ = at;
}

/// A Full node (the kernel's `struct xa_node`): today's layout.
///
/// `repr(C)` keeps the header and the mark bitmaps together in the first
/// 32 bytes: a marked walk or `tag_range` that only looks at the bitmaps of
/// a node touches one cache line of it, not two. 544 bytes.
#[repr(C)]
pub(crate) struct Full {
    hdr: Node,
    /// The change count of the node's sibling runs: odd while a writer
    /// changes them (see the module docs).
    seq: AtomicU32,
    /// One bitmap per mark; bit `i` is slot `i`'s mark (or summary).
    marks: [AtomicU64; MARKS],
    /// The slot words; see [`entry`](crate::entry) for the encoding.
    slots: [AtomicPtr<()>; SLOTS],
}

/// A node of any kind, by its address: what tree code holds instead of a
/// reference. The pointer keeps the provenance of the node's whole
/// allocation, so each kind's fields are reached through it; every method
/// works in offset space and dispatches on the kind byte, so that no code
/// outside this module knows where a kind keeps its slots or marks.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct NodeRef(*const Node);

impl NodeRef {
    /// # Safety
    /// `ptr` points at a node made by [`Node::alloc`] (or another `alloc`
    /// here) that stays allocated while the `NodeRef` (or any copy) is used:
    /// the caller holds a guard pinned to the tree's collector, the tree's
    /// lock, or owns the node.
    #[inline(always)]
    pub(crate) unsafe fn new(ptr: *const Node) -> NodeRef {
        NodeRef(ptr)
    }

    /// The node a node word points at.
    ///
    /// # Safety
    /// As for [`NodeRef::new`]; `w` is a node word.
    #[inline(always)]
    pub(crate) unsafe fn from_word(w: Word) -> NodeRef {
        NodeRef(entry::as_node(w))
    }

    #[inline(always)]
    pub(crate) fn as_ptr(self) -> *const Node {
        self.0
    }

    #[inline(always)]
    fn hdr(&self) -> &Node {
        // SAFETY: every kind starts with the header (`repr(C)`), and the
        // node is allocated (`new`'s contract).
        unsafe { &*self.0 }
    }

    /// The Full layout. Only for a node whose kind is [`FULL`].
    #[inline(always)]
    fn full(&self) -> &Full {
        debug_assert_eq!(self.hdr().kind, FULL);
        // SAFETY: a Full node was allocated as a `Full`; the pointer keeps
        // that allocation's provenance.
        unsafe { &*self.0.cast::<Full>() }
    }

    /// Bits of the index below this node's slots. Fixed at creation.
    #[inline(always)]
    pub(crate) fn shift(self) -> u32 {
        self.hdr().shift as u32
    }

    /// The kind byte. Fixed at creation.
    #[inline(always)]
    pub(crate) fn kind(self) -> u8 {
        self.hdr().kind
    }

    #[inline(always)]
    pub(crate) fn is_full(self) -> bool {
        self.kind() == FULL
    }

    /// How many offsets the node can hold (`SLOTS` for a Full node).
    pub(crate) fn capacity(self) -> usize {
        match self.kind() {
            FULL => SLOTS,
            k => compact::capacity(k),
        }
    }

    #[inline]
    pub(crate) fn count(self) -> usize {
        self.hdr().count.get() as usize
    }

    #[inline]
    pub(crate) fn set_count(self, n: usize) {
        debug_assert!(n <= self.capacity());
        self.hdr().count.set(n as u8);
    }

    #[inline]
    pub(crate) fn nr_values(self) -> usize {
        self.hdr().nr_values.get() as usize
    }

    #[inline]
    pub(crate) fn set_nr_values(self, n: usize) {
        debug_assert!(n <= SLOTS);
        self.hdr().nr_values.set(n as u8);
    }

    /// Starts a change to the node's sibling runs: readers that follow a
    /// sibling meanwhile try again. Writers only, and not nested; the
    /// change ends when the returned guard is dropped. Only Full nodes hold
    /// sibling runs; for the other kinds this does nothing.
    #[inline]
    pub(crate) fn begin_change(self) -> ChangeGuard {
        if !self.is_full() {
            return ChangeGuard(None);
        }
        let seq = &self.full().seq;
        // Relaxed load: only writers store the count, under the lock.
        let s = seq.load(Ordering::Relaxed);
        debug_assert!(s & 1 == 0, "nested sibling-run change");
        // Relaxed store, then a Release fence: a reader whose Acquire slot
        // load sees any store made after this fence synchronises with it
        // through its own Acquire fence in `read_valid`, and so reads the
        // odd count (or a later one) there.
        seq.store(s.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        ChangeGuard(Some(self))
    }

    /// A reader's start of a validated read of sibling runs: the count,
    /// or `None` while a writer is changing them. Always `Some(0)` for a
    /// kind without sibling runs.
    #[inline]
    pub(crate) fn read_begin(self) -> Option<u32> {
        if !self.is_full() {
            return Some(0);
        }
        // Acquire: pairs with the Release store that ended the last change,
        // so the slot loads that follow see at least its stores.
        let s = self.full().seq.load(Ordering::Acquire);
        (s & 1 == 0).then_some(s)
    }

    /// Whether no change to the node's sibling runs overlapped the loads
    /// made since [`NodeRef::read_begin`] returned `s`.
    #[inline]
    pub(crate) fn read_valid(self, s: u32) -> bool {
        if !self.is_full() {
            return true;
        }
        // Acquire fence: if any slot load since `read_begin` saw a store a
        // writer made inside a change, the writer's Release fence after
        // making the count odd synchronises with this fence, and the load
        // below sees the odd count or a later one.
        fence(Ordering::Acquire);
        self.full().seq.load(Ordering::Relaxed) == s
    }

    /// Loads what slot `offset` holds (null where a smaller kind has no
    /// position for it).
    ///
    /// Acquire: pairs with the Release store that published the word, so a
    /// node found here is seen fully initialised, and an item's contents
    /// written before it was stored are visible.
    #[inline(always)]
    pub(crate) fn load(self, offset: usize) -> Word {
        if self.is_full() {
            self.load_full(offset)
        } else {
            compact::load(self.0, offset)
        }
    }

    /// [`NodeRef::load`] for a node known to be Full (upper levels, and a
    /// leaf whose kind was checked when it was reached): no kind check.
    #[inline(always)]
    pub(crate) fn load_full(self, offset: usize) -> Word {
        self.full().slots[offset].load(Ordering::Acquire)
    }

    /// Publishes `word` in slot `offset`. Writers only. A node of a
    /// smaller kind must be able to take `offset` ([`NodeRef::can_take`]),
    /// or `word` must be null (erasing an offset it has no position for
    /// does nothing).
    ///
    /// Release: everything written before (a new node's slots and marks,
    /// an item's contents) is visible to a reader that loads `word`.
    #[inline]
    pub(crate) fn publish(self, offset: usize, word: Word) {
        if self.is_full() {
            self.full().slots[offset].store(word, Ordering::Release);
        } else {
            compact::publish(self.0, offset, word);
        }
    }

    /// [`NodeRef::publish`] into a Full node with the ordering `order`
    /// (the conversions' publication, which a broken loom build weakens).
    #[inline]
    pub(crate) fn publish_with(self, offset: usize, word: Word, order: Ordering) {
        self.full().slots[offset].store(word, order);
    }

    /// Whether a store at `offset` fits in place: always in a Full node; in
    /// a smaller kind, when `offset` has a position already (an entry or a
    /// tombstone) or can get one by appending. Writers only.
    pub(crate) fn can_take(self, offset: usize) -> bool {
        self.is_full() || compact::can_take(self.0, offset)
    }

    /// The bitmap of `mark`, in offset space.
    ///
    /// Relaxed: marks are hints for finding entries. A reader that follows
    /// a mark bit confirms it by loading the slot with Acquire, and marks
    /// are documented as possibly stale while writers work; writers read
    /// their own stores under the lock.
    #[inline(always)]
    pub(crate) fn marks(self, mark: usize) -> u64 {
        if self.is_full() {
            self.full().marks[mark].load(Ordering::Relaxed)
        } else {
            compact::marks(self.0, mark)
        }
    }

    /// [`NodeRef::load`] for a node known not to be Full: an out-of-line
    /// call, which keeps the callers' Full paths small.
    #[inline(always)]
    pub(crate) fn load_small(self, offset: usize) -> Word {
        compact::load(self.0, offset)
    }

    /// [`NodeRef::marks`] for a node known not to be Full (out of line).
    #[inline(always)]
    pub(crate) fn marks_small(self, mark: usize) -> u64 {
        compact::marks(self.0, mark)
    }

    /// [`NodeRef::marks`] for a node known to be Full: no kind check.
    #[inline(always)]
    pub(crate) fn marks_full(self, mark: usize) -> u64 {
        self.full().marks[mark].load(Ordering::Relaxed)
    }

    /// Sets the bits of `mask` (offsets) in `mark`'s bitmap; returns the
    /// old bitmap. Writers only.
    ///
    /// A plain load and store, not a read-modify-write: only writers change
    /// marks, and they hold the tree's lock, so nobody can store between
    /// the two; readers see the old bitmap or the new one. (The kernel uses
    /// its non-atomic `__set_bit` under `xa_lock` for the same reason.)
    /// Relaxed for the reason given at [`NodeRef::marks`].
    #[inline]
    pub(crate) fn set_marks(self, mark: usize, mask: u64) -> u64 {
        if self.is_full() {
            let m = &self.full().marks[mark];
            let old = m.load(Ordering::Relaxed);
            m.store(old | mask, Ordering::Relaxed);
            old
        } else {
            compact::change_marks(self.0, mark, mask, true)
        }
    }

    /// Clears the bits of `mask` (offsets) in `mark`'s bitmap; returns the
    /// old bitmap. Writers only; a plain load and store, as in
    /// [`NodeRef::set_marks`].
    ///
    /// Relaxed: an erase clears an entry's marks *before* it publishes the
    /// empty slot with a Release store, which orders this clear too; a
    /// reader that sees the empty slot (Acquire) sees the mark gone.
    #[inline]
    pub(crate) fn clear_marks(self, mark: usize, mask: u64) -> u64 {
        if self.is_full() {
            let m = &self.full().marks[mark];
            let old = m.load(Ordering::Relaxed);
            m.store(old & !mask, Ordering::Relaxed);
            old
        } else {
            compact::change_marks(self.0, mark, mask, false)
        }
    }

    /// The first slot at or after `from` that holds something other than
    /// null or a sibling: what a forward scan looks for. A smaller kind
    /// looks only at its positions.
    #[inline]
    pub(crate) fn next_used(self, from: usize) -> Option<(usize, Word)> {
        if !self.is_full() {
            return compact::next_used(self.0, from);
        }
        let full = self.full();
        for i in from..SLOTS {
            let w = full.slots[i].load(Ordering::Acquire);
            if !w.is_null() && !entry::is_sibling(w) {
                return Some((i, w));
            }
        }
        None
    }

    /// The last slot at or before `upto` that is not null (a sibling
    /// included): what a reverse scan looks for.
    #[inline]
    pub(crate) fn prev_used(self, upto: usize) -> Option<(usize, Word)> {
        if !self.is_full() {
            return compact::prev_used(self.0, upto);
        }
        let full = self.full();
        for i in (0..=upto).rev() {
            let w = full.slots[i].load(Ordering::Acquire);
            if !w.is_null() {
                return Some((i, w));
            }
        }
        None
    }

    /// What covers slot `offset`, read lock-free as one snapshot of the
    /// node's sibling runs: the canonical slot, the word it holds and, when
    /// `count_span` is set, how many slots the entry spans (1 otherwise).
    /// `None` while a writer changes the node's sibling runs, or when one
    /// changed them during the read: the caller walks again.
    ///
    /// A slot that holds no sibling costs one load and no count check: a
    /// word in its own slot covers that slot's indices by itself. A node of
    /// a smaller kind never holds siblings: its span is always 1.
    #[inline(always)]
    pub(crate) fn read_covering(
        self,
        offset: usize,
        count_span: bool,
    ) -> Option<(usize, Word, usize)> {
        if !self.is_full() {
            return Some((offset, compact::load_covering(self.0, offset), 1));
        }
        let w = self.load_full(offset);
        if !count_span && !entry::is_sibling(w) {
            return Some((offset, w, 1));
        }
        self.read_covering_slow(offset, count_span)
    }

    #[inline(never)]
    fn read_covering_slow(self, offset: usize, count_span: bool) -> Option<(usize, Word, usize)> {
        let s = self.read_begin()?;
        // Loaded again after the count: the first load came before it.
        let found = self.covering_unchecked(offset, count_span)?;
        self.read_valid(s).then_some(found)
    }

    /// The loads of [`NodeRef::read_covering`], for a caller that has read
    /// the change count already ([`NodeRef::read_begin`]) and validates it
    /// after ([`NodeRef::read_valid`]): what covers slot `offset`, or `None`
    /// for a sibling of something that is no entry.
    #[inline]
    pub(crate) fn covering_unchecked(
        self,
        offset: usize,
        count_span: bool,
    ) -> Option<(usize, Word, usize)> {
        if !self.is_full() {
            return Some((offset, compact::load_covering(self.0, offset), 1));
        }
        let w = self.load_full(offset);
        let (canonical, w) = match entry::as_sibling(w) {
            Some(c) => (c, self.load_full(c)),
            None => (offset, w),
        };
        if canonical != offset && !entry::is_leaf(w) {
            // A sibling of something that is no entry: the run is being
            // rewritten (a split into subtrees, or the node left the tree).
            return None;
        }
        let mut end = canonical + 1;
        if count_span && entry::is_leaf(w) {
            while end < SLOTS && entry::as_sibling(self.load_full(end)) == Some(canonical) {
                end += 1;
            }
        }
        Some((canonical, w, end - canonical))
    }

    /// The canonical slot and slot count of the entry in slot `offset`
    /// (following a sibling back to its canonical slot). Writers only: a
    /// reader uses [`NodeRef::read_covering`].
    pub(crate) fn entry_span(self, offset: usize) -> (usize, usize) {
        if !self.is_full() {
            return (offset, 1);
        }
        let canonical = entry::as_sibling(self.load_full(offset)).unwrap_or(offset);
        let mut end = canonical + 1;
        while end < SLOTS && entry::as_sibling(self.load_full(end)) == Some(canonical) {
            end += 1;
        }
        (canonical, end - canonical)
    }

    /// Stores `word` in slot `offset` of a Full node nobody else can see
    /// yet (a node being built). Relaxed: the Release store that links the
    /// node publishes it.
    #[inline]
    pub(crate) fn init_slot(self, offset: usize, word: Word) {
        self.full().slots[offset].store(word, Ordering::Relaxed);
    }

    /// A copy of this leaf of a smaller kind, not yet reachable by anyone:
    /// every entry with its marks, and a position reserved (a tombstone)
    /// for `reserve` unless `to_full`, at the smallest class that holds
    /// them, or Full when `to_full` is set or none does. Writers only.
    pub(crate) fn rebuild(self, reserve: usize, to_full: bool) -> *mut Node {
        debug_assert!(!self.is_full() && self.shift() == 0);
        let live = self.count() + usize::from(!to_full);
        let new = if to_full || live > MAX_COMPACT {
            let ptr = Node::alloc(0);
            // SAFETY: fresh, private.
            let full = unsafe { NodeRef::new(ptr) };
            compact::for_each_live(self.0, |offset, w| full.init_slot(offset, w));
            for m in 0..MARKS {
                // Relaxed: private until published (see `init_slot`).
                full.full().marks[m].store(self.marks(m), Ordering::Relaxed);
            }
            ptr
        } else {
            compact::rebuild(self.0, live, reserve)
        };
        // SAFETY: fresh, private.
        let n = unsafe { NodeRef::new(new) };
        n.set_count(self.count());
        n.set_nr_values(self.nr_values());
        new
    }

    /// Whether an erase that leaves this node with `left` entries (at
    /// least one) calls for [`NodeRef::shrunk`], by the count alone: a bottom
    /// node whose class has at least 4 slots, with at most a quarter of
    /// them live, or a Full bottom node with at most [`FULL_SHRINK`]. (A
    /// Full node must also hold no sibling run, which [`NodeRef::shrunk`]
    /// checks, and be in a tree that does not track free slots, which the
    /// caller checks.) Upper nodes never shrink.
    ///
    /// The hysteresis this gives (docs/sparse-nodes.md): a rebuild for a
    /// store leaves more than half of its class live, a shrink leaves at
    /// most half, and the next shrink needs at most a quarter.
    #[inline]
    pub(crate) fn shrinks_at(self, left: usize) -> bool {
        if self.shift() != 0 || left == 0 {
            return false;
        }
        let cap = self.capacity();
        if cap == SLOTS {
            left <= FULL_SHRINK
        } else {
            cap >= 4 && left <= cap / 4
        }
    }

    /// A copy of this bottom node at the smallest compact class with at
    /// least twice as many slots as it has entries, tombstones dropped,
    /// every entry with its marks and the same counts: the shrink
    /// conversion. Not yet reachable by anyone; writers only. `None` for a
    /// Full node holding a sibling run (or, which `shrinks_at` rules out,
    /// more than [`FULL_SHRINK`] entries). One pass over the node finds
    /// both the entries and any sibling.
    pub(crate) fn shrunk(self) -> Option<*mut Node> {
        debug_assert!(self.shift() == 0);
        let mut words = [NULL; FULL_SHRINK];
        let mut present = 0u64;
        let mut n = 0;
        if self.is_full() {
            // `count` slots are in use, siblings included: once that many
            // entries are found, the rest are empty.
            let used = self.count();
            for (offset, slot) in self.full().slots.iter().enumerate() {
                // Relaxed: our own stores, under the lock.
                let w = slot.load(Ordering::Relaxed);
                if w.is_null() {
                    continue;
                }
                if entry::is_sibling(w) || n == FULL_SHRINK {
                    return None;
                }
                words[n] = w;
                present |= 1 << offset;
                n += 1;
                if n == used {
                    break;
                }
            }
        } else {
            compact::for_each_live(self.0, |offset, w| {
                if n < FULL_SHRINK {
                    words[n] = w;
                    present |= 1 << offset;
                }
                n += 1;
            });
            if n > FULL_SHRINK {
                return None;
            }
        }
        debug_assert_eq!(n, self.count());
        let mut marks = [0; MARKS];
        for (m, bits) in marks.iter_mut().enumerate() {
            *bits = self.marks(m);
        }
        let new = compact::build(present, &words[..n], 2 * n, &marks);
        // SAFETY: fresh, private.
        let copy = unsafe { NodeRef::new(new) };
        copy.set_count(n);
        copy.set_nr_values(self.nr_values());
        Some(new)
    }

    /// Turns the slots of this node, which has just left the tree, into
    /// retry entries, so that a reader still inside it walks again from
    /// the head. Writers only.
    ///
    /// A Full node gets one in *every* slot, empty ones included: a cursor
    /// keeps the Full nodes of its path from one call to the next (its
    /// `next()` reads the neighbouring slot of the same bottom node), and
    /// a hole read there after the node left the tree could be an index
    /// that has since been filled in the node that replaced it. A smaller
    /// kind has no slot for an absent offset, so it gets one in every
    /// non-empty slot only, and no reader keeps one across calls (see
    /// `Walk::step_slow`): a reader inside it reached it in the same call,
    /// while the hole was true.
    pub(crate) fn retry_all(self) {
        if !self.is_full() {
            compact::retry_all(self.0);
            return;
        }
        for slot in &self.full().slots {
            // Release: a reader that finds the retry entry and walks again
            // from the head sees the store that unlinked the node.
            slot.store(RETRY, Ordering::Release);
        }
    }

    /// Checks the layout facts of a smaller kind that offset-space reads
    /// cannot see (positions, and bits past them); `Ok` for a Full node.
    pub(crate) fn check_layout(self) -> Result<(), alloc::string::String> {
        if self.is_full() {
            return Ok(());
        }
        compact::check_layout(self.0)
    }
}

/// A change to a node's sibling runs in progress; dropping it ends the
/// change ([`NodeRef::begin_change`]).
pub(crate) struct ChangeGuard(Option<NodeRef>);

impl Drop for ChangeGuard {
    #[inline]
    fn drop(&mut self) {
        if let Some(node) = self.0 {
            let seq = &node.full().seq;
            let s = seq.load(Ordering::Relaxed);
            // Release: a reader that reads the even count with Acquire in
            // `read_begin` sees every slot store of the change.
            seq.store(s.wrapping_add(1), Ordering::Release);
        }
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
