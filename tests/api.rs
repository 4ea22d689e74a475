//! Small checks of the public API, one behaviour per test, in the manner of
//! the kernel's `lib/test_xarray.c`: boundary indices, growing and
//! shrinking, marks, compare-and-exchange, reservations, allocation,
//! iteration, values, errors and item lifetimes.
//!
//! The cursor and the lock handle have their own file (`cursor.rs`);
//! multi-order entries have `multi_order.rs`.

#![allow(clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

use std::collections::BTreeSet;
use std::hint::black_box;
use std::ops::Bound;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use xradix::{pin, Entry, EntryRef, Error, Flags, Guard, InvalidInput, Mark, Value, XArray};

type Xa = XArray<String, u64>;

fn v(x: u64) -> Entry<String, u64> {
    Entry::Value(x)
}

fn item(s: &str) -> Entry<String, u64> {
    Entry::Item(Arc::new(s.to_string()))
}

/// The value stored at `i`; panics if an item is stored there.
fn val(xa: &Xa, i: u64) -> Option<u64> {
    xa.get(i).map(|e| match e {
        Entry::Value(x) => x,
        Entry::Item(s) => panic!("expected a value at {i}, found item {s:?}"),
    })
}

fn indices(xa: &Xa, g: &Guard) -> Vec<u64> {
    xa.iter(g).map(|(i, _)| i).collect()
}

fn ids<'g>(it: impl Iterator<Item = (u64, EntryRef<'g, String, u64>)>) -> Vec<u64> {
    it.map(|(i, _)| i).collect()
}

fn marked(xa: &Xa, mark: Mark, g: &Guard) -> Vec<u64> {
    xa.iter_marked(.., mark, g).map(|(i, _)| i).collect()
}

/// `normal`, or `small` under miri, where every step is interpreted.
fn sz(normal: u64, small: u64) -> u64 {
    if cfg!(miri) {
        small
    } else {
        normal
    }
}

