//! The leaf kinds smaller than a Full node (docs/sparse-nodes.md, phase
//! 1a: bottom level only): Single (C1) and Compact C2..C16.
//!
//! Both hold leaf words only (items, values, reserved entries, null),
//! never a node and never a sibling, so they have no sibling runs and no
//! change count. They live at shift 0.
//!
//! ```text
//! Single (16 bytes)              Compact<N> (24 + 8N bytes)
//! 0  header (shift,count,        0  header
//!    nr_values,kind)             4  reserved: u32
//! 4  offset: u8 (fixed)          8  present: AtomicU64
//! 5  marks: AtomicU8             16 marks: AtomicU64 (bit 16*m + p)
//! 8  slot: AtomicPtr             24 slots: [AtomicPtr; N]
//! ```
//!
//! In a Compact node, offset `o` has a *position* when bit `o` of
//! `present` is set: `p = popcount(present & ((1 << o) - 1))`, and its word
//! is `slots[p]`. Positions follow offset order. The rules that let a
//! reader go without a change count:
//!
//! - `present` only gains bits, and only above every bit it has (an
//!   append), so a position belongs to one offset for the node's life;
//! - an append stores the slot (Release) before the `present` bit
//!   (Release), so a reader that sees the bit (Acquire) finds the slot
//!   stored, or later stores to it;
//! - an erase leaves the bit (a tombstone) and stores null; a later store
//!   at that offset reuses the position;
//! - anything else (an offset below the highest present one, no free
//!   position, a multi-slot entry) builds a new node, publishes it with
//!   one Release store into the parent, and turns every non-null slot of
//!   the old one into a retry entry before it is freed through the
//!   collector (`Root::convert` in cursor/write.rs).
//!
//! Marks are kept by position (16 bits per mark in one word) and answered
//! in offset space: reading deposits the position bits onto the set bits
//! of `present` (pdep), writing extracts them (pext). A Single keeps one
//! bit per mark in a byte.

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;

use super::{low_mask, Node, NodeRef, C2, MAX_COMPACT, SINGLE, SLOTS};
use crate::entry::{self, Word, NULL, RETRY};
use crate::mark::MARKS;
use crate::sync::{AtomicPtr, AtomicU64, AtomicU8, Ordering};

/// The ordering of the parent (or head) store that publishes a converted
/// leaf: Release, except in the deliberately broken build that shows loom
/// catching a bug in a conversion (`--cfg xradix_loom_broken_convert`).
#[cfg(not(xradix_loom_broken_convert))]
pub(crate) const CONVERT_PUBLISH: Ordering = Ordering::Release;
#[cfg(xradix_loom_broken_convert)]
pub(crate) const CONVERT_PUBLISH: Ordering = Ordering::Relaxed;

/// Bits per mark in a Compact node's marks word: one per position.
const MARK_FIELD: u32 = 16;

#[repr(C)]
pub(super) struct Single {
    hdr: Node,
    /// The one offset this node can hold. Fixed at creation.
    offset: u8,
    /// Bit `m`: the entry carries mark `m`.
    marks: AtomicU8,
    slot: AtomicPtr<()>,
}

impl Single {
    pub(super) fn alloc(offset: usize) -> *mut Node {
        debug_assert!(offset < SLOTS);
        Box::into_raw(Box::new(Single {
            hdr: Node::header(0, SINGLE),
            offset: offset as u8,
            marks: AtomicU8::new(0),
            slot: AtomicPtr::new(NULL),
        }))
        .cast::<Node>()
    }
}

#[repr(C)]
pub(super) struct Compact<const N: usize> {
    hdr: Node,
    _reserved: u32,
    /// Bit `o`: offset `o` has a position. Only gains bits, above the
    /// highest it has.
    present: AtomicU64,
    /// Bit `16 * m + p`: position `p` carries mark `m`.
    marks: AtomicU64,
    slots: [AtomicPtr<()>; N],
}

/// The fixed part of every Compact node: what is read before the slots.
type Head = Compact<0>;

impl<const N: usize> Compact<N> {
    fn alloc(kind: u8) -> *mut Node {
        Box::into_raw(Box::new(Compact::<N> {
            hdr: Node::header(0, kind),
            _reserved: 0,
            present: AtomicU64::new(0),
            marks: AtomicU64::new(0),
            slots: core::array::from_fn(|_| AtomicPtr::new(NULL)),
        }))
        .cast::<Node>()
    }
}

