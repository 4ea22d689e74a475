//! Writing: finding or making the slots for an entry, replacing what they
//! hold, and keeping counts and mark summaries exact on the way.
//!
//! Everything here runs with the tree's lock held, so writers never race
//! each other; the care is all for the lock-free readers:
//!
//! - a new node is complete (slots, marks) before the Release store that
//!   links it;
//! - when the tree grows, the new top's slot 0 and its mark bits are set
//!   before the head is switched to it;
//! - when the tree shrinks, the node that leaves gets a retry entry in
//!   slot 0, so a reader still inside it walks again;
//! - a subtree that leaves the tree has every non-empty slot replaced by a
//!   retry entry before its nodes go to the epoch collector;
//! - a Full node that leaves the tree (either way, or emptied, or
//!   converted) gets one in its empty slots too: a cursor keeps the Full
//!   nodes of its path from one call to the next, and must not read a hole
//!   there after the index was filled elsewhere (`NodeRef::retry_all`);
//! - an erase clears the entry's marks before it publishes the empty slot.
//!
//! Entries displaced by a store are not dropped here: their `Arc`
//! references are handed to the epoch collector, because a reader may still
//! be looking at them.

use core::mem::MaybeUninit;

use super::walk::Walk;
use super::Root;
use crate::entry::{self, Word, NULL, RETRY};
use crate::mark::MARKS;
use crate::node::{self, Node, NodeRef, CHUNK_SHIFT};
use crate::sync::{Ordering, Reclaimer};

/// The ordering of the head store that publishes a grown tree: Release,
/// except in the deliberately broken build that shows loom catching a bug.
#[cfg(not(xradix_loom_broken))]
const GROW_PUBLISH: Ordering = Ordering::Release;
#[cfg(xradix_loom_broken)]
const GROW_PUBLISH: Ordering = Ordering::Relaxed;

/// The conversions of bottom nodes between kinds, counted per tree so that
/// tests can tell each one happened ([`Root::conversions`]).
#[derive(Clone, Copy)]
pub(crate) enum Conversion {
    /// A rebuild at the same class or a smaller one (tombstones dropped):
    /// the store's offset lay below the highest one present.
    InsertBelow = 0,
    /// A rebuild at a larger compact class.
    Grow = 1,
    /// A rebuild into a Full node: more entries than the largest compact
    /// class holds.
    GrowToFull = 2,
    /// A rebuild into a Full node for an entry that needs sibling slots.
    ToFull = 3,
    /// An erase left a compact node with at most a quarter of its class
    /// live: rebuilt at a smaller class (tombstones dropped).
    Shrink = 4,
    /// An erase left a Full bottom node with at most `node::FULL_SHRINK`
    /// entries and no sibling run: rebuilt as a compact node.
    FullToCompact = 5,
}

/// How many kinds of [`Conversion`] there are.
pub(crate) const CONVERSIONS: usize = 6;

/// The free-tracking mark of trees made with `Flags::ALLOC`.
pub(crate) const FREE_MARK: usize = 0;

/// Where an entry goes: `span` slots from `offset` in the deepest node of
/// the walk's path, or the head when the path is empty.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Target {
    pub(crate) offset: usize,
    pub(crate) span: usize,
}

/// What a [`Root::replace`] took out of the tree.
pub(crate) struct Replaced {
    /// The entry that covered the walk's index before or, when a store
    /// replaced several, the first of them in index order. Its item
    /// reference is queued for dropping after the guard: the caller may
    /// clone it while its guard is pinned.
    pub(crate) old: Word,
}

impl Root {
    /// The mark numbers that follow entries (all, or all but the free mark
    /// in an allocating tree).
    #[inline]
    pub(crate) fn entry_marks(&self) -> core::ops::Range<usize> {
        if self.track_free {
            1..MARKS
        } else {
            0..MARKS
        }
    }

