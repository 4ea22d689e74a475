//! The walk: a position in the tree and the path of nodes that leads to it.
//!
//! This is the raw core under [`Cursor`](crate::Cursor),
//! [`CursorMut`](crate::CursorMut) and every [`XArray`](crate::XArray)
//! method (the kernel's `xa_state`). A walk remembers the nodes it passed
//! from the head down, so moving to a neighbouring index costs one slot load
//! instead of a walk from the head, and so that writers can fix the mark
//! summaries of every ancestor without parent pointers in the nodes.
//!
//! # Reading while writers work
//!
//! A reader only loads. Every slot load is Acquire, pairing with the
//! writers' Release stores, so a node or item reached through a slot is
//! seen as it was when it was published. Three internal entries tell the
//! reader something happened under it:
//!
//! - a *sibling* sends it to the canonical slot of a multi-order entry; if
//!   that slot now holds a node or another sibling, a split or a store
//!   is rewriting the range and the reader walks again from the head;
//! - a *retry* entry means the node left the tree (the tree shrank, or the
//!   subtree was replaced); the reader walks again from the head;
//! - a *node* one level further down.
//!
//! The nodes on the path stay allocated while the reader's guard is
//! pinned, even if they leave the tree: writers free them through the
//! epoch collector only.

use core::mem::MaybeUninit;

use super::Root;
use crate::entry::{self, Word, NULL, RETRY, ZERO};
use crate::node::{self, Node, NodeRef, CHUNK_SHIFT, MAX_HEIGHT};
use crate::sync::{self, Ordering};

/// What a scan is looking for.
#[derive(Clone, Copy)]
pub(crate) struct Want {
    /// Only entries carrying this mark (by number), if any. A byte, so
    /// that the whole `Want` is passed and copied in one register.
    pub(crate) mark: Option<u8>,
    /// Whether reserved (zero) entries count as entries: writers see them,
    /// readers do not.
    pub(crate) reserved: bool,
}

impl Want {
    pub(crate) const ANY: Want = Want {
        mark: None,
        reserved: false,
    };

    pub(crate) const fn marked(mark: usize) -> Want {
        Want {
            mark: Some(mark as u8),
            reserved: false,
        }
    }

    #[inline]
    fn accepts(self, w: Word) -> bool {
        entry::is_leaf(w) && (self.reserved || w != ZERO)
    }
}

/// How a scan ended.
enum Scan {
    /// An entry the scan wanted; the walk is on it.
    Found(Word),
    /// Nothing left up to the limit.
    End,
    /// The walk must start again from the head at `Walk::index` (a node
    /// left the tree, a run is being rewritten, or the scan passed the top
    /// node it walked through). The caller loops; a scan never calls back
    /// into a find, so the stack stays flat however busy the writers are.
    Again,
}

/// The entry covering `index`: a leaf (item, value or reserved) or null.
/// The plain lookup of `load` and `get`, which keeps no path.
///
/// # Safety
/// As for [`Walk::load`].
#[inline]
pub(crate) unsafe fn lookup(root: &Root, index: u64) -> Word {
    'walk: loop {
        // Acquire: pairs with the Release store that published the head.
        let mut w = root.head.load(Ordering::Acquire);
        if !entry::is_node(w) {
            return if index == 0 { w } else { NULL };
        }
        // SAFETY: loaded from the head under the caller's guard or lock.
        if index > node::max_index(unsafe { NodeRef::from_word(w) }.shift()) {
            return NULL;
        }
        while entry::is_node(w) {
            // SAFETY: loaded from a live slot under the caller's guard.
            let node = unsafe { NodeRef::from_word(w) };
            // A sibling is followed to its canonical slot under the node's
            // change count (see `Node::read_covering`).
            let Some((_, covering, _)) =
                node.read_covering(node::offset_of(index, node.shift()), false)
            else {
                sync::spin_hint();
                continue 'walk;
            };
            w = covering;
            if w == RETRY {
                continue 'walk;
            }
        }
        return w;
    }
}

/// The entry covering `index` and its order (0 for a hole), read as one
/// snapshot: the order counts a sibling run no writer was changing.
///
/// # Safety
/// As for [`Walk::load`].
pub(crate) unsafe fn lookup_order(root: &Root, index: u64) -> (Word, u32) {
    // SAFETY: the caller's contract.
    let (w, shift, span) = unsafe { lookup_with(root, index, true, |_, _, span| span) };
    if w.is_null() || w == ZERO {
        (w, 0)
    } else {
        (w, shift + span.trailing_zeros())
    }
}

/// Whether the entry covering `index` carries mark `m`, the mark bit read
/// in the same snapshot of the node as the entry.
///
/// # Safety
/// As for [`Walk::load`].
pub(crate) unsafe fn lookup_mark(root: &Root, index: u64, m: usize) -> bool {
    // SAFETY: the caller's contract.
    let (w, _, bit) = unsafe {
        lookup_with(root, index, false, |node, canonical, _| match node {
            Some(node) => (node.marks(m) >> canonical) as usize & 1,
            // The head holds the entry for index 0: its marks are the root's.
            None => (root.marks.load(Ordering::Relaxed) >> m) as usize & 1,
        })
    };
    !w.is_null() && w != ZERO && bit != 0
}

