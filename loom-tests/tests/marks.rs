//! Marked iteration vs mark changes and erases.
//!
//! `iter_marked_vs_clear_mark_and_tag_range` checks that mark summaries
//! stay usable for lock-free marked walks while a writer changes marks. The
//! two-level tree holds entries at 1 and 3 (one leaf) and 20 and 35 (two
//! more leaves); DIRTY is on 1, 3 and 20, TOWRITE on 20 and 35. The writer
//! clears DIRTY on 3 (the leaf's summary must stay, 1 is still dirty),
//! clears TOWRITE on 35 (that leaf's summary goes), then runs
//! `tag_range(.., DIRTY, TOWRITE)` (1 gains TOWRITE, summaries rise), all
//! under one lock acquisition. A reader walks DIRTY (one model) or TOWRITE
//! (a second model; one reader each keeps the state space small enough
//! for a preemption bound of 2) concurrently: entries marked throughout
//! (DIRTY: 1 and 20; TOWRITE: 20) are always yielded, each entry at most
//! once, in increasing order, and only entries that carried the mark at
//! some moment.
//!
//! `iter_marked_vs_erase` checks the rule "erase clears the entry's marks
//! before it publishes the empty slot" (the kernel's iteration_check_2):
//! DIRTY is on 1, 3 and 20; a writer erases 3 and then 1 (emptying and
//! unlinking their leaf). A DIRTY walk must still yield 20, and never an
//! entry it did not see marked. 20 is stored first, so that the leaf of 1
//! and 3 is a C2 (docs/sparse-nodes.md), which an erase leaves as it is
//! (a tombstone); stored in index order it would be Full, and the first
//! erase would shrink it, a conversion compact.rs's
//! `iter_marked_vs_erase_shrink` is about (and which makes this model
//! five times larger).
#![cfg(xradix_loom)]

use xradix::{Entry, Flags, Mark};
use xradix_loom_tests::*;

fn marked(xa: &Tree, mark: Mark, g: &xradix::Guard) -> Vec<u64> {
    xa.iter_marked(.., mark, g)
        .map(|(i, e)| {
            let _ = seen(Some(e), g);
            i
        })
        .collect()
}

fn assert_walk(walk: &[u64], always: &[u64], maybe: &[u64], what: &str) {
    assert!(
        walk.windows(2).all(|w| w[0] < w[1]),
        "{what}: not increasing or repeated: {walk:?}"
    );
    for i in always {
        assert!(
            walk.contains(i),
            "{what}: missed {i}, marked throughout: {walk:?}"
        );
    }
    for i in walk {
        assert!(
            always.contains(i) || maybe.contains(i),
            "{what}: yielded {i}: {walk:?}"
        );
    }
}

/// The tree of both `iter_marked_vs_clear_mark_and_tag_range` models.
fn marked_tree() -> (xradix::Collector, std::sync::Arc<Tree>) {
    let (collector, xa) = new_tree(Flags::empty());
    for i in [1, 3, 20, 35] {
        xa.store(i, Entry::Value(i)).unwrap();
    }
    for i in [1, 3, 20] {
        xa.set_mark(i, Mark::DIRTY);
    }
    for i in [20, 35] {
        xa.set_mark(i, Mark::TOWRITE);
    }
    (collector, xa)
}

/// The writer of both models: one lock acquisition for the three changes.
fn change_marks(xa: &Tree) {
    let locked = xa.lock();
    locked.clear_mark(3, Mark::DIRTY);
    locked.clear_mark(35, Mark::TOWRITE);
    assert_eq!(locked.tag_range(.., Mark::DIRTY, Mark::TOWRITE), 2);
}

#[test]
fn iter_marked_vs_clear_mark_and_tag_range_dirty_walk() {
    model(
        "iter_marked_vs_clear_mark_and_tag_range (DIRTY walk)",
        || {
            let (collector, xa) = marked_tree();
            let dirty = reader(&collector, &xa, |xa, g| marked(xa, Mark::DIRTY, g));
            let w = writer(&xa, change_marks);
            w.join().unwrap();
            assert_walk(&dirty.join().unwrap(), &[1, 20], &[3], "DIRTY walk");
            xa.check_invariants();
        },
    );
}

#[test]
fn iter_marked_vs_clear_mark_and_tag_range_towrite_walk() {
    model(
        "iter_marked_vs_clear_mark_and_tag_range (TOWRITE walk)",
        || {
            let (collector, xa) = marked_tree();
            let towrite = reader(&collector, &xa, |xa, g| marked(xa, Mark::TOWRITE, g));
            let w = writer(&xa, change_marks);
            w.join().unwrap();
            assert_walk(&towrite.join().unwrap(), &[20], &[1, 35], "TOWRITE walk");
            xa.check_invariants();
        },
    );
}

#[test]
fn iter_marked_vs_erase() {
    model("iter_marked_vs_erase", || {
        let (collector, xa) = new_tree(Flags::empty());
        for i in [20, 1, 3] {
            xa.store(i, Entry::Value(i)).unwrap();
            xa.set_mark(i, Mark::DIRTY);
        }
        // 1 and 3 share a C2 (a Single grown), so neither erase converts it.
        assert_eq!(xa.conversion_stats(), [0, 1, 0, 0, 0, 0]);

        let dirty = reader(&collector, &xa, |xa, g| marked(xa, Mark::DIRTY, g));
        let w = writer(&xa, |xa| {
            xa.erase(3);
            xa.erase(1);
        });
        w.join().unwrap();

        assert_walk(&dirty.join().unwrap(), &[20], &[1, 3], "DIRTY walk");
        xa.check_invariants();
    });
}