    /// Finds the slots for an entry of `order` at `walk.index`, growing the
    /// tree and making nodes on the way when `create` is set. If the index
    /// lies in a larger entry, the target is that whole entry (a store
    /// keeps its order). `None` when `create` is off and there is nothing.
    ///
    /// When `create` is set, a bottom node of a smaller kind that cannot
    /// take the store in place is converted first (see [`Root::convert`]),
    /// so the target always fits.
    ///
    /// # Safety
    /// The tree's lock is held.
    pub(crate) unsafe fn target(
        &self,
        walk: &mut Walk,
        order: u32,
        create: bool,
        reclaim: &Reclaimer<'_>,
    ) -> Option<Target> {
        let index = walk.index;
        let level = order - order % CHUNK_SHIFT;
        if create {
            // SAFETY: the caller holds the lock.
            unsafe { self.grow_for(index, order, level) };
        }
        walk.reset_path();
        // Relaxed: we hold the lock, so we read our own last store.
        let mut w = self.head.load(Ordering::Relaxed);
        if !entry::is_node(w) {
            if index != 0 || order != 0 || (!create && w.is_null()) {
                return None;
            }
            walk.settle(0, w);
            return Some(Target { offset: 0, span: 1 });
        }
        loop {
            let ptr = entry::as_node(w);
            // SAFETY: nodes in the tree stay allocated while we hold the lock.
            let mut node = unsafe { NodeRef::new(ptr) };
            if walk.depth() == 0 && index > node::max_index(node.shift()) {
                return None;
            }
            walk.push(ptr);
            let offset = node::offset_of(index, node.shift());
            if node.shift() > level {
                // Above the bottom level every node is Full.
                w = node.load_full(offset);
                if entry::is_node(w) {
                    continue;
                }
                if w.is_null() {
                    if !create {
                        return None;
                    }
                    let child = if node.shift() == CHUNK_SHIFT {
                        self.new_leaf(walk, offset, index, order)
                    } else {
                        self.new_node(node.shift() - CHUNK_SHIFT)
                    };
                    node.publish(offset, entry::node_word(child));
                    node.set_count(node.count() + 1);
                    w = entry::node_word(child);
                    continue;
                }
                // A larger entry covers the index: it is the target.
                let (canonical, span) = node.entry_span(offset);
                let entry = node.load(canonical);
                walk.settle(canonical, entry);
                return Some(Target {
                    offset: canonical,
                    span,
                });
            }
            if create && !node.is_full() {
                // A bottom node of a smaller kind: it takes the store in
                // place, or is converted to a node that does. Entries that
                // need sibling slots live in Full nodes only.
                let to_full = order > 0;
                if to_full || !node.can_take(offset) {
                    // SAFETY: the lock is held; the walk's path is live.
                    node = unsafe { self.convert(walk, node, offset, to_full, reclaim) };
                }
            }
            w = node.load(offset);
            let want = 1usize << (order - level);
            let (canonical, span) = if entry::is_leaf(w) || entry::is_sibling(w) {
                node.entry_span(offset)
            } else {
                (offset, 0)
            };
            if !create && w.is_null() {
                return None;
            }
            let target = if span > want {
                Target {
                    offset: canonical,
                    span,
                }
            } else {
                Target { offset, span: want }
            };
            // Under the lock slot `offset` still holds `w`.
            let at = if target.offset == offset {
                w
            } else {
                node.load(target.offset)
            };
            walk.settle(target.offset, at);
            return Some(target);
        }
    }

    /// Whether a store of `order` at `index` finds its slots without growing
    /// the tree or making a node: what [`Root::target`] would do, read only.
    ///
    /// # Safety
    /// The tree's lock is held.
    pub(crate) unsafe fn slots_exist(&self, index: u64, order: u32) -> bool {
        let level = order - order % CHUNK_SHIFT;
        // Relaxed: under the lock we read our own stores.
        let mut w = self.head.load(Ordering::Relaxed);
        if !entry::is_node(w) {
            return false;
        }
        // SAFETY: nodes in the tree stay allocated while we hold the lock.
        let top = unsafe { NodeRef::from_word(w) };
        if top.shift() < level || index > node::max_index(top.shift()) {
            return false;
        }
        loop {
            // SAFETY: as above.
            let node = unsafe { NodeRef::from_word(w) };
            if node.shift() <= level {
                return true;
            }
            w = node.load(node::offset_of(index, node.shift()));
            if !entry::is_node(w) {
                // Nothing: a node to make. An entry: it is the target.
                return !w.is_null();
            }
        }
    }

    /// A new node at `shift`; in an allocating tree, every slot free.
    fn new_node(&self, shift: u32) -> *mut Node {
        let ptr = Node::alloc(shift);
        if self.track_free {
            // SAFETY: `ptr` is fresh from `alloc` and not yet shared.
            let node = unsafe { NodeRef::new(ptr) };
            node.set_marks(FREE_MARK, node::low_mask(node::usable_slots(shift) as u32));
        }
        ptr
    }

    /// A new bottom node under slot `offset` of the deepest node of the
    /// walk's path (at shift `CHUNK_SHIFT`), for a store of `order`
    /// at `index`: a Single for `index`, unless the tree tracks free slots
    /// (ALLOC trees keep Full nodes only), the entry needs sibling slots,
    /// or the bottom node just before or after it in index order is Full.
    /// That last rule makes a dense fill, ascending or descending, build
    /// Full leaves at once (exactly today's tree) instead of growing each
    /// one through the compact classes.
    fn new_leaf(&self, walk: &Walk, offset: usize, index: u64, order: u32) -> *mut Node {
        if self.track_free || order > 0 {
            return self.new_node(0);
        }
        // The nearest bottom node before (or after) the new one in index
        // order: up the path to the first ancestor with a neighbouring slot,
        // then down its edge. Only the first store into a new region of the
        // tree pays this climb.
        let beside = |forward: bool| -> bool {
            let mut d = walk.depth();
            let mut at = offset;
            let mut w = loop {
                let next = if forward {
                    at.checked_add(1).filter(|&o| o < node::SLOTS)
                } else {
                    at.checked_sub(1)
                };
                if let Some(o) = next {
                    // SAFETY: on the walk's path, under the lock.
                    break unsafe { NodeRef::new(walk.node_at(d - 1)) }.load(o);
                }
                if d < 2 {
                    return false;
                }
                d -= 1;
                // SAFETY: as above.
                at = node::offset_of(index, unsafe { NodeRef::new(walk.node_at(d - 1)) }.shift());
            };
            while entry::is_node(w) {
                // SAFETY: a node of the tree, under the lock.
                let n = unsafe { NodeRef::from_word(w) };
                if n.shift() == 0 {
                    return n.is_full();
                }
                w = n.load(if forward { 0 } else { node::SLOTS - 1 });
            }
            false
        };
        if beside(false) || beside(true) {
            return self.new_node(0);
        }
        Node::alloc_single(node::offset_of(index, 0))
    }

