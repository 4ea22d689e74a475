//! Lock-free reads inside a multi-order entry vs writers that replace it
//! (issue 10; the contract is "What a reader may see" in the API
//! document).
//!
//! A read of an index inside a multi-order entry loads the index's slot,
//! finds a sibling entry there, and loads the canonical slot it names. If,
//! between the two loads, a writer erases the multi-order entry and stores
//! an order-0 entry at the canonical index, the reader returns an entry
//! that never covered the index it asked for. These models check that this
//! cannot happen, on every read path that follows siblings. Every tree is
//! one 16-slot leaf: entries at 13, 14 and 15 keep it alive and Full
//! (without them the erase would empty the leaf and the tree would shrink
//! to its head, which sends readers back to the head through a retry
//! entry instead; with only one or two, the erase would leave at most two
//! entries, and the leaf would shrink to a compact node: a conversion,
//! which the models of compact.rs are about, not these).
//!
//! - `load_in_range_vs_erase_and_store_at_canonical` (`XArray::load`),
//!   `get_in_range_...` (`XArray::get`), `cursor_load_in_range_...`
//!   (`Cursor::load`): `store_order(0, 2, V1)` (indices 0..=3) before the
//!   threads; the writer does `erase(0); store(0, V2)`; the reader reads
//!   index 3 and must see V1 or nothing, never V2.
//! - `load_in_range_vs_sibling_word_coming_back`: the ABA case; a second
//!   writer then does `erase(0); store_order(0, 2, V3)`, which puts the
//!   very sibling word the reader followed back in slot 3. A validation
//!   that re-reads the sibling slot passes there; the reader must still
//!   see V1, V3 or nothing.
//! - `get_mark_in_range_vs_erase_and_store_marked_at_canonical`: the
//!   first writer then sets DIRTY on 0; `get_mark(3, DIRTY)` must be false
//!   (no entry that covered 3 ever carried DIRTY). The mark bit is read
//!   from the canonical slot after the entry, so validating the entry alone
//!   is not enough: the mark read must lie inside the validated window too.
//! - `get_order_vs_sibling_run_being_written`: order-0 entries at 0..=3
//!   before the threads; the writer does `store_order(0, 2, V1)`, which
//!   publishes the canonical slot and then the siblings one by one; only
//!   orders 0 and 2 ever cover index 1, so `get_order(1)` is 0 or 2.
//!   (Index 3 cannot show it: its slot is the last one written, so a reader
//!   that sees the sibling there sees the whole run.)
//! - `cursor_order_vs_sibling_run_being_written`: the same through
//!   `Cursor::order` on a fresh cursor at 1.
//! - `range_restart_stays_in_range`: `store_order(0, 2, V1)` before; the
//!   writer does `erase(0); store(1, V2)`; `range(2..=15)` must yield only
//!   indices in 2..=15, strictly increasing, and the entries at 13..=15. Today it
//!   yields V1 at 2 (walk left on the canonical slot 0), and the next step
//!   scans from slot 1, which lies before the range start, and yields V2
//!   at 1: out of range and backwards.
//! - `range_rev_yields_only_covering_entries`: `store_order(4, 2, V1)`
//!   (indices 4..=7) before; the writer does `erase(4); store(4, V2)`;
//!   `range(5..=6).rev()` must yield only V1 at 5, strictly decreasing, in
//!   range; never V2 (which only ever covered 4).
//!
//! Every model here fails on the read paths before the fix of issue 10,
//! within its first 104 executions; the whole file explores fully in a few
//! seconds once they pass. A fix that only re-reads the sibling slot after
//! the canonical one passes the three plain load models and the reverse
//! range, and fails the ABA, `get_mark`, `get_order` and forward-range
//! ones.
#![cfg(xradix_loom)]

use xradix::{Entry, Flags, Mark};
use xradix_loom_tests::*;

const V1: u64 = 1;
const V2: u64 = 2;
/// The last of the keep-alive entries (13, 14 and 15).
const KEEP: u64 = 15;

/// Stores the keep-alive entries 13, 14 and 15 (each its index).
fn keep_alive(xa: &Tree) {
    for i in KEEP - 2..=KEEP {
        xa.store(i, Entry::Value(i)).unwrap();
    }
}

/// A one-leaf tree: the keep-alive entries and `V1` of order 2 at 0.
fn order_2_at_0() -> (xradix::Collector, std::sync::Arc<Tree>) {
    let (collector, xa) = new_tree(Flags::empty());
    keep_alive(&xa);
    xa.store_order(0, 2, Entry::Value(V1)).unwrap();
    (collector, xa)
}

