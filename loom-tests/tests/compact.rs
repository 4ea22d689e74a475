//! Readers vs the compact bottom nodes and their conversions
//! (docs/sparse-nodes.md, phase 1a).
//!
//! Under loom, nodes have 16 slots and the bottom kinds are Single (C1),
//! C2, C4 and then Full. Every tree here has a Full top at shift 4 and one
//! bottom node for indices 48..=63 (block 3), made by the stores before
//! the threads; the setup asserts which conversions those made, and each
//! model asserts the conversion its writer makes, so that a change of the
//! creation or conversion rules cannot quietly turn a model into another.
//!
//! - `load_vs_append_in_place`: a C4 holding 49, 50, 51; the writer
//!   appends 53 (slot, then the `present` bit; no conversion). The reader
//!   loads 53 (nothing or the new value) and 49 (always its value).
//! - `load_vs_insert_below_rebuild`: a C4 holding 49, 51, 53; the writer
//!   stores 50, below the highest offset: a new C4 is built, published in
//!   the top's slot, and the old one's slots become retry entries. The
//!   reader loads 49 (always its value) and 50 (nothing or the value).
//! - `load_vs_grow_to_full`: a C4 holding 49..=52 (52 an item); the writer
//!   stores 53: no position is left, and five entries do not fit a C4, so
//!   the node becomes Full. The reader loads 52 (the item, intact and not
//!   dropped: the retired shell frees no item) and 53.
//! - `iter_across_insert_below`: a C4 holding 49, 51, 53; the writer stores
//!   50; the reader iterates 48..=63 and must yield 49, 51 and 53 exactly
//!   once each, in increasing order, with 50 at most once between 49 and
//!   51 (a reader inside the retired node reads a retry entry and walks
//!   again from its last index).
//! - `cursor_next_across_grow`: a C2 holding 49 and 51 (full); the writer
//!   stores 50, which rebuilds the node as a C4; a `Cursor` stepping with
//!   `next` from 48 to 53 visits every index once, in order, and sees 49
//!   and 51 every time.
//! - `load_vs_shrink`: a C4 holding 49 and 52 (50 erased: a tombstone);
//!   the writer erases 49, which leaves one entry in four slots: the node
//!   shrinks to a C2 holding 52 (at position 0 instead of 2). The reader
//!   loads 52: always its value.
//! - `load_vs_shrink_full_to_compact`: a Full leaf holding 49, 50 (an
//!   item) and 52; the writer erases 52, which leaves two entries (the
//!   Full threshold with 16-slot nodes): the node becomes a C4. The reader
//!   loads 50: the item, intact and not dropped.
//! - `iter_marked_vs_erase_shrink`: a C4 holding 49 and 52, both DIRTY;
//!   the writer erases 49 (marks cleared before the slot), and the node
//!   shrinks to a C2 whose mark is copied by position. The reader's
//!   `iter_marked(50..=52)`, inside the node being replaced, yields 52
//!   exactly once, with its value.
//! - `load_vs_to_full_for_siblings`: a C2 holding 49 and 51; the writer
//!   stores an order-1 entry at 52..=53, which needs a sibling slot: the
//!   node is rebuilt Full with the entry in it. The reader loads 49 (always
//!   its value) and 53 (nothing, or the new entry, never a sibling word).
//!
//! The deliberately broken build (`--cfg xradix_loom_broken_convert`, see
//! broken_convert_publish.rs and .ci/loom.sh) weakens the store that
//! publishes a converted node to Relaxed, and loom must fail that model.
#![cfg(xradix_loom)]

use xradix::{Entry, Flags, Mark};
use xradix_loom_tests::*;

/// `[insert_below, grow, grow_to_full, to_full_for_siblings, shrink,
/// full_to_compact]`.
fn stats(xa: &Tree) -> [usize; 6] {
    xa.conversion_stats()
}

/// The end of a model whose tree held item 0: the invariants hold, and
/// once the tree and its collector are gone the item was dropped exactly
/// once (a retired shell must not drop the items its copy took over).
fn dropped_once(xa: std::sync::Arc<Tree>, collector: xradix::Collector, drops: &Drops) {
    xa.check_invariants();
    drop(xa);
    drop(collector);
    assert_eq!(
        drops.count(0),
        1,
        "the item was dropped {} times",
        drops.count(0)
    );
}

/// A tree whose block 3 holds values at `indices` (stored in that order).
fn block_with(indices: &[u64]) -> (xradix::Collector, std::sync::Arc<Tree>) {
    // The models here are about conversions: shrinks on (see
    // `Flags::LOOM_SHRINK`).
    let (collector, xa) = new_tree(Flags::LOOM_SHRINK);
    for &i in indices {
        xa.store(i, Entry::Value(i)).unwrap();
    }
    (collector, xa)
}