    /// Replaces `old`, the bottom node of the walk's path (of a smaller
    /// kind), with a copy that can take a store at `offset`: the smallest
    /// class with room for one more entry and a position for `offset`
    /// (insert-below, grow), or a Full node when `to_full` is set (an
    /// entry needing sibling slots) or no compact class is big enough.
    ///
    /// The copy is complete (entries, marks, counts) before one Release
    /// store links it where `old` was, so a reader sees the old node or the
    /// new one, whole. Then every non-null slot of `old` becomes a retry
    /// entry, so that a reader still inside it walks again (and finds the
    /// copy), and `old` goes to the collector as a shell: its entries now
    /// belong to the copy. Mark summaries above do not change, since the
    /// copy carries the same marks. Returns the copy, now on the path.
    ///
    /// # Safety
    /// The lock is held; `old` is the deepest node of the walk's path.
    unsafe fn convert(
        &self,
        walk: &mut Walk,
        old: NodeRef,
        offset: usize,
        to_full: bool,
        reclaim: &Reclaimer<'_>,
    ) -> NodeRef {
        // The old node will be retired: pin before the first store (see
        // `Reclaimer::prepare`). No store of this change came before: a
        // node to convert existed already, so `target` made nothing above.
        reclaim.prepare();
        let new = old.rebuild(offset, to_full);
        // SAFETY: fresh from `rebuild`; it is linked below and stays
        // allocated while we hold the lock.
        let copy = unsafe { NodeRef::new(new) };
        let stat = if to_full {
            Conversion::ToFull
        } else if copy.is_full() {
            Conversion::GrowToFull
        } else if copy.capacity() > old.capacity() {
            Conversion::Grow
        } else {
            Conversion::InsertBelow
        };
        // SAFETY: the caller's contract; `new` is complete.
        unsafe { self.swap_leaf(walk, old, new, stat, reclaim) };
        copy
    }

    /// Links `new`, a complete copy of `old` (the deepest node of the
    /// walk's path), where `old` was, and retires `old` as a shell: the
    /// publication every conversion shares (see [`Root::convert`]).
    ///
    /// # Safety
    /// The lock is held; `old` is the deepest node of the walk's path; the
    /// reclaimer was prepared before the change's first store; `new` is
    /// fresh and holds `old`'s entries, marks and counts.
    unsafe fn swap_leaf(
        &self,
        walk: &mut Walk,
        old: NodeRef,
        new: *mut Node,
        stat: Conversion,
        reclaim: &Reclaimer<'_>,
    ) {
        let word = entry::node_word(new);
        let d = walk.depth();
        if d == 1 {
            // CONVERT_PUBLISH is Release (Relaxed only in the deliberately
            // broken loom build): the copy is complete before a reader can
            // reach it.
            self.head.store(word, node::CONVERT_PUBLISH);
        } else {
            // SAFETY: the path above is live under the lock.
            let parent = unsafe { NodeRef::new(walk.node_at(d - 2)) };
            let at = node::offset_of(walk.index, parent.shift());
            parent.publish_with(at, word, node::CONVERT_PUBLISH);
        }
        old.retry_all();
        let ptr = old.as_ptr().cast_mut();
        // SAFETY: unlinked just now; its entries live on in the copy, so
        // only the node itself is freed, after every reader that may still
        // be inside it has unpinned.
        unsafe { reclaim.guard().defer_unchecked(move || Node::free(ptr)) };
        walk.replace_last(new);
        self.bump_version();
        self.count_conversion(stat);
    }

    /// Adds levels on top until the tree reaches `index` with a node at
    /// `level` or above (or the head can hold the entry itself).
    ///
    /// # Safety
    /// The tree's lock is held.
    unsafe fn grow_for(&self, index: u64, order: u32, level: u32) {
        loop {
            let head = self.head.load(Ordering::Relaxed);
            let shift = if head.is_null() {
                if index == 0 && order == 0 {
                    return;
                }
                // An empty tree gets its top at the final height at once.
                let top = self.new_node(node::shift_for(index).max(level));
                // Release: the node is initialised before readers can see it.
                self.head.store(entry::node_word(top), Ordering::Release);
                return;
            } else if entry::is_node(head) {
                // SAFETY: the head node is alive while we hold the lock.
                let top = unsafe { NodeRef::from_word(head) };
                if top.shift() >= level && index <= node::max_index(top.shift()) {
                    return;
                }
                top.shift() + CHUNK_SHIFT
            } else {
                if index == 0 && order == 0 {
                    return;
                }
                0
            };
            let ptr = self.new_node(shift);
            // SAFETY: fresh, not yet shared.
            let top = unsafe { NodeRef::new(ptr) };
            top.init_slot(0, head);
            top.set_count(1);
            top.set_nr_values(entry::is_value(head) as usize);
            let root_marks = self.marks.load(Ordering::Relaxed);
            for m in self.entry_marks() {
                if root_marks & (1 << m) != 0 {
                    top.set_marks(m, 1);
                }
            }
            if self.track_free {
                let old_top_has_free = entry::is_node(head)
                    // SAFETY: the old top is alive while we hold the lock.
                    && unsafe { NodeRef::from_word(head) }.marks(FREE_MARK) != 0;
                if !old_top_has_free {
                    top.clear_marks(FREE_MARK, 1);
                }
            }
            // Release: slot 0 and the mark bits are in place before a
            // reader can reach the new top. (The loom test that proves the
            // models can find a bug builds with `xradix_loom_broken`, which
            // weakens exactly this store.)
            self.head.store(entry::node_word(ptr), GROW_PUBLISH);
        }
    }