/// The slots of a Compact class `kind` (1 for a Single).
pub(super) fn capacity(kind: u8) -> usize {
    match kind {
        SINGLE => 1,
        k => 2 << (k - C2),
    }
}

/// The smallest Compact class with at least `n` (2..=MAX_COMPACT) slots.
fn class_for(n: usize) -> u8 {
    debug_assert!((2..=MAX_COMPACT).contains(&n));
    C2 + (n.next_power_of_two().trailing_zeros() - 1) as u8
}

fn alloc_class(kind: u8) -> *mut Node {
    match capacity(kind) {
        2 => Compact::<2>::alloc(kind),
        4 => Compact::<4>::alloc(kind),
        8 => Compact::<8>::alloc(kind),
        16 => Compact::<16>::alloc(kind),
        n => unreachable!("no compact class of {n} slots"),
    }
}

/// # Safety
/// As for `Node::free`; `node` is a Single or Compact node.
pub(super) unsafe fn free(node: *mut Node) {
    // SAFETY: the caller's contract; the kind byte names the type the Box
    // was made with.
    unsafe {
        match (*node).kind {
            SINGLE => drop(Box::from_raw(node.cast::<Single>())),
            k => match capacity(k) {
                2 => drop(Box::from_raw(node.cast::<Compact<2>>())),
                4 => drop(Box::from_raw(node.cast::<Compact<4>>())),
                8 => drop(Box::from_raw(node.cast::<Compact<8>>())),
                16 => drop(Box::from_raw(node.cast::<Compact<16>>())),
                n => unreachable!("no compact class of {n} slots"),
            },
        }
    }
}

// Access. Every function below takes the node's pointer (which keeps the
// provenance of its whole allocation, see `NodeRef`) and is called only for
// a node of the kind it handles, which `NodeRef` checked.

fn kind(node: *const Node) -> u8 {
    // SAFETY: the header is first in every kind, and the node is allocated
    // (the `NodeRef` contract).
    unsafe { (*node).kind }
}

fn single<'a>(node: *const Node) -> &'a Single {
    debug_assert_eq!(kind(node), SINGLE);
    // SAFETY: a Single was allocated as one, and stays allocated while its
    // `NodeRef` is used.
    unsafe { &*node.cast::<Single>() }
}

fn head<'a>(node: *const Node) -> &'a Head {
    debug_assert!(kind(node) >= C2);
    // SAFETY: every Compact class begins with `Head`'s fields (`repr(C)`,
    // the slots last), so the first 24 bytes of the allocation are a `Head`.
    unsafe { &*node.cast::<Head>() }
}

/// Slot `p` of a Compact node; `p` below its capacity.
fn slot<'a>(node: *const Node, p: usize) -> &'a AtomicPtr<()> {
    debug_assert!(p < capacity(kind(node)));
    // SAFETY: the slots array starts right after `Head`'s fields in every
    // class (`repr(C)`), and `p` is within the class's `N`: the address is
    // inside the allocation, reached from a pointer that carries its
    // provenance. `addr_of!` makes no reference to the whole node.
    unsafe {
        let slots = core::ptr::addr_of!((*node.cast::<Head>()).slots).cast::<AtomicPtr<()>>();
        &*slots.add(p)
    }
}

/// The position of `offset` among the bits of `present`.
#[inline]
fn position(present: u64, offset: usize) -> usize {
    (present & low_mask(offset as u32)).count_ones() as usize
}

/// Scatters the low bits of `field` onto the set bits of `present` (pdep):
/// position bits to offset bits.
fn deposit(mut field: u64, mut present: u64) -> u64 {
    let mut out = 0;
    while field != 0 && present != 0 {
        let low = present & present.wrapping_neg();
        if field & 1 != 0 {
            out |= low;
        }
        field >>= 1;
        present &= present - 1;
    }
    out
}

/// Gathers the bits of `mask` found at the set bits of `present` into the
/// low bits (pext): offset bits to position bits.
fn extract(mask: u64, mut present: u64) -> u64 {
    let mut out = 0;
    let mut p = 0;
    while present != 0 && mask & present != 0 {
        let low = present & present.wrapping_neg();
        if mask & low != 0 {
            out |= 1 << p;
        }
        p += 1;
        present &= present - 1;
    }
    out
}