#[test]
fn load_vs_append_in_place() {
    model("compact_load_vs_append_in_place", || {
        // 49: Single; 50: grow to C2; 51: grow to C4 (one position free).
        let (collector, xa) = block_with(&[49, 50, 51]);
        assert_eq!(stats(&xa), [0, 2, 0, 0, 0, 0]);
        let r = reader(&collector, &xa, |xa, g| [load(xa, 53, g), load(xa, 49, g)]);
        let w = writer(&xa, |xa| {
            xa.store(53, Entry::Value(53)).unwrap();
        });
        w.join().unwrap();
        let [new, old] = r.join().unwrap();
        assert!(
            matches!(new, Seen::None | Seen::Value(53)),
            "load(53) saw {new:?}"
        );
        assert_eq!(old, Seen::Value(49), "load(49) during an append");
        assert_eq!(stats(&xa), [0, 2, 0, 0, 0, 0], "the append converted");
        xa.check_invariants();
    });
}

#[test]
fn load_vs_insert_below_rebuild() {
    model("compact_load_vs_insert_below_rebuild", || {
        // 49: Single; 51: grow to C2; 53: grow to C4 {1, 3, 5}.
        let (collector, xa) = block_with(&[49, 51, 53]);
        assert_eq!(stats(&xa), [0, 2, 0, 0, 0, 0]);
        let r = reader(&collector, &xa, |xa, g| [load(xa, 49, g), load(xa, 50, g)]);
        let w = writer(&xa, |xa| {
            xa.store(50, Entry::Value(50)).unwrap();
        });
        w.join().unwrap();
        let [old, new] = r.join().unwrap();
        assert_eq!(old, Seen::Value(49), "load(49) during an insert-below");
        assert!(
            matches!(new, Seen::None | Seen::Value(50)),
            "load(50) saw {new:?}"
        );
        assert_eq!(
            stats(&xa),
            [1, 2, 0, 0, 0, 0],
            "the store was no insert-below"
        );
        xa.check_invariants();
    });
}

#[test]
fn load_vs_grow_to_full() {
    model("compact_load_vs_grow_to_full", || {
        let drops = Drops::new();
        let (collector, xa) = block_with(&[49, 50, 51]);
        xa.store(52, drops.item(0)).unwrap();
        // 52 appended in place: C4 {1, 2, 3, 4}, no position left.
        assert_eq!(stats(&xa), [0, 2, 0, 0, 0, 0]);
        let r = reader(&collector, &xa, |xa, g| [load(xa, 52, g), load(xa, 53, g)]);
        let w = writer(&xa, |xa| {
            xa.store(53, Entry::Value(53)).unwrap();
        });
        w.join().unwrap();
        let [item, new] = r.join().unwrap();
        assert_eq!(item, Seen::Item(0), "load(52) during a grow to Full");
        assert!(
            matches!(new, Seen::None | Seen::Value(53)),
            "load(53) saw {new:?}"
        );
        assert_eq!(
            stats(&xa),
            [0, 2, 1, 0, 0, 0],
            "the store was no grow to Full"
        );
        dropped_once(xa, collector, &drops);
    });
}

#[test]
fn iter_across_insert_below() {
    model("compact_iter_across_insert_below", || {
        let (collector, xa) = block_with(&[49, 51, 53]);
        let r = reader(&collector, &xa, |xa, g| {
            xa.range(48..=63, g)
                .map(|(i, e)| (i, seen(Some(e), g)))
                .collect::<Vec<_>>()
        });
        let w = writer(&xa, |xa| {
            xa.store(50, Entry::Value(50)).unwrap();
        });
        w.join().unwrap();
        let got = r.join().unwrap();
        let indices: Vec<u64> = got.iter().map(|p| p.0).collect();
        assert!(
            indices == [49, 51, 53] || indices == [49, 50, 51, 53],
            "range(48..=63) across an insert-below yielded {got:?}"
        );
        for (i, s) in got {
            assert_eq!(s, Seen::Value(i), "index {i}");
        }
        assert_eq!(stats(&xa), [1, 2, 0, 0, 0, 0]);
    });
}

#[test]
fn cursor_next_across_grow() {
    model("compact_cursor_next_across_grow", || {
        // 49: Single; 51: grow to C2 {1, 3}, full.
        let (collector, xa) = block_with(&[49, 51]);
        assert_eq!(stats(&xa), [0, 1, 0, 0, 0, 0]);
        let r = reader(&collector, &xa, |xa, g| {
            // The first `next` returns the cursor's own index (48).
            let mut c = xa.cursor(48, g);
            let mut got = Vec::new();
            loop {
                let e = c.next();
                got.push((c.index(), seen(e, g)));
                if c.index() >= 53 {
                    return got;
                }
            }
        });
        let w = writer(&xa, |xa| {
            // Offset 2 below 3: rebuilt at C4 (a grow, class 2 → 4).
            xa.store(50, Entry::Value(50)).unwrap();
        });
        w.join().unwrap();
        let got = r.join().unwrap();
        let indices: Vec<u64> = got.iter().map(|p| p.0).collect();
        assert_eq!(indices, [48, 49, 50, 51, 52, 53], "cursor steps: {got:?}");
        for (i, s) in got {
            let ok = match i {
                49 | 51 => s == Seen::Value(i),
                50 => matches!(s, Seen::None | Seen::Value(50)),
                _ => s == Seen::None,
            };
            assert!(ok, "cursor at {i} saw {s:?}");
        }
        assert_eq!(stats(&xa), [0, 2, 0, 0, 0, 0]);
    });
}