/// Indices at the edges of every level of the tree, for any chunk size.
fn boundary_indices() -> Vec<u64> {
    let mut v = vec![0, 1, 2, 3, 15, 16, 17, 63, 64, 65, 255, 256, 4095, 4096];
    let ks: &[u32] = if cfg!(miri) {
        &[6, 12, 32, 63]
    } else {
        &[
            1, 2, 4, 5, 6, 7, 8, 12, 16, 18, 24, 30, 32, 36, 40, 48, 52, 58, 60, 62, 63,
        ]
    };
    for &k in ks {
        v.push((1u64 << k) - 1);
        v.push(1u64 << k);
        v.push((1u64 << k) + 1);
    }
    v.push(u64::MAX - 1);
    v.push(u64::MAX);
    v.sort_unstable();
    v.dedup();
    v
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

/// An item that counts its drops.
#[derive(Debug)]
struct Counted {
    drops: Arc<AtomicUsize>,
    id: u64,
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

fn counted(drops: &Arc<AtomicUsize>, id: u64) -> Entry<Counted, u64> {
    Entry::Item(Arc::new(Counted {
        drops: drops.clone(),
        id,
    }))
}

// ---------------------------------------------------------------------------
// Empty trees, single entries, boundary indices.

#[test]
fn new_tree_is_empty() {
    let xa = Xa::new();
    let g = pin();
    assert!(xa.is_empty());
    assert_eq!(xa.len(), 0);
    for i in [0, 1, 64, u64::MAX] {
        assert!(xa.load(i, &g).is_none());
        assert!(xa.get(i).is_none());
        assert_eq!(xa.get_order(i), 0);
        for m in Mark::ALL {
            assert!(!xa.get_mark(i, m));
        }
    }
    for m in Mark::ALL {
        assert!(!xa.has_mark(m));
    }
    assert_eq!(xa.iter(&g).count(), 0);
    assert_eq!(xa.range(.., &g).count(), 0);
    assert_eq!(xa.iter_marked(.., Mark::DIRTY, &g).count(), 0);
    xa.check_invariants();
}

#[test]
fn default_type_parameters_make_a_value_tree() {
    let xa: XArray = XArray::new();
    xa.store(3, Entry::Value(4)).unwrap();
    assert_eq!(xa.get(3), Some(Entry::Value(4)));
}

#[test]
fn store_and_erase_alone_at_every_boundary_index() {
    for (n, &i) in boundary_indices().iter().enumerate() {
        let xa = Xa::new();
        assert_eq!(xa.store(i, v(n as u64)).unwrap(), None, "index {i}");
        xa.check_invariants();
        assert_eq!(val(&xa, i), Some(n as u64), "index {i}");
        assert_eq!(xa.len(), 1);
        if i > 0 {
            assert_eq!(val(&xa, i - 1), None, "below {i}");
        }
        if i < u64::MAX {
            assert_eq!(val(&xa, i + 1), None, "above {i}");
        }
        let g = pin();
        assert_eq!(indices(&xa, &g), vec![i]);
        assert_eq!(xa.erase(i), Some(v(n as u64)), "index {i}");
        xa.check_invariants();
        assert!(xa.is_empty(), "index {i}");
        assert_eq!(val(&xa, i), None);
    }
}

#[test]
fn every_boundary_index_in_one_tree() {
    let xa = Xa::new();
    let all = boundary_indices();
    for (n, &i) in all.iter().enumerate() {
        xa.store(i, v(n as u64)).unwrap();
        xa.check_invariants();
    }
    assert_eq!(xa.len(), all.len());
    for (n, &i) in all.iter().enumerate() {
        assert_eq!(val(&xa, i), Some(n as u64), "index {i}");
    }
    let g = pin();
    assert_eq!(indices(&xa, &g), all);
    // Erase from the top down: the tree shrinks step by step.
    for (n, &i) in all.iter().enumerate().rev() {
        assert_eq!(xa.erase(i), Some(v(n as u64)), "index {i}");
        xa.check_invariants();
        assert_eq!(xa.len(), n);
        for (m, &j) in all.iter().enumerate().take(n).step_by(7) {
            assert_eq!(val(&xa, j), Some(m as u64), "index {j} after erasing {i}");
        }
    }
    assert!(xa.is_empty());
}

#[test]
fn erase_from_the_bottom_up_keeps_the_rest() {
    let xa = Xa::new();
    let all = boundary_indices();
    for (n, &i) in all.iter().enumerate() {
        xa.store(i, v(n as u64)).unwrap();
    }
    for (n, &i) in all.iter().enumerate() {
        assert_eq!(xa.erase(i), Some(v(n as u64)));
        xa.check_invariants();
        assert_eq!(xa.len(), all.len() - n - 1);
        if let Some(&last) = all.last() {
            if last != i {
                assert_eq!(val(&xa, last), Some(all.len() as u64 - 1));
            }
        }
    }
    assert!(xa.is_empty());
}

#[test]
fn store_returns_the_previous_entry() {
    let xa = Xa::new();
    assert_eq!(xa.store(7, v(1)).unwrap(), None);
    assert_eq!(xa.store(7, v(2)).unwrap(), Some(v(1)));
    assert_eq!(xa.store(7, item("x")).unwrap(), Some(v(2)));
    assert_eq!(xa.store(7, v(3)).unwrap(), Some(item("x")));
    assert_eq!(xa.len(), 1);
    assert_eq!(val(&xa, 7), Some(3));
    xa.check_invariants();
}

#[test]
fn items_and_values_mixed_in_one_tree() {
    let xa = Xa::new();
    for i in 0..300u64 {
        if i % 2 == 0 {
            xa.store(i, v(i)).unwrap();
        } else {
            xa.store(i, item(&format!("item{i}"))).unwrap();
        }
    }
    xa.check_invariants();
    let g = pin();
    for i in 0..300u64 {
        match xa.load(i, &g) {
            Some(EntryRef::Value(x)) => assert!(i % 2 == 0 && x == i, "index {i}"),
            Some(EntryRef::Item(s)) => assert!(i % 2 == 1 && *s == format!("item{i}")),
            None => panic!("nothing at {i}"),
        }
    }
    // Turn the values into items and the items into values.
    for i in 0..300u64 {
        if i % 2 == 0 {
            xa.store(i, item(&format!("now{i}"))).unwrap();
        } else {
            xa.store(i, v(i * 2)).unwrap();
        }
    }
    xa.check_invariants();
    for i in 0..300u64 {
        let e = xa.get(i).unwrap();
        if i % 2 == 0 {
            assert_eq!(
                e.item().map(|s| s.as_str()),
                Some(format!("now{i}").as_str())
            );
            assert_eq!(e.value(), None);
        } else {
            assert_eq!(e.value(), Some(i * 2));
            assert!(e.item().is_none());
        }
    }
    assert_eq!(xa.len(), 300);
}

#[test]
fn entry_ref_helpers() {
    let xa = Xa::new();
    xa.store(1, v(9)).unwrap();
    xa.store(2, item("two")).unwrap();
    let g = pin();
    let a = xa.load(1, &g).unwrap();
    let b = xa.load(2, &g).unwrap();
    assert_eq!(a.value(), Some(9));
    assert_eq!(a.item(), None);
    assert_eq!(b.value(), None);
    assert_eq!(b.item().map(String::as_str), Some("two"));
    let a2 = a; // Copy
    assert_eq!(a, a2);
    assert_ne!(a, b);
    assert!(format!("{b:?}").contains("two"));
}

#[test]
fn entry_helpers_and_same() {
    let a = Arc::new("a".to_string());
    let e1: Entry<String, u64> = Entry::Item(a.clone());
    let e2: Entry<String, u64> = Entry::Item(Arc::new("a".to_string()));
    assert_eq!(e1, e2, "PartialEq compares contents");
    assert!(!e1.same(&e2), "same() compares identity");
    assert!(e1.same(&Entry::Item(a)));
    assert!(v(3).same(&v(3)));
    assert!(!v(3).same(&v(4)));
    assert!(!v(3).same(&e1));
    assert_eq!(v(5).value(), Some(5));
    assert!(v(5).item().is_none());
    assert_eq!(e1.item().map(|s| s.as_str()), Some("a"));
    let cloned = e1.clone();
    assert!(cloned.same(&e1));
}

#[test]
fn get_clones_the_arc() {
    let xa: XArray<u32> = XArray::new();
    let a = Arc::new(5u32);
    xa.store(3, Entry::Item(a.clone())).unwrap();
    assert_eq!(Arc::strong_count(&a), 2);
    let got = xa.get(3).unwrap();
    assert_eq!(Arc::strong_count(&a), 3);
    assert!(Arc::ptr_eq(got.item().unwrap(), &a));
    drop(got);
    assert_eq!(Arc::strong_count(&a), 2);
}

#[test]
fn load_borrows_the_stored_item_itself() {
    let xa: XArray<u32> = XArray::new();
    let a = Arc::new(5u32);
    xa.store(3, Entry::Item(a.clone())).unwrap();
    let g = pin();
    match xa.load(3, &g) {
        Some(EntryRef::Item(r)) => assert!(std::ptr::eq(r, Arc::as_ptr(&a))),
        other => panic!("{other:?}"),
    }
    // Loading touches no reference count.
    assert_eq!(Arc::strong_count(&a), 2);
}

#[test]
fn insert_into_empty_index_succeeds() {
    let xa = Xa::new();
    xa.insert(0, v(0)).unwrap();
    xa.insert(u64::MAX, v(1)).unwrap();
    xa.insert(1 << 33, item("x")).unwrap();
    assert_eq!(xa.len(), 3);
    assert_eq!(val(&xa, u64::MAX), Some(1));
    xa.check_invariants();
}

#[test]
fn insert_into_occupied_index_is_busy_and_changes_nothing() {
    let xa = Xa::new();
    xa.store(42, v(1)).unwrap();
    xa.set_mark(42, Mark::TOWRITE);
    let err = xa.insert(42, v(2)).unwrap_err();
    assert!(matches!(err, Error::Busy { index: 42 }), "{err:?}");
    assert_eq!(val(&xa, 42), Some(1));
    assert!(xa.get_mark(42, Mark::TOWRITE));
    assert_eq!(xa.len(), 1);
    xa.check_invariants();
}

#[test]
fn erase_returns_the_entry_and_leaves_neighbours() {
    let xa = Xa::new();
    for i in 60..70 {
        xa.store(i, v(i)).unwrap();
    }
    assert_eq!(xa.erase(64), Some(v(64)));
    assert_eq!(xa.erase(64), None);
    assert_eq!(val(&xa, 63), Some(63));
    assert_eq!(val(&xa, 65), Some(65));
    assert_eq!(xa.len(), 9);
    xa.check_invariants();
}

#[test]
fn erase_of_empty_index_returns_none() {
    let xa = Xa::new();
    assert_eq!(xa.erase(0), None);
    assert_eq!(xa.erase(u64::MAX), None);
    xa.store(5, v(5)).unwrap();
    assert_eq!(xa.erase(6), None);
    assert_eq!(xa.erase(1 << 50), None);
    assert_eq!(xa.len(), 1);
    xa.check_invariants();
}

#[test]
fn shrink_back_to_a_single_entry_at_zero() {
    let xa = Xa::new();
    xa.store(0, v(100)).unwrap();
    for far in [1u64, 63, 64, 4096, 1 << 40, u64::MAX] {
        let x = far & 0xffff;
        xa.store(far, v(x)).unwrap();
        xa.check_invariants();
        assert_eq!(xa.erase(far), Some(v(x)));
        xa.check_invariants();
        assert_eq!(xa.len(), 1);
        assert_eq!(val(&xa, 0), Some(100));
        assert_eq!(val(&xa, far), None);
        let g = pin();
        assert_eq!(indices(&xa, &g), vec![0]);
    }
}

#[test]
fn shrink_back_to_a_single_entry_away_from_zero() {
    let xa = Xa::new();
    xa.store(5, v(5)).unwrap();
    xa.store(1 << 50, v(50)).unwrap();
    xa.store(u64::MAX, v(1)).unwrap();
    assert_eq!(xa.erase(u64::MAX), Some(v(1)));
    xa.check_invariants();
    assert_eq!(xa.erase(1 << 50), Some(v(50)));
    xa.check_invariants();
    assert_eq!(val(&xa, 5), Some(5));
    assert_eq!(xa.len(), 1);
    // And a single entry far out, after everything below it is gone.
    xa.store(1 << 50, v(50)).unwrap();
    assert_eq!(xa.erase(5), Some(v(5)));
    xa.check_invariants();
    assert_eq!(val(&xa, 1 << 50), Some(50));
    assert_eq!(val(&xa, 5), None);
}

#[test]
fn dense_fill_then_erase_odd_then_even() {
    let n = sz(3000, 200);
    let xa = Xa::new();
    for i in 0..n {
        xa.store(i, v(i)).unwrap();
    }
    xa.check_invariants();
    assert_eq!(xa.len() as u64, n);
    for i in (1..n).step_by(2) {
        assert_eq!(xa.erase(i), Some(v(i)));
    }
    xa.check_invariants();
    assert_eq!(xa.len() as u64, n / 2);
    for i in 0..n {
        assert_eq!(val(&xa, i), (i % 2 == 0).then_some(i), "index {i}");
    }
    for i in (0..n).step_by(2) {
        assert_eq!(xa.erase(i), Some(v(i)));
    }
    xa.check_invariants();
    assert!(xa.is_empty());
}

#[test]
fn len_counts_entries_not_indices() {
    let xa = Xa::new();
    assert_eq!(xa.len(), 0);
    xa.store(1, v(1)).unwrap();
    xa.store(1, v(2)).unwrap();
    xa.store(u64::MAX, v(2)).unwrap();
    assert_eq!(xa.len(), 2);
    xa.erase(1);
    assert_eq!(xa.len(), 1);
    assert!(!xa.is_empty());
}

#[test]
fn clear_empties_the_tree_and_it_stays_usable() {
    let xa = Xa::new();
    for i in (0..2000u64).step_by(3) {
        xa.store(i, v(i)).unwrap();
        xa.set_mark(i, Mark::DIRTY);
    }
    xa.store(u64::MAX, item("top")).unwrap();
    xa.reserve(1).unwrap();
    xa.clear();
    xa.check_invariants();
    assert!(xa.is_empty());
    assert_eq!(xa.len(), 0);
    assert!(!xa.has_mark(Mark::DIRTY));
    assert_eq!(val(&xa, 3), None);
    assert!(xa.get(u64::MAX).is_none());
    xa.insert(1, v(1)).unwrap();
    xa.store(3, v(3)).unwrap();
    assert!(!xa.get_mark(3, Mark::DIRTY));
    assert_eq!(xa.len(), 2);
    xa.check_invariants();
    xa.clear();
    xa.clear();
    assert!(xa.is_empty());
}

/// Neither Clone, Debug, PartialEq nor Default: only Send + Sync + 'static.
struct Opaque(std::sync::Mutex<u32>);

#[test]
fn items_need_only_send_sync_static() {
    let xa: XArray<Opaque> = XArray::new();
    xa.store(1, Entry::Item(Arc::new(Opaque(std::sync::Mutex::new(7)))))
        .unwrap();
    xa.store(2, Entry::Value(2)).unwrap();
    let g = pin();
    match xa.load(1, &g) {
        Some(EntryRef::Item(o)) => assert_eq!(*o.0.lock().unwrap(), 7),
        _ => panic!("no item at 1"),
    }
    let got = xa.get(1).unwrap();
    assert_eq!(*got.item().unwrap().0.lock().unwrap(), 7);
    assert_eq!(xa.iter(&g).count(), 2);
    assert!(xa.erase(1).is_some());
    assert!(xa
        .cmpxchg(2, Some(&Entry::Value(2)), None)
        .unwrap()
        .is_some());
    assert!(xa.is_empty());
}

#[test]
fn zero_sized_items_are_distinct_entries() {
    let xa: XArray<()> = XArray::new();
    let a = Arc::new(());
    let b = Arc::new(());
    xa.store(0, Entry::Item(a.clone())).unwrap();
    xa.store(1, Entry::Item(b.clone())).unwrap();
    xa.store(2, Entry::Value(0)).unwrap();
    assert!(Arc::ptr_eq(xa.get(0).unwrap().item().unwrap(), &a));
    assert!(Arc::ptr_eq(xa.get(1).unwrap().item().unwrap(), &b));
    assert_eq!(xa.get(2).and_then(|e| e.value()), Some(0));
    // Identity, not contents, decides cmpxchg for items.
    assert!(xa
        .cmpxchg(0, Some(&Entry::Item(b.clone())), None)
        .unwrap()
        .is_some());
    assert_eq!(xa.len(), 3);
    xa.cmpxchg(0, Some(&Entry::Item(a.clone())), None).unwrap();
    assert_eq!(xa.len(), 2);
    xa.clear();
    assert!(flush_until(
        || Arc::strong_count(&a) == 1 && Arc::strong_count(&b) == 1
    ));
}

#[test]
fn byte_sized_items() {
    let xa: XArray<u8, u8> = XArray::new();
    for i in 0..=255u8 {
        xa.store(i as u64, Entry::Item(Arc::new(i))).unwrap();
    }
    let g = pin();
    for (i, e) in xa.iter(&g) {
        assert_eq!(e.item().copied(), Some(i as u8));
    }
    assert_eq!(xa.len(), 256);
    xa.check_invariants();
}

#[test]
fn xarray_is_send_and_sync() {
    fn check<X: Send + Sync>() {}
    check::<XArray<String, u64>>();
    check::<XArray<Vec<u8>, u8>>();
}

// ---------------------------------------------------------------------------
// Marks.

#[test]
fn set_mark_then_get_mark() {
    let xa = Xa::new();
    xa.store(64, v(1)).unwrap();
    xa.store(65, v(1)).unwrap();
    xa.set_mark(64, Mark::DIRTY);
    assert!(xa.get_mark(64, Mark::DIRTY));
    assert!(!xa.get_mark(64, Mark::TOWRITE));
    assert!(!xa.get_mark(64, Mark::MARK_2));
    assert!(!xa.get_mark(65, Mark::DIRTY));
    assert!(!xa.get_mark(63, Mark::DIRTY));
    assert!(xa.has_mark(Mark::DIRTY));
    assert!(!xa.has_mark(Mark::TOWRITE));
    xa.check_invariants();
}

#[test]
fn mark_constants_are_distinct_and_aliased() {
    assert_eq!(Mark::DIRTY, Mark::MARK_0);
    assert_eq!(Mark::TOWRITE, Mark::MARK_1);
    assert_ne!(Mark::DIRTY, Mark::TOWRITE);
    assert_ne!(Mark::TOWRITE, Mark::MARK_2);
    assert_eq!(Mark::ALL.len(), 3);
}

#[test]
fn each_mark_is_independent() {
    let xa = Xa::new();
    xa.store(10, v(1)).unwrap();
    for (n, m) in Mark::ALL.into_iter().enumerate() {
        xa.set_mark(10, m);
        for (k, other) in Mark::ALL.into_iter().enumerate() {
            assert_eq!(xa.get_mark(10, other), k <= n, "after setting {m:?}");
        }
    }
    xa.clear_mark(10, Mark::TOWRITE);
    assert!(xa.get_mark(10, Mark::DIRTY));
    assert!(!xa.get_mark(10, Mark::TOWRITE));
    assert!(xa.get_mark(10, Mark::MARK_2));
    xa.check_invariants();
}

#[test]
fn set_mark_on_empty_index_does_nothing() {
    let xa = Xa::new();
    xa.set_mark(5, Mark::DIRTY);
    assert!(!xa.get_mark(5, Mark::DIRTY));
    assert!(!xa.has_mark(Mark::DIRTY));
    xa.store(4, v(4)).unwrap();
    xa.set_mark(5, Mark::DIRTY);
    xa.set_mark(u64::MAX, Mark::DIRTY);
    assert!(!xa.get_mark(5, Mark::DIRTY));
    assert!(!xa.get_mark(4, Mark::DIRTY));
    assert!(!xa.has_mark(Mark::DIRTY));
    let g = pin();
    assert!(marked(&xa, Mark::DIRTY, &g).is_empty());
    xa.check_invariants();
}

#[test]
fn clear_mark_on_empty_or_unmarked_index_does_nothing() {
    let xa = Xa::new();
    xa.clear_mark(5, Mark::DIRTY);
    xa.store(5, v(5)).unwrap();
    xa.clear_mark(5, Mark::DIRTY);
    assert!(!xa.get_mark(5, Mark::DIRTY));
    xa.set_mark(5, Mark::DIRTY);
    xa.clear_mark(6, Mark::DIRTY);
    assert!(xa.get_mark(5, Mark::DIRTY));
    xa.check_invariants();
}

#[test]
fn has_mark_tracks_any_marked_entry() {
    let xa = Xa::new();
    xa.store(3, v(3)).unwrap();
    xa.store(1 << 30, v(3)).unwrap();
    xa.set_mark(3, Mark::MARK_2);
    xa.set_mark(1 << 30, Mark::MARK_2);
    assert!(xa.has_mark(Mark::MARK_2));
    xa.clear_mark(3, Mark::MARK_2);
    assert!(xa.has_mark(Mark::MARK_2));
    xa.clear_mark(1 << 30, Mark::MARK_2);
    assert!(!xa.has_mark(Mark::MARK_2));
    xa.check_invariants();
}

#[test]
fn marks_at_boundary_indices() {
    let xa = Xa::new();
    let all = boundary_indices();
    for &i in &all {
        xa.store(i, v(1)).unwrap();
    }
    for (n, &i) in all.iter().enumerate() {
        if n % 2 == 0 {
            xa.set_mark(i, Mark::TOWRITE);
        }
    }
    xa.check_invariants();
    for (n, &i) in all.iter().enumerate() {
        assert_eq!(xa.get_mark(i, Mark::TOWRITE), n % 2 == 0, "index {i}");
    }
    let g = pin();
    let want: Vec<u64> = all.iter().copied().step_by(2).collect();
    assert_eq!(marked(&xa, Mark::TOWRITE, &g), want);
}

#[test]
fn marks_survive_growing_the_tree() {
    let xa = Xa::new();
    xa.store(0, v(0)).unwrap();
    xa.set_mark(0, Mark::DIRTY);
    xa.store(1, v(1)).unwrap();
    xa.set_mark(1, Mark::TOWRITE);
    for far in [64u64, 4096, 1 << 20, 1 << 40, u64::MAX] {
        xa.store(far, v(far & 0xffff)).unwrap();
        xa.check_invariants();
        assert!(xa.get_mark(0, Mark::DIRTY), "after growing to {far}");
        assert!(xa.get_mark(1, Mark::TOWRITE), "after growing to {far}");
        assert!(!xa.get_mark(far, Mark::DIRTY));
    }
    let g = pin();
    assert_eq!(marked(&xa, Mark::DIRTY, &g), vec![0]);
    assert_eq!(marked(&xa, Mark::TOWRITE, &g), vec![1]);
}

#[test]
fn marks_survive_shrinking_the_tree() {
    let xa = Xa::new();
    xa.store(0, v(0)).unwrap();
    xa.set_mark(0, Mark::DIRTY);
    xa.store(u64::MAX, v(1)).unwrap();
    xa.set_mark(u64::MAX, Mark::TOWRITE);
    xa.store(1 << 40, v(2)).unwrap();
    assert_eq!(xa.erase(u64::MAX), Some(v(1)));
    xa.check_invariants();
    assert!(!xa.has_mark(Mark::TOWRITE));
    assert!(xa.get_mark(0, Mark::DIRTY));
    assert_eq!(xa.erase(1 << 40), Some(v(2)));
    xa.check_invariants();
    assert!(xa.get_mark(0, Mark::DIRTY));
    assert!(xa.has_mark(Mark::DIRTY));
    let g = pin();
    assert_eq!(marked(&xa, Mark::DIRTY, &g), vec![0]);
    // Shrink to a lone marked entry away from zero.
    xa.store(7, v(7)).unwrap();
    xa.set_mark(7, Mark::MARK_2);
    xa.erase(0);
    xa.check_invariants();
    assert!(xa.get_mark(7, Mark::MARK_2));
    assert!(!xa.has_mark(Mark::DIRTY));
    assert_eq!(marked(&xa, Mark::MARK_2, &g), vec![7]);
}

#[test]
fn erase_clears_marks() {
    let xa = Xa::new();
    xa.store(100, v(1)).unwrap();
    for m in Mark::ALL {
        xa.set_mark(100, m);
    }
    xa.erase(100);
    xa.check_invariants();
    for m in Mark::ALL {
        assert!(!xa.has_mark(m));
    }
    xa.store(100, v(2)).unwrap();
    for m in Mark::ALL {
        assert!(!xa.get_mark(100, m), "{m:?} came back after erase + store");
    }
    xa.check_invariants();
}

#[test]
fn store_over_an_entry_keeps_its_marks() {
    let xa = Xa::new();
    xa.store(9, v(1)).unwrap();
    xa.set_mark(9, Mark::DIRTY);
    xa.set_mark(9, Mark::MARK_2);
    xa.store(9, v(2)).unwrap();
    assert!(xa.get_mark(9, Mark::DIRTY));
    assert!(xa.get_mark(9, Mark::MARK_2));
    assert!(!xa.get_mark(9, Mark::TOWRITE));
    xa.store(9, item("i")).unwrap();
    assert!(xa.get_mark(9, Mark::DIRTY));
    assert!(xa.get_mark(9, Mark::MARK_2));
    xa.check_invariants();
}

#[test]
fn marks_in_a_large_tree_are_summarised_correctly() {
    let n = sz(5000, 300);
    let xa = Xa::new();
    for i in 0..n {
        xa.store(i * 7, v(i)).unwrap();
        if i % 13 == 0 {
            xa.set_mark(i * 7, Mark::DIRTY);
        }
    }
    xa.check_invariants();
    let g = pin();
    let want: Vec<u64> = (0..n).filter(|i| i % 13 == 0).map(|i| i * 7).collect();
    assert_eq!(marked(&xa, Mark::DIRTY, &g), want);
    // Clear them all again, one by one; the summaries must follow.
    for &i in &want {
        xa.clear_mark(i, Mark::DIRTY);
    }
    xa.check_invariants();
    assert!(!xa.has_mark(Mark::DIRTY));
    assert!(marked(&xa, Mark::DIRTY, &g).is_empty());
}

// ---------------------------------------------------------------------------
// tag_range.

#[test]
fn tag_range_copies_the_mark_and_counts_entries() {
    let xa = Xa::new();
    for i in 0..100u64 {
        xa.store(i, v(i)).unwrap();
        if i % 3 == 0 {
            xa.set_mark(i, Mark::DIRTY);
        }
    }
    let n = xa.tag_range(10..50, Mark::DIRTY, Mark::TOWRITE);
    let want: Vec<u64> = (10..50).filter(|i| i % 3 == 0).collect();
    assert_eq!(n, want.len());
    let g = pin();
    assert_eq!(marked(&xa, Mark::TOWRITE, &g), want);
    // DIRTY is untouched.
    assert_eq!(marked(&xa, Mark::DIRTY, &g).len(), 34);
    xa.check_invariants();
}

#[test]
fn tag_range_counts_entries_that_already_carry_the_target_mark() {
    let xa = Xa::new();
    for i in 0..10u64 {
        xa.store(i, v(i)).unwrap();
        xa.set_mark(i, Mark::DIRTY);
    }
    assert_eq!(xa.tag_range(.., Mark::DIRTY, Mark::TOWRITE), 10);
    assert_eq!(xa.tag_range(.., Mark::DIRTY, Mark::TOWRITE), 10);
    assert_eq!(xa.tag_range(..5, Mark::DIRTY, Mark::TOWRITE), 5);
}

#[test]
fn tag_range_on_an_empty_tree_or_range_tags_nothing() {
    let xa = Xa::new();
    assert_eq!(xa.tag_range(.., Mark::DIRTY, Mark::TOWRITE), 0);
    xa.store(5, v(5)).unwrap();
    xa.set_mark(5, Mark::DIRTY);
    assert_eq!(xa.tag_range(6.., Mark::DIRTY, Mark::TOWRITE), 0);
    assert_eq!(xa.tag_range(..5, Mark::DIRTY, Mark::TOWRITE), 0);
    assert_eq!(xa.tag_range(5..5, Mark::DIRTY, Mark::TOWRITE), 0);
    let (a, b) = (black_box(9u64), black_box(2u64));
    assert_eq!(xa.tag_range(a..b, Mark::DIRTY, Mark::TOWRITE), 0);
    assert_eq!(xa.tag_range(a..=b, Mark::DIRTY, Mark::TOWRITE), 0);
    assert!(!xa.get_mark(5, Mark::TOWRITE));
    assert_eq!(xa.tag_range(5..=5, Mark::DIRTY, Mark::TOWRITE), 1);
    assert!(xa.get_mark(5, Mark::TOWRITE));
    xa.check_invariants();
}

#[test]
fn tag_range_reaches_u64_max() {
    let xa = Xa::new();
    for i in [0, 1 << 63, u64::MAX - 1, u64::MAX] {
        xa.store(i, v(1)).unwrap();
        xa.set_mark(i, Mark::MARK_2);
    }
    assert_eq!(
        xa.tag_range((u64::MAX - 1)..=u64::MAX, Mark::MARK_2, Mark::DIRTY),
        2
    );
    assert_eq!(xa.tag_range(.., Mark::MARK_2, Mark::TOWRITE), 4);
    assert!(xa.get_mark(u64::MAX, Mark::DIRTY));
    assert!(!xa.get_mark(1 << 63, Mark::DIRTY));
    assert!(xa.get_mark(0, Mark::TOWRITE));
    xa.check_invariants();
}

// ---------------------------------------------------------------------------
// cmpxchg.

#[test]
fn cmpxchg_none_into_empty_index_stores() {
    let xa = Xa::new();
    assert_eq!(xa.cmpxchg(12, None, Some(v(1))).unwrap(), None);
    assert_eq!(val(&xa, 12), Some(1));
    assert_eq!(xa.len(), 1);
    xa.check_invariants();
}

#[test]
fn cmpxchg_none_into_occupied_index_does_not_store() {
    let xa = Xa::new();
    xa.store(12, v(1)).unwrap();
    assert_eq!(xa.cmpxchg(12, None, Some(v(2))).unwrap(), Some(v(1)));
    assert_eq!(val(&xa, 12), Some(1));
}

#[test]
fn cmpxchg_matching_value_replaces_it() {
    let xa = Xa::new();
    xa.store(12, v(1)).unwrap();
    assert_eq!(xa.cmpxchg(12, Some(&v(1)), Some(v(2))).unwrap(), Some(v(1)));
    assert_eq!(val(&xa, 12), Some(2));
    xa.check_invariants();
}

#[test]
fn cmpxchg_mismatching_value_returns_current_and_stores_nothing() {
    let xa = Xa::new();
    xa.store(12, v(1)).unwrap();
    assert_eq!(xa.cmpxchg(12, Some(&v(3)), Some(v(2))).unwrap(), Some(v(1)));
    assert_eq!(val(&xa, 12), Some(1));
    assert_eq!(xa.cmpxchg(12, Some(&item("1")), None).unwrap(), Some(v(1)));
    assert_eq!(val(&xa, 12), Some(1));
}

#[test]
fn cmpxchg_on_empty_index_with_expected_entry_does_nothing() {
    let xa = Xa::new();
    assert_eq!(xa.cmpxchg(12, Some(&v(1)), Some(v(2))).unwrap(), None);
    assert!(xa.is_empty());
    xa.check_invariants();
}

#[test]
fn cmpxchg_to_none_erases_and_clears_marks() {
    let xa = Xa::new();
    xa.store(12, v(1)).unwrap();
    xa.set_mark(12, Mark::DIRTY);
    assert_eq!(xa.cmpxchg(12, Some(&v(1)), None).unwrap(), Some(v(1)));
    assert!(xa.is_empty());
    assert!(!xa.has_mark(Mark::DIRTY));
    xa.store(12, v(1)).unwrap();
    assert!(!xa.get_mark(12, Mark::DIRTY));
    xa.check_invariants();
}

#[test]
fn cmpxchg_replace_keeps_marks() {
    let xa = Xa::new();
    xa.store(12, v(1)).unwrap();
    xa.set_mark(12, Mark::TOWRITE);
    xa.cmpxchg(12, Some(&v(1)), Some(v(2))).unwrap();
    assert!(xa.get_mark(12, Mark::TOWRITE));
}

#[test]
fn cmpxchg_compares_items_by_identity() {
    let xa = Xa::new();
    let a = Arc::new("same".to_string());
    let twin = Arc::new("same".to_string());
    xa.store(1, Entry::Item(a.clone())).unwrap();
    // Equal contents, different Arc: no exchange.
    let prev = xa
        .cmpxchg(1, Some(&Entry::Item(twin.clone())), Some(v(5)))
        .unwrap()
        .unwrap();
    assert!(Arc::ptr_eq(prev.item().unwrap(), &a));
    assert!(Arc::ptr_eq(xa.get(1).unwrap().item().unwrap(), &a));
    // The same Arc: exchanged.
    let prev = xa
        .cmpxchg(
            1,
            Some(&Entry::Item(a.clone())),
            Some(Entry::Item(twin.clone())),
        )
        .unwrap()
        .unwrap();
    assert!(Arc::ptr_eq(prev.item().unwrap(), &a));
    assert!(Arc::ptr_eq(xa.get(1).unwrap().item().unwrap(), &twin));
    xa.check_invariants();
}

#[test]
fn cmpxchg_value_never_matches_an_item() {
    let xa: XArray<u64> = XArray::new();
    xa.store(1, Entry::Item(Arc::new(7))).unwrap();
    let prev = xa.cmpxchg(1, Some(&Entry::Value(7)), None).unwrap();
    assert!(prev.unwrap().item().is_some());
    assert_eq!(xa.len(), 1);
    xa.store(2, Entry::Value(7)).unwrap();
    let prev = xa
        .cmpxchg(2, Some(&Entry::Item(Arc::new(7))), None)
        .unwrap();
    assert_eq!(prev, Some(Entry::Value(7)));
    assert_eq!(xa.len(), 2);
}

#[test]
fn cmpxchg_fills_a_reserved_index() {
    let xa = Xa::new();
    xa.reserve(77).unwrap();
    assert_eq!(xa.cmpxchg(77, None, Some(v(7))).unwrap(), None);
    assert_eq!(val(&xa, 77), Some(7));
    assert_eq!(xa.len(), 1);
    // It is an ordinary entry now: release leaves it alone.
    xa.release(77);
    assert_eq!(val(&xa, 77), Some(7));
    xa.check_invariants();
}

#[test]
fn cmpxchg_of_a_too_wide_value_is_invalid() {
    let xa = Xa::new();
    let err = xa.cmpxchg(1, None, Some(v(1 << 62))).unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err:?}");
    assert!(xa.is_empty());
}

// ---------------------------------------------------------------------------
// Reservations.

#[test]
fn reserved_index_reads_as_none_but_occupies_its_index() {
    let xa = Xa::new();
    xa.reserve(5).unwrap();
    let g = pin();
    assert!(xa.load(5, &g).is_none());
    assert!(xa.get(5).is_none());
    assert_eq!(xa.len(), 1);
    assert!(!xa.is_empty());
    assert_eq!(xa.get_order(5), 0);
    assert_eq!(xa.iter(&g).count(), 0, "iterators skip reservations");
    assert_eq!(xa.range(0..10, &g).count(), 0);
    xa.check_invariants();
}

#[test]
fn insert_into_a_reserved_index_is_busy() {
    let xa = Xa::new();
    xa.reserve(5).unwrap();
    assert!(matches!(xa.insert(5, v(1)), Err(Error::Busy { index: 5 })));
    assert!(xa.get(5).is_none());
    assert_eq!(xa.len(), 1);
}

#[test]
fn store_fills_a_reserved_index() {
    let xa = Xa::new();
    xa.reserve(5).unwrap();
    assert_eq!(xa.store(5, v(1)).unwrap(), None);
    assert_eq!(val(&xa, 5), Some(1));
    assert_eq!(xa.len(), 1);
    xa.check_invariants();
}

#[test]
fn release_frees_a_reserved_index() {
    let xa = Xa::new();
    xa.reserve(5).unwrap();
    xa.reserve(u64::MAX).unwrap();
    xa.release(5);
    assert_eq!(xa.len(), 1);
    xa.release(u64::MAX);
    assert!(xa.is_empty());
    xa.check_invariants();
    xa.insert(5, v(5)).unwrap();
    assert_eq!(val(&xa, 5), Some(5));
}

#[test]
fn release_leaves_an_entry_alone() {
    let xa = Xa::new();
    xa.store(5, v(5)).unwrap();
    xa.release(5);
    assert_eq!(val(&xa, 5), Some(5));
    xa.release(6);
    assert_eq!(xa.len(), 1);
    xa.check_invariants();
}

#[test]
fn reserve_of_an_occupied_index_leaves_the_entry_alone() {
    let xa = Xa::new();
    xa.store(5, v(5)).unwrap();
    xa.set_mark(5, Mark::DIRTY);
    let _ = xa.reserve(5);
    assert_eq!(val(&xa, 5), Some(5));
    assert!(xa.get_mark(5, Mark::DIRTY));
    assert_eq!(xa.len(), 1);
    xa.check_invariants();
}

#[test]
fn reserving_twice_counts_once() {
    let xa = Xa::new();
    xa.reserve(8).unwrap();
    xa.reserve(8).unwrap();
    assert_eq!(xa.len(), 1);
    xa.release(8);
    assert!(xa.is_empty());
}

#[test]
fn erase_of_a_reserved_index_returns_none_and_frees_it() {
    let xa = Xa::new();
    xa.reserve(9).unwrap();
    assert_eq!(xa.erase(9), None);
    assert!(xa.is_empty());
    xa.insert(9, v(9)).unwrap();
    xa.check_invariants();
}

#[test]
fn iteration_steps_over_a_reservation() {
    let xa = Xa::new();
    xa.store(5, v(5)).unwrap();
    xa.reserve(6).unwrap();
    xa.store(7, v(7)).unwrap();
    let g = pin();
    assert_eq!(indices(&xa, &g), vec![5, 7]);
    assert_eq!(xa.len(), 3);
}

#[test]
fn reservations_at_boundary_indices() {
    let xa = Xa::new();
    let all = boundary_indices();
    for &i in &all {
        xa.reserve(i).unwrap();
    }
    xa.check_invariants();
    assert_eq!(xa.len(), all.len());
    for &i in &all {
        assert!(xa.get(i).is_none());
        assert!(matches!(xa.insert(i, v(1)), Err(Error::Busy { index }) if index == i));
    }
    for &i in &all {
        xa.release(i);
    }
    xa.check_invariants();
    assert!(xa.is_empty());
}

// ---------------------------------------------------------------------------
// Allocation.

#[test]
fn alloc_hands_out_the_lowest_free_id_from_the_limit_start() {
    let xa = Xa::with_flags(Flags::ALLOC);
    for want in 0..100u64 {
        assert_eq!(xa.alloc(v(want), 0..=u64::MAX).unwrap(), want);
    }
    assert_eq!(xa.len(), 100);
    for i in 0..100u64 {
        assert_eq!(val(&xa, i), Some(i));
    }
    xa.check_invariants();
}

#[test]
fn alloc1_starts_at_one() {
    let xa = Xa::with_flags(Flags::ALLOC1);
    assert_eq!(xa.alloc(v(1), 0..=100).unwrap(), 1);
    assert_eq!(xa.alloc(v(2), 0..=100).unwrap(), 2);
    assert!(xa.get(0).is_none());
    xa.check_invariants();
}

#[test]
fn alloc_respects_the_limit_start() {
    let xa = Xa::with_flags(Flags::ALLOC);
    assert_eq!(xa.alloc(v(1), 10..=20).unwrap(), 10);
    assert_eq!(xa.alloc(v(1), 10..=20).unwrap(), 11);
    assert_eq!(xa.alloc(v(1), 0..=20).unwrap(), 0);
    assert_eq!(xa.alloc(v(1), 1000..=2000).unwrap(), 1000);
    assert_eq!(xa.alloc(v(1), (1 << 40)..=u64::MAX).unwrap(), 1 << 40);
    xa.check_invariants();
}

#[test]
fn alloc_reuses_erased_ids_lowest_first() {
    let xa = Xa::with_flags(Flags::ALLOC);
    for _ in 0..10 {
        xa.alloc(v(0), 0..=100).unwrap();
    }
    xa.erase(7);
    xa.erase(3);
    assert_eq!(xa.alloc(v(3), 0..=100).unwrap(), 3);
    assert_eq!(xa.alloc(v(7), 0..=100).unwrap(), 7);
    assert_eq!(xa.alloc(v(10), 0..=100).unwrap(), 10);
    xa.check_invariants();
}

#[test]
fn alloc_skips_stored_reserved_and_multi_order_entries() {
    let xa = Xa::with_flags(Flags::ALLOC);
    xa.store(0, v(0)).unwrap();
    xa.reserve(1).unwrap();
    xa.store_order(4, 2, v(4)).unwrap();
    assert_eq!(xa.alloc(v(2), 0..=100).unwrap(), 2);
    assert_eq!(xa.alloc(v(3), 0..=100).unwrap(), 3);
    assert_eq!(xa.alloc(v(8), 0..=100).unwrap(), 8);
    xa.release(1);
    assert_eq!(xa.alloc(v(1), 0..=100).unwrap(), 1);
    xa.check_invariants();
}

#[test]
fn alloc_in_a_full_limit_is_full() {
    let xa = Xa::with_flags(Flags::ALLOC);
    for want in 0..3 {
        assert_eq!(xa.alloc(v(0), 0..=2).unwrap(), want);
    }
    let err = xa.alloc(v(0), 0..=2).unwrap_err();
    assert_eq!(err, Error::Full { start: 0, end: 2 });
    assert_eq!(xa.len(), 3);
    // A wider limit still has room.
    assert_eq!(xa.alloc(v(0), 0..=3).unwrap(), 3);
    xa.check_invariants();
}

#[test]
fn alloc_of_a_single_id_limit() {
    let xa = Xa::with_flags(Flags::ALLOC);
    assert_eq!(xa.alloc(v(0), u64::MAX..=u64::MAX).unwrap(), u64::MAX);
    assert!(matches!(
        xa.alloc(v(0), u64::MAX..=u64::MAX),
        Err(Error::Full { .. })
    ));
    assert_eq!(xa.alloc(v(0), 5..=5).unwrap(), 5);
    assert!(matches!(xa.alloc(v(0), 5..=5), Err(Error::Full { .. })));
    xa.check_invariants();
}

#[test]
fn alloc_with_an_empty_limit_is_invalid() {
    let xa = Xa::with_flags(Flags::ALLOC);
    let (a, b) = (black_box(5u64), black_box(4u64));
    let err = xa.alloc(v(0), a..=b).unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err:?}");
    assert!(xa.is_empty());
}