    /// Replaces the `target` slots with `new` (null to erase), frees what
    /// they held after the guard, and fixes counts, marks and the tree's
    /// shape. The walk must come from [`Root::target`] and is stale after.
    ///
    /// # Safety
    /// The tree's lock is held; `guard` is pinned to the tree's collector;
    /// `new` is a leaf word whose item reference the tree takes over.
    pub(crate) unsafe fn replace<T>(
        &self,
        walk: &mut Walk,
        target: Target,
        new: Word,
        reclaim: &Reclaimer<'_>,
    ) -> Replaced {
        let Some(ptr) = walk.leaf_node() else {
            // The head holds the entry for index 0.
            let old = self.head.load(Ordering::Relaxed);
            if entry::is_item(old) {
                reclaim.prepare();
            }
            if new.is_null() {
                self.marks.store(0, Ordering::Relaxed);
            }
            // Release: an item's contents are visible before its pointer.
            self.head.store(new, Ordering::Release);
            // SAFETY: the head slot no longer holds `old`.
            unsafe { retire_leaf::<T>(old, reclaim) };
            let removed = entry::is_leaf(old) as usize;
            self.adjust_len(removed, !new.is_null());
            walk.invalidate();
            return Replaced { old };
        };
        // SAFETY: nodes on the path are alive while we hold the lock.
        let node = unsafe { NodeRef::new(ptr) };
        let Target { offset, span } = target;
        if span == 1 {
            let old = node.load(offset);
            if !entry::is_node(old) {
                // SAFETY: the caller's contract.
                return unsafe { self.replace_one::<T>(walk, node, offset, old, new, reclaim) };
            }
        }
        let range = node::bit_range(offset, span);

        // Take stock of what the range holds, before touching it.
        let mut old = NULL;
        let mut removed = 0;
        let mut used = 0;
        let mut values = 0;
        let mut displaced = [const { MaybeUninit::<Word>::uninit() }; node::SLOTS];
        for (i, slot) in displaced.iter_mut().enumerate().skip(offset).take(span) {
            let w = node.load(i);
            slot.write(w);
            if w.is_null() {
                continue;
            }
            used += 1;
            if entry::is_value(w)
                || entry::as_sibling(w).is_some_and(|c| entry::is_value(node.load(c)))
            {
                values += 1;
            }
            if entry::is_node(w) {
                // SAFETY: a child of a live node, under the lock.
                let child = unsafe { NodeRef::from_word(w) };
                removed += count_entries(child);
                if old.is_null() {
                    old = first_leaf(child);
                }
            } else if entry::is_leaf(w) {
                removed += 1;
                if old.is_null() {
                    old = w;
                }
            }
        }
        // Something may be retired (an item or a subtree displaced, nodes
        // an erase empties or lowers): pin before the first store (see
        // `Reclaimer::prepare`).
        let displaces = displaced[offset..offset + span].iter().any(|w| {
            // SAFETY: every slot of the range was written just above.
            let w = unsafe { w.assume_init() };
            entry::is_item(w) || entry::is_node(w)
        });
        let left = node.count() - used;
        let lowers = walk.depth() == 1 && left == 1 && offset != 0 && !node.load(0).is_null();
        if displaces || (new.is_null() && (left == 0 || lowers || self.may_shrink(node, left))) {
            reclaim.prepare();
        }
        let mut had = [false; MARKS];
        for (m, had) in had.iter_mut().enumerate() {
            *had = node.marks(m) != 0;
        }
        let mut union = 0u8;
        for m in self.entry_marks() {
            if node.marks(m) & range != 0 {
                union |= 1 << m;
            }
        }

        // Publish the new contents. Sibling words are written and removed
        // only inside a counted change of the node, so that a reader that
        // follows a sibling meanwhile tries again (see `node.rs`).
        let change = (span > 1).then(|| node.begin_change());
        if new.is_null() {
            // Marks go first: a marked walk must not find a mark on a slot
            // it has already seen empty.
            for m in self.entry_marks() {
                node.clear_marks(m, range);
            }
            if self.track_free {
                node.set_marks(FREE_MARK, range);
            }
            for i in offset..offset + span {
                node.publish(i, NULL);
            }
        } else {
            // Canonical slot first, then the siblings: a reader that follows
            // a sibling (Acquire) then finds the new entry in place.
            node.publish(offset, new);
            for i in offset + 1..offset + span {
                node.publish(i, entry::sibling(offset));
            }
            let siblings = range & !(1 << offset);
            for m in self.entry_marks() {
                if union & (1 << m) != 0 {
                    node.set_marks(m, 1 << offset);
                }
                node.clear_marks(m, siblings);
            }
            if self.track_free {
                node.clear_marks(FREE_MARK, range);
            }
        }
        drop(change);
        let now_used = if new.is_null() { 0 } else { span };
        let now_values = if entry::is_value(new) { span } else { 0 };
        node.set_count(node.count() - used + now_used);
        node.set_nr_values(node.nr_values() - values + now_values);
        for (m, &had) in had.iter().enumerate() {
            if had != (node.marks(m) != 0) {
                // SAFETY: the walk's path is live under the lock.
                unsafe { self.propagate(walk, walk.depth(), m) };
            }
        }

        // Retire what left the tree: subtrees get retry entries first.
        for w in &displaced[offset..offset + span] {
            // SAFETY: every slot of the range was written in the stock-taking
            // loop above.
            let w = unsafe { w.assume_init() };
            if entry::is_node(w) {
                // SAFETY: unlinked just now, under the lock.
                unsafe { retire_subtree::<T>(entry::as_node(w), reclaim) };
            } else if entry::is_leaf(w) {
                // SAFETY: no slot holds `w` any more.
                unsafe { retire_leaf::<T>(w, reclaim) };
            }
        }
        self.adjust_len(removed, !new.is_null());
        if new.is_null() {
            // SAFETY: the lock is held and the path is live.
            unsafe { self.after_erase(walk, node, reclaim) };
        }
        walk.invalidate();
        Replaced { old }
    }

