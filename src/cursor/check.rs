//! The tree's structural invariants, checked by tests after every step.
//!
//! These are the facts every operation must keep: counts that match the
//! slots, siblings that form aligned power-of-two runs after their
//! canonical slot, mark summaries that match the children, free bits that
//! match the empty slots, a `len` that matches the entries, and a top node
//! that cannot be shrunk; and for the bottom nodes of smaller kinds, their
//! own layout (`NodeRef::check_layout`) and the shrink rule's floor (no
//! compact class of 4 or more slots at most a quarter live).

use alloc::format;
use alloc::string::String;

use super::write::FREE_MARK;
use super::Root;
use crate::entry::{self, RETRY};
use crate::mark::MARKS;
use crate::node::{self, NodeRef, CHUNK_SHIFT, SLOTS};
use crate::sync::Ordering;

impl Root {
    /// Checks every invariant; the error names the first one broken.
    ///
    /// # Safety
    /// The lock is held.
    pub(crate) unsafe fn check(&self) -> Result<(), String> {
        let head = self.head.load(Ordering::Relaxed);
        let len = self.writer.len.load(Ordering::Relaxed);
        let root_marks = self.marks.load(Ordering::Relaxed);
        if head.is_null() {
            if len != 0 {
                return Err(format!("empty tree has len {len}"));
            }
            if root_marks != 0 {
                return Err(format!("empty tree has root marks {root_marks:#b}"));
            }
            return Ok(());
        }
        if !entry::is_node(head) {
            if !entry::is_leaf(head) {
                return Err(format!("head holds an internal entry {head:p}"));
            }
            if len != 1 {
                return Err(format!("a single head entry but len {len}"));
            }
            return Ok(());
        }
        // SAFETY: the lock keeps the tree alive.
        let top = unsafe { NodeRef::from_word(head) };
        if top.shift() % CHUNK_SHIFT != 0 || top.shift() >= 64 {
            return Err(format!("top node has shift {}", top.shift()));
        }
        for m in self.entry_marks() {
            let has = top.marks(m) != 0;
            if has != (root_marks & (1 << m) != 0) {
                return Err(format!(
                    "root mark {m} is {} but the top node says {has}",
                    !has
                ));
            }
        }
        let w0 = top.load(0);
        if top.count() == 1 && !w0.is_null() && (entry::is_node(w0) || top.shift() == 0) {
            return Err(String::from(
                "the top node holds only slot 0 and was not shrunk",
            ));
        }
        let entries = self.check_node(top, 0)?;
        if entries != len {
            return Err(format!("len is {len} but the tree holds {entries} entries"));
        }
        Ok(())
    }

