//! The advanced API: the read-only `Cursor`, the lock handle and its
//! `CursorMut`, and pausing a walk to drop the lock between batches.

#![allow(clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

use std::collections::BTreeSet;
use std::sync::mpsc;
use std::time::Duration;

use xradix::{pin, Entry, EntryRef, Error, Flags, Mark, XArray};

type Xa = XArray<String, u64>;

fn v(x: u64) -> Entry<String, u64> {
    Entry::Value(x)
}

fn val(xa: &Xa, i: u64) -> Option<u64> {
    xa.get(i).map(|e| e.value().expect("a value entry"))
}

/// What a cursor returned, as a value; panics on an item.
fn cv(e: Option<EntryRef<'_, String, u64>>) -> Option<u64> {
    e.map(|e| e.value().expect("a value entry"))
}

fn filled(indices: impl IntoIterator<Item = u64>) -> Xa {
    let xa = Xa::new();
    for i in indices {
        xa.store(i, v(i & 0xffff_ffff)).unwrap();
    }
    xa
}

// ---------------------------------------------------------------------------
// Cursor: next, prev, set, load, order.

#[test]
fn cursor_first_next_returns_the_entry_at_its_own_index() {
    let xa = filled([10, 11]);
    let g = pin();
    let mut c = xa.cursor(10, &g);
    assert_eq!(c.index(), 10);
    assert_eq!(cv(c.next()), Some(10));
    assert_eq!(c.index(), 10);
    assert_eq!(cv(c.next()), Some(11));
    assert_eq!(c.index(), 11);
    assert_eq!(cv(c.next()), None);
    assert_eq!(c.index(), 12);
}

#[test]
fn cursor_first_next_in_a_hole_returns_none_and_stays() {
    let xa = filled([10]);
    let g = pin();
    let mut c = xa.cursor(8, &g);
    assert_eq!(cv(c.next()), None);
    assert_eq!(c.index(), 8);
    assert_eq!(cv(c.next()), None);
    assert_eq!(c.index(), 9);
    assert_eq!(cv(c.next()), Some(10));
    assert_eq!(c.index(), 10);
}

#[test]
fn cursor_next_moves_one_index_at_a_time_across_nodes() {
    let present: BTreeSet<u64> = (0..300).filter(|i| i % 5 != 0).collect();
    let xa = filled(present.iter().copied());
    let g = pin();
    let mut c = xa.cursor(0, &g);
    for i in 0..300u64 {
        let got = cv(c.next());
        assert_eq!(c.index(), i);
        assert_eq!(got, present.contains(&i).then_some(i), "index {i}");
    }
}

#[test]
fn cursor_prev_moves_back_one_index_at_a_time() {
    let present: BTreeSet<u64> = (0..300).filter(|i| i % 7 != 3).collect();
    let xa = filled(present.iter().copied());
    let g = pin();
    let mut c = xa.cursor(299, &g);
    for i in (0..300u64).rev() {
        let got = cv(c.prev());
        assert_eq!(c.index(), i);
        assert_eq!(got, present.contains(&i).then_some(i), "index {i}");
    }
}

#[test]
fn cursor_next_then_prev_returns_to_the_same_entry() {
    let xa = filled([63, 64, 65]);
    let g = pin();
    let mut c = xa.cursor(63, &g);
    assert_eq!(cv(c.next()), Some(63));
    assert_eq!(cv(c.next()), Some(64));
    assert_eq!(cv(c.next()), Some(65));
    assert_eq!(cv(c.prev()), Some(64));
    assert_eq!(c.index(), 64);
    assert_eq!(cv(c.prev()), Some(63));
    assert_eq!(cv(c.prev()), None);
    assert_eq!(c.index(), 62);
}