    /// [`Root::replace`] for the common case: one slot, holding no node.
    /// Marks change only where an entry comes or goes, so the summaries
    /// above are touched only when a node's bitmap turns empty or not.
    ///
    /// # Safety
    /// As for [`Root::replace`]; `node` is the deepest node of the walk and
    /// `old` is what slot `offset` holds.
    #[inline]
    unsafe fn replace_one<T>(
        &self,
        walk: &mut Walk,
        node: NodeRef,
        offset: usize,
        old: Word,
        new: Word,
        reclaim: &Reclaimer<'_>,
    ) -> Replaced {
        let bit = 1u64 << offset;
        let depth = walk.depth();
        // Something may be retired: the item, or nodes an erase empties
        // (this one, and up the path) or lowers (a top left with one slot).
        // Pin before the first store (see `Reclaimer::prepare`); an erase
        // of a value that leaves its node with others pins nothing.
        let lowers = |left: usize| {
            // The top left holding only slot 0 is lowered by `shrink`.
            depth == 1 && left == 1 && offset != 0 && !node.load(0).is_null()
        };
        if entry::is_item(old)
            || (new.is_null() && {
                let left = node.count().saturating_sub(1);
                left == 0 || lowers(left) || self.may_shrink(node, left)
            })
        {
            reclaim.prepare();
        }
        if new.is_null() {
            if old.is_null() {
                return Replaced { old };
            }
            // Marks go first: a marked walk must not find a mark on a slot
            // it has already seen empty.
            for m in self.entry_marks() {
                if node.marks(m) & bit != 0 && node.clear_marks(m, bit) == bit {
                    // SAFETY: the walk's path is live under the lock.
                    unsafe { self.propagate(walk, depth, m) };
                }
            }
            if self.track_free && node.set_marks(FREE_MARK, bit) == 0 {
                // SAFETY: as above.
                unsafe { self.propagate(walk, depth, FREE_MARK) };
            }
            node.publish(offset, NULL);
            node.set_count(node.count() - 1);
        } else {
            node.publish(offset, new);
            if old.is_null() {
                node.set_count(node.count() + 1);
                if self.track_free && node.clear_marks(FREE_MARK, bit) == bit {
                    // SAFETY: as above.
                    unsafe { self.propagate(walk, depth, FREE_MARK) };
                }
            }
        }
        // Written only when it changes: an overwrite in place (a value by a
        // value) then leaves the node's first cache line, which every reader
        // through this node loads for `shift`, clean (as the kernel's
        // `update_node` skips an unchanged count).
        if entry::is_value(new) != entry::is_value(old) {
            node.set_nr_values(
                node.nr_values() + entry::is_value(new) as usize - entry::is_value(old) as usize,
            );
        }
        // SAFETY: no slot holds `old` any more.
        unsafe { retire_leaf::<T>(old, reclaim) };
        self.adjust_len(entry::is_leaf(old) as usize, !new.is_null());
        if new.is_null() {
            // SAFETY: the lock is held and the path is live.
            unsafe { self.after_erase(walk, node, reclaim) };
        }
        walk.invalidate();
        Replaced { old }
    }

    /// Tidies the tree after slots of `node` were emptied, in this order:
    /// unlinks empty nodes, shrinks a bottom node left mostly empty
    /// ([`Root::shrink_leaf`]), and lowers the tree. (A store that puts an
    /// entry in never leaves a node empty, or a top node with only slot 0
    /// in use.) Every erase comes here: `erase`, a store of nothing,
    /// `cmpxchg` and `release` to nothing, a `CursorMut` erase, erasing a
    /// multi-order entry, all through [`Root::replace`].
    ///
    /// # Safety
    /// The lock is held; `node` is the deepest node of the walk's path; the
    /// reclaimer was prepared before the erase's first store if
    /// [`Root::may_shrink`] held for what it left.
    unsafe fn after_erase(&self, walk: &mut Walk, node: NodeRef, reclaim: &Reclaimer<'_>) {
        let left = node.count();
        if left == 0 {
            // SAFETY: the caller's contract.
            unsafe { self.delete_empty(walk, reclaim) };
        } else if self.may_shrink(node, left) {
            // SAFETY: the caller's contract.
            unsafe { self.shrink_leaf(walk, node, reclaim) };
        }
        // SAFETY: the lock is held.
        unsafe { self.shrink(reclaim) };
    }