/// The writer of the sibling → canonical models: erase the order-2 entry,
/// then store an order-0 entry at its canonical index.
fn erase_and_store_at_0(xa: &std::sync::Arc<Tree>) -> loom::thread::JoinHandle<()> {
    writer(xa, |xa| {
        xa.erase(0);
        xa.store(0, Entry::Value(V2)).unwrap();
    })
}

fn assert_covering(seen: Seen, what: &str) {
    assert!(
        matches!(seen, Seen::None | Seen::Value(V1)),
        "{what}: index 3 read as {seen:?}; only V1 (order 2 at 0) or nothing ever covered it, \
         V2 was stored at 0 only"
    );
}

#[test]
fn load_in_range_vs_erase_and_store_at_canonical() {
    model("load_in_range_vs_erase_and_store_at_canonical", || {
        let (collector, xa) = order_2_at_0();
        let r = reader(&collector, &xa, |xa, g| load(xa, 3, g));
        let w = erase_and_store_at_0(&xa);
        w.join().unwrap();
        assert_covering(r.join().unwrap(), "load(3)");
        xa.check_invariants();
    });
}

#[test]
fn get_in_range_vs_erase_and_store_at_canonical() {
    model("get_in_range_vs_erase_and_store_at_canonical", || {
        let (collector, xa) = order_2_at_0();
        let r = reader(&collector, &xa, |xa, _| match xa.get(3) {
            None => Seen::None,
            Some(Entry::Value(v)) => Seen::Value(v),
            Some(Entry::Item(item)) => Seen::Item(item.id),
        });
        let w = erase_and_store_at_0(&xa);
        w.join().unwrap();
        assert_covering(r.join().unwrap(), "get(3)");
        xa.check_invariants();
    });
}

#[test]
fn cursor_load_in_range_vs_erase_and_store_at_canonical() {
    model(
        "cursor_load_in_range_vs_erase_and_store_at_canonical",
        || {
            let (collector, xa) = order_2_at_0();
            let r = reader(&collector, &xa, |xa, g| {
                let e = xa.cursor(3, g).load();
                seen(e, g)
            });
            let w = erase_and_store_at_0(&xa);
            w.join().unwrap();
            assert_covering(r.join().unwrap(), "cursor(3).load()");
            xa.check_invariants();
        },
    );
}

/// The ABA a fix must also survive: the sibling word the reader followed
/// comes back. Writer A does `erase(0); store(0, V2)`, writer B
/// `erase(0); store_order(0, 2, V3)`. A reader that loads slot 3 (sibling of
/// 0), then slot 0 (V2, after A), and then re-reads slot 3 to validate (after
/// B) finds the same sibling word again, although V2 never covered 3. Two
/// writer threads, so that each switch to a writer that runs to its end
/// costs one preemption, not two. Each writer holds the lock across its
/// two steps: otherwise B's `store_order` could land between A's erase and
/// A's store, which would then store V2 *into* V3's range (a store inside a
/// multi-order entry keeps its order), and V2 would rightly cover 3.
#[test]
fn load_in_range_vs_sibling_word_coming_back() {
    model("load_in_range_vs_sibling_word_coming_back", || {
        const V3: u64 = 3;
        let (collector, xa) = order_2_at_0();
        let r = reader(&collector, &xa, |xa, g| load(xa, 3, g));
        let a = writer(&xa, |xa| {
            let locked = xa.lock();
            locked.erase(0);
            locked.store(0, Entry::Value(V2)).unwrap();
        });
        let b = writer(&xa, |xa| {
            let locked = xa.lock();
            locked.erase(0);
            locked.store_order(0, 2, Entry::Value(V3)).unwrap();
        });
        a.join().unwrap();
        b.join().unwrap();
        let seen = r.join().unwrap();
        assert!(
            matches!(seen, Seen::None | Seen::Value(V1) | Seen::Value(V3)),
            "load(3) read as {seen:?}; only V1 and V3 (order 2 at 0) or nothing ever \
             covered it, V2 was stored at 0 only"
        );
        xa.check_invariants();
    });
}

#[test]
fn get_mark_in_range_vs_erase_and_store_marked_at_canonical() {
    model(
        "get_mark_in_range_vs_erase_and_store_marked_at_canonical",
        || {
            let (collector, xa) = order_2_at_0();
            let r = reader(&collector, &xa, |xa, _| xa.get_mark(3, Mark::DIRTY));
            let w = writer(&xa, |xa| {
                xa.erase(0);
                xa.store(0, Entry::Value(V2)).unwrap();
                xa.set_mark(0, Mark::DIRTY);
            });
            w.join().unwrap();
            assert!(
                !r.join().unwrap(),
                "get_mark(3, DIRTY) was true; no entry that covered 3 ever carried DIRTY \
                 (only V2, stored at 0 only, did)"
            );
            xa.check_invariants();
        },
    );
}

