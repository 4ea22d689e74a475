//! Multi-order entries: one entry for 2^order aligned indices, `split`
//! that keeps marks, `store_range`, and how stores, erases, marks and
//! iterators treat an entry that covers many indices (issue 3).

#![allow(clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

use std::sync::Arc;
use std::time::Duration;

use xradix::{pin, Entry, EntryRef, Error, InvalidInput, Mark, XArray, CHUNK_SHIFT};

type Xa = XArray<String, u64>;

/// The largest order the issue asks every test to cover (smaller under
/// miri, where every load is interpreted).
fn max_order() -> u32 {
    if cfg!(miri) {
        CHUNK_SHIFT + 1
    } else {
        2 * CHUNK_SHIFT + 1
    }
}

fn v(x: u64) -> Entry<String, u64> {
    Entry::Value(x)
}

fn val(xa: &Xa, i: u64) -> Option<u64> {
    xa.get(i).map(|e| e.value().expect("a value entry"))
}

fn mask(order: u32) -> u64 {
    if order >= 64 {
        u64::MAX
    } else {
        (1u64 << order) - 1
    }
}

/// The fewest aligned pieces covering `first..=last`, in index order.
fn pieces(first: u64, last: u64) -> Vec<(u64, u32)> {
    let mut out = Vec::new();
    let mut i = first;
    loop {
        let mut order = if i == 0 {
            63
        } else {
            i.trailing_zeros().min(63)
        };
        while i + mask(order) > last {
            order -= 1;
        }
        out.push((i, order));
        let end = i + mask(order);
        if end >= last {
            return out;
        }
        i = end + 1;
    }
}

/// Flushes the default collector until `done()` holds, for up to ten
/// seconds: other tests' threads may hold the epoch back for a while.
fn flush_until(mut done: impl FnMut() -> bool) -> bool {
    let start = std::time::Instant::now();
    let mut i = 0u64;
    while start.elapsed() < Duration::from_secs(10) {
        if done() {
            return true;
        }
        pin().flush();
        i += 1;
        if i % 64 == 0 {
            std::thread::sleep(Duration::from_micros(100));
        }
    }
    done()
}

fn pairs<'g>(it: impl Iterator<Item = (u64, EntryRef<'g, String, u64>)>) -> Vec<(u64, u64)> {
    it.map(|(i, e)| (i, e.value().unwrap())).collect()
}

fn marks_at(xa: &Xa, i: u64) -> [bool; 3] {
    Mark::ALL.map(|m| xa.get_mark(i, m))
}

// ---------------------------------------------------------------------------
// store_order, load, get_order, erase.

#[test]
fn pieces_helper_is_right() {
    assert_eq!(pieces(0, 0), vec![(0, 0)]);
    assert_eq!(pieces(0, 15), vec![(0, 4)]);
    assert_eq!(pieces(3, 9), vec![(3, 0), (4, 2), (8, 1)]);
    assert_eq!(pieces(0, u64::MAX), vec![(0, 63), (1 << 63, 63)]);
    assert_eq!(pieces(u64::MAX, u64::MAX), vec![(u64::MAX, 0)]);
}

#[test]
fn every_order_at_several_aligned_indices() {
    for order in 0..=max_order() {
        let size = 1u64 << order;
        let bases = [0, size, 3 * size, (1u64 << 40) + (5 << order), !mask(order)];
        for base in bases {
            let ctx = format!("order {order} at {base}");
            let xa = Xa::new();
            let last = base + mask(order);
            // Sentinels one index either side.
            let mut sentinels = 0;
            if base > 0 {
                xa.store(base - 1, v(1)).unwrap();
                sentinels += 1;
            }
            if last < u64::MAX {
                xa.store(last + 1, v(2)).unwrap();
                sentinels += 1;
            }
            assert_eq!(xa.store_order(base, order, v(7)).unwrap(), None, "{ctx}");
            xa.check_invariants();
            assert_eq!(xa.len(), sentinels + 1, "{ctx}");
            for i in base..=last {
                assert_eq!(val(&xa, i), Some(7), "{ctx}: load at {i}");
                assert_eq!(xa.get_order(i), order, "{ctx}: get_order at {i}");
            }
            if base > 0 {
                assert_eq!(val(&xa, base - 1), Some(1), "{ctx}: below");
                assert_eq!(xa.get_order(base - 1), 0, "{ctx}");
            }
            if last < u64::MAX {
                assert_eq!(val(&xa, last + 1), Some(2), "{ctx}: above");
                assert_eq!(xa.get_order(last + 1), 0, "{ctx}");
            }
            let g = pin();
            let got: Vec<(u64, u64)> = xa
                .iter(&g)
                .map(|(i, e)| (i, e.value().unwrap()))
                .filter(|&(_, x)| x == 7)
                .collect();
            assert_eq!(got, vec![(base, 7)], "{ctx}: iter yields it once");
            // Erase from the middle: the whole range goes.
            let mid = base + size / 2;
            assert_eq!(xa.erase(mid), Some(v(7)), "{ctx}");
            xa.check_invariants();
            assert_eq!(xa.len(), sentinels, "{ctx}");
            for i in base..=last {
                assert_eq!(val(&xa, i), None, "{ctx}: {i} after erase");
                assert_eq!(xa.get_order(i), 0, "{ctx}: order at {i} after erase");
            }
            if base > 0 {
                assert_eq!(val(&xa, base - 1), Some(1), "{ctx}: below after erase");
            }
            if last < u64::MAX {
                assert_eq!(val(&xa, last + 1), Some(2), "{ctx}: above after erase");
            }
        }
    }
}

