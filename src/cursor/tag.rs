//! `tag_range`: giving every entry with one mark another, a word at a time
//! (the kernel's `tag_pages_for_writeback`, which fsync uses to snapshot
//! DIRTY into TOWRITE).
//!
//! A walk that visits each marked entry and sets its mark pays a descent
//! and a summary update per entry. Here each node on the way is handled
//! with bitmap arithmetic: in a bottom node the `from` bits inside the
//! range are OR-ed into `to` in one store and counted with `popcount`;
//! higher up, only the slots whose `from` summary bit is set are entered.
//! The cost follows the number of nodes holding marked entries, not the
//! number of entries.

use super::write::FREE_MARK;
use super::Root;
use crate::entry;
use crate::node::{self, Node, NodeRef};
use crate::sync::Ordering;

impl Root {
    /// Gives every entry in `start ..= end` that carries mark `from` the
    /// mark `to` as well (`to` of `None`: count only); returns how many
    /// entries carry `from`.
    ///
    /// # Safety
    /// The lock is held.
    pub(crate) unsafe fn tag_range(
        &self,
        start: u64,
        end: u64,
        from: usize,
        to: Option<usize>,
    ) -> usize {
        if self.track_free && from == FREE_MARK {
            // Mark 0 marks free slots in an allocating tree, not entries.
            return 0;
        }
        let to = to.filter(|&t| !(self.track_free && t == FREE_MARK));
        let head = self.head.load(Ordering::Relaxed);
        if !entry::is_node(head) {
            // At most the entry for index 0, whose marks are the root's.
            let marks = self.marks.load(Ordering::Relaxed);
            if start != 0 || !entry::is_leaf(head) || marks & (1 << from) == 0 {
                return 0;
            }
            if let Some(t) = to {
                self.marks.store(marks | 1 << t, Ordering::Relaxed);
            }
            return 1;
        }
        // SAFETY: the lock keeps the tree alive.
        let top = unsafe { NodeRef::from_word(head) };
        if start > node::max_index(top.shift()) {
            return 0;
        }
        let tagged = tag_node(
            top,
            0,
            start,
            end.min(node::max_index(top.shift())),
            from,
            to,
        );
        if let (Some(t), true) = (to, tagged > 0) {
            self.marks.store(
                self.marks.load(Ordering::Relaxed) | 1 << t,
                Ordering::Relaxed,
            );
        }
        tagged
    }
}

/// Tags the entries of the subtree `node`, whose first index is `base`,
/// that meet `start ..= end` (which lies within the subtree).
fn tag_node(
    node: NodeRef,
    base: u64,
    start: u64,
    end: u64,
    from: usize,
    to: Option<usize>,
) -> usize {
    let shift = node.shift();
    let mut lo = ((start - base) >> shift) as usize;
    let hi = ((end - base) >> shift) as usize;
    // One kind check per node: a Full node (every node above the bottom
    // level) is read with no check per bitmap and slot. A smaller kind
    // holds no siblings.
    let full = node.is_full();
    if lo > 0 && full {
        if let Some(canonical) = entry::as_sibling(node.load_full(lo)) {
            // An entry that begins before the range but reaches into it.
            lo = canonical;
        }
    }
    let marks = if full {
        node.marks_full(from)
    } else {
        node.marks_small(from)
    };
    let bits = marks & node::bit_range(lo, hi - lo + 1);
    if bits == 0 {
        return 0;
    }
    if shift == 0 {
        // Every marked slot of a bottom node is an entry's canonical slot.
        if let Some(t) = to {
            node.set_marks(t, bits);
        }
        return bits.count_ones() as usize;
    }
    // The children are independent: start loading all of their bitmaps
    // before walking the first, so that their cache misses overlap.
    let mut rest = bits;
    while rest != 0 {
        let i = rest.trailing_zeros() as usize;
        rest &= rest - 1;
        let w = node.load_full(i);
        if entry::is_node(w) {
            Node::prefetch(entry::as_node(w));
        }
    }
    let mut tagged = 0;
    let mut newly = 0u64;
    let mut rest = bits;
    while rest != 0 {
        let i = rest.trailing_zeros() as usize;
        rest &= rest - 1;
        let w = node.load_full(i);
        if entry::is_node(w) {
            // SAFETY: children of a live node are alive under the lock.
            let child = unsafe { NodeRef::from_word(w) };
            let child_base = node::slot_start(base, shift, i);
            let child_last = child_base | node::low_mask(shift);
            let n = tag_node(
                child,
                child_base,
                start.max(child_base),
                end.min(child_last),
                from,
                to,
            );
            if n > 0 {
                tagged += n;
                newly |= 1 << i;
            }
        } else if entry::is_leaf(w) {
            tagged += 1;
            newly |= 1 << i;
        }
    }
    if let Some(t) = to {
        // Entries get the mark; child slots get the summary bit, since
        // their subtree now holds an entry with it.
        node.set_marks(t, newly);
    }
    tagged
}