#[test]
fn alloc_without_the_flag_is_invalid() {
    let xa = Xa::new();
    let err = xa.alloc(v(0), 0..=10).unwrap_err();
    assert_eq!(
        err,
        Error::Invalid {
            reason: InvalidInput::NotAllocating
        }
    );
    assert!(xa.is_empty());
}

#[test]
fn alloc_of_a_too_wide_value_is_invalid_and_takes_no_id() {
    let xa = Xa::with_flags(Flags::ALLOC);
    assert!(matches!(
        xa.alloc(v(u64::MAX), 0..=10),
        Err(Error::Invalid { .. })
    ));
    assert!(xa.is_empty());
    assert_eq!(xa.alloc(v(1), 0..=10).unwrap(), 0);
}

#[test]
fn alloc_restarts_after_clear() {
    let xa = Xa::with_flags(Flags::ALLOC);
    for _ in 0..70 {
        xa.alloc(v(0), 0..=1000).unwrap();
    }
    xa.clear();
    assert_eq!(xa.alloc(v(0), 0..=1000).unwrap(), 0);
    xa.check_invariants();
}

#[test]
fn alloc_tree_keeps_the_other_marks_for_the_user() {
    let xa = Xa::with_flags(Flags::ALLOC);
    let id = xa.alloc(v(0), 0..=10).unwrap();
    xa.set_mark(id, Mark::TOWRITE);
    xa.set_mark(id, Mark::MARK_2);
    assert!(xa.get_mark(id, Mark::TOWRITE));
    assert!(xa.get_mark(id, Mark::MARK_2));
    let g = pin();
    assert_eq!(marked(&xa, Mark::TOWRITE, &g), vec![id]);
    xa.erase(id);
    assert!(!xa.has_mark(Mark::TOWRITE));
    xa.check_invariants();
}