/// Walks to `index` and, in the node holding what covers it, reads the
/// covering word together with `extra(Some(node), canonical, span)` inside
/// one validated snapshot of the node's sibling runs. Returns the word, the
/// node's shift and `extra`. When the head holds the entry (index 0 of a
/// one-entry tree), `extra(None, 0, 1)` is read right after the head.
///
/// # Safety
/// As for [`Walk::load`].
#[inline]
unsafe fn lookup_with(
    root: &Root,
    index: u64,
    count_span: bool,
    extra: impl Fn(Option<NodeRef>, usize, usize) -> usize,
) -> (Word, u32, usize) {
    'walk: loop {
        // Acquire: pairs with the Release store that published the head.
        let mut w = root.head.load(Ordering::Acquire);
        if !entry::is_node(w) {
            return if index == 0 {
                (w, 0, extra(None, 0, 1))
            } else {
                (NULL, 0, 0)
            };
        }
        // SAFETY: loaded from the head under the caller's guard or lock.
        if index > node::max_index(unsafe { NodeRef::from_word(w) }.shift()) {
            return (NULL, 0, 0);
        }
        loop {
            // SAFETY: loaded from a live slot under the caller's guard.
            let node = unsafe { NodeRef::from_word(w) };
            let offset = node::offset_of(index, node.shift());
            let Some(s) = node.read_begin() else {
                sync::spin_hint();
                continue 'walk;
            };
            // Inside the window opened just above, which `read_valid` below
            // closes: one check of the count covers the entry, the run's
            // length and `extra`.
            let Some((canonical, covering, span)) = node.covering_unchecked(offset, count_span)
            else {
                sync::spin_hint();
                continue 'walk;
            };
            if covering == RETRY {
                continue 'walk;
            }
            if entry::is_node(covering) {
                w = covering;
                continue;
            }
            let x = extra(Some(node), canonical, span);
            if !node.read_valid(s) {
                continue 'walk;
            }
            return (covering, node.shift(), x);
        }
    }
}

/// A position in the tree: an index, the path down to it and what is there.
pub(crate) struct Walk {
    /// The index the walk is at. Inside a multi-order entry this is any
    /// index of its range, not necessarily the first.
    pub(crate) index: u64,
    /// `path[..depth]`: the nodes from the head down to the one holding the
    /// entry; `depth == 0` means the head itself (index 0 only), or an
    /// index beyond the tree.
    path: [MaybeUninit<*const Node>; MAX_HEIGHT],
    depth: usize,
    /// The canonical slot of the entry (or the slot of the hole) in
    /// `path[depth - 1]`.
    offset: usize,
    /// What the walk found: a leaf entry, or null for a hole.
    entry: Word,
    /// Whether `path`, `offset` and `entry` describe `index`.
    fresh: bool,
    /// The Full bottom node (shift 0) an unmarked scan or a step stopped
    /// in, with the walk at the very slot of its index, or null. While set,
    /// the next entry of a plain iteration is found by
    /// [`Walk::next_in_leaf`] (or `prev_in_leaf`, `step_in_leaf`) in a
    /// couple of loads and one add, the step of a dense iteration. A marked
    /// scan never sets it (see [`Walk::arm_leaf_for`]); every other move
    /// clears it, and so does a move that finds nothing.
    leaf: *const Node,
    /// The index of slot 0 of `leaf`.
    leaf_base: u64,
}

impl Walk {
    pub(crate) const fn new(index: u64) -> Walk {
        Walk {
            index,
            path: [const { MaybeUninit::uninit() }; MAX_HEIGHT],
            depth: 0,
            offset: 0,
            entry: NULL,
            fresh: false,
            leaf: core::ptr::null(),
            leaf_base: 0,
        }
    }

    /// Moves to `index` without walking; the next access walks.
    #[inline]
    pub(crate) fn set(&mut self, index: u64) {
        self.index = index;
        self.fresh = false;
        self.leaf = core::ptr::null();
    }

    /// Forgets the path (after the tree's shape changed under a writer).
    #[inline]
    pub(crate) fn invalidate(&mut self) {
        self.fresh = false;
        self.leaf = core::ptr::null();
    }

    /// [`Walk::arm_leaf`] after a scan for `want`: only a scan for any
    /// entry arms the leaf, never a marked one. An iterator's cursor scans
    /// with one `Want` all its life, so an armed leaf tells it, with no
    /// look at its `Want`, that it is an unmarked iteration whose next
    /// entry may be the next used slot.
    #[inline]
    fn arm_leaf_for(&mut self, want: Want) {
        if want.mark.is_none() {
            self.arm_leaf();
        }
    }