#[test]
fn cursor_next_wraps_from_u64_max_to_zero() {
    let xa = filled([0, u64::MAX]);
    let g = pin();
    let mut c = xa.cursor(u64::MAX - 1, &g);
    assert_eq!(cv(c.next()), None);
    assert_eq!(cv(c.next()), Some(0xffff_ffff));
    assert_eq!(c.index(), u64::MAX);
    assert_eq!(cv(c.next()), Some(0));
    assert_eq!(c.index(), 0);
    assert_eq!(cv(c.next()), None);
    assert_eq!(c.index(), 1);
}

#[test]
fn cursor_prev_wraps_from_zero_to_u64_max() {
    let xa = filled([0, 1, u64::MAX]);
    let g = pin();
    let mut c = xa.cursor(1, &g);
    assert_eq!(cv(c.prev()), Some(1));
    assert_eq!(cv(c.prev()), Some(0));
    assert_eq!(c.index(), 0);
    assert_eq!(cv(c.prev()), Some(0xffff_ffff));
    assert_eq!(c.index(), u64::MAX);
    assert_eq!(cv(c.prev()), None);
    assert_eq!(c.index(), u64::MAX - 1);
}

#[test]
fn cursor_walks_across_a_high_boundary() {
    let base = 1u64 << 40;
    let xa = filled([base - 2, base, base + 1]);
    let g = pin();
    let mut c = xa.cursor(base - 2, &g);
    let got: Vec<Option<u64>> = (0..5).map(|_| cv(c.next())).collect();
    assert_eq!(
        got,
        vec![Some((base - 2) & 0xffff_ffff), None, Some(0), Some(1), None]
    );
    assert_eq!(c.index(), base + 2);
}

#[test]
fn cursor_set_restarts_at_the_new_index() {
    let xa = filled([5, 6, 100]);
    let g = pin();
    let mut c = xa.cursor(5, &g);
    assert_eq!(cv(c.next()), Some(5));
    assert_eq!(cv(c.next()), Some(6));
    c.set(100);
    assert_eq!(c.index(), 100);
    assert_eq!(
        cv(c.next()),
        Some(100),
        "first call after set is at the new index"
    );
    assert_eq!(cv(c.next()), None);
    c.set(5);
    assert_eq!(
        cv(c.prev()),
        Some(5),
        "first prev after set is at the new index"
    );
    assert_eq!(cv(c.prev()), None);
    assert_eq!(c.index(), 4);
}

#[test]
fn cursor_load_reads_the_current_index_without_moving() {
    let xa = filled([3, 4]);
    let g = pin();
    let mut c = xa.cursor(3, &g);
    assert_eq!(cv(c.load()), Some(3));
    assert_eq!(cv(c.load()), Some(3));
    assert_eq!(c.index(), 3);
    c.set(4);
    assert_eq!(cv(c.load()), Some(4));
    c.set(5);
    assert_eq!(cv(c.load()), None);
    assert_eq!(c.index(), 5);
}