#[test]
fn alloc_across_many_nodes() {
    let n = sz(5000, 300);
    let xa = Xa::with_flags(Flags::ALLOC);
    for want in 0..n {
        assert_eq!(xa.alloc(v(want), 0..=u64::MAX).unwrap(), want);
    }
    for i in (0..n).step_by(97) {
        xa.erase(i);
    }
    xa.check_invariants();
    for i in (0..n).step_by(97) {
        assert_eq!(xa.alloc(v(i), 0..=u64::MAX).unwrap(), i);
    }
    assert_eq!(xa.alloc(v(0), 0..=u64::MAX).unwrap(), n);
    xa.check_invariants();
}

// ---------------------------------------------------------------------------
// Iteration.

fn sample_tree() -> (Xa, Vec<u64>) {
    let xa = Xa::new();
    let at = vec![
        0,
        1,
        5,
        10,
        63,
        64,
        65,
        1000,
        4096,
        1 << 40,
        u64::MAX - 1,
        u64::MAX,
    ];
    for &i in &at {
        xa.store(i, v(i & 0xffff)).unwrap();
    }
    (xa, at)
}

#[test]
fn iter_yields_entries_in_index_order() {
    let xa = Xa::new();
    let mut want = BTreeSet::new();
    let mut x = 0x1234_5678_u64;
    for _ in 0..500 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let i = x % 100_000;
        xa.store(i, v(i)).unwrap();
        want.insert(i);
    }
    let g = pin();
    let got: Vec<(u64, u64)> = xa.iter(&g).map(|(i, e)| (i, e.value().unwrap())).collect();
    let want: Vec<(u64, u64)> = want.into_iter().map(|i| (i, i)).collect();
    assert_eq!(got, want);
}