    /// Arms the leaf fast path if the walk sits on its own slot of a bottom
    /// node (not inside a multi-order entry that began earlier).
    #[inline]
    fn arm_leaf(&mut self) {
        if self.depth == 0 {
            return;
        }
        let ptr = self.node_at(self.depth - 1);
        // SAFETY: the path's nodes stay allocated while the walk is used.
        let node = unsafe { NodeRef::new(ptr) };
        // Only a Full leaf: its fast paths read slots by offset with no kind
        // check. A smaller leaf takes the scans, which ask the node.
        if node.shift() == 0 && node.is_full() && node::offset_of(self.index, 0) == self.offset {
            self.leaf = ptr;
            self.leaf_base = self.index - self.offset as u64;
        }
    }

    /// The next plain entry (item or value) after the current one in the
    /// same bottom node, up to `max`: the step of a dense forward
    /// iteration (the kernel's inline `xas_next_entry`). Holes are skipped;
    /// anything else (a sibling, a reservation, a retry entry, the end of
    /// the node or of the range) returns `None` and leaves the walk as it
    /// was, for [`Walk::find_next`].
    ///
    /// # Safety
    /// As for [`Walk::load`].
    #[inline(always)]
    pub(crate) unsafe fn next_in_leaf(&mut self, max: u64) -> Option<Word> {
        if self.leaf.is_null() {
            return None;
        }
        // SAFETY: `leaf` was on the walk's path, made under the caller's
        // guard or lock, which keeps it allocated.
        let node = unsafe { NodeRef::new(self.leaf) };
        let mut i = self.offset;
        loop {
            i += 1;
            if i >= node::SLOTS {
                return None;
            }
            let w = node.load_full(i);
            if w.is_null() {
                continue;
            }
            if entry::is_internal(w) {
                return None;
            }
            let index = self.leaf_base + i as u64;
            if index > max {
                return None;
            }
            self.index = index;
            self.offset = i;
            self.entry = w;
            return Some(w);
        }
    }

    #[inline]
    pub(crate) fn is_fresh(&self) -> bool {
        self.fresh
    }

    /// The entry found by the last walk (null for a hole).
    #[inline]
    pub(crate) fn entry(&self) -> Word {
        self.entry
    }

    #[inline]
    pub(crate) fn depth(&self) -> usize {
        self.depth
    }

    #[inline]
    pub(crate) fn offset(&self) -> usize {
        self.offset
    }

    /// Node `d` of the path (0 is the top); `d < depth`.
    #[inline]
    pub(crate) fn node_at(&self, d: usize) -> *const Node {
        debug_assert!(d < self.depth);
        // SAFETY: `path[..depth]` is written before `depth` grows past it.
        unsafe { self.path[d].assume_init() }
    }

    /// The node holding the entry, if the entry is not in the head.
    #[inline]
    pub(crate) fn leaf_node(&self) -> Option<*const Node> {
        if self.depth == 0 {
            None
        } else {
            Some(self.node_at(self.depth - 1))
        }
    }

    /// Pushes a node on the path (writers building a path while they
    /// create nodes).
    #[inline]
    pub(crate) fn push(&mut self, node: *const Node) {
        self.path[self.depth].write(node);
        self.depth += 1;
    }

    /// Replaces the deepest node of the path (a writer that converted it).
    #[inline]
    pub(crate) fn replace_last(&mut self, node: *const Node) {
        debug_assert!(self.depth > 0);
        self.path[self.depth - 1].write(node);
        self.leaf = core::ptr::null();
    }

    /// The step of [`Cursor::next`](crate::Cursor::next) (or `prev`, when
    /// `forward` is off) inside the armed bottom node: the slot beside the
    /// walk's, whatever it holds (a hole included), for the kernel's inline
    /// `xas_next`. `None` sends the caller to [`Walk::step`]: no armed node,
    /// the node's edge, or a sibling, retry or node word there.
    ///
    /// # Safety
    /// As for [`Walk::load`].
    #[inline(always)]
    pub(crate) unsafe fn step_in_leaf(&mut self, forward: bool) -> Option<Word> {
        if self.leaf.is_null() {
            return None;
        }
        // SAFETY: as in `next_in_leaf`.
        let node = unsafe { NodeRef::new(self.leaf) };
        let i = if forward {
            self.offset.wrapping_add(1)
        } else {
            self.offset.wrapping_sub(1)
        };
        if i >= node::SLOTS {
            return None;
        }
        let w = node.load_full(i);
        if entry::is_internal(w) && w != ZERO {
            return None;
        }
        self.index = self.leaf_base + i as u64;
        self.offset = i;
        self.entry = w;
        Some(w)
    }

    /// The mirror of [`Walk::next_in_leaf`]: the previous plain entry in
    /// the armed bottom node, down to `min`, for a reverse iteration.
    ///
    /// # Safety
    /// As for [`Walk::load`].
    #[inline(always)]
    pub(crate) unsafe fn prev_in_leaf(&mut self, min: u64) -> Option<Word> {
        if self.leaf.is_null() {
            return None;
        }
        // SAFETY: as in `next_in_leaf`.
        let node = unsafe { NodeRef::new(self.leaf) };
        let mut i = self.offset;
        loop {
            // Below slot 0 the offset wraps past `SLOTS`: one compare ends
            // the node and bounds the slot read.
            i = i.wrapping_sub(1);
            if i >= node::SLOTS {
                return None;
            }
            let w = node.load_full(i);
            if w.is_null() {
                continue;
            }
            if entry::is_internal(w) {
                return None;
            }
            let index = self.leaf_base + i as u64;
            if index < min {
                return None;
            }
            self.index = index;
            self.offset = i;
            self.entry = w;
            return Some(w);
        }
    }