#[test]
fn every_order_side_by_side_in_one_tree() {
    // Entries of every order packed next to each other, then erased one by one.
    let xa = Xa::new();
    let mut placed = Vec::new();
    let mut next = 0u64;
    for order in (0..=max_order()).rev() {
        let base = (next + mask(order)) & !mask(order);
        xa.store_order(base, order, v(order as u64)).unwrap();
        xa.check_invariants();
        placed.push((base, order));
        next = base + (1 << order);
    }
    assert_eq!(xa.len(), placed.len());
    for &(base, order) in &placed {
        for i in [base, base + mask(order) / 2, base + mask(order)] {
            assert_eq!(val(&xa, i), Some(order as u64), "index {i}");
            assert_eq!(xa.get_order(i), order, "index {i}");
        }
    }
    let g = pin();
    let firsts: Vec<u64> = xa.iter(&g).map(|(i, _)| i).collect();
    assert_eq!(firsts, placed.iter().map(|p| p.0).collect::<Vec<_>>());
    for (n, &(base, order)) in placed.iter().enumerate() {
        assert_eq!(xa.erase(base + mask(order)), Some(v(order as u64)));
        xa.check_invariants();
        assert_eq!(xa.len(), placed.len() - n - 1);
    }
}

#[test]
fn store_order_misaligned_is_invalid_and_changes_nothing() {
    let xa = Xa::new();
    xa.store(0, v(0)).unwrap();
    for order in 1..=40u32 {
        let index = (1u64 << order) + (1 << (order - 1));
        let err = xa.store_order(index, order, v(1)).unwrap_err();
        assert_eq!(
            err,
            Error::Invalid {
                reason: InvalidInput::Misaligned { index, order }
            }
        );
    }
    assert!(xa.store_order(1, 1, v(1)).is_err());
    assert!(xa.store_order(u64::MAX, 1, v(1)).is_err());
    assert!(xa.store_order(1 << 62, 63, v(1)).is_err());
    assert_eq!(xa.len(), 1);
    xa.check_invariants();
}

#[test]
fn store_order_of_64_or_more_is_invalid() {
    let xa = Xa::new();
    for order in [64, 65, 100, u32::MAX] {
        assert_eq!(
            xa.store_order(0, order, v(1)).unwrap_err(),
            Error::Invalid {
                reason: InvalidInput::Order { order }
            }
        );
    }
    assert!(xa.is_empty());
}

#[test]
fn order_63_entries_cover_half_the_index_space() {
    let xa = Xa::new();
    xa.store_order(0, 63, v(1)).unwrap();
    xa.check_invariants();
    assert_eq!(val(&xa, (1 << 63) - 1), Some(1));
    assert_eq!(xa.get_order(12345), 63);
    assert_eq!(val(&xa, 1 << 63), None);
    xa.store_order(1 << 63, 63, v(2)).unwrap();
    xa.check_invariants();
    assert_eq!(val(&xa, u64::MAX), Some(2));
    assert_eq!(xa.len(), 2);
    assert_eq!(xa.erase(5), Some(v(1)));
    assert_eq!(val(&xa, 0), None);
    assert_eq!(val(&xa, 1 << 63), Some(2));
    xa.check_invariants();
    xa.split(u64::MAX, 62).unwrap();
    xa.check_invariants();
    assert_eq!(xa.get_order(1 << 63), 62);
    assert_eq!(xa.get_order(u64::MAX), 62);
    assert_eq!(xa.len(), 2);
}