#[test]
fn iter_yields_items_by_reference() {
    let xa = Xa::new();
    xa.store(3, item("three")).unwrap();
    xa.store(4, v(4)).unwrap();
    let g = pin();
    let got: Vec<String> = xa
        .iter(&g)
        .map(|(i, e)| match e {
            EntryRef::Item(s) => format!("{i}:{s}"),
            EntryRef::Value(x) => format!("{i}={x}"),
        })
        .collect();
    assert_eq!(got, ["3:three", "4=4"]);
}

#[test]
fn range_starting_in_the_middle() {
    let xa = Xa::new();
    for i in (0..1000u64).step_by(7) {
        xa.store(i, v(i)).unwrap();
    }
    let g = pin();
    let got: Vec<u64> = xa.range(500.., &g).map(|(i, _)| i).collect();
    let want: Vec<u64> = (0..1000u64).step_by(7).filter(|&i| i >= 500).collect();
    assert_eq!(got, want);
    let got: Vec<u64> = xa.range(501..=510, &g).map(|(i, _)| i).collect();
    assert_eq!(got, vec![504]);
    let got: Vec<u64> = xa.range(505..511, &g).map(|(i, _)| i).collect();
    assert!(got.is_empty());
}

#[test]
fn range_accepts_every_range_bounds_form() {
    let (xa, at) = sample_tree();
    let g = pin();
    let got = |r: (Bound<u64>, Bound<u64>)| -> Vec<u64> { ids(xa.range(r, &g)) };
    let want = |r: (Bound<u64>, Bound<u64>)| -> Vec<u64> {
        at.iter()
            .copied()
            .filter(|i| std::ops::RangeBounds::contains(&r, i))
            .collect()
    };
    use Bound::{Excluded as E, Included as I, Unbounded as U};
    let cases = [
        (U, U),
        (I(5), U),
        (E(5), U),
        (U, I(64)),
        (U, E(64)),
        (I(5), E(65)),
        (I(5), I(65)),
        (E(1), E(1000)),
        (E(0), I(0)),
        (I(u64::MAX), U),
        (I(u64::MAX), I(u64::MAX)),
        (E(u64::MAX - 1), U),
        (E(u64::MAX), U),
        (U, E(0)),
        (U, I(0)),
        (I(64), I(64)),
        (I(66), E(1000)),
        (I(1 << 40), E(u64::MAX)),
    ];
    for r in cases {
        assert_eq!(got(r), want(r), "range {r:?}");
    }
    // The std range types, too.
    assert_eq!(ids(xa.range(.., &g)), at);
    assert_eq!(ids(xa.range(5.., &g)), want((I(5), U)));
    assert_eq!(ids(xa.range(..64, &g)), want((U, E(64))));
    assert_eq!(ids(xa.range(..=64, &g)), want((U, I(64))));
    assert_eq!(ids(xa.range(5..65, &g)), want((I(5), E(65))));
    assert_eq!(ids(xa.range(5..=65, &g)), want((I(5), I(65))));
    assert_eq!(ids(xa.range(u64::MAX.., &g)), vec![u64::MAX]);
    assert_eq!(ids(xa.range(..=u64::MAX, &g)), at);
}