    /// Empties the path.
    #[inline]
    pub(crate) fn reset_path(&mut self) {
        self.depth = 0;
        self.leaf = core::ptr::null();
    }

    /// Records the entry a writer placed (or found) at `offset` of the
    /// deepest node.
    #[inline]
    pub(crate) fn settle(&mut self, offset: usize, entry: Word) {
        self.offset = offset;
        self.entry = entry;
        self.fresh = true;
        self.leaf = core::ptr::null();
    }

    /// Walks from the head to `self.index` and returns what is there: a
    /// leaf entry (item, value or reserved) or null.
    ///
    /// # Safety
    /// Every node reachable from `root` stays allocated while the walk is
    /// used: the caller holds a guard pinned to the tree's collector, or
    /// the tree's lock.
    pub(crate) unsafe fn load(&mut self, root: &Root) -> Word {
        self.depth = 0;
        self.leaf = core::ptr::null();
        // Acquire: pairs with the Release store that published the head,
        // so the node it points at is seen initialised.
        let head = root.head.load(Ordering::Acquire);
        // SAFETY: the caller's contract.
        unsafe { self.descend(root, head) }
    }

    /// Continues a walk downwards from `w`, a word loaded from the head
    /// (when `depth == 0`) or from `path[depth - 1]`.
    ///
    /// # Safety
    /// As for [`Walk::load`].
    unsafe fn descend(&mut self, root: &Root, mut w: Word) -> Word {
        loop {
            if !entry::is_node(w) {
                if self.depth == 0 {
                    if self.index != 0 {
                        // The head holds an entry for index 0 only.
                        w = NULL;
                    }
                    self.offset = 0;
                }
                self.entry = w;
                self.fresh = true;
                return w;
            }
            let ptr = entry::as_node(w);
            // SAFETY: `w` was loaded from the head or a slot while the
            // caller's guard (or the lock) keeps its node allocated.
            let node = unsafe { NodeRef::new(ptr) };
            if self.depth == 0 && self.index > node::max_index(node.shift()) {
                self.settle(0, NULL);
                return NULL;
            }
            if self.depth == MAX_HEIGHT {
                // Unreachable in a well-formed tree; walk again rather than
                // index out of the path.
                self.depth = 0;
                w = root.head.load(Ordering::Acquire);
                continue;
            }
            self.path[self.depth].write(ptr);
            self.depth += 1;
            // A sibling is followed to its canonical slot under the node's
            // change count (see `Node::read_covering`).
            let (offset, covering) =
                match node.read_covering(node::offset_of(self.index, node.shift()), false) {
                    Some((canonical, covering, _)) => (canonical, covering),
                    None => {
                        sync::spin_hint();
                        (0, RETRY)
                    }
                };
            w = covering;
            if w == RETRY {
                self.depth = 0;
                w = root.head.load(Ordering::Acquire);
                continue;
            }
            self.offset = offset;
        }
    }

    /// Moves to `index` and returns what is there, reusing the path when
    /// `index` lies under the same node (the common case of `next()`).
    ///
    /// # Safety
    /// As for [`Walk::load`].
    pub(crate) unsafe fn step(&mut self, root: &Root, index: u64) -> Word {
        // SAFETY: the caller's contract.
        let w = unsafe { self.step_slow(root, index) };
        // The next step in the same bottom node takes `step_in_leaf`.
        self.arm_leaf();
        w
    }

    /// # Safety
    /// As for [`Walk::load`].
    #[inline(never)]
    unsafe fn step_slow(&mut self, root: &Root, index: u64) -> Word {
        let old = self.index;
        self.index = index;
        if self.fresh && self.depth > 0 {
            // SAFETY: the path was built under the caller's guard or lock.
            let node = unsafe { NodeRef::new(self.node_at(self.depth - 1)) };
            // Only a Full node is read again in a later call: one that left
            // the tree has a retry entry in every slot, so a hole read in
            // it is a hole now. A smaller kind keeps no slot for an absent
            // offset, so a hole read there could be stale: walk again.
            if node.is_full() && (old ^ index) & !node::low_mask(node.shift() + CHUNK_SHIFT) == 0 {
                let offset = node::offset_of(index, node.shift());
                if let Some((offset, w, _)) = node.read_covering(offset, false) {
                    if entry::is_node(w) {
                        // SAFETY: as above.
                        return unsafe { self.descend(root, w) };
                    }
                    if !entry::is_internal(w) || w == ZERO {
                        self.settle(offset, w);
                        return w;
                    }
                }
            }
        }
        // SAFETY: the caller's contract.
        unsafe { self.load(root) }
    }