    /// Whether an erase that leaves `node` with `left` entries may shrink
    /// it ([`NodeRef::shrinks_at`]; never in a tree that tracks free slots,
    /// whose nodes are all Full). An erase for which this holds pins before
    /// its first store (see `Reclaimer::prepare`).
    #[inline]
    fn may_shrink(&self, node: NodeRef, left: usize) -> bool {
        // Every threshold is at most FULL_SHRINK (a compact class's quarter
        // is at most 4): most erases stop at this one comparison.
        left <= node::FULL_SHRINK && !self.track_free && self.shrink_leaves && node.shrinks_at(left)
    }

    /// The shrink conversions: rebuilds `node`, a bottom node an erase left
    /// with few entries ([`Root::may_shrink`]), at the smallest compact
    /// class with twice as many slots as it has entries, and links it in
    /// its place as [`Root::convert`] does (complete before one Release
    /// store; the old node's slots become retry entries; the old node goes
    /// to the collector as a shell). Marks are copied by offset, so the
    /// summaries above stay exact. Not for a Full node holding a sibling
    /// run (those live in Full nodes only), nor for a top node left with
    /// only slot 0, which [`Root::shrink`] lowers next.
    ///
    /// # Safety
    /// As for [`Root::after_erase`].
    #[cold]
    #[inline(never)]
    unsafe fn shrink_leaf(&self, walk: &mut Walk, node: NodeRef, reclaim: &Reclaimer<'_>) {
        if walk.depth() == 1 && node.count() == 1 && !node.load(0).is_null() {
            return;
        }
        let stat = if node.is_full() {
            Conversion::FullToCompact
        } else {
            Conversion::Shrink
        };
        let Some(new) = node.shrunk() else {
            // A Full node holding a sibling run stays Full.
            return;
        };
        // SAFETY: the caller's contract; `new` is a complete copy.
        unsafe { self.swap_leaf(walk, node, new, stat, reclaim) };
    }

    /// Unlinks the empty nodes at the bottom of the walk's path, climbing
    /// while a parent is left empty too.
    ///
    /// # Safety
    /// The lock is held and the walk's path is live.
    unsafe fn delete_empty(&self, walk: &Walk, reclaim: &Reclaimer<'_>) {
        let mut d = walk.depth();
        while d > 0 {
            let ptr = walk.node_at(d - 1);
            // SAFETY: the caller's contract.
            let node = unsafe { NodeRef::new(ptr) };
            if node.count() != 0 {
                return;
            }
            if d == 1 {
                self.marks.store(0, Ordering::Relaxed);
                // Release: pairs with readers' Acquire head load (the null
                // carries no data, but keeps one ordering rule for the head).
                self.head.store(NULL, Ordering::Release);
            } else {
                // SAFETY: the caller's contract.
                let parent = unsafe { NodeRef::new(walk.node_at(d - 2)) };
                let offset = node::offset_of(walk.index, parent.shift());
                parent.publish(offset, NULL);
                parent.set_count(parent.count() - 1);
                if self.track_free {
                    parent.set_marks(FREE_MARK, 1 << offset);
                }
            }
            // SAFETY: unlinked just now; it holds nothing.
            unsafe { retire_subtree::<()>(ptr, reclaim) };
            d -= 1;
            if self.track_free {
                // SAFETY: the path above `d` is still linked.
                unsafe { self.propagate(walk, d, FREE_MARK) };
            }
        }
    }

    /// Lowers the tree while its top node holds nothing but slot 0: the
    /// child (or, at the bottom level, the entry for index 0) becomes the
    /// head (the kernel's `xas_shrink`).
    ///
    /// # Safety
    /// The lock is held.
    pub(crate) unsafe fn shrink(&self, reclaim: &Reclaimer<'_>) {
        loop {
            let head = self.head.load(Ordering::Relaxed);
            if !entry::is_node(head) {
                return;
            }
            let ptr = entry::as_node(head);
            // SAFETY: the head node is alive under the lock.
            let top = unsafe { NodeRef::new(ptr) };
            if top.count() != 1 {
                return;
            }
            let w = top.load(0);
            if w.is_null() || (!entry::is_node(w) && top.shift() != 0) {
                return;
            }
            let mut marks = 0;
            for m in 0..MARKS {
                marks |= ((top.marks(m) & 1) as u8) << m;
            }
            self.marks.store(marks, Ordering::Relaxed);
            // Release: the child (or entry) is published as the head.
            self.head.store(w, Ordering::Release);
            // Release: a reader that finds a retry entry and walks again
            // from the head then sees the new head stored above. Every
            // slot, not just 0: a cursor may hold this node from an
            // earlier call (see `NodeRef::retry_all`).
            top.retry_all();
            let ptr = ptr.cast_mut();
            // SAFETY: unlinked; the free waits for pinned readers.
            unsafe { reclaim.guard().defer_unchecked(move || Node::free(ptr)) };
        }
    }