/// The word at `offset`: null where it has no position.
///
/// `present` Acquire: pairs with the Release store that added the bit, so
/// the slot store made before it is visible; the slot Acquire pairs with
/// the store that published its word (see `NodeRef::load`).
#[inline(never)]
pub(super) fn load(node: *const Node, offset: usize) -> Word {
    if kind(node) == SINGLE {
        let s = single(node);
        if s.offset as usize != offset {
            return NULL;
        }
        return s.slot.load(Ordering::Acquire);
    }
    let present = head(node).present.load(Ordering::Acquire);
    if present & (1 << offset) == 0 {
        return NULL;
    }
    slot(node, position(present, offset)).load(Ordering::Acquire)
}

/// [`load`] for a reader that will act on the word: a sibling cannot be
/// here, and reads as a retry entry (walk again) in a release build.
#[inline(never)]
pub(super) fn load_covering(node: *const Node, offset: usize) -> Word {
    let w = load(node, offset);
    if entry::is_sibling(w) || (entry::is_node(w) && w != RETRY) {
        debug_assert!(false, "a compact leaf holds {w:p}");
        return RETRY;
    }
    w
}

#[inline(never)]
pub(super) fn can_take(node: *const Node, offset: usize) -> bool {
    if kind(node) == SINGLE {
        return single(node).offset as usize == offset;
    }
    // Relaxed: writers only, reading their own stores under the lock.
    let present = head(node).present.load(Ordering::Relaxed);
    present & (1 << offset) != 0
        || (present < 1 << offset && (present.count_ones() as usize) < capacity(kind(node)))
}

/// Writers only: see `NodeRef::publish`.
#[inline(never)]
pub(super) fn publish(node: *const Node, offset: usize, word: Word) {
    if kind(node) == SINGLE {
        let s = single(node);
        if s.offset as usize == offset {
            // Release: as in `NodeRef::publish`.
            s.slot.store(word, Ordering::Release);
        } else {
            debug_assert!(
                word.is_null(),
                "store at {offset} into a Single for {}",
                s.offset
            );
        }
        return;
    }
    let h = head(node);
    // Relaxed: writers only, under the lock.
    let present = h.present.load(Ordering::Relaxed);
    let bit = 1u64 << offset;
    if present & bit != 0 {
        // Release: as in `NodeRef::publish`.
        slot(node, position(present, offset)).store(word, Ordering::Release);
        return;
    }
    if word.is_null() {
        return;
    }
    debug_assert!(can_take(node, offset), "no position for offset {offset}");
    // An append: the slot first, then the bit. Release on the slot, as in
    // `NodeRef::publish`; Release on `present`: a reader whose Acquire
    // load sees the bit also sees the slot's word.
    slot(node, present.count_ones() as usize).store(word, Ordering::Release);
    h.present.store(present | bit, Ordering::Release);
}

/// Mark `m` in offset space. The marks word is loaded (Relaxed, marks are
/// hints: see `NodeRef::marks`) before `present` (Acquire): a `present`
/// read later can only have more bits at the top, whose positions the
/// marks word read earlier had not marked yet (new entries carry no
/// marks), so every bit lands on the offset it belongs to.
#[inline(never)]
pub(super) fn marks(node: *const Node, m: usize) -> u64 {
    if kind(node) == SINGLE {
        let s = single(node);
        let bits = s.marks.load(Ordering::Relaxed);
        return (((bits >> m) & 1) as u64) << s.offset;
    }
    let h = head(node);
    let field = (h.marks.load(Ordering::Relaxed) >> (MARK_FIELD * m as u32)) & 0xffff;
    if field == 0 {
        return 0;
    }
    deposit(field, h.present.load(Ordering::Acquire))
}

/// Sets (or clears) the offsets of `mask` in mark `m`; returns the old
/// bitmap in offset space. Writers only; plain load and store, Relaxed, as
/// in `NodeRef::set_marks`.
#[inline(never)]
pub(super) fn change_marks(node: *const Node, m: usize, mask: u64, set: bool) -> u64 {
    let old = marks(node, m);
    if kind(node) == SINGLE {
        let s = single(node);
        if mask & (1 << s.offset) != 0 {
            let bits = s.marks.load(Ordering::Relaxed);
            let bit = 1u8 << m;
            s.marks.store(
                if set { bits | bit } else { bits & !bit },
                Ordering::Relaxed,
            );
        }
        return old;
    }
    let h = head(node);
    let present = h.present.load(Ordering::Relaxed);
    let field = extract(mask, present) << (MARK_FIELD * m as u32);
    if field != 0 {
        let word = h.marks.load(Ordering::Relaxed);
        h.marks.store(
            if set { word | field } else { word & !field },
            Ordering::Relaxed,
        );
    }
    old
}