#[test]
fn multi_order_entry_at_the_top_of_the_index_space() {
    let xa = Xa::new();
    let base = u64::MAX - 15;
    xa.store_order(base, 4, v(9)).unwrap();
    xa.store(0, v(0)).unwrap();
    let g = pin();
    let mut c = xa.cursor(u64::MAX - 1, &g);
    assert_eq!(c.next().and_then(|e| e.value()), Some(9));
    assert_eq!(c.next().and_then(|e| e.value()), Some(9));
    assert_eq!(c.index(), u64::MAX);
    assert_eq!(c.next().and_then(|e| e.value()), Some(0));
    assert_eq!(
        xa.range(u64::MAX.., &g).map(|(i, _)| i).collect::<Vec<_>>(),
        vec![u64::MAX]
    );
    xa.check_invariants();
}

#[test]
fn store_inside_a_multi_order_entry_replaces_it_whole_and_keeps_its_order() {
    for order in 1..=max_order() {
        let xa = Xa::new();
        let base = 3u64 << order;
        xa.store_order(base, order, v(1)).unwrap();
        xa.set_mark(base, Mark::DIRTY);
        let inside = base + mask(order);
        assert_eq!(xa.store(inside, v(2)).unwrap(), Some(v(1)), "order {order}");
        xa.check_invariants();
        assert_eq!(xa.len(), 1);
        for i in [base, base + mask(order) / 2, inside] {
            assert_eq!(val(&xa, i), Some(2), "order {order} index {i}");
            assert_eq!(xa.get_order(i), order);
            assert!(xa.get_mark(i, Mark::DIRTY), "store keeps marks");
        }
        assert_eq!(val(&xa, base - 1), None);
        assert_eq!(val(&xa, inside + 1), None);
    }
}

#[test]
fn store_order_inside_a_larger_entry_keeps_the_larger_order() {
    let xa = Xa::new();
    xa.store_order(256, 8, v(1)).unwrap();
    xa.set_mark(300, Mark::TOWRITE);
    assert_eq!(xa.store_order(272, 4, v(2)).unwrap(), Some(v(1)));
    xa.check_invariants();
    assert_eq!(xa.len(), 1);
    assert_eq!(xa.get_order(256), 8);
    assert_eq!(val(&xa, 511), Some(2));
    assert!(xa.get_mark(256, Mark::TOWRITE));
}

#[test]
fn insert_inside_a_multi_order_entry_is_busy() {
    let xa = Xa::new();
    xa.store_order(64, 6, v(1)).unwrap();
    assert!(matches!(
        xa.insert(100, v(2)),
        Err(Error::Busy { index: 100 })
    ));
    assert_eq!(val(&xa, 100), Some(1));
    let _ = xa.reserve(100);
    assert_eq!(val(&xa, 100), Some(1), "reserve leaves the entry alone");
    assert_eq!(xa.len(), 1);
    xa.check_invariants();
}

#[test]
fn cmpxchg_inside_a_multi_order_entry_acts_on_the_whole_entry() {
    let xa = Xa::new();
    xa.store_order(64, 6, v(1)).unwrap();
    assert_eq!(xa.cmpxchg(99, Some(&v(2)), Some(v(3))).unwrap(), Some(v(1)));
    assert_eq!(val(&xa, 64), Some(1));
    assert_eq!(xa.cmpxchg(99, Some(&v(1)), Some(v(3))).unwrap(), Some(v(1)));
    assert_eq!(val(&xa, 127), Some(3));
    assert_eq!(xa.get_order(64), 6);
    assert_eq!(xa.cmpxchg(70, Some(&v(3)), None).unwrap(), Some(v(3)));
    assert!(xa.is_empty());
    xa.check_invariants();
}

#[test]
fn erase_inside_a_multi_order_entry_without_split_removes_the_whole_range() {
    // The trap a hole punch falls into: split first.
    let xa = Xa::new();
    xa.store_order(512, 9, v(1)).unwrap();
    xa.set_mark(512, Mark::DIRTY);
    assert_eq!(xa.erase(700), Some(v(1)));
    assert!(xa.is_empty());
    assert!(!xa.has_mark(Mark::DIRTY));
    assert_eq!(val(&xa, 512), None);
    xa.check_invariants();
}