#[test]
fn empty_and_reversed_ranges_yield_nothing() {
    let (xa, _) = sample_tree();
    for i in 0..100 {
        xa.set_mark(i, Mark::DIRTY);
    }
    let g = pin();
    let (a, b) = (black_box(65u64), black_box(5u64));
    assert_eq!(xa.range(a..b, &g).count(), 0);
    assert_eq!(xa.range(a..=b, &g).count(), 0);
    assert_eq!(xa.range(5..5, &g).count(), 0);
    assert_eq!(xa.range(..0, &g).count(), 0);
    assert_eq!(
        xa.range((Bound::Excluded(5), Bound::Excluded(6)), &g)
            .count(),
        0
    );
    assert_eq!(
        xa.range((Bound::Excluded(5), Bound::Included(5)), &g)
            .count(),
        0
    );
    assert_eq!(
        xa.range((Bound::Excluded(u64::MAX), Bound::Unbounded), &g)
            .count(),
        0
    );
    assert_eq!(
        xa.range((Bound::Excluded(u64::MAX), Bound::Included(u64::MAX)), &g)
            .count(),
        0
    );
    let (m, z) = (black_box(u64::MAX), black_box(0u64));
    assert_eq!(xa.range(m..=z, &g).count(), 0);
    assert_eq!(xa.iter_marked(a..b, Mark::DIRTY, &g).count(), 0);
    assert_eq!(xa.iter_marked(5..5, Mark::DIRTY, &g).count(), 0);
    assert_eq!(xa.iter_marked(m..=z, Mark::DIRTY, &g).count(), 0);
}

#[test]
fn range_with_no_entries_inside_yields_nothing() {
    let (xa, _) = sample_tree();
    let g = pin();
    assert_eq!(xa.range(11..63, &g).count(), 0);
    assert_eq!(xa.range(1001..4096, &g).count(), 0);
    assert_eq!(xa.range((1 << 40) + 1..u64::MAX - 1, &g).count(), 0);
}

#[test]
fn iteration_of_sparse_extremes() {
    let xa = Xa::new();
    xa.store(0, v(0)).unwrap();
    xa.store(u64::MAX, v(1)).unwrap();
    let g = pin();
    assert_eq!(indices(&xa, &g), vec![0, u64::MAX]);
    assert_eq!(
        xa.range(1.., &g).map(|(i, _)| i).collect::<Vec<_>>(),
        vec![u64::MAX]
    );
    assert_eq!(
        xa.range(..u64::MAX, &g).map(|(i, _)| i).collect::<Vec<_>>(),
        vec![0]
    );
}

