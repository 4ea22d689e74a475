//! Bulk builds: entries given in ascending index order fill whole bottom
//! nodes privately, and each node is linked into the tree with one Release
//! store, instead of one walk from the head per entry.
//!
//! A store walks from the head to its slot, making nodes on the way: some
//! two hundred instructions, most of them the same walk as the store
//! before. When the indices ascend, the entries of one bottom node arrive
//! together, so the builder keeps that node aside, writes its slots with
//! plain stores (nobody else can see it yet), and links it when the next
//! index falls outside it: a reader sees the node appear whole, every entry
//! at once, which is a state the tree is in.
//!
//! The builder only takes blocks the tree has nothing in: a block that
//! already has a bottom node, or lies under a multi-order entry, or an
//! index out of order, is handed back for an ordinary store, so the result
//! is exactly that of storing the entries one by one. Trees that track
//! free slots (`Flags::ALLOC`) always take the ordinary path.

use super::walk::Walk;
use super::Root;
use crate::entry::{self, Word, NULL};
use crate::node::{self, Node, NodeRef, CHUNK_SHIFT, SLOTS};
use crate::sync::{Ordering, Reclaimer};
use crate::value::Value;

/// Ascending stores under the lock, a bottom node at a time.
pub(crate) struct Bulk<'r, T, V: Value> {
    root: &'r Root,
    reclaim: &'r Reclaimer<'r>,
    /// The bottom node being filled, not yet linked; null if none.
    leaf: *mut Node,
    /// The index of the leaf's slot 0.
    base: u64,
    /// Slots filled in the leaf, and how many of them hold values.
    count: usize,
    values: usize,
    /// The last index taken, for the ascending check.
    last: Option<u64>,
    _types: core::marker::PhantomData<(alloc::sync::Arc<T>, V)>,
}

impl<'r, T, V: Value> Bulk<'r, T, V> {
    /// A builder for a tree whose lock the caller holds for 'r.
    pub(crate) fn new(root: &'r Root, reclaim: &'r Reclaimer<'r>) -> Self {
        Bulk {
            root,
            reclaim,
            leaf: core::ptr::null_mut(),
            base: 0,
            count: 0,
            values: 0,
            last: None,
            _types: core::marker::PhantomData,
        }
    }

    /// Takes `word` (a leaf word whose reference the tree takes over) for
    /// `index`, or hands it back for an ordinary store: the index is not
    /// above the last one, the tree tracks free slots, or the tree already
    /// holds something in the index's block.
    ///
    /// # Safety
    /// The lock is held for 'r; `word` is a non-null leaf word of this
    /// tree's types.
    pub(crate) unsafe fn push(&mut self, index: u64, word: Word) -> Result<(), Word> {
        let ascending = self.last.is_none_or(|last| index > last);
        let base = index & !(SLOTS as u64 - 1);
        if ascending && !self.leaf.is_null() && base == self.base {
            self.fill(index, word);
            return Ok(());
        }
        // SAFETY: the caller's contract.
        unsafe { self.finish() };
        // SAFETY: the lock is held.
        if !ascending || self.root.track_free || unsafe { self.block_in_use(base) } {
            self.last = None;
            return Err(word);
        }
        self.leaf = Node::alloc(0);
        self.base = base;
        self.fill(index, word);
        Ok(())
    }

    #[inline]
    fn fill(&mut self, index: u64, word: Word) {
        // SAFETY: our private node, allocated by `push` and not yet linked.
        let leaf = unsafe { NodeRef::new(self.leaf) };
        // Relaxed: nobody can reach the node until the Release store in
        // `finish` links it.
        leaf.init_slot((index - self.base) as usize, word);
        self.count += 1;
        self.values += entry::is_value(word) as usize;
        self.last = Some(index);
    }

    /// Whether the tree holds anything in the block of bottom-node slots
    /// starting at `base`: a bottom node, a multi-order entry over it, or
    /// the entry for index 0 in the head.
    ///
    /// # Safety
    /// The lock is held.
    unsafe fn block_in_use(&self, base: u64) -> bool {
        // Relaxed: under the lock we read our own stores.
        let mut w = self.root.head.load(Ordering::Relaxed);
        if !entry::is_node(w) {
            return base == 0 && !w.is_null();
        }
        // SAFETY: nodes in the tree stay allocated under the lock.
        if base > node::max_index(unsafe { NodeRef::from_word(w) }.shift()) {
            return false;
        }
        loop {
            // SAFETY: as above.
            let node = unsafe { NodeRef::from_word(w) };
            if node.shift() == 0 {
                return true;
            }
            w = node.load(node::offset_of(base, node.shift()));
            if !entry::is_node(w) {
                // An entry (or a sibling) over the block, or nothing.
                return !w.is_null();
            }
        }
    }

    /// Links the leaf being filled, if any.
    ///
    /// # Safety
    /// The lock is held for 'r.
    pub(crate) unsafe fn finish(&mut self) {
        if self.leaf.is_null() {
            return;
        }
        let leaf = core::mem::replace(&mut self.leaf, core::ptr::null_mut());
        // SAFETY: still private.
        let node = unsafe { NodeRef::new(leaf) };
        node.set_count(self.count);
        node.set_nr_values(self.values);
        // Relaxed: under the lock we read our own stores.
        if self.base == 0 && self.root.head.load(Ordering::Relaxed).is_null() {
            // The first block of an empty tree is the whole tree: the leaf
            // is the top, as a store at index 0..SLOTS would make it (no
            // node above holding it in slot 0 alone).
            // Release: the leaf is complete before a reader can reach it.
            self.root
                .head
                .store(entry::node_word(leaf), Ordering::Release);
            self.root.add_len(self.count);
            self.count = 0;
            self.values = 0;
            return;
        }
        let mut walk = Walk::new(self.base);
        // The slot a whole bottom node hangs from, grown and made for as a
        // store of that order would; `block_in_use` found it empty.
        // SAFETY: the lock is held.
        let target = unsafe { self.root.target(&mut walk, CHUNK_SHIFT, true, self.reclaim) };
        match (target, walk.leaf_node()) {
            (Some(t), Some(parent)) => {
                // SAFETY: on the walk's path, under the lock.
                let parent = unsafe { NodeRef::new(parent) };
                debug_assert!(t.span == 1 && parent.load(t.offset) == NULL);
                // Release: the leaf's slots and counts are written before a
                // reader can reach it.
                parent.publish(t.offset, entry::node_word(leaf));
                parent.set_count(parent.count() + 1);
                self.root.add_len(self.count);
            }
            _ => {
                // Unreachable: a slot for an order-CHUNK_SHIFT entry always
                // exists after growing. Store the entries one by one.
                debug_assert!(false, "bulk build found no slot for block {}", self.base);
                for i in 0..SLOTS {
                    let w = node.load(i);
                    if !w.is_null() {
                        let mut walk = Walk::new(self.base + i as u64);
                        // SAFETY: the lock is held; `w` is a leaf word the
                        // tree takes over; what it displaces is nothing.
                        unsafe { self.root.store_entry::<T, V>(&mut walk, 0, w, self.reclaim) };
                    }
                }
                // SAFETY: private, never linked; its words moved on above.
                unsafe { Node::free(leaf) };
            }
        }
        self.count = 0;
        self.values = 0;
    }
}

impl<T, V: Value> Drop for Bulk<'_, T, V> {
    fn drop(&mut self) {
        // An error or a panic in the caller's iterator: what was taken so
        // far is stored, as if stored one by one.
        // SAFETY: the builder lives inside the caller's hold of the lock.
        unsafe { self.finish() };
    }
}