    /// Checks one node and its subtree; returns its entry count.
    fn check_node(&self, node: NodeRef, base: u64) -> Result<usize, String> {
        let here = |what: String| {
            format!(
                "node at shift {} covering from {base:#x}: {what}",
                node.shift()
            )
        };
        // A smaller kind: a valid kind byte at shift 0, positions and
        // positional marks within `present`, no sibling or node words
        // (`check_layout`); never in a tree that tracks free slots. The
        // checks below then read it in offset space like any node.
        node.check_layout().map_err(here)?;
        if !node.is_full() && self.track_free {
            return Err(here(format!(
                "a node of kind {} in a tree that tracks free slots",
                node.kind()
            )));
        }
        let usable = node::usable_slots(node.shift());
        let mut used = 0;
        let mut values = 0;
        let mut entries = 0;
        let mut i = 0;
        while i < SLOTS {
            let w = node.load(i);
            let bit = 1u64 << i;
            let slot_base = base | ((i as u64) << node.shift());
            if i >= usable && !w.is_null() {
                return Err(here(format!(
                    "slot {i} lies past index 2^64 but holds {w:p}"
                )));
            }
            if w == RETRY {
                return Err(here(format!(
                    "slot {i} holds a retry entry in the live tree"
                )));
            }
            if w.is_null() {
                for m in self.entry_marks() {
                    if node.marks(m) & bit != 0 {
                        return Err(here(format!("empty slot {i} has mark {m}")));
                    }
                }
                if self.track_free && i < usable && node.marks(FREE_MARK) & bit == 0 {
                    return Err(here(format!("empty slot {i} is not marked free")));
                }
                i += 1;
                continue;
            }
            if entry::is_sibling(w) {
                return Err(here(format!(
                    "slot {i} is a sibling with no canonical slot before it"
                )));
            }
            if self.track_free && !entry::is_node(w) && node.marks(FREE_MARK) & bit != 0 {
                return Err(here(format!("occupied slot {i} is marked free")));
            }
            if entry::is_node(w) {
                // SAFETY: children of a live node are alive under the lock.
                let child = unsafe { NodeRef::from_word(w) };
                if child.shift() + CHUNK_SHIFT != node.shift() {
                    return Err(here(format!(
                        "child in slot {i} has shift {}",
                        child.shift()
                    )));
                }
                if child.count() == 0 {
                    return Err(here(format!("child in slot {i} is empty")));
                }
                for m in 0..MARKS {
                    let summary = node.marks(m) & bit != 0;
                    let has = child.marks(m) != 0;
                    if summary != has {
                        return Err(here(format!(
                            "slot {i}: mark {m} summary is {summary} but the child says {has}"
                        )));
                    }
                }
                entries += self.check_node(child, slot_base)?;
                used += 1;
                i += 1;
                continue;
            }
            // A leaf: its siblings follow.
            let mut span = 1;
            while i + span < SLOTS && entry::as_sibling(node.load(i + span)) == Some(i) {
                span += 1;
            }
            if !span.is_power_of_two() || i % span != 0 {
                return Err(here(format!(
                    "entry in slot {i} spans {span} slots, not an aligned power of two"
                )));
            }
            for s in i + 1..i + span {
                for m in 0..MARKS {
                    let free_ok = self.track_free && m == FREE_MARK;
                    if !free_ok && node.marks(m) & (1 << s) != 0 {
                        return Err(here(format!("sibling slot {s} carries mark {m}")));
                    }
                }
                if self.track_free && node.marks(FREE_MARK) & (1 << s) != 0 {
                    return Err(here(format!("sibling slot {s} is marked free")));
                }
            }
            if w == entry::ZERO {
                for m in self.entry_marks() {
                    if node.marks(m) & bit != 0 {
                        return Err(here(format!("reserved slot {i} carries mark {m}")));
                    }
                }
            }
            used += span;
            if entry::is_value(w) {
                values += span;
            }
            entries += 1;
            i += span;
        }
        if used != node.count() {
            return Err(here(format!(
                "count is {} but {used} slots are used",
                node.count()
            )));
        }
        // The hysteresis floor of the compact classes (docs/sparse-nodes.md):
        // every erase that leaves a class of 4 or more slots with at most a
        // quarter of them live shrinks it, and a rebuild for a store leaves
        // more than half of its class live, so no compact node in the tree
        // is ever at or below a quarter. (Full nodes have no such floor: a
        // Full leaf made beside a Full neighbour, by a bulk build or by a
        // split may hold a few entries without ever having been erased
        // into; and a Single holds its one entry, checked above.)
        let cap = node.capacity();
        if !node.is_full() && cap >= 4 && used <= cap / 4 {
            return Err(here(format!(
                "a compact node of {cap} slots holds only {used} entries (the shrink \
                 threshold is {})",
                cap / 4
            )));
        }
        if values != node.nr_values() {
            return Err(here(format!(
                "nr_values is {} but {values} slots hold values",
                node.nr_values()
            )));
        }
        if self.track_free {
            for i in 0..usable {
                let w = node.load(i);
                if entry::is_node(w) {
                    // SAFETY: as above.
                    let child = unsafe { NodeRef::from_word(w) };
                    let free = child.marks(FREE_MARK) != 0;
                    if free != (node.marks(FREE_MARK) & (1 << i) != 0) {
                        return Err(here(format!(
                            "slot {i}: free summary disagrees with the child"
                        )));
                    }
                }
            }
        }
        Ok(entries)
    }
}