#[test]
fn iter_marked_yields_only_marked_entries_in_order() {
    let n = sz(1000, 250);
    let xa = Xa::new();
    for i in 0..n {
        xa.store(i, v(i)).unwrap();
    }
    for i in (0..n).rev().step_by(11) {
        xa.set_mark(i, Mark::TOWRITE);
    }
    let g = pin();
    let mut want: Vec<u64> = (0..n).rev().step_by(11).collect();
    want.reverse();
    let got: Vec<(u64, u64)> = xa
        .iter_marked(.., Mark::TOWRITE, &g)
        .map(|(i, e)| (i, e.value().unwrap()))
        .collect();
    assert_eq!(got, want.iter().map(|&i| (i, i)).collect::<Vec<_>>());
    let got: Vec<u64> = xa
        .iter_marked(100..=200, Mark::TOWRITE, &g)
        .map(|(i, _)| i)
        .collect();
    let want_mid: Vec<u64> = want
        .iter()
        .copied()
        .filter(|i| (100..=200).contains(i))
        .collect();
    assert_eq!(got, want_mid);
    assert_eq!(xa.iter_marked(.., Mark::DIRTY, &g).count(), 0);
}

#[test]
fn iter_marked_across_far_apart_indices() {
    let (xa, at) = sample_tree();
    for &i in at.iter().skip(1).step_by(2) {
        xa.set_mark(i, Mark::MARK_2);
    }
    let g = pin();
    let want: Vec<u64> = at.iter().copied().skip(1).step_by(2).collect();
    assert_eq!(marked(&xa, Mark::MARK_2, &g), want);
    let tail: Vec<u64> = xa
        .iter_marked(65.., Mark::MARK_2, &g)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(
        tail,
        want.iter()
            .copied()
            .filter(|&i| i >= 65)
            .collect::<Vec<_>>()
    );
}