    /// The order of the entry the walk is on (0 for a hole). Its sibling
    /// run is counted in a validated snapshot of the node; if the entry
    /// changed since the walk was made, the walk is made again and the
    /// order is that of what covers the index now.
    ///
    /// # Safety
    /// As for [`Walk::load`]; the walk is fresh.
    pub(crate) unsafe fn order(&mut self, root: &Root) -> u32 {
        loop {
            let Some(ptr) = self.leaf_node().filter(|_| !self.entry.is_null()) else {
                return 0;
            };
            // SAFETY: the caller's contract.
            let node = unsafe { NodeRef::new(ptr) };
            let offset = node::offset_of(self.index, node.shift());
            if let Some((canonical, w, span)) = node.read_covering(offset, true) {
                if canonical == self.offset && w == self.entry {
                    return node.shift() + span.trailing_zeros();
                }
            }
            sync::spin_hint();
            // SAFETY: the caller's contract.
            unsafe { self.load(root) };
        }
    }

    /// The order of the entry the walk is on, for a writer holding the
    /// lock (no snapshot needed).
    ///
    /// # Safety
    /// The lock is held; the walk is fresh and was made under it.
    pub(crate) unsafe fn order_locked(&self) -> u32 {
        match self.leaf_node() {
            Some(ptr) if !self.entry.is_null() => {
                // SAFETY: the caller's contract.
                let node = unsafe { NodeRef::new(ptr) };
                let (_, span) = node.entry_span(self.offset);
                node.shift() + span.trailing_zeros()
            }
            _ => 0,
        }
    }

    /// The first and last index of the entry the walk is on.
    ///
    /// # Safety
    /// As for [`Walk::order_locked`].
    pub(crate) unsafe fn entry_range_locked(&self) -> (u64, u64) {
        match self.leaf_node() {
            Some(ptr) => {
                // SAFETY: the caller's contract.
                let node = unsafe { NodeRef::new(ptr) };
                let first = node::slot_start(self.index, node.shift(), self.offset);
                // SAFETY: as above.
                let order = unsafe { self.order_locked() };
                (first, first + node::low_mask(order))
            }
            None => (self.index, self.index),
        }
    }

    /// The first index of the entry the walk is on: the start of its
    /// canonical slot, which needs no sibling count.
    #[inline]
    fn entry_first(&self) -> u64 {
        match self.leaf_node() {
            Some(ptr) => {
                // SAFETY: the path's nodes stay allocated while the walk is
                // used (the guard or the lock of every caller).
                let node = unsafe { NodeRef::new(ptr) };
                node::slot_start(self.index, node.shift(), self.offset)
            }
            None => self.index,
        }
    }

    /// Whether the entry the walk is on carries mark `mark`.
    ///
    /// # Safety
    /// As for [`Walk::order`].
    pub(crate) unsafe fn is_marked(&self, root: &Root, mark: usize) -> bool {
        match self.leaf_node() {
            // SAFETY: the caller's contract.
            Some(ptr) => unsafe { NodeRef::new(ptr) }.marks(mark) & (1 << self.offset) != 0,
            None => root.marks.load(Ordering::Relaxed) & (1 << mark) != 0,
        }
    }

    /// Finds the first entry that `want` accepts and that covers an index
    /// in `self.index ..= max`; an entry that begins before `self.index`
    /// but covers it is found with the walk left at `self.index`.
    ///
    /// # Safety
    /// As for [`Walk::load`].
    pub(crate) unsafe fn find(&mut self, root: &Root, max: u64, want: Want) -> Option<Word> {
        // A loop, not recursion: a scan that must walk again from the head
        // (a node left the tree, the tree grew) says so and comes back here,
        // so that a reader under a busy writer never deepens its stack.
        loop {
            if self.index > max {
                return None;
            }
            // SAFETY: the caller's contract.
            let w = unsafe { self.load(root) };
            // SAFETY: as above; the walk is fresh.
            if want.accepts(w)
                && want
                    .mark
                    .is_none_or(|m| unsafe { self.is_marked(root, m as usize) })
            {
                self.arm_leaf_for(want);
                return Some(w);
            }
            // SAFETY: as above.
            match unsafe { self.scan_past(root, max, want) } {
                Scan::Found(w) => return Some(w),
                Scan::End => return None,
                Scan::Again => {}
            }
        }
    }