#[test]
fn cursor_sees_items_by_reference() {
    let xa = Xa::new();
    xa.store(2, Entry::Item(std::sync::Arc::new("two".into())))
        .unwrap();
    let g = pin();
    let mut c = xa.cursor(2, &g);
    match c.next() {
        Some(EntryRef::Item(s)) => assert_eq!(s, "two"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn cursor_order_reports_the_entry_under_it() {
    let xa = Xa::new();
    xa.store(1, v(1)).unwrap();
    xa.store_order(64, 6, v(64)).unwrap();
    xa.store_order(8, 3, v(8)).unwrap();
    let g = pin();
    let mut c = xa.cursor(0, &g);
    assert_eq!(cv(c.next()), None);
    assert_eq!(c.order(), 0, "a hole has order 0");
    assert_eq!(cv(c.next()), Some(1));
    assert_eq!(c.order(), 0);
    c.set(13);
    assert_eq!(cv(c.next()), Some(8));
    assert_eq!(c.order(), 3);
    c.set(100);
    assert_eq!(cv(c.next()), Some(64));
    assert_eq!(c.order(), 6);
}

#[test]
fn cursor_next_returns_a_multi_order_entry_at_each_of_its_indices() {
    let xa = Xa::new();
    xa.store_order(16, 4, v(16)).unwrap();
    let g = pin();
    let mut c = xa.cursor(15, &g);
    assert_eq!(cv(c.next()), None);
    for i in 16..32u64 {
        assert_eq!(cv(c.next()), Some(16), "index {i}");
        assert_eq!(c.index(), i);
        assert_eq!(c.order(), 4);
    }
    assert_eq!(cv(c.next()), None);
    assert_eq!(c.index(), 32);
    for i in (16..32u64).rev() {
        assert_eq!(cv(c.prev()), Some(16), "index {i}");
        assert_eq!(c.index(), i);
    }
    assert_eq!(cv(c.prev()), None);
}

// ---------------------------------------------------------------------------
// next_marked.

fn marked_tree() -> Xa {
    let xa = filled([1, 5, 9, 200, 1 << 40, u64::MAX]);
    for i in [5, 200, 1 << 40, u64::MAX] {
        xa.set_mark(i, Mark::DIRTY);
    }
    xa.set_mark(9, Mark::TOWRITE);
    xa
}

#[test]
fn next_marked_finds_marked_entries_in_order() {
    let xa = marked_tree();
    let g = pin();
    let mut c = xa.cursor(0, &g);
    let mut got = Vec::new();
    while let Some(x) = cv(c.next_marked(Mark::DIRTY, u64::MAX)) {
        assert_eq!(x, c.index() & 0xffff_ffff);
        got.push(c.index());
        assert!(got.len() <= 4, "walked past the end: {got:?}");
    }
    assert_eq!(got, vec![5, 200, 1 << 40, u64::MAX]);
}

#[test]
fn next_marked_first_call_includes_its_own_index() {
    let xa = marked_tree();
    let g = pin();
    let mut c = xa.cursor(5, &g);
    assert_eq!(cv(c.next_marked(Mark::DIRTY, u64::MAX)), Some(5));
    assert_eq!(c.index(), 5);
    assert_eq!(cv(c.next_marked(Mark::DIRTY, u64::MAX)), Some(200));
    let mut c = xa.cursor(6, &g);
    assert_eq!(cv(c.next_marked(Mark::DIRTY, u64::MAX)), Some(200));
    assert_eq!(c.index(), 200);
}

#[test]
fn next_marked_stops_at_max() {
    let xa = marked_tree();
    let g = pin();
    let mut c = xa.cursor(0, &g);
    assert_eq!(cv(c.next_marked(Mark::DIRTY, 199)), Some(5));
    assert_eq!(cv(c.next_marked(Mark::DIRTY, 199)), None);
    let mut c = xa.cursor(0, &g);
    assert_eq!(cv(c.next_marked(Mark::DIRTY, 200)), Some(5));
    assert_eq!(
        cv(c.next_marked(Mark::DIRTY, 200)),
        Some(200),
        "max is inclusive"
    );
    assert_eq!(cv(c.next_marked(Mark::DIRTY, 200)), None);
    let mut c = xa.cursor(6, &g);
    assert_eq!(cv(c.next_marked(Mark::DIRTY, 6)), None);
}

#[test]
fn next_marked_with_nothing_marked_is_none() {
    let xa = marked_tree();
    let g = pin();
    let mut c = xa.cursor(0, &g);
    assert_eq!(cv(c.next_marked(Mark::MARK_2, u64::MAX)), None);
    let mut c = xa.cursor(10, &g);
    assert_eq!(cv(c.next_marked(Mark::TOWRITE, u64::MAX)), None);
    let mut c = xa.cursor(0, &g);
    assert_eq!(cv(c.next_marked(Mark::TOWRITE, u64::MAX)), Some(9));
    assert_eq!(cv(c.next_marked(Mark::TOWRITE, u64::MAX)), None);
    let empty = Xa::new();
    let mut c = empty.cursor(0, &g);
    assert_eq!(cv(c.next_marked(Mark::DIRTY, u64::MAX)), None);
}

#[test]
fn next_marked_moves_past_a_whole_multi_order_entry() {
    let xa = Xa::new();
    xa.store_order(16, 4, v(16)).unwrap();
    xa.store(40, v(40)).unwrap();
    xa.set_mark(20, Mark::DIRTY); // anywhere inside marks the whole entry
    xa.set_mark(40, Mark::DIRTY);
    let g = pin();
    let mut c = xa.cursor(0, &g);
    assert_eq!(cv(c.next_marked(Mark::DIRTY, u64::MAX)), Some(16));
    assert_eq!(c.index(), 16);
    assert_eq!(c.order(), 4);
    assert_eq!(cv(c.next_marked(Mark::DIRTY, u64::MAX)), Some(40));
    assert_eq!(cv(c.next_marked(Mark::DIRTY, u64::MAX)), None);
}

// ---------------------------------------------------------------------------
// The lock handle and CursorMut.

#[test]
fn the_lock_handle_has_every_write_method() {
    let xa = Xa::with_flags(Flags::ALLOC);
    {
        let l = &mut xa.lock();
        assert_eq!(l.store(1, v(1)).unwrap(), None);
        l.insert(2, v(2)).unwrap();
        assert!(matches!(l.insert(2, v(3)), Err(Error::Busy { index: 2 })));
        assert_eq!(l.erase(2), Some(v(2)));
        assert_eq!(l.cmpxchg(1, Some(&v(1)), Some(v(10))).unwrap(), Some(v(1)));
        l.reserve(3).unwrap();
        l.release(3);
        assert_eq!(l.store_order(64, 4, v(64)).unwrap(), None);
        l.store_range(200, 210, v(200)).unwrap();
        l.split(64, 2).unwrap();
        l.set_mark(1, Mark::TOWRITE);
        l.clear_mark(1, Mark::TOWRITE);
        l.set_mark(1, Mark::MARK_2);
        assert_eq!(l.tag_range(.., Mark::MARK_2, Mark::TOWRITE), 1);
        assert_eq!(l.alloc(v(0), 0..=10).unwrap(), 0);
    }
    xa.check_invariants();
    assert_eq!(val(&xa, 1), Some(10));
    assert!(xa.get(2).is_none());
    assert!(xa.get(3).is_none());
    assert_eq!(xa.get_order(64), 2);
    assert_eq!(xa.get_order(79), 2);
    assert_eq!(val(&xa, 79), Some(64));
    assert_eq!(val(&xa, 205), Some(200));
    assert_eq!(xa.get_order(200), 3);
    assert_eq!(xa.get_order(209), 1);
    assert_eq!(xa.get_order(210), 0);
    assert!(xa.get(211).is_none());
    assert!(xa.get_mark(1, Mark::TOWRITE));
    assert!(xa.get_mark(1, Mark::MARK_2));
    // 1, four pieces of 64..80, three pieces of 200..=210, and 0.
    assert_eq!(xa.len(), 9);
    xa.lock().clear();
    assert!(xa.is_empty());
}

#[test]
fn reads_do_not_block_while_the_lock_is_held() {
    let xa = filled([1, 2, 3]);
    xa.set_mark(2, Mark::DIRTY);
    std::thread::scope(|s| {
        let xa = &xa;
        let l = xa.lock();
        let (tx, rx) = mpsc::channel();
        s.spawn(move || {
            let g = pin();
            let sum: u64 = xa.iter(&g).map(|(i, _)| i).sum();
            let r = (
                val(xa, 1),
                xa.load(3, &g).and_then(|e| e.value()),
                sum,
                xa.get_mark(2, Mark::DIRTY),
                xa.has_mark(Mark::DIRTY),
                xa.len(),
                xa.iter_marked(.., Mark::DIRTY, &g).count(),
            );
            tx.send(r).unwrap();
        });
        let r = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("a reader blocked on the writer lock");
        assert_eq!(r, (Some(1), Some(3), 6, true, true, 3, 1));
        // And on the thread that holds it.
        assert_eq!(val(xa, 2), Some(2));
        assert_eq!(xa.len(), 3);
        drop(l);
    });
}

#[test]
fn writers_wait_for_the_lock() {
    let xa = Xa::new();
    std::thread::scope(|s| {
        let xa = &xa;
        let l = xa.lock();
        let (tx, rx) = mpsc::channel();
        s.spawn(move || {
            xa.store(1, v(1)).unwrap();
            tx.send(()).unwrap();
        });
        assert!(rx.recv_timeout(Duration::from_millis(100)).is_err());
        assert!(xa.get(1).is_none(), "a store got past a held lock");
        drop(l);
        rx.recv_timeout(Duration::from_secs(20))
            .expect("the store never got the lock");
        assert_eq!(val(xa, 1), Some(1));
    });
}

#[test]
fn cursor_mut_store_and_erase_at_its_index() {
    let xa = filled([5]);
    xa.set_mark(5, Mark::DIRTY);
    {
        let l = &mut xa.lock();
        let mut c = l.cursor_mut(5);
        assert_eq!(c.index(), 5);
        assert_eq!(c.store(v(50)).unwrap(), Some(v(5)));
        assert_eq!(cv(c.load()), Some(50));
        assert_eq!(c.erase(), Some(v(50)));
        assert_eq!(cv(c.load()), None);
        assert_eq!(c.erase(), None);
        assert_eq!(c.store(v(51)).unwrap(), None);
    }
    xa.check_invariants();
    assert_eq!(val(&xa, 5), Some(51));
    assert!(
        !xa.get_mark(5, Mark::DIRTY),
        "erase through the cursor clears marks"
    );
    assert_eq!(xa.len(), 1);
}

#[test]
fn cursor_mut_store_of_a_too_wide_value_is_invalid() {
    let xa = filled([5]);
    let l = &mut xa.lock();
    let mut c = l.cursor_mut(5);
    assert!(matches!(c.store(v(1 << 62)), Err(Error::Invalid { .. })));
    assert_eq!(cv(c.load()), Some(5));
}

#[test]
fn cursor_mut_fills_a_range_under_one_lock() {
    let xa = Xa::new();
    {
        let l = &mut xa.lock();
        let mut c = l.cursor_mut(60);
        for i in 60..200u64 {
            assert_eq!(cv(c.next()), None);
            assert_eq!(c.index(), i);
            assert_eq!(c.store(v(i)).unwrap(), None);
        }
    }
    xa.check_invariants();
    assert_eq!(xa.len(), 140);
    let g = pin();
    let got: Vec<(u64, u64)> = xa.iter(&g).map(|(i, e)| (i, e.value().unwrap())).collect();
    assert_eq!(got, (60..200).map(|i| (i, i)).collect::<Vec<_>>());
}

#[test]
fn cursor_mut_marks_entries_and_skips_holes() {
    let xa = filled((0..100).filter(|i| i % 2 == 0));
    {
        let l = &mut xa.lock();
        let mut c = l.cursor_mut(0);
        for i in 0..100u64 {
            let present = cv(c.next()).is_some();
            assert_eq!(present, i % 2 == 0);
            if i % 3 == 0 {
                c.set_mark(Mark::TOWRITE); // a no-op in a hole
            }
        }
        c.set(30);
        assert_eq!(cv(c.next()), Some(30));
        c.clear_mark(Mark::TOWRITE);
    }
    xa.check_invariants();
    let g = pin();
    let got: Vec<u64> = xa
        .iter_marked(.., Mark::TOWRITE, &g)
        .map(|(i, _)| i)
        .collect();
    let want: Vec<u64> = (0..100).filter(|i| i % 6 == 0 && *i != 30).collect();
    assert_eq!(got, want);
    assert!(!xa.get_mark(3, Mark::TOWRITE));
}

#[test]
fn cursor_mut_walk_erases_every_other_entry() {
    let xa = filled(0..500);
    {
        let l = &mut xa.lock();
        let mut c = l.cursor_mut(0);
        for i in 0..500u64 {
            assert_eq!(cv(c.next()), Some(i));
            if i % 2 == 1 {
                assert_eq!(c.erase(), Some(v(i)));
            }
        }
    }
    xa.check_invariants();
    assert_eq!(xa.len(), 250);
    assert_eq!(val(&xa, 499), None);
    assert_eq!(val(&xa, 498), Some(498));
}

#[test]
fn cursor_mut_split_inside_a_walk() {
    let xa = Xa::new();
    for k in 0..4u64 {
        xa.store_order(k * 16, 4, v(k)).unwrap();
        xa.set_mark(k * 16, Mark::DIRTY);
    }
    {
        let l = &mut xa.lock();
        let mut c = l.cursor_mut(0);
        let mut seen = 0;
        while let Some(k) = cv(c.next_marked(Mark::DIRTY, 63)) {
            assert_eq!(c.order(), 4);
            if k % 2 == 0 {
                c.split(0).unwrap();
                // Every piece is still DIRTY: the walk must move past the
                // old range, not revisit its pieces forever.
                c.set(k * 16 + 16);
            }
            seen += 1;
            assert!(seen <= 4, "revisited split pieces");
        }
        assert_eq!(seen, 4);
    }
    xa.check_invariants();
    for i in 0..64u64 {
        let k = i / 16;
        assert_eq!(val(&xa, i), Some(k));
        assert_eq!(xa.get_order(i), if k % 2 == 0 { 0 } else { 4 }, "index {i}");
        assert!(xa.get_mark(i, Mark::DIRTY));
    }
    assert_eq!(xa.len(), 16 + 1 + 16 + 1);
}

#[test]
fn pause_moves_just_past_an_order_0_entry() {
    let xa = filled([5, 6]);
    let l = &mut xa.lock();
    let mut c = l.cursor_mut(5);
    assert_eq!(cv(c.next()), Some(5));
    c.pause();
    assert_eq!(c.index(), 6);
}

#[test]
fn pause_moves_past_a_whole_multi_order_entry() {
    let xa = Xa::new();
    xa.store_order(64, 6, v(64)).unwrap();
    xa.store(128, v(128)).unwrap();
    xa.set_mark(64, Mark::DIRTY);
    {
        let l = &mut xa.lock();
        let mut c = l.cursor_mut(70);
        assert_eq!(cv(c.next()), Some(64));
        assert_eq!(c.order(), 6);
        c.pause();
        assert_eq!(c.index(), 128);
    }
    {
        let l = &mut xa.lock();
        let mut c = l.cursor_mut(0);
        assert_eq!(cv(c.next_marked(Mark::DIRTY, u64::MAX)), Some(64));
        c.pause();
        assert_eq!(c.index(), 128);
        let saved = c.index();
        let mut c = l.cursor_mut(saved);
        assert_eq!(cv(c.next()), Some(128));
    }
}

#[test]
fn pause_after_a_split_moves_past_the_new_piece() {
    let xa = Xa::new();
    xa.store_order(16, 4, v(1)).unwrap();
    let l = &mut xa.lock();
    let mut c = l.cursor_mut(17);
    assert_eq!(cv(c.next()), Some(1));
    c.split(3).unwrap();
    // Index 17 now lies in the order-3 piece 16..=23.
    c.pause();
    assert_eq!(c.index(), 24);
}

#[test]
fn pause_after_a_store_moves_past_the_entry() {
    let xa = Xa::new();
    xa.store_order(64, 6, v(1)).unwrap();
    let l = &mut xa.lock();
    let mut c = l.cursor_mut(70);
    assert_eq!(cv(c.next()), Some(1));
    assert_eq!(c.store(v(2)).unwrap(), Some(v(1)));
    c.pause();
    assert_eq!(c.index(), 128);
}

#[test]
fn pause_and_resume_with_the_lock_dropped_between_batches() {
    let end: u64 = if cfg!(miri) { 200 } else { 1000 };
    let xa = Xa::new();
    let mut present: BTreeSet<u64> = (0..end).step_by(3).collect();
    for &i in &present {
        xa.store(i, v(i)).unwrap();
    }
    let mut expected = present.clone();
    let mut seen = Vec::new();
    let mut saved = 0u64;
    let mut batches = 0;
    loop {
        batches += 1;
        {
            let l = &mut xa.lock();
            let mut c = l.cursor_mut(saved);
            let mut found = 0;
            loop {
                let e = cv(c.next());
                let idx = c.index();
                if idx >= end {
                    saved = end;
                    break;
                }
                if let Some(x) = e {
                    assert_eq!(x, idx);
                    seen.push(idx);
                    found += 1;
                    if found == 10 {
                        c.pause();
                        saved = c.index();
                        assert_eq!(saved, idx + 1, "pause moves just past the entry");
                        break;
                    }
                }
            }
            // Reads on the thread that holds the lock never block.
            if saved < end {
                assert_eq!(val(&xa, saved - 1), Some(saved - 1));
            }
        }
        if saved >= end {
            break;
        }
        // The lock is dropped: change the tree ahead of and behind the walk.
        let ahead = saved + 1;
        if ahead < end && !present.contains(&ahead) {
            xa.store(ahead, v(ahead)).unwrap();
            present.insert(ahead);
            expected.insert(ahead);
        }
        let doomed = (saved + 6) / 3 * 3;
        if doomed < end && present.remove(&doomed) {
            assert_eq!(xa.erase(doomed), Some(v(doomed)));
            expected.remove(&doomed);
        }
        let behind = saved - 2;
        if !present.contains(&behind) {
            xa.store(behind, v(behind)).unwrap();
            present.insert(behind);
        }
    }
    xa.check_invariants();
    assert!(batches > end / 60, "only {batches} batches");
    assert_eq!(seen, expected.into_iter().collect::<Vec<_>>());
    assert_eq!(xa.len(), present.len());
}

#[test]
fn pause_and_resume_a_marked_walk() {
    // The shape of fsync: visit DIRTY entries in batches, moving each to
    // TOWRITE, dropping the lock between batches while new writes arrive.
    let end: u64 = if cfg!(miri) { 300 } else { 2000 };
    let xa = filled(0..end);
    let mut dirty: BTreeSet<u64> = (0..end).step_by(5).collect();
    for &i in &dirty {
        xa.set_mark(i, Mark::DIRTY);
    }
    let mut expected = dirty.clone();
    let mut still_dirty = BTreeSet::new();
    let mut seen = Vec::new();
    let mut saved = 0u64;
    loop {
        let mut finished = true;
        {
            let l = &mut xa.lock();
            let mut c = l.cursor_mut(saved);
            let mut n = 0;
            while let Some(x) = cv(c.next_marked(Mark::DIRTY, end - 1)) {
                let idx = c.index();
                assert_eq!(x, idx);
                seen.push(idx);
                c.clear_mark(Mark::DIRTY);
                c.set_mark(Mark::TOWRITE);
                n += 1;
                if n == 7 {
                    c.pause();
                    saved = c.index();
                    assert_eq!(saved, idx + 1);
                    finished = false;
                    break;
                }
            }
        }
        if finished {
            break;
        }
        // New dirt ahead is found by this walk; dirt behind waits for the next.
        let ahead = saved + 2;
        if ahead < end && dirty.insert(ahead) {
            xa.set_mark(ahead, Mark::DIRTY);
            expected.insert(ahead);
        }
        let behind = saved - 3;
        if dirty.insert(behind) {
            xa.set_mark(behind, Mark::DIRTY);
            still_dirty.insert(behind);
        }
    }
    xa.check_invariants();
    let want: Vec<u64> = expected.iter().copied().collect();
    assert_eq!(seen, want);
    let g = pin();
    let towrite: Vec<u64> = xa
        .iter_marked(.., Mark::TOWRITE, &g)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(towrite, want);
    let left: Vec<u64> = xa
        .iter_marked(.., Mark::DIRTY, &g)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(left, still_dirty.into_iter().collect::<Vec<_>>());
}

// ---------------------------------------------------------------------------
// A writing cursor never acts on a walk made before a change through its
// own `Locked` handle (issue: stale cursors).

#[test]
fn cursor_mut_pause_sees_a_store_made_through_the_handle() {
    let xa: XArray = XArray::new();
    xa.store(5, Entry::Value(5)).unwrap();
    for i in 16..=20 {
        xa.store(i, Entry::Value(i)).unwrap();
    }
    let locked = xa.lock();
    let mut c = locked.cursor_mut(0);
    assert_eq!(c.find(u64::MAX).and_then(|e| e.value()), Some(5));
    locked.erase(5);
    locked.store_order(0, 4, Entry::Value(100)).unwrap();
    // The entry under the cursor is now the order-4 entry 0..=15.
    c.pause();
    assert_eq!(c.index(), 16);
    let mut seen = vec![];
    while let Some(v) = c.find(u64::MAX).and_then(|e| e.value()) {
        seen.push((c.index(), v));
    }
    assert_eq!(seen, [(16, 16), (17, 17), (18, 18), (19, 19), (20, 20)]);
}

#[test]
fn cursor_mut_next_sees_a_store_made_through_the_handle() {
    let xa: XArray = XArray::new();
    xa.store(5, Entry::Value(5)).unwrap();
    xa.store(63, Entry::Value(63)).unwrap();
    let locked = xa.lock();
    let mut c = locked.cursor_mut(5);
    assert_eq!(c.next().and_then(|e| e.value()), Some(5));
    locked.erase(5);
    locked.store_order(0, 3, Entry::Value(100)).unwrap();
    assert_eq!(locked.load(6).and_then(|e| e.value()), Some(100));
    assert_eq!(c.next().and_then(|e| e.value()), Some(100));
    assert_eq!(c.index(), 6);
    assert_eq!(c.order(), 3);
}

#[test]
fn cursor_mut_marks_follow_a_change_through_the_handle() {
    let xa: XArray = XArray::new();
    xa.store(5, Entry::Value(5)).unwrap();
    let locked = xa.lock();
    let mut c = locked.cursor_mut(5);
    assert!(c.load().is_some());
    locked.erase(5);
    locked.store(5, Entry::Value(6)).unwrap();
    c.set_mark(Mark::DIRTY);
    assert!(locked.get_mark(5, Mark::DIRTY));
    drop(locked);
    xa.check_invariants();
}

#[test]
fn pause_after_load_moves_past_the_entry() {
    let xa: XArray = XArray::new();
    xa.store(3, Entry::Value(3)).unwrap();
    xa.store_order(8, 3, Entry::Value(8)).unwrap();
    let locked = xa.lock();
    let mut c = locked.cursor_mut(3);
    assert!(c.load().is_some());
    c.pause();
    assert_eq!(c.index(), 4);
    // Inside a multi-order entry: past the whole entry.
    c.set(10);
    assert_eq!(c.load().and_then(|e| e.value()), Some(8));
    c.pause();
    assert_eq!(c.index(), 16);
    // In a hole: one index on.
    c.set(100);
    assert!(c.load().is_none());
    c.pause();
    assert_eq!(c.index(), 101);
    // Made or set and never looked: stays.
    c.set(200);
    c.pause();
    assert_eq!(c.index(), 200);
}

#[test]
fn relock_loop_with_load_and_pause_visits_every_index_once() {
    let xa: XArray = XArray::new();
    for i in 0..40 {
        xa.store(i, Entry::Value(i)).unwrap();
    }
    let mut resume = 0;
    let mut seen = vec![];
    while resume < 40 {
        let locked = xa.lock();
        let mut c = locked.cursor_mut(resume);
        if let Some(e) = c.load() {
            seen.push(e.value().unwrap());
        }
        c.pause();
        resume = c.index();
    }
    assert_eq!(seen, (0..40).collect::<Vec<_>>());
}