/// Calls `f(offset, word)` for every non-null slot, in offset order.
/// Writers only (Relaxed loads of their own stores, under the lock).
pub(super) fn for_each_live(node: *const Node, mut f: impl FnMut(usize, Word)) {
    if kind(node) == SINGLE {
        let s = single(node);
        let w = s.slot.load(Ordering::Relaxed);
        if !w.is_null() {
            f(s.offset as usize, w);
        }
        return;
    }
    let mut present = head(node).present.load(Ordering::Relaxed);
    let mut p = 0;
    while present != 0 {
        let offset = present.trailing_zeros() as usize;
        let w = slot(node, p).load(Ordering::Relaxed);
        if !w.is_null() {
            f(offset, w);
        }
        present &= present - 1;
        p += 1;
    }
}

/// The first non-null offset at or after `from` (a reader's scan).
#[inline(never)]
pub(super) fn next_used(node: *const Node, from: usize) -> Option<(usize, Word)> {
    if from >= SLOTS {
        return None;
    }
    if kind(node) == SINGLE {
        let s = single(node);
        let offset = s.offset as usize;
        if offset < from {
            return None;
        }
        let w = s.slot.load(Ordering::Acquire);
        return (!w.is_null()).then_some((offset, w));
    }
    // Acquire: as in `load`.
    let present = head(node).present.load(Ordering::Acquire);
    let mut bits = present & !low_mask(from as u32);
    let mut p = position(present, from);
    while bits != 0 {
        let offset = bits.trailing_zeros() as usize;
        let w = slot(node, p).load(Ordering::Acquire);
        if !w.is_null() {
            return Some((offset, w));
        }
        bits &= bits - 1;
        p += 1;
    }
    None
}

/// The last non-null offset at or before `upto` (a reader's reverse scan).
#[inline(never)]
pub(super) fn prev_used(node: *const Node, upto: usize) -> Option<(usize, Word)> {
    if kind(node) == SINGLE {
        let s = single(node);
        let offset = s.offset as usize;
        if offset > upto {
            return None;
        }
        let w = s.slot.load(Ordering::Acquire);
        return (!w.is_null()).then_some((offset, w));
    }
    // Acquire: as in `load`.
    let present = head(node).present.load(Ordering::Acquire);
    let mut bits = present & low_mask(upto as u32 + 1);
    while bits != 0 {
        let offset = 63 - bits.leading_zeros() as usize;
        let w = slot(node, position(present, offset)).load(Ordering::Acquire);
        if !w.is_null() {
            return Some((offset, w));
        }
        bits &= !(1 << offset);
    }
    None
}

/// A Compact node of the class for `live` positions (2..=MAX_COMPACT)
/// holding the live entries of `old` with their marks, and a tombstone
/// for `reserve`. Private until published; counts are the caller's.
pub(super) fn rebuild(old: *const Node, live: usize, reserve: usize) -> *mut Node {
    let new = alloc_class(class_for(live.max(2)));
    let mut present = 1u64 << reserve;
    for_each_live(old, |offset, _| present |= 1 << offset);
    let h = head(new);
    // Relaxed stores: nobody can see the node before the Release store
    // that links it.
    h.present.store(present, Ordering::Relaxed);
    for_each_live(old, |offset, w| {
        slot(new, position(present, offset)).store(w, Ordering::Relaxed);
    });
    let mut word = 0;
    for m in 0..MARKS {
        word |= extract(marks(old, m), present) << (MARK_FIELD * m as u32);
    }
    h.marks.store(word, Ordering::Relaxed);
    new
}