    /// The next entry `want` accepts when it sits in the same node as the
    /// current one and is a plain item or value: for `ANY`, in the very next
    /// slot; for a mark, at the next marked slot. This is the common step of
    /// a dense or clustered iteration, and it costs one or two loads; every
    /// other case returns `None` and takes [`Walk::find_next`].
    ///
    /// # Safety
    /// As for [`Walk::load`].
    #[inline(always)]
    pub(crate) unsafe fn next_in_node(&mut self, max: u64, want: Want) -> Option<Word> {
        if !self.fresh || self.depth == 0 || self.entry.is_null() {
            return None;
        }
        // SAFETY: the path was built under the caller's guard or lock.
        let node = unsafe { NodeRef::new(self.node_at(self.depth - 1)) };
        let next = self.offset + 1;
        if next >= node::SLOTS {
            return None;
        }
        // One kind check for the node: a Full one's bitmap and slot are
        // read directly.
        let full = node.is_full();
        let i = match want.mark {
            None => next,
            Some(m) => {
                let marks = if full {
                    node.marks_full(m as usize)
                } else {
                    node.marks_small(m as usize)
                };
                let bits = marks & (u64::MAX << next);
                if bits == 0 {
                    return None;
                }
                bits.trailing_zeros() as usize
            }
        };
        let w = if full {
            node.load_full(i)
        } else {
            node.load_small(i)
        };
        if !(entry::is_value(w) || entry::is_item(w)) {
            return None;
        }
        let index = node::slot_start(self.index, node.shift(), i);
        // `index <= self.index`: the walk sat inside a multi-order entry
        // (at a range start) whose siblings a writer has since turned into
        // entries of their own, behind the walk; the slow path skips them.
        if index > max || index <= self.index {
            return None;
        }
        self.index = index;
        self.offset = i;
        self.entry = w;
        Some(w)
    }

    /// Finds the next entry that `want` accepts after the one (or the hole)
    /// the walk is on, up to `max`.
    ///
    /// # Safety
    /// As for [`Walk::load`].
    #[inline]
    pub(crate) unsafe fn find_next(&mut self, root: &Root, max: u64, want: Want) -> Option<Word> {
        if !self.fresh {
            // SAFETY: the caller's contract.
            unsafe { self.load(root) };
        }
        // SAFETY: as above.
        match unsafe { self.scan_past(root, max, want) } {
            Scan::Found(w) => Some(w),
            Scan::End => None,
            // SAFETY: as above.
            Scan::Again => unsafe { self.find(root, max, want) },
        }
    }

    /// Finds the last entry that `want` accepts and that covers an index in
    /// `min ..= self.index`: the mirror of [`Walk::find`]. The walk is left
    /// at the entry's first index, or at `min` when the entry begins before
    /// it, which is the index an iterator yields.
    ///
    /// # Safety
    /// As for [`Walk::load`].
    pub(crate) unsafe fn find_back(&mut self, root: &Root, min: u64, want: Want) -> Option<Word> {
        loop {
            if self.index < min {
                return None;
            }
            // SAFETY: the caller's contract.
            let w = unsafe { self.load(root) };
            // SAFETY: as above; the walk is fresh.
            if want.accepts(w)
                && want
                    .mark
                    .is_none_or(|m| unsafe { self.is_marked(root, m as usize) })
            {
                self.index = self.entry_first().max(min);
                self.arm_leaf_for(want);
                return Some(w);
            }
            if self.depth > 0 {
                let top = self.index;
                // SAFETY: as above.
                match unsafe { self.scan_back(self.offset.wrapping_sub(1), min, top, want) } {
                    Scan::Found(w) => return Some(w),
                    Scan::End => return None,
                    // `self.index` is where to look again; a loop, as in
                    // `find`.
                    Scan::Again => continue,
                }
            }
            // At the head: an empty tree, the entry for index 0, or an index
            // beyond the top node, where the search goes on from the top
            // node's last index.
            let head = root.head.load(Ordering::Acquire);
            if !entry::is_node(head) {
                // The head holds index 0 only: look there next.
                if head.is_null() || self.index == 0 {
                    return None;
                }
                self.index = 0;
                continue;
            }
            // SAFETY: loaded from the head under the caller's guard.
            let last = node::max_index(unsafe { NodeRef::from_word(head) }.shift());
            if self.index <= last {
                // The walk found no node on the way (a head entry, or a top
                // node that did not reach the index), yet the head read
                // now reaches it: the tree grew since (a writer lowered it
                // to a bottom node and grew it back, say). Walk again;
                // returning here would end a reverse iteration above
                // entries that were there all along.
                continue;
            }
            self.index = last;
        }
    }

    /// Finds the entry before the one the walk is on (down to `min`).
    ///
    /// # Safety
    /// As for [`Walk::load`].
    pub(crate) unsafe fn find_prev(&mut self, root: &Root, min: u64, want: Want) -> Option<Word> {
        if !self.fresh {
            // SAFETY: the caller's contract.
            unsafe { self.load(root) };
        }
        if self.depth == 0 {
            // The head entry covers index 0: nothing lies before it.
            return None;
        }
        // The walk is on the index it yielded last: what comes next lies
        // strictly below it, whatever writers do meanwhile.
        let top = self.index.checked_sub(1)?;
        // SAFETY: the caller's contract; the walk is fresh.
        match unsafe { self.scan_back(self.offset.wrapping_sub(1), min, top, want) } {
            Scan::Found(w) => Some(w),
            Scan::End => None,
            // SAFETY: as above.
            Scan::Again => unsafe { self.find_back(root, min, want) },
        }
    }