/// Order-0 entries at 0..=3 (their values are their indices, plus 10),
/// and the keep-alive entries.
fn four_order_0() -> (xradix::Collector, std::sync::Arc<Tree>) {
    let (collector, xa) = new_tree(Flags::empty());
    keep_alive(&xa);
    for i in 0..4 {
        xa.store(i, Entry::Value(10 + i)).unwrap();
    }
    (collector, xa)
}

#[test]
fn get_order_vs_sibling_run_being_written() {
    model("get_order_vs_sibling_run_being_written", || {
        let (collector, xa) = four_order_0();
        let r = reader(&collector, &xa, |xa, _| xa.get_order(1));
        let w = writer(&xa, |xa| {
            xa.store_order(0, 2, Entry::Value(V1)).unwrap();
        });
        w.join().unwrap();
        let order = r.join().unwrap();
        assert!(
            order == 0 || order == 2,
            "get_order(1) = {order}; only orders 0 and 2 ever covered index 1"
        );
        assert_eq!(xa.get_order(1), 2);
        xa.check_invariants();
    });
}

#[test]
fn cursor_order_vs_sibling_run_being_written() {
    model("cursor_order_vs_sibling_run_being_written", || {
        let (collector, xa) = four_order_0();
        let r = reader(&collector, &xa, |xa, g| xa.cursor(1, g).order());
        let w = writer(&xa, |xa| {
            xa.store_order(0, 2, Entry::Value(V1)).unwrap();
        });
        w.join().unwrap();
        let order = r.join().unwrap();
        assert!(
            order == 0 || order == 2,
            "cursor(1).order() = {order}; only orders 0 and 2 ever covered index 1"
        );
        xa.check_invariants();
    });
}

fn assert_in_range_increasing(got: &[(u64, Seen)], lo: u64, hi: u64, what: &str) {
    for &(i, _) in got {
        assert!(
            (lo..=hi).contains(&i),
            "{what}: yielded index {i} outside {lo}..={hi}: {got:?}"
        );
    }
    assert!(
        got.windows(2).all(|w| w[0].0 < w[1].0),
        "{what}: indices not strictly increasing: {got:?}"
    );
}

#[test]
fn range_restart_stays_in_range() {
    model("range_restart_stays_in_range", || {
        let (collector, xa) = order_2_at_0();
        let r = reader(&collector, &xa, |xa, g| {
            xa.range(2..=15, g)
                .map(|(i, e)| (i, seen(Some(e), g)))
                .collect::<Vec<_>>()
        });
        let w = writer(&xa, |xa| {
            xa.erase(0);
            xa.store(1, Entry::Value(V2)).unwrap();
        });
        w.join().unwrap();
        let got = r.join().unwrap();
        assert_in_range_increasing(&got, 2, 15, "range(2..=15)");
        // The keep-alive entries were there throughout.
        let keep: Vec<(u64, Seen)> = (KEEP - 2..=KEEP).map(|i| (i, Seen::Value(i))).collect();
        assert!(got.ends_with(&keep), "range(2..=15) yielded {got:?}");
        xa.check_invariants();
    });
}

#[test]
fn range_rev_yields_only_covering_entries() {
    model("range_rev_yields_only_covering_entries", || {
        let (collector, xa) = new_tree(Flags::empty());
        keep_alive(&xa);
        xa.store_order(4, 2, Entry::Value(V1)).unwrap();
        let r = reader(&collector, &xa, |xa, g| {
            xa.range(5..=6, g)
                .rev()
                .map(|(i, e)| (i, seen(Some(e), g)))
                .collect::<Vec<_>>()
        });
        let w = writer(&xa, |xa| {
            xa.erase(4);
            xa.store(4, Entry::Value(V2)).unwrap();
        });
        w.join().unwrap();
        let got = r.join().unwrap();
        assert!(
            got.iter()
                .all(|&(i, e)| (5..=6).contains(&i) && e == Seen::Value(V1)),
            "range(5..=6).rev(): yielded {got:?}; only V1 (order 2 at 4) ever covered 5..=6, \
             V2 was stored at 4 only"
        );
        assert!(
            got.len() <= 1,
            "range(5..=6).rev(): one entry covers the range, yielded {got:?}"
        );
        xa.check_invariants();
    });
}