#[test]
fn store_order_over_several_entries_gets_the_union_of_their_marks() {
    let xa = Xa::new();
    for i in 0..16u64 {
        xa.store(i, v(i)).unwrap();
    }
    xa.set_mark(3, Mark::DIRTY);
    xa.set_mark(9, Mark::TOWRITE);
    xa.store(16, v(16)).unwrap(); // outside: its mark does not count
    xa.set_mark(16, Mark::MARK_2);
    xa.reserve(17).unwrap();
    xa.store_order(0, 4, v(100)).unwrap();
    xa.check_invariants();
    assert_eq!(xa.len(), 3);
    for i in 0..16 {
        assert_eq!(val(&xa, i), Some(100));
        assert_eq!(marks_at(&xa, i), [true, true, false], "index {i}");
    }
    assert_eq!(marks_at(&xa, 16), [false, false, true]);
    let g = pin();
    let dirty: Vec<u64> = xa
        .iter_marked(.., Mark::DIRTY, &g)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(dirty, vec![0]);
}

#[test]
fn store_order_across_nodes_gets_the_union_of_marks() {
    let xa = Xa::new();
    let order = 2 * CHUNK_SHIFT; // spans many leaf nodes
    let base = 1u64 << order;
    let last = base + mask(order);
    xa.store(base, v(1)).unwrap();
    xa.store(base + 100, v(2)).unwrap();
    xa.store_order(base + 64, 5, v(3)).unwrap();
    xa.store(last, v(4)).unwrap();
    xa.set_mark(base + 100, Mark::MARK_2);
    xa.set_mark(base + 80, Mark::TOWRITE);
    xa.set_mark(last, Mark::TOWRITE);
    assert_eq!(xa.len(), 4);
    xa.store_order(base, order, v(9)).unwrap();
    xa.check_invariants();
    assert_eq!(xa.len(), 1);
    assert_eq!(marks_at(&xa, base), [false, true, true]);
    assert_eq!(marks_at(&xa, last), [false, true, true]);
    assert!(!xa.has_mark(Mark::DIRTY));
}

#[test]
fn store_order_over_exactly_one_entry_returns_it_and_keeps_its_marks() {
    let xa = Xa::new();
    xa.store_order(32, 4, v(1)).unwrap();
    xa.set_mark(32, Mark::DIRTY);
    assert_eq!(xa.store_order(32, 4, v(2)).unwrap(), Some(v(1)));
    assert!(xa.get_mark(40, Mark::DIRTY));
    xa.store(200, v(5)).unwrap();
    assert_eq!(xa.store_order(192, 4, v(6)).unwrap(), Some(v(5)));
    assert_eq!(xa.store_order(1024, 5, v(7)).unwrap(), None);
    assert_eq!(xa.len(), 3);
    xa.check_invariants();
}

#[test]
fn store_order_over_a_larger_range_replaces_smaller_multi_order_entries() {
    let xa = Xa::new();
    xa.store_order(0, 2, v(1)).unwrap();
    xa.store_order(8, 3, v(2)).unwrap();
    xa.store_order(64, 6, v(3)).unwrap();
    xa.store_order(0, 7, v(4)).unwrap();
    xa.check_invariants();
    assert_eq!(xa.len(), 1);
    assert_eq!(xa.get_order(100), 7);
    assert_eq!(val(&xa, 5), Some(4));
    assert_eq!(val(&xa, 128), None);
}

#[test]
fn marks_set_anywhere_apply_to_the_whole_entry() {
    let xa = Xa::new();
    xa.store_order(128, 7, v(1)).unwrap();
    xa.set_mark(255, Mark::DIRTY);
    for i in [128, 190, 255] {
        assert!(xa.get_mark(i, Mark::DIRTY), "index {i}");
    }
    assert!(!xa.get_mark(127, Mark::DIRTY));
    assert!(!xa.get_mark(256, Mark::DIRTY));
    let g = pin();
    let got: Vec<u64> = xa
        .iter_marked(.., Mark::DIRTY, &g)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(got, vec![128], "found once, at its first index");
    assert_eq!(xa.tag_range(200..210, Mark::DIRTY, Mark::TOWRITE), 1);
    assert!(xa.get_mark(128, Mark::TOWRITE));
    xa.clear_mark(190, Mark::DIRTY);
    assert!(!xa.get_mark(255, Mark::DIRTY));
    assert!(!xa.has_mark(Mark::DIRTY));
    xa.check_invariants();
}