    /// Counts one conversion. Writers only.
    fn count_conversion(&self, c: Conversion) {
        let n = &self.writer.conversions[c as usize];
        // Relaxed: a statistic, written under the lock.
        n.store(n.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }

    /// How many conversions of each [`Conversion`] kind the tree has made.
    pub(crate) fn conversions(&self) -> [usize; CONVERSIONS] {
        // Relaxed: a statistic.
        core::array::from_fn(|i| self.writer.conversions[i].load(Ordering::Relaxed))
    }

    /// Bumps [`Root::version`](super::Root::version). Writers only.
    #[inline]
    pub(crate) fn bump_version(&self) {
        // Relaxed: read only by writers, under the same lock.
        let v = self.writer.version.load(Ordering::Relaxed);
        self.writer
            .version
            .store(v.wrapping_add(1), Ordering::Relaxed);
    }

    /// Empties the tree; everything in it goes to the epoch collector.
    ///
    /// # Safety
    /// The lock is held (or the tree is owned); `T` is the item type.
    pub(crate) unsafe fn clear<T>(&self, reclaim: &Reclaimer<'_>) {
        let head = self.head.load(Ordering::Relaxed);
        if head.is_null() {
            return;
        }
        // Everything is retired: pin before the first store (the tree's
        // `Drop` has pinned already, quietly).
        reclaim.prepare();
        self.bump_version();
        self.marks.store(0, Ordering::Relaxed);
        // Release: keeps the one ordering rule for the head (see `shrink`).
        self.head.store(NULL, Ordering::Release);
        self.writer.len.store(0, Ordering::Relaxed);
        if entry::is_node(head) {
            // SAFETY: unlinked just now.
            unsafe { retire_subtree::<T>(entry::as_node(head), reclaim) };
        } else {
            // SAFETY: the head no longer holds it.
            unsafe { retire_leaf::<T>(head, reclaim) };
        }
    }

    /// Records a change of entries: `len`, and the version writing cursors
    /// check their walks against.
    #[inline]
    fn adjust_len(&self, removed: usize, added: bool) {
        self.bump_version();
        // Relaxed: `len` orders nothing; writers update it under the lock.
        let len = self.writer.len.load(Ordering::Relaxed);
        self.writer
            .len
            .store(len - removed + added as usize, Ordering::Relaxed);
    }

    /// Records `added` entries stored by a bulk build.
    #[inline]
    pub(crate) fn add_len(&self, added: usize) {
        self.bump_version();
        // Relaxed: as in `adjust_len`.
        let len = self.writer.len.load(Ordering::Relaxed);
        self.writer.len.store(len + added, Ordering::Relaxed);
    }

    /// Recomputes mark `m`'s summary bits from `path[depth - 1]` up to the
    /// root, stopping where nothing changes.
    ///
    /// # Safety
    /// The lock is held and the walk's path is live.
    pub(crate) unsafe fn propagate(&self, walk: &Walk, depth: usize, m: usize) {
        let mut d = depth;
        while d > 0 {
            // SAFETY: the caller's contract.
            let node = unsafe { NodeRef::new(walk.node_at(d - 1)) };
            let has = node.marks(m) != 0;
            if d == 1 {
                if has {
                    self.marks.fetch_or(1 << m, Ordering::Relaxed);
                } else {
                    self.marks.fetch_and(!(1 << m), Ordering::Relaxed);
                }
                return;
            }
            // SAFETY: as above.
            let parent = unsafe { NodeRef::new(walk.node_at(d - 2)) };
            let bit = 1u64 << node::offset_of(walk.index, parent.shift());
            let had = parent.marks(m) & bit != 0;
            if had == has {
                return;
            }
            if has {
                parent.set_marks(m, bit);
            } else {
                parent.clear_marks(m, bit);
            }
            d -= 1;
        }
    }
}

/// How many entries (leaves, not siblings) a subtree holds.
pub(crate) fn count_entries(node: NodeRef) -> usize {
    let mut n = 0;
    for i in 0..node::SLOTS {
        let w = node.load(i);
        if entry::is_node(w) {
            // SAFETY: children of a live node are alive under the lock.
            n += count_entries(unsafe { NodeRef::from_word(w) });
        } else if entry::is_leaf(w) {
            n += 1;
        }
    }
    n
}

/// The lowest-indexed leaf entry of a subtree (a subtree in the tree is
/// never empty).
fn first_leaf(node: NodeRef) -> Word {
    for i in 0..node::SLOTS {
        let w = node.load(i);
        if entry::is_node(w) {
            // SAFETY: children of a live node are alive under the lock.
            let leaf = first_leaf(unsafe { NodeRef::from_word(w) });
            if !leaf.is_null() {
                return leaf;
            }
        } else if entry::is_leaf(w) {
            return w;
        }
    }
    NULL
}

/// Queues the tree's reference to a leaf for dropping after every reader
/// pinned now has unpinned.
///
/// # Safety
/// No slot of the tree holds `w` any more; `T` is the tree's item type.
pub(crate) unsafe fn retire_leaf<T>(w: Word, reclaim: &Reclaimer<'_>) {
    if entry::is_item(w) {
        let item = w.cast::<T>().cast_const();
        // SAFETY: the reference came from `Arc::into_raw` when the item was
        // stored and left the tree just now; readers that may still see it
        // are pinned, so the drop waits for them.
        unsafe { crate::sync::drop_item(reclaim, item) };
    }
}

/// Takes a subtree that has just been unlinked out of readers' reach:
/// every non-empty slot becomes a retry entry (so a reader still inside
/// walks again), then its nodes and items go to the epoch collector.
///
/// # Safety
/// `node` is no longer linked from the tree; the lock is held; `T` is the
/// tree's item type.
pub(crate) unsafe fn retire_subtree<T>(ptr: *const Node, reclaim: &Reclaimer<'_>) {
    // A lone node (an emptied leaf, a lowered top) is the common case: one
    // deferred free, no allocation.
    // SAFETY: unlinked but not yet freed: only we free it.
    let node = unsafe { NodeRef::new(ptr) };
    if node.count() == 0 {
        // Empty, but a cursor may still hold it from an earlier call: its
        // holes become retry entries (see `NodeRef::retry_all`).
        node.retry_all();
        let ptr = ptr.cast_mut();
        // SAFETY: unlinked and empty; readers that may hold it are pinned
        // and the free waits for them.
        unsafe { reclaim.guard().defer_unchecked(move || Node::free(ptr)) };
        return;
    }
    // A whole subtree (a `clear`, a `store_order` over a subtree) goes to
    // the collector as *one* deferred function that frees every node and
    // drops every item: the collector runs a few hundred deferred functions
    // per pin, so one per node would leave most of a large tree's memory
    // waiting for thousands of later pins.
    let mut nodes = alloc::vec::Vec::new();
    let mut items = alloc::vec::Vec::new();
    // SAFETY: the caller's contract.
    unsafe { detach(ptr, &mut nodes, &mut items) };
    // Counted until dropped (`XArray::flush`).
    let tokens = reclaim.drop_tokens(items.len());
    let free = move || {
        for item in items {
            // SAFETY: each reference came from `Arc::into_raw` and left the
            // tree with its subtree; the collector runs this once no reader
            // can see it.
            unsafe { crate::sync::drop_item_now::<T>(item) };
        }
        drop(tokens);
        for node in nodes {
            // SAFETY: unlinked, and no reader can hold it any more.
            unsafe { Node::free(node) };
        }
    };
    // SAFETY: as above: the closure runs once every reader that could
    // still be inside the subtree has unpinned.
    unsafe { reclaim.guard().defer_unchecked(free) };
}

/// Turns the slots of an unlinked subtree into retry entries (every
/// non-empty slot, and the holes of Full nodes: see `NodeRef::retry_all`),
/// so that a reader still inside walks again from the head, and collects
/// its nodes and items.
///
/// # Safety
/// `ptr` is no longer linked from the tree; the lock is held; `T` is the
/// tree's item type.
unsafe fn detach<T>(
    ptr: *const Node,
    nodes: &mut alloc::vec::Vec<*mut Node>,
    items: &mut alloc::vec::Vec<*const T>,
) {
    // SAFETY: unlinked but not yet freed: only our caller frees it.
    let node = unsafe { NodeRef::new(ptr) };
    // The slots turn into retry entries one by one, and so do sibling
    // runs: inside a counted change, so that a reader still counting a run
    // here (`get_order`) does not count a run cut short (see `node.rs`).
    let _change = node.begin_change();
    let full = node.is_full();
    for i in 0..node::SLOTS {
        let w = node.load(i);
        if w.is_null() {
            if full {
                // A hole of a Full node too (see `NodeRef::retry_all`).
                node.publish(i, RETRY);
            }
            continue;
        }
        // Release: a reader that finds the retry entry and walks again
        // from the head sees the store that unlinked this subtree.
        node.publish(i, RETRY);
        if entry::is_node(w) {
            // SAFETY: a child of an unlinked node is unlinked too.
            unsafe { detach(entry::as_node(w), nodes, items) };
        } else if entry::is_item(w) {
            items.push(w.cast::<T>().cast_const());
        }
    }
    nodes.push(ptr.cast_mut());
}

/// Frees a whole tree that nobody can reach any more: its nodes at once,
/// and its items through the collector, since a reader may still hold an
/// item it loaded (an `EntryRef` lives as long as its guard, not the tree).
/// A tree of values alone needs no guard at all.
///
/// # Safety
/// The tree is being dropped: no reader holds a reference to it (so none
/// is inside a node), and `head` was its head; `T` is its item type.
pub(crate) unsafe fn free_tree<T>(head: Word, reclaim: &Reclaimer<'_>) {
    let mut items = alloc::vec::Vec::new();
    if entry::is_node(head) {
        // SAFETY: the caller's contract.
        unsafe { free_nodes(entry::as_node(head), &mut items) };
    } else if entry::is_item(head) {
        items.push(head.cast::<T>().cast_const());
    }
    if items.is_empty() {
        return;
    }
    reclaim.prepare_quietly();
    // Not counted (`XArray::flush`): nobody can flush a dropped tree.
    let drop_all = move || {
        for item in items {
            // SAFETY: each reference came from `Arc::into_raw`; the tree is
            // gone, and the collector runs this once no reader can hold
            // the item.
            unsafe { crate::sync::drop_item_now::<T>(item) };
        }
    };
    // SAFETY: as above.
    unsafe { reclaim.guard().defer_unchecked(drop_all) };
}

/// Frees a subtree's nodes now and collects its items.
///
/// # Safety
/// As for [`free_tree`].
unsafe fn free_nodes<T>(ptr: *const Node, items: &mut alloc::vec::Vec<*const T>) {
    // SAFETY: the caller's contract: nobody else can reach the node.
    let node = unsafe { NodeRef::new(ptr) };
    for i in 0..node::SLOTS {
        let w = node.load(i);
        if entry::is_node(w) {
            // SAFETY: a child of an unreachable node is unreachable.
            unsafe { free_nodes(entry::as_node(w), items) };
        } else if entry::is_item(w) {
            items.push(w.cast::<T>().cast_const());
        }
    }
    // SAFETY: as above, and its children are freed already.
    unsafe { Node::free(ptr.cast_mut()) };
}