    /// Scans backwards from slot `offset` (inclusive; `usize::MAX` for "none
    /// left") of the deepest node on the path, for an entry to yield at an
    /// index in `min ..= top`.
    ///
    /// A scan that meets a run being rewritten looks again from the head,
    /// at the highest index it may still yield: never above `top`, so a
    /// reverse iteration never yields an index twice or goes back up.
    ///
    /// # Safety
    /// As for [`Walk::load`].
    unsafe fn scan_back(&mut self, mut offset: usize, min: u64, top: u64, want: Want) -> Scan {
        // The leaf fast path is for forward scans only.
        self.leaf = core::ptr::null();
        loop {
            // SAFETY: the path was built under the caller's guard or lock.
            let node = unsafe { NodeRef::new(self.node_at(self.depth - 1)) };
            let mut found = None;
            if offset < node::SLOTS {
                match want.mark {
                    Some(m) => {
                        let bits = node.marks(m as usize) & node::low_mask(offset as u32 + 1);
                        if bits != 0 {
                            let i = 63 - bits.leading_zeros() as usize;
                            found = Some((i, node.load(i)));
                        }
                    }
                    None => found = node.prev_used(offset),
                }
            }
            // A sibling: what covers it, and how far, read as one snapshot
            // of the node (see `Node::read_covering`); a run being
            // rewritten reads as a retry.
            let found = found.map(|(i, w)| match entry::as_sibling(w) {
                Some(_) if want.mark.is_none() => match node.read_covering(i, true) {
                    Some((c, w, span)) => (c, w, span),
                    None => (i, RETRY, 1),
                },
                _ => (i, w, 0),
            });
            let Some((i, w, span)) = found else {
                let first = node::slot_start(self.index, node.shift(), 0);
                let Some(prev) = first.checked_sub(1) else {
                    return Scan::End;
                };
                if prev < min {
                    return Scan::End;
                }
                if self.depth == 1 {
                    self.index = prev;
                    // SAFETY: the caller's contract.
                    return Scan::Again;
                }
                self.depth -= 1;
                // SAFETY: as above.
                let parent = unsafe { NodeRef::new(self.node_at(self.depth - 1)) };
                offset = node::offset_of(self.index, parent.shift()).wrapping_sub(1);
                continue;
            };
            let start = node::slot_start(self.index, node.shift(), i);
            if entry::is_node(w) {
                let last = start | node::low_mask(node.shift());
                if last < min {
                    return Scan::End;
                }
                self.index = last;
                self.path[self.depth].write(entry::as_node(w));
                self.depth += 1;
                offset = node::SLOTS - 1;
                continue;
            }
            if w == RETRY || entry::is_sibling(w) {
                // The node left the tree, or the range is being rewritten:
                // look again from the end of this slot, or from `top`.
                sync::spin_hint();
                let again = (start | node::low_mask(node.shift())).min(top);
                if again < min {
                    return Scan::End;
                }
                self.index = again;
                // SAFETY: the caller's contract.
                return Scan::Again;
            }
            if start < min {
                // The entry begins below the range: it is yielded only if
                // it reaches `min`, which takes its length, read as one
                // snapshot of the node (a sibling's was read so already).
                let span = match span {
                    0 => match node.read_covering(i, true) {
                        Some((c, x, span)) if c == i && x == w => span,
                        _ => {
                            // The run is changing: look again at `min`,
                            // the one index where this entry could be
                            // yielded.
                            sync::spin_hint();
                            if min > top {
                                return Scan::End;
                            }
                            self.index = min;
                            // SAFETY: the caller's contract.
                            return Scan::Again;
                        }
                    },
                    span => span,
                };
                let last = start + ((span as u64) << node.shift()) - 1;
                if last < min {
                    return Scan::End;
                }
            }
            if want.accepts(w) {
                let at = start.max(min);
                if at > top {
                    // Begins below the range, which starts above `top`:
                    // the entry was yielded already.
                    return Scan::End;
                }
                self.index = at;
                self.settle(i, w);
                self.arm_leaf_for(want);
                return Scan::Found(w);
            }
            offset = i.wrapping_sub(1);
        }
    }

    /// Scans forward from the slot after the current entry or hole.
    ///
    /// # Safety
    /// As for [`Walk::load`]; the walk is fresh.
    unsafe fn scan_past(&mut self, root: &Root, max: u64, want: Want) -> Scan {
        // Armed again only where the scan stops on an entry.
        self.leaf = core::ptr::null();
        if self.depth == 0 {
            // The walk is on the head entry (index 0), on an empty tree, or
            // beyond the top node: nothing lies further, unless the tree
            // grew from a single entry since we looked.
            if self.index != 0 || max == 0 {
                return Scan::End;
            }
            let head = root.head.load(Ordering::Acquire);
            if !entry::is_node(head) {
                return Scan::End;
            }
            self.index = 1;
            // SAFETY: the caller's contract.
            return Scan::Again;
        }
        // The scan skips the siblings of the current entry on its own (they
        // are neither leaves nor marked). It starts after the slot of the
        // walk's own index, not after the canonical slot: the index lies in
        // or after the current entry's canonical slot, and a writer may
        // have turned the slots between into entries of their own, which
        // lie behind the walk. Starting there keeps the walk going forward.
        // SAFETY: the path was built under the caller's guard or lock.
        let node = unsafe { NodeRef::new(self.node_at(self.depth - 1)) };
        let own = node::offset_of(self.index, node.shift());
        // SAFETY: the caller's contract.
        unsafe { self.scan(own.max(self.offset) + 1, max, want) }
    }

