//! Free-index search for allocating trees (`Flags::ALLOC`).
//!
//! As in the kernel (`XA_FREE_MARK`), mark 0 of an allocating tree marks
//! *free* slots: an empty slot has the bit, an occupied one does not, and a
//! child node's bit says whether anything below it is free. Finding the
//! lowest free index at or above `start` is then a marked search that
//! stops at the first empty slot: O(height), whatever the number of ids
//! handed out. Indices beyond the top node are free by construction.

use super::write::FREE_MARK;
use super::Root;
use crate::entry;
use crate::node::{self, NodeRef, CHUNK_SHIFT};
use crate::sync::Ordering;

impl Root {
    /// The lowest free index at or above `start`, if one exists.
    ///
    /// # Safety
    /// The lock is held.
    pub(crate) unsafe fn find_free(&self, start: u64) -> Option<u64> {
        let head = self.head.load(Ordering::Relaxed);
        if head.is_null() {
            return Some(start);
        }
        if !entry::is_node(head) {
            // Only index 0 is taken.
            return Some(start.max(1));
        }
        // SAFETY: the lock keeps the tree's nodes alive.
        let top = unsafe { NodeRef::from_word(head) };
        if start > node::max_index(top.shift()) {
            return Some(start);
        }
        // Descend along `start` while the slots we pass contain it, then
        // take the lowest free bit at or after it, climbing when a node has
        // none left.
        let mut path = [top.as_ptr(); node::MAX_HEIGHT];
        let mut depth = 1;
        let mut index = start;
        let mut offset = node::offset_of(start, top.shift());
        loop {
            // SAFETY: on the path, under the lock.
            let n = unsafe { NodeRef::new(path[depth - 1]) };
            let usable = node::usable_slots(n.shift());
            let bits = if offset < usable {
                n.marks(FREE_MARK) & node::bit_range(offset, usable - offset)
            } else {
                0
            };
            if bits == 0 {
                if depth == 1 {
                    return node::max_index(n.shift()).checked_add(1);
                }
                depth -= 1;
                // SAFETY: as above.
                let parent = unsafe { NodeRef::new(path[depth - 1]) };
                offset = node::offset_of(index, parent.shift()) + 1;
                continue;
            }
            let i = bits.trailing_zeros() as usize;
            let slot_start = node::slot_start(index, n.shift(), i);
            let contains_start =
                slot_start <= start && start <= slot_start | node::low_mask(n.shift());
            index = if contains_start { start } else { slot_start };
            let w = n.load(i);
            if w.is_null() {
                return Some(index);
            }
            if entry::is_node(w) {
                path[depth] = entry::as_node(w);
                depth += 1;
                offset = if contains_start {
                    node::offset_of(start, n.shift() - CHUNK_SHIFT)
                } else {
                    0
                };
                continue;
            }
            // An occupied slot with a free bit would be a bookkeeping bug;
            // step over it rather than hand out a used index.
            debug_assert!(false, "free bit on an occupied slot");
            offset = i + 1;
        }
    }
}
