//! Batched lookups: many independent walks interleaved level by level, so
//! that their cache misses overlap (the engine under
//! [`XArray::load_many`](crate::XArray::load_many)).
//!
//! A single lookup in a large tree is a chain of dependent loads: each
//! node's address comes out of the previous node, so a walk of four levels
//! waits for up to four cache misses one after another, and the core sits
//! idle for most of the ~50 ns. Independent lookups have no such chain
//! between them. So a batch of walks takes one level at a time: as each
//! walk finds the child it goes down to, it asks for the cache line of the
//! slot it will read there (a prefetch, which does not wait) and lets the
//! next walk go; when the batch comes back to it at the next level, the
//! lines of the whole batch have been arriving together. The misses of
//! one level are paid once for the whole batch instead of once per lookup.
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
    // The top node is read by every batch and stays in the cache, so its
    // level is read as the batch is set up. Below it, each walk asks for
    // the slot it will read at the next level as soon as it knows the
    // child, and reads it one pass later, after the other walks of the
    // batch have asked for theirs: the misses of a level overlap, and a
    // level costs one pass over the live walks.
    let mut below = shift.saturating_sub(node::CHUNK_SHIFT);
    for (i, (&index, w)) in indices.iter().zip(out.iter_mut()).enumerate() {
        *w = NULL;
        if index <= max {
            // SAFETY: the caller's contract.
            match unsafe { read_level(root, top, index, shift, below) } {
                Ok(child) => {
                    pos[len] = i as u8;
                    idx[len] = index;
                    at[len] = child;
                    len += 1;
                }
                Err(found) => *w = found,
            }
        }
    }
    while len > 0 {
        shift = below;
        below = shift.saturating_sub(node::CHUNK_SHIFT);
        let len_now = len;
        len = 0;
        for k in 0..len_now {
            // SAFETY: a node reached from the head under the guard, and the
            // caller's contract.
            match unsafe { read_level(root, NodeRef::new(at[k]), idx[k], shift, below) } {
                Ok(child) => {
                    pos[len] = pos[k];
                    idx[len] = idx[k];
                    at[len] = child;
                    len += 1;
                }
                Err(found) => out[pos[k] as usize] = found,
            }
        }
    }
}

/// One walk's read at one level: the child node the walk goes down to
/// (with the slot it will read there already asked for), or the word that
/// covers `index`, its answer.
///
/// Upper nodes are always Full (compact kinds are bottom nodes only), so
/// their slot is read with no look at the header. A bottom node may be of a
/// smaller kind, whose slots follow its header: when the child is a bottom
/// node, its first line is asked for too (for a Full leaf, the line its
/// kind byte is read from).
///
/// # Safety
/// `node` was reached from the head under the caller's guard, as for
/// [`lookup_batch`].
#[inline(always)]
unsafe fn read_level(
    root: &Root,
    node: NodeRef,
    index: u64,
    shift: u32,
    below: u32,
) -> Result<*const Node, Word> {
    debug_assert_eq!(node.shift(), shift);
    let offset = node::offset_of(index, shift);
    let w = if shift > 0 {
        node.load_full(offset)
    } else {
        node.load(offset)
    };
    if entry::is_node(w) {
        let child = entry::as_node(w);
        Node::prefetch_slot(child, node::offset_of(index, below));
        if below == 0 {
            Node::prefetch(child);
        }
        return Ok(child);
    }
    if entry::is_internal(w) && w != ZERO {
        // A sibling, followed under the node's change count; a retry entry
        // or a run being rewritten sends this one to walk again on its own.
        return Err(match node.read_covering(offset, false) {
            Some((_, x, _)) if entry::is_leaf(x) => x,
            // SAFETY: the caller's contract.
            _ => unsafe { lookup(root, index) },
        });
    }
    Err(w)
}