#[test]
fn iterators_read_the_live_tree() {
    let xa = Xa::new();
    for i in 0..200u64 {
        xa.store(i, v(i)).unwrap();
        xa.set_mark(i, Mark::DIRTY);
    }
    let g = pin();
    let mut seen = Vec::new();
    for (i, _) in xa.iter(&g) {
        seen.push(i);
        if i == 10 {
            // Erase entries ahead of the walk: they must not be yielded.
            xa.erase(150);
            xa.erase(199);
        }
    }
    assert_eq!(seen.len(), 198);
    assert!(!seen.contains(&150) && !seen.contains(&199));
    let mut seen = Vec::new();
    for (i, _) in xa.iter_marked(.., Mark::DIRTY, &g) {
        seen.push(i);
        if i == 10 {
            xa.clear_mark(100, Mark::DIRTY);
            xa.erase(120);
        }
    }
    assert_eq!(seen.len(), 196);
    assert!(!seen.contains(&100) && !seen.contains(&120));
    assert!(seen.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn a_walk_survives_the_tree_shrinking_under_it() {
    let xa = Xa::new();
    xa.store(0, v(0)).unwrap();
    xa.store(5, v(5)).unwrap();
    xa.store(1 << 40, v(40)).unwrap();
    let g = pin();
    let mut seen = Vec::new();
    for (i, _) in xa.iter(&g) {
        seen.push(i);
        if i == 0 {
            xa.erase(1 << 40);
        }
    }
    assert_eq!(seen, vec![0, 5]);
    xa.check_invariants();
}

// ---------------------------------------------------------------------------
// Values.

#[test]
fn every_value_type_round_trips() {
    let a: XArray<(), u8> = XArray::new();
    a.store(1, Entry::Value(u8::MAX)).unwrap();
    assert_eq!(a.get(1), Some(Entry::Value(u8::MAX)));
    let b: XArray<(), u16> = XArray::new();
    b.store(1, Entry::Value(u16::MAX)).unwrap();
    assert_eq!(b.get(1), Some(Entry::Value(u16::MAX)));
    let c: XArray<(), u32> = XArray::new();
    c.store(u64::MAX, Entry::Value(u32::MAX)).unwrap();
    assert_eq!(c.get(u64::MAX), Some(Entry::Value(u32::MAX)));
    let d: XArray<(), usize> = XArray::new();
    d.store(1, Entry::Value(123_456_789)).unwrap();
    assert_eq!(d.get(1), Some(Entry::Value(123_456_789usize)));
    let e: XArray<(), bool> = XArray::new();
    e.store(1, Entry::Value(true)).unwrap();
    e.store(2, Entry::Value(false)).unwrap();
    assert_eq!(e.get(1), Some(Entry::Value(true)));
    assert_eq!(
        e.get(2),
        Some(Entry::Value(false)),
        "false is stored, not empty"
    );
    assert_eq!(e.len(), 2);
    let f: XArray<(), u64> = XArray::new();
    let widest = (1u64 << 62) - 1;
    f.store(1, Entry::Value(widest)).unwrap();
    f.store(2, Entry::Value(0)).unwrap();
    assert_eq!(f.get(1), Some(Entry::Value(widest)));
    assert_eq!(f.get(2), Some(Entry::Value(0)), "zero is stored, not empty");
    assert_eq!(f.len(), 2);
}

#[test]
fn u64_value_with_bit_62_set_is_invalid_and_not_stored() {
    let xa = Xa::new();
    xa.store(1, v(5)).unwrap();
    for raw in [1u64 << 62, 1 << 63, u64::MAX] {
        let err = xa.store(1, v(raw)).unwrap_err();
        match err {
            Error::Invalid {
                reason: InvalidInput::ValueTooWide { raw: r, bits },
            } => {
                assert_eq!(r, raw);
                assert_eq!(bits, 62);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(val(&xa, 1), Some(5), "old entry kept, nothing truncated");
        assert!(xa.insert(2, v(raw)).is_err());
        assert!(xa.store_order(64, 6, v(raw)).is_err());
        assert!(xa.store_range(100, 200, v(raw)).is_err());
    }
    assert_eq!(xa.len(), 1);
    xa.check_invariants();
}

#[derive(Clone, Copy, Debug, PartialEq)]
struct Tiny(u8);

impl Value for Tiny {
    const BITS: u32 = 3;
    fn into_raw(self) -> u64 {
        self.0 as u64
    }
    fn from_raw(raw: u64) -> Self {
        Tiny(raw as u8)
    }
}

#[test]
fn custom_value_wider_than_its_bits_is_invalid() {
    let xa: XArray<(), Tiny> = XArray::new();
    xa.store(0, Entry::Value(Tiny(7))).unwrap();
    assert_eq!(xa.get(0), Some(Entry::Value(Tiny(7))));
    let err = xa.store(0, Entry::Value(Tiny(8))).unwrap_err();
    assert_eq!(
        err,
        Error::Invalid {
            reason: InvalidInput::ValueTooWide { raw: 8, bits: 3 }
        }
    );
    assert_eq!(xa.get(0), Some(Entry::Value(Tiny(7))));
    assert!(xa.insert(1, Entry::Value(Tiny(255))).is_err());
    assert!(xa.get(1).is_none());
    assert!(xa
        .cmpxchg(0, Some(&Entry::Value(Tiny(7))), Some(Entry::Value(Tiny(9))))
        .is_err());
    assert_eq!(xa.get(0), Some(Entry::Value(Tiny(7))));
    assert_eq!(xa.len(), 1);
    xa.check_invariants();
}

#[derive(Clone, Copy, Debug, PartialEq)]
struct Block {
    sector: u64,
    dirty: bool,
}

impl Value for Block {
    const BITS: u32 = 41;
    fn into_raw(self) -> u64 {
        (self.sector << 1) | self.dirty as u64
    }
    fn from_raw(raw: u64) -> Self {
        Block {
            sector: raw >> 1,
            dirty: raw & 1 == 1,
        }
    }
}

#[test]
fn custom_struct_value_round_trips() {
    let xa: XArray<(), Block> = XArray::new();
    let b = Block {
        sector: (1 << 40) - 1,
        dirty: true,
    };
    xa.store(9, Entry::Value(b)).unwrap();
    let g = pin();
    assert_eq!(xa.load(9, &g), Some(EntryRef::Value(b)));
    assert!(xa
        .store(
            10,
            Entry::Value(Block {
                sector: 1 << 40,
                dirty: false
            })
        )
        .is_err());
    assert_eq!(xa.len(), 1);
}

// ---------------------------------------------------------------------------
// Errors.

fn assert_mentions(err: Error, parts: &[&str]) {
    let msg = err.to_string();
    for p in parts {
        assert!(msg.contains(p), "{msg:?} should mention {p:?}");
    }
}

#[test]
fn error_display_names_the_busy_index() {
    let xa = Xa::new();
    xa.store(123_456, v(1)).unwrap();
    assert_mentions(xa.insert(123_456, v(2)).unwrap_err(), &["123456"]);
}

#[test]
fn error_display_names_the_misaligned_index_and_order() {
    let xa = Xa::new();
    let err = xa.store_order(4100, 7, v(1)).unwrap_err();
    assert_eq!(
        err,
        Error::Invalid {
            reason: InvalidInput::Misaligned {
                index: 4100,
                order: 7
            }
        }
    );
    assert_mentions(err, &["4100", "7"]);
}

#[test]
fn error_display_names_the_bad_order() {
    let xa = Xa::new();
    let err = xa.store_order(0, 64, v(1)).unwrap_err();
    assert_eq!(
        err,
        Error::Invalid {
            reason: InvalidInput::Order { order: 64 }
        }
    );
    assert_mentions(err, &["64"]);
}

#[test]
fn error_display_names_the_too_wide_value() {
    let xa = Xa::new();
    let err = xa.store(0, v(1 << 62)).unwrap_err();
    let msg = err.to_string();
    let raw = 1u64 << 62;
    assert!(
        msg.contains(&raw.to_string()) || msg.contains(&format!("{raw:#x}")),
        "{msg}"
    );
    assert!(msg.contains("62"), "{msg}");
}

#[test]
fn error_display_names_the_reversed_range() {
    let xa = Xa::new();
    let err = xa.store_range(900, 800, v(1)).unwrap_err();
    assert_eq!(
        err,
        Error::Invalid {
            reason: InvalidInput::Range {
                first: 900,
                last: 800
            }
        }
    );
    assert_mentions(err, &["900", "800"]);
}

#[test]
fn error_display_names_the_full_limit() {
    let xa = Xa::with_flags(Flags::ALLOC);
    xa.alloc(v(0), 17..=17).unwrap();
    assert_mentions(xa.alloc(v(0), 17..=17).unwrap_err(), &["17"]);
}

#[test]
fn error_display_of_alloc_without_flag_mentions_alloc() {
    let xa = Xa::new();
    let msg = xa.alloc(v(0), 0..=1).unwrap_err().to_string();
    assert!(msg.to_lowercase().contains("alloc"), "{msg}");
}

#[test]
fn error_display_names_the_split_orders() {
    let xa = Xa::new();
    xa.store_order(64, 3, v(1)).unwrap();
    let err = xa.split(64, 5).unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err:?}");
    assert_mentions(err, &["3", "5"]);
}

#[test]
fn error_is_a_std_error_that_can_cross_threads() {
    fn check<E: std::error::Error + Send + Sync + Clone + Copy + PartialEq + 'static>() {}
    check::<Error>();
    let err: Box<dyn std::error::Error + Send + Sync> = Box::new(Error::Busy { index: 1 });
    assert!(err.to_string().contains('1'));
    let e = Error::Busy { index: 3 };
    let copy = e;
    assert_eq!(e, copy);
    assert!(format!("{e:?}").contains("Busy"));
}

#[test]
fn no_input_makes_a_call_panic() {
    for &i in &boundary_indices() {
        let xa = Xa::new();
        // Orders only grow, so no split below is asked for many pieces.
        for order in [0u32, 1, 5, 6, 12, 31, 62, 63, 64, 65, u32::MAX] {
            let _ = xa.store_order(i, order, v(1));
            let _ = xa.split(i, order);
            let _ = xa.get_order(i);
            xa.check_invariants();
        }
        xa.clear();
        let _ = xa.store_range(i, i / 2, v(1));
        let _ = xa.store_range(i / 2, i, v(2));
        xa.check_invariants();
        xa.erase(i);
        xa.erase(i / 2);
        xa.check_invariants();
    }
}

// ---------------------------------------------------------------------------
// Item lifetimes.

#[test]
fn erased_item_is_dropped_exactly_once() {
    let drops = Arc::new(AtomicUsize::new(0));
    let xa: XArray<Counted> = XArray::new();
    for i in 0..100u64 {
        xa.store(i * 3, counted(&drops, i)).unwrap();
    }
    for i in 0..100u64 {
        let e = xa.erase(i * 3).unwrap();
        assert_eq!(e.item().unwrap().id, i);
    }
    assert!(
        flush_until(|| drops.load(Ordering::SeqCst) == 100),
        "dropped {} of 100",
        drops.load(Ordering::SeqCst)
    );
    for _ in 0..50 {
        pin().flush();
    }
    assert_eq!(drops.load(Ordering::SeqCst), 100, "dropped twice");
}

#[test]
fn overwritten_item_is_dropped_exactly_once() {
    let drops = Arc::new(AtomicUsize::new(0));
    let xa: XArray<Counted> = XArray::new();
    xa.store(5, counted(&drops, 1)).unwrap();
    let prev = xa.store(5, counted(&drops, 2)).unwrap().unwrap();
    assert_eq!(prev.item().unwrap().id, 1);
    drop(prev);
    xa.store(5, Entry::Value(3)).unwrap();
    assert!(flush_until(|| drops.load(Ordering::SeqCst) == 2));
    assert_eq!(xa.get(5).and_then(|e| e.value()), Some(3));
    drop(xa);
    for _ in 0..50 {
        pin().flush();
    }
    assert_eq!(drops.load(Ordering::SeqCst), 2);
}

#[test]
fn clear_drops_every_item_once() {
    let drops = Arc::new(AtomicUsize::new(0));
    let n = sz(500, 60);
    let xa: XArray<Counted> = XArray::new();
    for i in 0..n {
        xa.store(i * 17, counted(&drops, i)).unwrap();
    }
    xa.store_order(1 << 20, 8, counted(&drops, 999)).unwrap();
    xa.clear();
    assert!(flush_until(|| drops.load(Ordering::SeqCst) as u64 == n + 1));
    drop(xa);
    for _ in 0..50 {
        pin().flush();
    }
    assert_eq!(drops.load(Ordering::SeqCst) as u64, n + 1);
}

#[test]
fn dropping_the_tree_drops_every_item_once() {
    let drops = Arc::new(AtomicUsize::new(0));
    let n = sz(500, 40);
    let xa: XArray<Counted> = XArray::new();
    for i in 0..n {
        xa.store(i.wrapping_mul(0x9e37_79b9_7f4a_7c15), counted(&drops, i))
            .unwrap();
    }
    // Displaces whatever lay in 0..1024 (index 0 at least): those drop too.
    let order = if cfg!(miri) { 6 } else { 10 };
    xa.store_order(0, order, counted(&drops, 1000)).unwrap();
    let expected = n as usize + 1;
    xa.split(0, 2).unwrap();
    drop(xa);
    assert!(
        flush_until(|| drops.load(Ordering::SeqCst) == expected),
        "dropped {} of {expected}",
        drops.load(Ordering::SeqCst)
    );
}

#[test]
fn cmpxchg_and_release_drop_nothing_twice() {
    let drops = Arc::new(AtomicUsize::new(0));
    let xa: XArray<Counted> = XArray::new();
    let first = counted(&drops, 1);
    xa.store(1, first.clone()).unwrap();
    // A failed exchange drops the new entry (it was moved in) and nothing else.
    let prev = xa.cmpxchg(1, None, Some(counted(&drops, 2))).unwrap();
    assert!(prev.unwrap().same(&first));
    let prev = xa
        .cmpxchg(1, Some(&first), Some(counted(&drops, 3)))
        .unwrap();
    assert!(prev.unwrap().same(&first));
    drop(first);
    xa.reserve(2).unwrap();
    xa.release(2);
    xa.cmpxchg(1, None, None).unwrap();
    xa.erase(1);
    assert!(flush_until(|| drops.load(Ordering::SeqCst) == 3));
    drop(xa);
    for _ in 0..50 {
        pin().flush();
    }
    assert_eq!(drops.load(Ordering::SeqCst), 3);
}

#[test]
fn shared_arc_stored_many_times_is_released_by_every_slot() {
    let n = sz(1000, 100);
    let xa: XArray<u64> = XArray::new();
    let a = Arc::new(7u64);
    for i in 0..n {
        xa.store(i * 5, Entry::Item(a.clone())).unwrap();
    }
    assert_eq!(Arc::strong_count(&a) as u64, n + 1);
    for i in 0..n / 2 {
        xa.erase(i * 5);
    }
    xa.clear();
    assert!(
        flush_until(|| Arc::strong_count(&a) == 1),
        "strong count {}",
        Arc::strong_count(&a)
    );
}

#[test]
fn a_loaded_item_outlives_its_erase_while_the_guard_lives() {
    let drops = Arc::new(AtomicUsize::new(0));
    let xa: XArray<Counted> = XArray::new();
    xa.store(1, counted(&drops, 41)).unwrap();
    let g = pin();
    let r = xa.load(1, &g).unwrap().item().unwrap();
    drop(xa.erase(1));
    xa.store(1, counted(&drops, 42)).unwrap();
    for _ in 0..200 {
        pin().flush();
    }
    // This thread is still pinned: nothing unlinked since can be freed.
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    assert_eq!(r.id, 41);
    drop(g);
    assert!(flush_until(|| drops.load(Ordering::SeqCst) == 1));
    assert_eq!(xa.get(1).unwrap().item().unwrap().id, 42);
}

#[test]
fn values_need_no_drop_and_mix_with_counted_items() {
    let drops = Arc::new(AtomicUsize::new(0));
    let xa: XArray<Counted> = XArray::new();
    for i in 0..300u64 {
        if i % 2 == 0 {
            xa.store(i, counted(&drops, i)).unwrap();
        } else {
            xa.store(i, Entry::Value(i)).unwrap();
        }
    }
    // Replace items by values and values by items.
    for i in 0..300u64 {
        if i % 2 == 0 {
            xa.store(i, Entry::Value(i)).unwrap();
        } else {
            xa.store(i, counted(&drops, i)).unwrap();
        }
    }
    xa.check_invariants();
    assert!(flush_until(|| drops.load(Ordering::SeqCst) == 150));
    drop(xa);
    assert!(flush_until(|| drops.load(Ordering::SeqCst) == 300));
}