#[test]
fn iterators_yield_a_multi_order_entry_once_at_its_first_index_or_the_range_start() {
    let xa = Xa::new();
    xa.store(10, v(10)).unwrap();
    xa.store_order(64, 6, v(64)).unwrap();
    xa.store(200, v(200)).unwrap();
    xa.set_mark(64, Mark::DIRTY);
    xa.set_mark(200, Mark::DIRTY);
    let g = pin();
    assert_eq!(pairs(xa.iter(&g)), vec![(10, 10), (64, 64), (200, 200)]);
    assert_eq!(pairs(xa.range(70.., &g)), vec![(70, 64), (200, 200)]);
    assert_eq!(pairs(xa.range(70..=80, &g)), vec![(70, 64)]);
    assert_eq!(pairs(xa.range(127..=127, &g)), vec![(127, 64)]);
    assert_eq!(pairs(xa.range(..64, &g)), vec![(10, 10)]);
    assert_eq!(pairs(xa.range(..=64, &g)), vec![(10, 10), (64, 64)]);
    assert_eq!(pairs(xa.range(128..200, &g)), vec![]);
    assert_eq!(
        pairs(xa.iter_marked(.., Mark::DIRTY, &g)),
        vec![(64, 64), (200, 200)]
    );
    assert_eq!(
        pairs(xa.iter_marked(100.., Mark::DIRTY, &g)),
        vec![(100, 64), (200, 200)]
    );
    assert_eq!(xa.len(), 3);
}

#[test]
fn multi_order_item_holds_one_reference() {
    let xa: XArray<u64> = XArray::new();
    let a = Arc::new(5u64);
    xa.store_order(4096, 12, Entry::Item(a.clone())).unwrap();
    assert_eq!(Arc::strong_count(&a), 2);
    let g = pin();
    match xa.load(4096 + 4000, &g) {
        Some(EntryRef::Item(r)) => assert!(std::ptr::eq(r, Arc::as_ptr(&a))),
        other => panic!("{other:?}"),
    }
    drop(g);
    xa.erase(5000);
    assert!(flush_until(|| Arc::strong_count(&a) == 1));
}

// ---------------------------------------------------------------------------
// split.

/// Splits an order-`k` entry at `base` to order `j` and checks every piece.
fn check_split(k: u32, j: u32, base: u64, with_marks: bool) {
    let ctx = format!("split {k} -> {j} at {base}, marks {with_marks}");
    let xa = Xa::new();
    let last = base + mask(k);
    if base > 0 {
        xa.store(base - 1, v(1)).unwrap();
    }
    if last < u64::MAX {
        xa.store(last + 1, v(2)).unwrap();
    }
    let sentinels = xa.len();
    xa.store_order(base, k, v(77)).unwrap();
    let want_marks = [with_marks, false, with_marks];
    if with_marks {
        xa.set_mark(base, Mark::DIRTY);
        xa.set_mark(last, Mark::MARK_2);
    }
    xa.split(base + mask(k) / 3, j)
        .unwrap_or_else(|e| panic!("{ctx}: {e}"));
    xa.check_invariants();
    let n = 1u64 << (k - j);
    assert_eq!(xa.len() as u64, sentinels as u64 + n, "{ctx}");
    for p in 0..n {
        let first = base + (p << j);
        let plast = first + mask(j);
        for i in [first, plast] {
            assert_eq!(val(&xa, i), Some(77), "{ctx}: piece {p} index {i}");
            assert_eq!(xa.get_order(i), j, "{ctx}: piece {p} index {i}");
        }
        assert_eq!(marks_at(&xa, first), want_marks, "{ctx}: piece {p}");
    }
    if base > 0 {
        assert_eq!(val(&xa, base - 1), Some(1), "{ctx}");
        assert_eq!(marks_at(&xa, base - 1), [false; 3], "{ctx}");
    }
    if last < u64::MAX {
        assert_eq!(val(&xa, last + 1), Some(2), "{ctx}");
    }
    let g = pin();
    let firsts: Vec<u64> = xa.range(base..=last, &g).map(|(i, _)| i).collect();
    assert_eq!(firsts.len() as u64, n, "{ctx}");
    assert!(
        firsts
            .iter()
            .enumerate()
            .all(|(p, &i)| i == base + ((p as u64) << j)),
        "{ctx}"
    );
    let marked = xa.iter_marked(base..=last, Mark::DIRTY, &g).count() as u64;
    assert_eq!(marked, if with_marks { n } else { 0 }, "{ctx}");
    // Pieces are independent entries now.
    if with_marks && n > 1 {
        xa.clear_mark(base, Mark::DIRTY);
        assert!(!xa.get_mark(base, Mark::DIRTY), "{ctx}");
        assert!(xa.get_mark(base + (1 << j), Mark::DIRTY), "{ctx}");
    }
    assert_eq!(xa.erase(base), Some(v(77)));
    if n > 1 {
        assert_eq!(val(&xa, base + (1 << j)), Some(77), "{ctx}");
    }
    xa.check_invariants();
}