    /// Scans forward from slot `offset` of the deepest node on the path.
    ///
    /// # Safety
    /// As for [`Walk::load`].
    unsafe fn scan(&mut self, mut offset: usize, max: u64, want: Want) -> Scan {
        loop {
            // SAFETY: the path was built under the caller's guard or lock.
            let node = unsafe { NodeRef::new(self.node_at(self.depth - 1)) };
            // Slots past the top of the index space (in a top node at shift
            // 60) are always empty and unmarked, so every node is scanned to
            // SLOTS.
            let mut found = None;
            if offset < node::SLOTS {
                match want.mark {
                    // A Full node (every node above the bottom level) is
                    // read with no kind check per bitmap and slot.
                    Some(m) if node.is_full() => {
                        let bits = node.marks_full(m as usize) & (u64::MAX << offset);
                        if bits != 0 {
                            let i = bits.trailing_zeros() as usize;
                            found = Some((i, node.load_full(i)));
                            if node.shift() > 0 {
                                // `offset` 0: the walk just came down into
                                // this node; otherwise it is back from a
                                // child it found here before.
                                prefetch_marked_children(node, bits & (bits - 1), offset == 0);
                            }
                        }
                    }
                    Some(m) => {
                        let bits = node.marks_small(m as usize) & (u64::MAX << offset);
                        if bits != 0 {
                            let i = bits.trailing_zeros() as usize;
                            found = Some((i, node.load_small(i)));
                        }
                    }
                    None => found = node.next_used(offset),
                }
            }
            let Some((i, w)) = found else {
                if self.depth == 1 {
                    // Past the top node we walked through: the tree may
                    // have grown since, so look again from the head.
                    let next =
                        (self.index | node::low_mask(node.shift() + CHUNK_SHIFT)).checked_add(1);
                    let Some(next) = next else {
                        return Scan::End;
                    };
                    if next > max {
                        return Scan::End;
                    }
                    self.index = next;
                    // SAFETY: the caller's contract.
                    return Scan::Again;
                }
                // This node is done: go on with the next slot of its parent
                // (`self.index` still lies under this node).
                self.depth -= 1;
                // SAFETY: as above.
                let parent = unsafe { NodeRef::new(self.node_at(self.depth - 1)) };
                offset = node::offset_of(self.index, parent.shift()) + 1;
                continue;
            };
            let start = node::slot_start(self.index, node.shift(), i);
            if start > max {
                return Scan::End;
            }
            self.index = start;
            if entry::is_node(w) {
                self.path[self.depth].write(entry::as_node(w));
                self.depth += 1;
                offset = 0;
                continue;
            }
            if w == RETRY {
                // The node left the tree under us: look again from here.
                // SAFETY: the caller's contract.
                return Scan::Again;
            }
            if want.accepts(w) {
                self.settle(i, w);
                if want.mark.is_none() && node.shift() == 0 && node.is_full() {
                    self.leaf = node.as_ptr();
                    self.leaf_base = start - i as u64;
                }
                return Scan::Found(w);
            }
            // A hole, a sibling or a reservation behind a stale mark bit.
            offset = i + 1;
        }
    }
}

/// Starts loading the next few marked children of `node` (those in
/// `bits`) while the walk goes down into the first: a marked walk that
/// visits sparse marks takes one cache miss per child, and this lets the
/// next ones overlap with it. A walk that has just `entered` the node
/// prefetches the next `PREFETCH_AHEAD`; one back from a child only the
/// last of them, the one no earlier pass prefetched.
#[inline]
fn prefetch_marked_children(node: NodeRef, mut bits: u64, entered: bool) {
    let prefetch = |i: usize| {
        // Only nodes above the bottom level have children: Full nodes.
        let w = node.load_full(i);
        if entry::is_node(w) {
            Node::prefetch(entry::as_node(w));
        }
    };
    if !entered {
        // Back from a child: the children before the last one ahead were
        // prefetched when the walk passed here for the earlier ones.
        for _ in 1..PREFETCH_AHEAD {
            bits &= bits.wrapping_sub(1);
        }
        if bits != 0 {
            prefetch(bits.trailing_zeros() as usize);
        }
        return;
    }
    for _ in 0..PREFETCH_AHEAD {
        if bits == 0 {
            return;
        }
        prefetch(bits.trailing_zeros() as usize);
        bits &= bits - 1;
    }
}

/// How many marked children a marked walk prefetches ahead.
const PREFETCH_AHEAD: usize = 4;
