//! Batched lookups: many independent walks interleaved level by level, so
//! that their cache misses overlap (the engine under
//! [`XArray::load_many`](crate::XArray::load_many)).
//!
//! A single lookup in a large tree is a chain of dependent loads: each
//! node's address comes out of the previous node, so a walk of four levels
//! waits for up to four cache misses one after another, and the core sits
//! idle for most of the ~50 ns. Independent lookups have no such chain
//! between them. So a batch of walks takes one level at a time: first it
//! asks for the cache line of every slot the batch will read at this level
//! (a prefetch, which does not wait), then it reads them, by which time
//! the lines are arriving together. The misses of one level are paid once
//! for the whole batch instead of once per lookup.
//!
//! Each walk keeps the reader contract of [`lookup`](super::walk::lookup):
//! a sibling is followed under the node's change count, and a walk that
//! meets a retry entry, or a run being rewritten, is finished by a plain
//! `lookup` from the head.

use super::walk::lookup;
use super::Root;
use crate::entry::{self, Word, NULL, ZERO};
use crate::node::{self, Node, NodeRef};
use crate::sync::Ordering;

/// Lookups walked together. Enough to keep a core's ~16–24 outstanding
/// misses busy at the deep levels, small enough to stay in registers and
/// one cache line of indices.
pub(crate) const BATCH: usize = 32;

/// Looks up every index of `indices` (at most [`BATCH`]) and writes what
/// covers it, as [`lookup`] would, to the same position of `out`.
///
/// # Safety
/// As for [`lookup`]: the caller holds a guard pinned to the tree's
/// collector (or the lock) while the words in `out` are used.
pub(crate) unsafe fn lookup_batch(root: &Root, indices: &[u64], out: &mut [Word]) {
    let n = indices.len().min(BATCH).min(out.len());
    let (indices, out) = (&indices[..n], &mut out[..n]);
    // Acquire: pairs with the Release store that published the head.
    let head = root.head.load(Ordering::Acquire);
    if !entry::is_node(head) {
        for (w, &index) in out.iter_mut().zip(indices) {
            *w = if index == 0 { head } else { NULL };
        }
        return;
    }
    // SAFETY: loaded from the head under the caller's guard.
    let top = unsafe { NodeRef::from_word(head) };
    let max = node::max_index(top.shift());
    // Every walk starts at this top, and a child's shift is always its
    // parent's less one chunk, so the shift of the node each walk reads at
    // a level is known without loading its header: the slot's cache line is
    // the only miss a level costs.
    let mut shift = top.shift();
    // The walks still going down: where each one's answer goes, its
    // index, and the node it reads next. Finished walks drop out, so a
    // level touches only live ones.
    let mut pos = [0u8; BATCH];
    let mut idx = [0u64; BATCH];
    let mut at = [core::ptr::null::<Node>(); BATCH];
    let mut len = 0;
    for (i, (&index, w)) in indices.iter().zip(out.iter_mut()).enumerate() {
        *w = NULL;
        if index <= max {
            pos[len] = i as u8;
            idx[len] = index;
            at[len] = entry::as_node(head);
            len += 1;
        }
    }
    while len > 0 {
        let len_now = len.min(BATCH);
        // Ask for every slot this level will read; none of these waits.
        // Above the bottom level every node is Full, and the slot's line is
        // all a level reads. A bottom node may be of a smaller kind, whose
        // slots follow its header: its first line is asked for too (for a
        // Full leaf, the line its kind byte is read from).
        for k in 0..len_now {
            Node::prefetch_slot(at[k], node::offset_of(idx[k], shift));
            if shift == 0 {
                Node::prefetch(at[k]);
            }
        }
        // Read them: the lines are arriving together now.
        len = 0;
        for k in 0..len_now {
            // SAFETY: a node reached from the head under the guard.
            let node = unsafe { NodeRef::new(at[k]) };
            debug_assert_eq!(node.shift(), shift);
            let offset = node::offset_of(idx[k], shift);
            // Upper nodes are always Full (compact kinds are bottom nodes
            // only): their slot is read with no look at the header.
            let mut w = if shift > 0 {
                node.load_full(offset)
            } else {
                node.load(offset)
            };
            if entry::is_node(w) {
                pos[len] = pos[k];
                idx[len] = idx[k];
                at[len] = entry::as_node(w);
                len += 1;
                continue;
            }
            if entry::is_internal(w) && w != ZERO {
                // A sibling, followed under the node's change count; a
                // retry entry or a run being rewritten sends this one to
                // walk again on its own.
                w = match node.read_covering(offset, false) {
                    Some((_, x, _)) if entry::is_leaf(x) => x,
                    // SAFETY: the caller's contract.
                    _ => unsafe { lookup(root, idx[k]) },
                };
            }
            out[pos[k] as usize] = w;
        }
        shift = shift.saturating_sub(node::CHUNK_SHIFT);
    }
}