#[test]
fn split_every_order_to_every_smaller_order() {
    for k in 1..=max_order() {
        for j in 0..k {
            if k - j > 14 {
                continue;
            }
            for base in [0, (1u64 << 40) + (3 << k)] {
                check_split(k, j, base, false);
            }
        }
    }
}

#[test]
fn split_every_order_to_every_smaller_order_with_marks() {
    for k in 1..=max_order() {
        for j in 0..k {
            if k - j > 14 {
                continue;
            }
            for base in [1u64 << k, !mask(k)] {
                check_split(k, j, base, true);
            }
        }
    }
}

#[test]
fn split_across_node_boundaries() {
    // Order 12 -> 0 with 64-slot nodes: one entry in a high node becomes
    // 4096 entries in 64 new leaves (the example).
    if CHUNK_SHIFT == 6 && !cfg!(miri) {
        check_split(12, 0, 1 << 20, true);
    }
    check_split(2 * CHUNK_SHIFT, CHUNK_SHIFT, 0, true);
    check_split(CHUNK_SHIFT + 1, CHUNK_SHIFT - 1, 1 << 33, false);
}

#[test]
fn split_of_an_item_gives_every_piece_the_same_arc() {
    for (k, j) in [
        (1, 0),
        (4, 0),
        (CHUNK_SHIFT, 0),
        (CHUNK_SHIFT + 2, 1),
        (9, 3),
    ] {
        let xa: XArray<String> = XArray::new();
        let a = Arc::new(format!("{k}->{j}"));
        let base = 1u64 << 30;
        xa.store_order(base, k, Entry::Item(a.clone())).unwrap();
        xa.split(base, j).unwrap();
        xa.check_invariants();
        let n = 1usize << (k - j);
        assert!(
            flush_until(|| Arc::strong_count(&a) == 1 + n),
            "{k}->{j}: strong count {} for {n} pieces",
            Arc::strong_count(&a)
        );
        let g = pin();
        for p in 0..n as u64 {
            match xa.load(base + (p << j), &g) {
                Some(EntryRef::Item(r)) => assert!(std::ptr::eq(r, Arc::as_ptr(&a))),
                other => panic!("{k}->{j} piece {p}: {other:?}"),
            }
        }
        drop(g);
        xa.clear();
        assert!(flush_until(|| Arc::strong_count(&a) == 1));
    }
}

#[test]
fn split_of_a_lone_entry_at_zero_leaves_a_shrunk_tree() {
    // An order-CHUNK_SHIFT entry at 0 fills slot 0 of a node one level up;
    // once split, that node holds only slot 0 and the tree must shrink.
    for j in 0..CHUNK_SHIFT {
        let xa = Xa::new();
        xa.store_order(0, CHUNK_SHIFT, v(1)).unwrap();
        xa.check_invariants();
        xa.split(5, j).unwrap();
        xa.check_invariants();
        assert_eq!(xa.len(), 1 << (CHUNK_SHIFT - j));
        assert_eq!(xa.get_order(5), j);
        assert_eq!(val(&xa, mask(CHUNK_SHIFT)), Some(1));
    }
}

#[test]
fn split_of_a_lone_entry_in_a_high_node_leaves_a_valid_tree() {
    for k in [CHUNK_SHIFT, 2 * CHUNK_SHIFT, 2 * CHUNK_SHIFT + 1] {
        for j in [0, k - 1] {
            let xa = Xa::new();
            xa.store_order(0, k, v(1)).unwrap();
            xa.split(0, j).unwrap();
            xa.check_invariants();
            xa.erase(0);
            xa.check_invariants();
            assert_eq!(xa.len(), (1 << (k - j)) - 1);
        }
    }
}

#[test]
fn split_at_an_empty_index_does_nothing() {
    let xa = Xa::new();
    xa.split(5, 0).unwrap();
    assert!(xa.is_empty());
    xa.store_order(64, 4, v(1)).unwrap();
    xa.split(63, 0).unwrap();
    xa.split(80, 2).unwrap();
    xa.split(u64::MAX, 0).unwrap();
    xa.check_invariants();
    assert_eq!(xa.len(), 1);
    assert_eq!(xa.get_order(64), 4);
}