#[test]
fn load_vs_shrink() {
    model("compact_load_vs_shrink", || {
        // 49: Single; 50: grow to C2; 52: grow to C4; erase 50: a
        // tombstone, two entries left (more than a quarter of four).
        let (collector, xa) = block_with(&[49, 50, 52]);
        xa.erase(50);
        assert_eq!(stats(&xa), [0, 2, 0, 0, 0, 0]);
        let r = reader(&collector, &xa, |xa, g| load(xa, 52, g));
        let w = writer(&xa, |xa| {
            xa.erase(49);
        });
        w.join().unwrap();
        let kept = r.join().unwrap();
        assert_eq!(kept, Seen::Value(52), "load(52) during a shrink");
        assert_eq!(stats(&xa), [0, 2, 0, 0, 1, 0], "the erase was no shrink");
        xa.check_invariants();
    });
}

#[test]
fn load_vs_shrink_full_to_compact() {
    model("compact_load_vs_shrink_full_to_compact", || {
        let drops = Drops::new();
        let (collector, xa) = block_with(&[49]);
        xa.store(50, drops.item(0)).unwrap();
        for i in [51, 52, 53] {
            xa.store(i, Entry::Value(i)).unwrap();
        }
        // 53 grew the C4 to Full; two erases leave three entries (more than
        // the two at which a Full leaf shrinks with 16-slot nodes).
        xa.erase(53);
        xa.erase(51);
        assert_eq!(stats(&xa), [0, 2, 1, 0, 0, 0]);
        let r = reader(&collector, &xa, |xa, g| load(xa, 50, g));
        let w = writer(&xa, |xa| {
            xa.erase(52);
        });
        w.join().unwrap();
        let item = r.join().unwrap();
        assert_eq!(item, Seen::Item(0), "load(50) during a Full -> C4 shrink");
        assert_eq!(
            stats(&xa),
            [0, 2, 1, 0, 0, 1],
            "the erase was no Full -> C4"
        );
        dropped_once(xa, collector, &drops);
    });
}

#[test]
fn iter_marked_vs_erase_shrink() {
    model("compact_iter_marked_vs_erase_shrink", || {
        let (collector, xa) = block_with(&[49, 50, 52]);
        xa.erase(50);
        xa.set_mark(49, Mark::DIRTY);
        xa.set_mark(52, Mark::DIRTY);
        assert_eq!(stats(&xa), [0, 2, 0, 0, 0, 0]);
        let r = reader(&collector, &xa, |xa, g| {
            xa.iter_marked(50..=52, Mark::DIRTY, g)
                .map(|(i, e)| (i, seen(Some(e), g)))
                .collect::<Vec<_>>()
        });
        let w = writer(&xa, |xa| {
            xa.erase(49);
        });
        w.join().unwrap();
        let got = r.join().unwrap();
        let indices: Vec<u64> = got.iter().map(|p| p.0).collect();
        assert_eq!(
            indices,
            [52],
            "iter_marked(50..=52, DIRTY) across an erase and shrink yielded {got:?}"
        );
        for (i, s) in got {
            assert_eq!(s, Seen::Value(i), "index {i}");
        }
        assert_eq!(stats(&xa), [0, 2, 0, 0, 1, 0], "the erase was no shrink");
        assert!(xa.get_mark(52, Mark::DIRTY), "the shrink lost 52's mark");
        xa.check_invariants();
    });
}

#[test]
fn load_vs_to_full_for_siblings() {
    model("compact_load_vs_to_full_for_siblings", || {
        let (collector, xa) = block_with(&[49, 51]);
        let before = stats(&xa);
        let r = reader(&collector, &xa, |xa, g| [load(xa, 49, g), load(xa, 53, g)]);
        let w = writer(&xa, |xa| {
            xa.store_order(52, 1, Entry::Value(52)).unwrap();
        });
        w.join().unwrap();
        let [old, new] = r.join().unwrap();
        assert_eq!(old, Seen::Value(49), "load(49) during a rebuild to Full");
        assert!(
            matches!(new, Seen::None | Seen::Value(52)),
            "load(53) saw {new:?}"
        );
        let after = stats(&xa);
        assert_eq!(after[3], before[3] + 1, "the store was no rebuild to Full");
        assert_eq!(xa.get_order(53), 1);
        xa.check_invariants();
    });
}
