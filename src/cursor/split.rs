//! Splitting a multi-order entry into smaller ones (the kernel's
//! `xas_split`), keeping the entry and its marks on every piece.
//!
//! This is what a hole punch inside a dirty 2 MiB entry needs: split to
//! 4 KiB pieces, each still DIRTY, then erase only the punched ones.
//!
//! Two shapes:
//!
//! - the pieces still fit the entry's own node (order 9 → 7 with 64-slot
//!   nodes): the canonical slots of the new pieces are written in place of
//!   siblings, and each gets the entry's marks;
//! - the pieces belong lower down (order 9 → 0): each slot of the entry is
//!   replaced by a new subtree, built complete (slots, counts, marks) before
//!   the Release store that links it. Siblings are replaced before the
//!   canonical slot, so a reader that follows a sibling finds the old entry
//!   still in the canonical slot; a reader sees, at every index, either the
//!   old entry or a piece, which is the same entry. Never nothing.

use alloc::sync::Arc;

use super::walk::Walk;
use super::Root;
use crate::entry::{self, Word};
use crate::error::{Error, InvalidInput};
use crate::mark::MARKS;
use crate::node::{self, Node, NodeRef, CHUNK_SHIFT, SLOTS};
use crate::sync::{Ordering, Reclaimer};

/// The most nodes one `split` call allocates: 65,536 nodes is 34 MiB.
pub(crate) const MAX_SPLIT_NODES: u64 = 1 << 16;

impl Root {
    /// Splits the entry covering `walk.index` into entries of `order`.
    ///
    /// # Safety
    /// The lock is held; `guard` is pinned; `T` is the tree's item type.
    pub(crate) unsafe fn split<T>(
        &self,
        walk: &mut Walk,
        order: u32,
        reclaim: &Reclaimer<'_>,
    ) -> Result<(), Error> {
        let index = walk.index;
        if order >= 64 {
            return Err(Error::invalid(InvalidInput::Order { order }));
        }
        // The split may lower the tree at the end, retiring a node: pin
        // before the first store (see `Reclaimer::prepare`).
        reclaim.prepare();
        // SAFETY: the caller holds the lock.
        let w = unsafe { walk.load(self) };
        if !entry::is_leaf(w) || w == entry::ZERO {
            // Nothing (or only a reservation) to split.
            return Ok(());
        }
        // SAFETY: the walk is fresh, under the lock.
        let from = unsafe { walk.order_locked() };
        if order >= from {
            return Err(Error::invalid(InvalidInput::SplitOrder {
                index,
                from,
                to: order,
            }));
        }
        let Some(ptr) = walk.leaf_node() else {
            // The head holds only order-0 entries, caught above.
            return Ok(());
        };
        // SAFETY: on the path, under the lock.
        let node = unsafe { NodeRef::new(ptr) };
        let (canonical, span) = node.entry_span(walk.offset());
        let level = order - order % CHUNK_SHIFT;
        let mut marks = [false; MARKS];
        for (m, marked) in marks.iter_mut().enumerate() {
            *marked = self.entry_marks().contains(&m) && node.marks(m) & (1 << canonical) != 0;
        }

        // The sibling run changes: inside a counted change of the node, so
        // that readers following a sibling meanwhile try again.
        let change = node.begin_change();
        if level == node.shift() {
            let piece = 1usize << (order - level);
            for c in (canonical + piece..canonical + span).step_by(piece) {
                share::<T>(w);
                node.publish(c, w);
                for s in c + 1..c + piece {
                    node.publish(s, entry::sibling(c));
                }
                for (m, &marked) in marks.iter().enumerate() {
                    if marked {
                        node.set_marks(m, 1 << c);
                    }
                }
            }
        } else {
            let depth = (node.shift() - level) / CHUNK_SHIFT;
            let per_slot = (0..depth).fold(0u64, |sum, l| {
                sum.saturating_add((SLOTS as u64).saturating_pow(l))
            });
            let nodes = per_slot.saturating_mul(span as u64);
            if nodes > MAX_SPLIT_NODES {
                return Err(Error::invalid(InvalidInput::SplitTooLarge {
                    from,
                    to: order,
                    nodes,
                }));
            }
            // Siblings first, the canonical slot last (see the module docs).
            for i in (canonical..canonical + span).rev() {
                let sub = build::<T>(node.shift() - CHUNK_SHIFT, level, order, w, &marks);
                node.publish(i, entry::node_word(sub));
            }
            for (m, &marked) in marks.iter().enumerate() {
                if marked {
                    node.set_marks(m, node::bit_range(canonical, span));
                }
            }
            if entry::is_value(w) {
                node.set_nr_values(node.nr_values() - span);
            }
            // Every piece holds its own reference now; drop the one the
            // entry held (the item lives on in the pieces).
            unshare::<T>(w);
        }
        drop(change);
        self.bump_version();
        let pieces = 1usize << (from - order);
        let len = self.writer.len.load(Ordering::Relaxed);
        self.writer.len.store(len + pieces - 1, Ordering::Relaxed);
        walk.invalidate();
        // An entry alone in slot 0 of the top node, split into a subtree,
        // leaves a top that holds only slot 0: lower the tree.
        // SAFETY: the lock is held.
        unsafe { self.shrink(reclaim) };
        Ok(())
    }
}

/// A complete subtree at `shift` full of order-`order` copies of `w`, whose
/// pieces sit at `level`.
fn build<T>(shift: u32, level: u32, order: u32, w: Word, marks: &[bool; MARKS]) -> *mut Node {
    let ptr = Node::alloc(shift);
    // SAFETY: fresh from `alloc`, not yet shared.
    let node = unsafe { NodeRef::new(ptr) };
    // Relaxed stores: nobody can see this node until the Release store
    // that links it.
    if shift == level {
        let piece = 1usize << (order - level);
        for c in (0..SLOTS).step_by(piece) {
            share::<T>(w);
            node.init_slot(c, w);
            for s in c + 1..c + piece {
                node.init_slot(s, entry::sibling(c));
            }
            for (m, &marked) in marks.iter().enumerate() {
                if marked {
                    node.set_marks(m, 1 << c);
                }
            }
        }
        if entry::is_value(w) {
            node.set_nr_values(SLOTS);
        }
    } else {
        for i in 0..SLOTS {
            let child = build::<T>(shift - CHUNK_SHIFT, level, order, w, marks);
            node.init_slot(i, entry::node_word(child));
        }
        for (m, &marked) in marks.iter().enumerate() {
            if marked {
                node.set_marks(m, u64::MAX >> (64 - SLOTS));
            }
        }
    }
    node.set_count(SLOTS);
    ptr
}

/// Takes one more reference for a new piece of an item entry.
fn share<T>(w: Word) {
    if entry::is_item(w) {
        // SAFETY: `w` is an item pointer from `Arc::into_raw` that the tree
        // holds a reference to; each piece will own the reference taken here.
        unsafe { Arc::increment_strong_count(w.cast::<T>().cast_const()) };
    }
}

/// Drops the reference the split entry held, now that its pieces hold
/// their own.
fn unshare<T>(w: Word) {
    if entry::is_item(w) {
        // SAFETY: the pieces hold at least one more reference each, so this
        // never frees the item; readers still using it are unaffected.
        unsafe { Arc::decrement_strong_count(w.cast::<T>().cast_const()) };
    }
}