#[test]
fn split_to_the_same_or_a_larger_order_is_invalid() {
    let xa = Xa::new();
    xa.store_order(16, 4, v(1)).unwrap();
    xa.set_mark(16, Mark::DIRTY);
    let err = xa.split(20, 4).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Invalid {
                reason: InvalidInput::SplitOrder { from: 4, to: 4, .. }
            }
        ),
        "{err:?}"
    );
    assert!(matches!(xa.split(20, 5), Err(Error::Invalid { .. })));
    assert!(matches!(xa.split(20, 64), Err(Error::Invalid { .. })));
    assert!(matches!(xa.split(20, u32::MAX), Err(Error::Invalid { .. })));
    xa.store(100, v(2)).unwrap();
    assert!(matches!(xa.split(100, 0), Err(Error::Invalid { .. })));
    xa.check_invariants();
    assert_eq!(xa.get_order(31), 4);
    assert!(xa.get_mark(31, Mark::DIRTY));
    assert_eq!(xa.len(), 2);
}

#[test]
fn split_in_steps() {
    let xa = Xa::new();
    xa.store_order(0, 9, v(5)).unwrap();
    xa.set_mark(0, Mark::TOWRITE);
    xa.split(0, 6).unwrap();
    xa.split(64, 3).unwrap();
    xa.split(72, 0).unwrap();
    xa.check_invariants();
    assert_eq!(xa.len(), 7 + 7 + 8);
    assert_eq!(xa.get_order(0), 6);
    assert_eq!(xa.get_order(64), 3);
    assert_eq!(xa.get_order(79), 0);
    assert_eq!(xa.get_order(80), 3);
    assert_eq!(xa.get_order(511), 6);
    let g = pin();
    assert_eq!(xa.iter_marked(.., Mark::TOWRITE, &g).count(), 22);
    for i in 0..512 {
        assert_eq!(val(&xa, i), Some(5));
        assert!(xa.get_mark(i, Mark::TOWRITE));
    }
}

#[test]
fn hole_punch_in_a_dirty_pmd_entry() {
    let xa = Xa::new();
    let base = 512u64;
    xa.store_order(base, 9, v(0xd1)).unwrap();
    xa.set_mark(base, Mark::DIRTY);
    xa.split(base, 0).unwrap();
    xa.check_invariants();
    let punched = base + 254..=base + 257;
    for i in punched.clone() {
        assert_eq!(xa.erase(i), Some(v(0xd1)));
        xa.check_invariants();
    }
    assert_eq!(xa.len(), 508);
    let g = pin();
    let dirty: Vec<u64> = xa
        .iter_marked(.., Mark::DIRTY, &g)
        .map(|(i, _)| i)
        .collect();
    let want: Vec<u64> = (base..base + 512)
        .filter(|i| !punched.contains(i))
        .collect();
    assert_eq!(dirty, want);
    for i in base..base + 512 {
        let kept = !punched.contains(&i);
        assert_eq!(xa.get_mark(i, Mark::DIRTY), kept, "index {i}");
        assert_eq!(val(&xa, i), kept.then_some(0xd1), "index {i}");
        assert_eq!(xa.get_order(i), 0);
    }
    assert_eq!(xa.tag_range(.., Mark::DIRTY, Mark::TOWRITE), 508);
}

#[test]
fn split_inside_a_cursor_walk() {
    // Writeback over order-6 entries: split each DIRTY one, keep DIRTY only
    // on the pieces that still need writing.
    let xa = Xa::new();
    for k in 0..8u64 {
        xa.store_order(k << 6, 6, v(k)).unwrap();
        if k % 3 != 1 {
            xa.set_mark(k << 6, Mark::DIRTY);
        }
    }
    {
        let l = &mut xa.lock();
        let mut c = l.cursor_mut(0);
        let mut visited = Vec::new();
        while let Some(k) = c.next_marked(Mark::DIRTY, u64::MAX).and_then(|e| e.value()) {
            let base = c.index();
            assert_eq!(base, k << 6);
            assert_eq!(c.order(), 6);
            visited.push(k);
            c.split(0).unwrap();
            for p in 0..64u64 {
                c.set(base + p);
                assert_eq!(c.next().and_then(|e| e.value()), Some(k));
                assert_eq!(c.order(), 0);
                if p % 2 == 1 {
                    c.clear_mark(Mark::DIRTY);
                }
            }
            c.set(base + 64);
            assert!(visited.len() <= 8);
        }
        assert_eq!(visited, vec![0, 2, 3, 5, 6]);
    }
    xa.check_invariants();
    assert_eq!(xa.len(), 5 * 64 + 3);
    let g = pin();
    let dirty: Vec<u64> = xa
        .iter_marked(.., Mark::DIRTY, &g)
        .map(|(i, _)| i)
        .collect();
    let want: Vec<u64> = (0..512u64)
        .filter(|i| (i >> 6) % 3 != 1 && i % 2 == 0)
        .collect();
    assert_eq!(dirty, want);
    assert_eq!(xa.get_order(64), 6);
}