/// A Compact node of the smallest class with `slots` positions
/// (2..=MAX_COMPACT), whose positions are the set bits of `present`,
/// holding `words` (one per position, in offset order) and the marks
/// `marks` (offset space, one bitmap per mark). Private until published;
/// counts are the caller's.
pub(super) fn build(present: u64, words: &[Word], slots: usize, marks: &[u64; MARKS]) -> *mut Node {
    debug_assert_eq!(present.count_ones() as usize, words.len());
    let new = alloc_class(class_for(slots.max(2)));
    debug_assert!(words.len() <= capacity(kind(new)));
    let h = head(new);
    // Relaxed stores: nobody can see the node before the Release store
    // that links it.
    h.present.store(present, Ordering::Relaxed);
    for (p, &w) in words.iter().enumerate() {
        debug_assert!(!entry::is_sibling(w) && !entry::is_node(w));
        slot(new, p).store(w, Ordering::Relaxed);
    }
    let mut word = 0;
    for (m, &bits) in marks.iter().enumerate() {
        // Marks live on entries only, so no bit lies outside `present`.
        word |= extract(bits, present) << (MARK_FIELD * m as u32);
    }
    h.marks.store(word, Ordering::Relaxed);
    new
}

/// See `NodeRef::retry_all`.
pub(super) fn retry_all(node: *const Node) {
    let n = if kind(node) == SINGLE {
        1
    } else {
        head(node).present.load(Ordering::Relaxed).count_ones() as usize
    };
    for p in 0..n {
        let s = if kind(node) == SINGLE {
            &single(node).slot
        } else {
            slot(node, p)
        };
        // Relaxed load: our own stores, under the lock.
        if !s.load(Ordering::Relaxed).is_null() {
            // Release: a reader that finds the retry entry and walks again
            // from the head sees the store that unlinked the node.
            s.store(RETRY, Ordering::Release);
        }
    }
}

/// See `NodeRef::check_layout`.
pub(super) fn check_layout(node: *const Node) -> Result<(), String> {
    let k = kind(node);
    if k > C2 + MAX_COMPACT.trailing_zeros() as u8 - 1 {
        return Err(format!("invalid kind byte {k}"));
    }
    // SAFETY: allocated, as for every `NodeRef`.
    let shift = unsafe { (*node).shift };
    if shift != 0 {
        return Err(format!("a compact node (kind {k}) at shift {shift}"));
    }
    let n = NodeRef(node);
    if n.count() > capacity(k) {
        return Err(format!("kind {k} has count {}", n.count()));
    }
    if k == SINGLE {
        let s = single(node);
        if s.offset as usize >= SLOTS {
            return Err(format!("Single for offset {}", s.offset));
        }
        let marks = s.marks.load(Ordering::Relaxed);
        if marks >> MARKS != 0 {
            return Err(format!("Single has mark bits {marks:#b}"));
        }
        return Ok(());
    }
    let present = head(node).present.load(Ordering::Relaxed);
    let used = present.count_ones() as usize;
    if used > capacity(k) || present & !low_mask(SLOTS as u32) != 0 {
        return Err(format!("kind {k} has present {present:#x}"));
    }
    for p in 0..capacity(k) {
        let w = slot(node, p).load(Ordering::Relaxed);
        if p >= used && !w.is_null() {
            return Err(format!(
                "position {p} past present {present:#x} holds {w:p}"
            ));
        }
        if entry::is_internal(w) && w != entry::ZERO {
            return Err(format!("position {p} holds the internal word {w:p}"));
        }
    }
    let word = head(node).marks.load(Ordering::Relaxed);
    for m in 0..MARKS {
        let field = (word >> (MARK_FIELD * m as u32)) & 0xffff;
        if field >> used != 0 {
            return Err(format!(
                "mark {m} set at a position past present: {field:#b}"
            ));
        }
    }
    if word >> (MARK_FIELD * MARKS as u32) != 0 {
        return Err(format!("marks word {word:#x} has bits past the last mark"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deposit_and_extract_are_inverse() {
        let present = 0b1011_0010_0001u64;
        for field in 0..16u64 {
            let offsets = deposit(field, present);
            assert_eq!(offsets & !present, 0);
            assert_eq!(extract(offsets, present), field);
        }
        assert_eq!(deposit(0b101, present), 0b1_0000_0001);
    }

    #[test]
    fn classes_and_sizes() {
        assert_eq!(core::mem::size_of::<Single>(), 16);
        assert_eq!(core::mem::size_of::<Compact<2>>(), 40);
        assert_eq!(core::mem::size_of::<Compact<16>>(), 152);
        assert_eq!(capacity(class_for(2)), 2);
        assert_eq!(capacity(class_for(3)), 4);
        assert_eq!(capacity(class_for(MAX_COMPACT)), MAX_COMPACT);
    }

    #[test]
    fn append_reuse_rebuild_and_marks_by_position() {
        let single = Single::alloc(5);
        let s = NodeRef(single);
        assert!(s.can_take(5) && !s.can_take(4));
        let v = |x: u64| entry::value_word(x);
        s.publish(5, v(5));
        s.set_count(1);
        s.set_marks(1, 1 << 5);
        assert_eq!((s.load(5), s.load(4), s.marks(1)), (v(5), NULL, 1 << 5));
        // Insert below: a C2 with 3 reserved.
        let c = NodeRef(s.rebuild(3, false));
        assert!(c.can_take(3) && !c.can_take(2) && c.kind() == C2);
        c.publish(3, v(3));
        c.set_count(2);
        assert_eq!((c.load(3), c.load(5), c.marks(1)), (v(3), v(5), 1 << 5));
        assert_eq!(c.next_used(4), Some((5, v(5))));
        assert_eq!(c.prev_used(4), Some((3, v(3))));
        // Full: grows into a C4 by rebuild, then appends.
        assert!(!c.can_take(9));
        let c4 = NodeRef(c.rebuild(9, false));
        c4.publish(9, v(9));
        c4.publish(12, v(12));
        c4.set_count(4);
        c4.set_marks(0, 1 << 12 | 1 << 3);
        assert_eq!(c4.marks(0), 1 << 12 | 1 << 3);
        c4.clear_marks(0, 1 << 3);
        assert_eq!((c4.marks(0), c4.marks(1)), (1 << 12, 1 << 5));
        // Erase leaves a tombstone that is reused.
        c4.publish(5, NULL);
        assert!(c4.can_take(5) && c4.load(5).is_null() && !c4.can_take(13));
        c4.publish(5, v(50));
        assert_eq!(c4.load(5), v(50));
        assert!(c4.check_layout().is_ok());
        let full = NodeRef(c4.rebuild(0, true));
        assert!(full.is_full());
        assert_eq!(
            (full.load(12), full.marks(0), full.marks(1)),
            (v(12), 1 << 12, 1 << 5)
        );
        c4.retry_all();
        assert_eq!(c4.load(3), RETRY);
        for n in [single, c.0.cast_mut(), c4.0.cast_mut(), full.0.cast_mut()] {
            // SAFETY: made above, never shared.
            unsafe { Node::free(n) };
        }
    }

    #[test]
    fn shrink_keeps_entries_marks_and_counts() {
        let v = |x: u64| entry::value_word(x);
        // A Full leaf with two entries (the Full threshold of 16-slot
        // nodes), marked: shrunk to a C4 (2 * 2).
        let full = NodeRef(Node::alloc(0));
        for o in [2, 7] {
            full.init_slot(o, v(o as u64));
        }
        full.set_count(2);
        full.set_nr_values(2);
        full.set_marks(0, 1 << 7);
        full.set_marks(2, 1 << 2 | 1 << 7);
        let c = NodeRef(full.shrunk().unwrap());
        assert_eq!((c.capacity(), c.count(), c.nr_values()), (4, 2, 2));
        assert_eq!((c.load(2), c.load(7), c.load(3)), (v(2), v(7), NULL));
        assert_eq!(
            (c.marks(0), c.marks(1), c.marks(2)),
            (1 << 7, 0, 1 << 2 | 1 << 7)
        );
        assert!(c.check_layout().is_ok());
        // The old Full node gets a retry entry in every slot, holes too (a
        // cursor may keep it from an earlier call).
        full.retry_all();
        assert_eq!((full.load(7), full.load(8)), (RETRY, RETRY));
        // The C4 left with one entry and a tombstone: a C2, the tombstone
        // gone, the mark by its new position.
        c.clear_marks(2, 1 << 2);
        c.publish(2, NULL);
        c.set_count(1);
        c.set_nr_values(1);
        let c2 = NodeRef(c.shrunk().unwrap());
        assert_eq!((c2.capacity(), c2.count(), c2.load(7)), (2, 1, v(7)));
        assert_eq!((c2.marks(0), c2.marks(2)), (1 << 7, 1 << 7));
        assert!(c2.can_take(8) && !c2.can_take(2));
        // A Full leaf holding a sibling run does not shrink.
        let runs = NodeRef(Node::alloc(0));
        runs.init_slot(4, v(4));
        runs.init_slot(5, entry::sibling(4));
        runs.set_count(2);
        assert!(runs.shrunk().is_none());
        for n in [full, c, c2, runs] {
            // SAFETY: made above, never shared.
            unsafe { Node::free(n.0.cast_mut()) };
        }
    }
}