// ---------------------------------------------------------------------------
// store_range.

#[test]
fn store_range_covers_the_range_with_aligned_pieces() {
    let big = 1u64 << 40;
    let cases = [
        (0, 0),
        (0, 15),
        (1, 14),
        (3, 100),
        (5, 5),
        (60, 70),
        (1000, 5000),
        (4096, 8191),
        (big - 3, big + 70),
        (u64::MAX - 100, u64::MAX),
        (u64::MAX, u64::MAX),
    ];
    for (first, last) in cases {
        let ctx = format!("store_range({first}, {last})");
        let xa = Xa::new();
        xa.store_range(first, last, v(3)).unwrap();
        xa.check_invariants();
        let want = pieces(first, last);
        assert_eq!(xa.len(), want.len(), "{ctx}");
        for &(i, order) in &want {
            assert_eq!(xa.get_order(i), order, "{ctx}: piece at {i}");
        }
        let step = if cfg!(miri) {
            1 + (last - first) / 64
        } else {
            1
        };
        for i in (first..=last).step_by(step as usize) {
            assert_eq!(val(&xa, i), Some(3), "{ctx}: index {i}");
        }
        if first > 0 {
            assert_eq!(val(&xa, first - 1), None, "{ctx}");
        }
        if last < u64::MAX {
            assert_eq!(val(&xa, last + 1), None, "{ctx}");
        }
        let g = pin();
        let firsts: Vec<u64> = xa.iter(&g).map(|(i, _)| i).collect();
        assert_eq!(
            firsts,
            want.iter().map(|p| p.0).collect::<Vec<_>>(),
            "{ctx}"
        );
    }
}

#[test]
fn store_range_of_the_whole_index_space() {
    let xa = Xa::new();
    xa.store_range(0, u64::MAX, v(1)).unwrap();
    xa.check_invariants();
    for i in [0, 1, 1 << 62, (1 << 63) - 1, 1 << 63, u64::MAX] {
        assert_eq!(val(&xa, i), Some(1), "index {i}");
    }
    xa.clear();
    assert!(xa.is_empty());
}

#[test]
fn store_range_replaces_what_lay_there() {
    let xa = Xa::new();
    for i in 0..40u64 {
        xa.store(i, v(i)).unwrap();
    }
    xa.store_range(8, 23, v(99)).unwrap();
    xa.check_invariants();
    assert_eq!(xa.len(), 8 + 2 + 16);
    for i in 0..40u64 {
        let want = if (8..=23).contains(&i) { 99 } else { i };
        assert_eq!(val(&xa, i), Some(want), "index {i}");
    }
    assert_eq!(xa.get_order(8), 3);
    assert_eq!(xa.get_order(16), 3);
}

#[test]
fn store_range_first_after_last_is_invalid() {
    let xa = Xa::new();
    assert_eq!(
        xa.store_range(10, 9, v(1)).unwrap_err(),
        Error::Invalid {
            reason: InvalidInput::Range { first: 10, last: 9 }
        }
    );
    assert!(matches!(
        xa.store_range(u64::MAX, 0, v(1)),
        Err(Error::Invalid { .. })
    ));
    assert!(xa.is_empty());
}

#[test]
fn store_range_then_split_and_erase_a_piece() {
    let xa = Xa::new();
    xa.store_range(100, 355, v(8)).unwrap();
    for &(i, _) in &pieces(100, 355) {
        xa.set_mark(i, Mark::DIRTY);
    }
    xa.split(200, 0).unwrap();
    xa.erase(200);
    xa.check_invariants();
    let g = pin();
    let dirty = xa.iter_marked(.., Mark::DIRTY, &g).count();
    let n_pieces = pieces(100, 355).len();
    // The piece holding 200 (128..=255, order 7) became 128 entries, one erased.
    assert_eq!(dirty, n_pieces - 1 + 127);
    assert_eq!(xa.len(), n_pieces - 1 + 127);
    for i in 100..=355u64 {
        assert_eq!(val(&xa, i), (i != 200).then_some(8), "index {i}");
    }
}
