//! The API as a user of std, papaya or crossbeam-skiplist expects it
//! (issue 12, items 1–6): collecting items, signed values, pinned views,
//! no silent hang on a same-thread relock, waiting for item drops, and
//! mark 0 in an allocating tree. One behaviour per test.
//!
//! The drop-counting tests use trees with their own collector wherever
//! they assert an exact count: no other test's thread can hold that
//! collector's epoch back, so the outcome does not depend on scheduling.

#![allow(clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use static_assertions::assert_not_impl_any;
use xradix::{pin, Collector, Entry, EntryRef, Error, Flags, Mark, Pinned, Value, XArray};

/// An item that counts its drops.
#[derive(Debug)]
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn counted(drops: &Arc<AtomicUsize>) -> Entry<Counted, u64> {
    Entry::Item(Arc::new(Counted(drops.clone())))
}

/// A tree of counted items with a collector of its own.
fn own_tree() -> XArray<Counted> {
    XArray::with_collector(Collector::new(), Flags::empty())
}

/// The panic message of `f`, which must panic.
fn panic_message(f: impl FnOnce()) -> String {
    let payload = catch_unwind(AssertUnwindSafe(f)).expect_err("expected a panic");
    if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else {
        String::from("<not a string>")
    }
}

// ---------------------------------------------------------------------
// 1. Collect and extend items.

#[test]
fn items_collect_into_a_tree_with_the_default_value_type() {
    let xa: XArray<String> = ["zero", "one", "two"]
        .iter()
        .enumerate()
        .map(|(i, s)| (i as u64 * 10, Arc::new(s.to_string())))
        .collect();
    assert_eq!(xa.len(), 3);
    let p = xa.pin();
    let got: Vec<(u64, &str)> = p
        .iter()
        .map(|(i, e)| (i, e.item().unwrap().as_str()))
        .collect();
    assert_eq!(got, [(0, "zero"), (10, "one"), (20, "two")]);
}

#[test]
fn items_collect_into_a_tree_of_any_value_type() {
    #[derive(Clone, Copy, Debug, PartialEq)]
    struct Wide(u64);
    impl Value for Wide {
        const BITS: u32 = 62;
        fn into_raw(self) -> u64 {
            self.0
        }
        fn from_raw(raw: u64) -> Self {
            Wide(raw)
        }
    }
    let a: XArray<u8, i64> = (0..5u8).map(|i| (u64::from(i), Arc::new(i))).collect();
    assert_eq!(a.len(), 5);
    let b: XArray<u8, Wide> = (0..5u8).map(|i| (u64::from(i), Arc::new(i))).collect();
    assert_eq!(b.get(4).and_then(|e| e.item().map(|x| **x)), Some(4));
}

#[test]
fn a_later_item_at_the_same_index_replaces_the_earlier_and_keeps_its_marks() {
    let mut xa: XArray<&str> = XArray::new();
    xa.store(1, Entry::Item(Arc::new("old"))).unwrap();
    xa.set_mark(1, Mark::TOWRITE);
    let newer = Arc::new("newer");
    xa.extend([
        (1, Arc::new("new")),
        (1, newer.clone()),
        (2, Arc::new("two")),
    ]);
    assert_eq!(xa.len(), 2);
    assert!(xa.get(1).unwrap().same(&Entry::Item(newer)));
    assert!(xa.get_mark(1, Mark::TOWRITE));
}

#[test]
fn items_extend_a_tree_with_its_own_collector() {
    let mut xa: XArray<u32> = XArray::with_collector(Collector::new(), Flags::empty());
    xa.extend((0..100u32).map(|i| (u64::from(i) * 3, Arc::new(i))));
    assert_eq!(xa.len(), 100);
    assert_eq!(xa.pin().load(297).and_then(|e| e.item().copied()), Some(99));
    xa.check_invariants();
}

#[test]
fn entries_with_small_signed_values_collect() {
    let xa: XArray<(), i32> = (-5..5i32)
        .map(|v| {
            (
                u64::from(v.unsigned_abs()) * 2 + u64::from(v < 0),
                Entry::Value(v),
            )
        })
        .collect();
    assert_eq!(xa.len(), 10);
    assert_eq!(xa.get(11), Some(Entry::Value(-5)));
    let mut small: XArray<(), i8> = XArray::new();
    small.extend([(0, Entry::Value(i8::MIN)), (1, Entry::Value(i8::MAX))]);
    let mut mid: XArray<(), i16> = XArray::new();
    mid.extend([(0, Entry::Value(i16::MIN)), (1, Entry::Value(i16::MAX))]);
    assert_eq!(small.get(0), Some(Entry::Value(i8::MIN)));
    assert_eq!(mid.get(1), Some(Entry::Value(i16::MAX)));
}

// ---------------------------------------------------------------------
// 2. Signed integers as values.

/// Stores each of `values` and reads it back, by `get`, `load` and the
/// iterator.
fn round_trip<V: Value + PartialEq + std::fmt::Debug>(values: &[V]) {
    let xa: XArray<(), V> = XArray::new();
    for (i, &v) in values.iter().enumerate() {
        xa.store(i as u64, Entry::Value(v)).unwrap();
    }
    let p = xa.pin();
    for (i, &v) in values.iter().enumerate() {
        assert_eq!(xa.get(i as u64), Some(Entry::Value(v)), "get of {v:?}");
        assert_eq!(
            p.load(i as u64).and_then(|e| e.value()),
            Some(v),
            "load of {v:?}"
        );
    }
    let seen: Vec<V> = p.iter().map(|(_, e)| e.value().unwrap()).collect();
    assert_eq!(seen, values);
}

#[test]
fn i8_i16_i32_round_trip_at_their_limits() {
    round_trip(&[i8::MIN, i8::MIN + 1, -1, 0, 1, i8::MAX - 1, i8::MAX]);
    round_trip(&[i16::MIN, i16::MIN + 1, -1, 0, 1, i16::MAX - 1, i16::MAX]);
    round_trip(&[i32::MIN, i32::MIN + 1, -1, 0, 1, i32::MAX - 1, i32::MAX]);
}

#[test]
fn i64_round_trips_inside_62_bits() {
    let lo = -(1i64 << 61);
    let hi = (1i64 << 61) - 1;
    round_trip(&[lo, lo + 1, -1, 0, 1, hi - 1, hi]);
    #[cfg(target_pointer_width = "64")]
    round_trip(&[lo as isize, -1, 0, 1, hi as isize]);
}

#[test]
fn i64_outside_62_bits_is_refused_never_truncated() {
    let xa: XArray<(), i64> = XArray::new();
    xa.store(0, Entry::Value(5)).unwrap();
    for v in [
        1i64 << 61,
        -(1i64 << 61) - 1,
        i64::MAX,
        i64::MIN,
        1 << 62,
        -(1 << 62),
    ] {
        let err = xa.store(0, Entry::Value(v)).unwrap_err();
        assert!(matches!(err, Error::Invalid { .. }), "{v}: {err:?}");
        assert!(xa.insert(1, Entry::Value(v)).is_err(), "{v}");
        assert!(xa.store_order(64, 6, Entry::Value(v)).is_err(), "{v}");
        assert_eq!(
            xa.get(0),
            Some(Entry::Value(5)),
            "{v} replaced the old value"
        );
    }
    assert_eq!(xa.len(), 1);
    xa.check_invariants();
}

#[cfg(target_pointer_width = "64")]
#[test]
fn isize_outside_62_bits_is_refused() {
    let xa: XArray<(), isize> = XArray::new();
    assert!(xa.store(0, Entry::Value(isize::MAX)).is_err());
    assert!(xa.store(0, Entry::Value(isize::MIN)).is_err());
    assert!(xa.store(0, Entry::Value(1 << 61)).is_err());
    assert!(xa.is_empty());
}

#[test]
fn signed_payloads_are_twos_complement_in_bits() {
    assert_eq!(<i8 as Value>::BITS, 8);
    assert_eq!(<i16 as Value>::BITS, 16);
    assert_eq!(<i32 as Value>::BITS, 32);
    assert_eq!(<i64 as Value>::BITS, 62);
    assert_eq!((-1i8).into_raw(), 0xff);
    assert_eq!(i16::MIN.into_raw(), 0x8000);
    assert_eq!((-1i32).into_raw(), 0xffff_ffff);
    assert_eq!((-1i64).into_raw(), (1 << 62) - 1);
    assert_eq!(i64::from_raw(1 << 61), -(1 << 61));
    // A non-negative number has the payload of the unsigned type.
    for x in [0u8, 1, 100, 127] {
        assert_eq!((x as i8).into_raw(), x.into_raw());
    }
    assert_eq!(i32::MAX.into_raw(), (i32::MAX as u32).into_raw());
    assert_eq!(((1i64 << 61) - 1).into_raw(), ((1u64 << 61) - 1).into_raw());
}

#[test]
fn an_unannotated_literal_works_on_a_default_tree() {
    let xa: XArray = XArray::new();
    xa.store(1, Entry::Value(1)).unwrap();
    assert_eq!(xa.get(1), Some(Entry::Value(1u64)));
    // Nothing fixes V: the literal falls back to i32, a Value too.
    let names = XArray::new();
    names.store(1, Entry::Item(Arc::new("one"))).unwrap();
    names.store(2, Entry::Value(-2)).unwrap();
    let v: Option<i32> = names.get(2).and_then(|e| e.value());
    assert_eq!(v, Some(-2));
}

// ---------------------------------------------------------------------
// 3. Pinned views.

assert_not_impl_any!(Pinned<'static, String, u64>: Send, Sync);

fn page_tree() -> XArray<String> {
    let xa: XArray<String> = XArray::new();
    for i in 0..50u64 {
        xa.store(i * 3, Entry::Item(Arc::new(format!("p{i}"))))
            .unwrap();
    }
    xa.store_order(1024, 6, Entry::Value(7)).unwrap();
    for i in [3, 30, 1024] {
        xa.set_mark(i, Mark::DIRTY);
    }
    xa
}

fn describe<'g>(it: impl Iterator<Item = (u64, EntryRef<'g, String, u64>)>) -> Vec<String> {
    it.map(|(i, e)| format!("{i}:{e:?}")).collect()
}

#[test]
fn pinned_reads_match_the_guard_passing_reads() {
    let xa = page_tree();
    let g = pin();
    let p = xa.pin();
    for i in [0, 1, 3, 30, 147, 148, 1024, 1050, 1088, u64::MAX] {
        assert_eq!(
            format!("{:?}", p.load(i)),
            format!("{:?}", xa.load(i, &g)),
            "load({i})"
        );
        assert_eq!(p.get_order(i), xa.get_order(i), "get_order({i})");
        for m in Mark::ALL {
            assert_eq!(p.get_mark(i, m), xa.get_mark(i, m), "get_mark({i}, {m:?})");
        }
    }
    assert_eq!(describe(p.iter()), describe(xa.iter(&g)));
    assert_eq!(
        describe(p.range(10..1050)),
        describe(xa.range(10..1050, &g))
    );
    assert_eq!(
        describe(p.range(10..1050).rev()),
        describe(xa.range(10..1050, &g).rev())
    );
    assert_eq!(
        describe(p.iter_marked(..1030, Mark::DIRTY)),
        describe(xa.iter_marked(..1030, Mark::DIRTY, &g))
    );
    let (mut a, mut b) = (p.cursor(29), xa.cursor(29, &g));
    for _ in 0..5 {
        assert_eq!(format!("{:?}", a.next()), format!("{:?}", b.next()));
    }
    assert_eq!(a.index(), b.index());
}

#[test]
fn a_for_loop_over_a_pinned_tree_visits_every_entry_once_in_order() {
    let xa = page_tree();
    let mut seen = Vec::new();
    for (i, _) in &xa.pin() {
        seen.push(i);
    }
    let mut want: Vec<u64> = (0..50).map(|i| i * 3).collect();
    want.push(1024);
    assert_eq!(seen, want);
}

#[test]
fn an_empty_or_reversed_range_of_a_pinned_tree_yields_nothing() {
    let xa = page_tree();
    let p = xa.pin();
    #[allow(clippy::reversed_empty_ranges)]
    let reversed = p.range(10..5).count();
    assert_eq!(reversed, 0);
    assert_eq!(p.range(5..5).count(), 0);
}

#[test]
fn a_pinned_tree_with_its_own_collector_reads_without_std_helpers() {
    let xa: XArray<(), u32> = XArray::with_collector(Collector::new(), Flags::empty());
    for i in 0..100u32 {
        xa.store(u64::from(i) * 7, Entry::Value(i)).unwrap();
    }
    xa.set_mark(14, Mark::DIRTY);
    let p = xa.pin();
    assert_eq!(p.load(14).and_then(|e| e.value()), Some(2));
    assert!(p.get_mark(14, Mark::DIRTY));
    assert_eq!(p.iter_marked(.., Mark::DIRTY).count(), 1);
    assert_eq!((&p).into_iter().count(), 100);
    // The guard belongs to the tree's collector: the guard-passing API
    // accepts it.
    assert_eq!(xa.load(700, p.guard()), None);
}

#[test]
fn an_item_erased_while_a_pinned_view_lives_stays_readable_and_undropped() {
    let drops = Arc::new(AtomicUsize::new(0));
    let xa = own_tree();
    xa.store(1, counted(&drops)).unwrap();
    let p = xa.pin();
    let item = p.load(1).unwrap().item().unwrap();
    drop(xa.erase(1));
    assert!(p.load(1).is_none());
    assert_ne!(
        xa.flush(),
        0,
        "the Pinned on this thread holds the drop back"
    );
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    assert!(Arc::ptr_eq(&item.0, &drops)); // still readable
    drop(p);
    assert_eq!(xa.flush(), 0);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

// ---------------------------------------------------------------------
// 4. No silent hang.

#[test]
fn set_mark_through_the_tree_while_this_thread_holds_the_lock_panics_with_advice() {
    let xa: XArray = XArray::new();
    xa.store(1, Entry::Value(1)).unwrap();
    let locked = xa.lock();
    let msg = panic_message(|| xa.set_mark(1, Mark::TOWRITE));
    assert!(msg.contains("XArray::set_mark"), "{msg}");
    assert!(msg.contains("already holds this tree's lock"), "{msg}");
    assert!(msg.contains("Locked"), "{msg}");
    // The handle still works, and did what the slip meant to do.
    locked.set_mark(1, Mark::TOWRITE);
    assert!(locked.get_mark(1, Mark::TOWRITE));
    drop(locked);
    // With the handle gone, writes through the tree work again.
    xa.clear_mark(1, Mark::TOWRITE);
    assert!(!xa.get_mark(1, Mark::TOWRITE));
}

#[test]
fn every_write_through_the_tree_while_locked_panics_and_changes_nothing() {
    type Xa = XArray<u8, u64>;
    type Call = Box<dyn Fn(&Xa)>;
    let calls: Vec<(&str, Call)> = vec![
        (
            "XArray::store",
            Box::new(|xa| drop(xa.store(9, Entry::Value(9)))),
        ),
        (
            "XArray::insert",
            Box::new(|xa| {
                let _ = xa.insert(9, Entry::Value(9));
            }),
        ),
        ("XArray::erase", Box::new(|xa| drop(xa.erase(1)))),
        (
            "XArray::cmpxchg",
            Box::new(|xa| drop(xa.cmpxchg(1, None, None))),
        ),
        (
            "XArray::reserve",
            Box::new(|xa| {
                let _ = xa.reserve(9);
            }),
        ),
        ("XArray::release", Box::new(|xa| xa.release(9))),
        (
            "XArray::store_order",
            Box::new(|xa| drop(xa.store_order(64, 6, Entry::Value(1)))),
        ),
        (
            "XArray::store_range",
            Box::new(|xa| {
                let _ = xa.store_range(64, 70, Entry::Value(1));
            }),
        ),
        (
            "XArray::split",
            Box::new(|xa| {
                let _ = xa.split(0, 0);
            }),
        ),
        (
            "XArray::set_mark",
            Box::new(|xa| xa.set_mark(1, Mark::DIRTY)),
        ),
        (
            "XArray::clear_mark",
            Box::new(|xa| xa.clear_mark(1, Mark::DIRTY)),
        ),
        (
            "XArray::tag_range",
            Box::new(|xa| {
                let _ = xa.tag_range(.., Mark::DIRTY, Mark::TOWRITE);
            }),
        ),
        (
            "XArray::alloc",
            Box::new(|xa| {
                let _ = xa.alloc(Entry::Value(1), 0..=9);
            }),
        ),
        ("XArray::clear", Box::new(|xa| xa.clear())),
        ("XArray::lock", Box::new(|xa| drop(xa.lock()))),
        ("XArray::clone", Box::new(|xa| drop(xa.clone()))),
        (
            "XArray::check_invariants",
            Box::new(|xa| xa.check_invariants()),
        ),
    ];
    let xa: Xa = XArray::new();
    xa.store(1, Entry::Value(1)).unwrap();
    xa.set_mark(1, Mark::MARK_2);
    let locked = xa.lock();
    for (name, call) in &calls {
        let msg = panic_message(|| call(&xa));
        assert!(msg.contains(name), "{name}: {msg}");
        assert!(msg.contains("Locked"), "{name}: {msg}");
    }
    drop(locked);
    assert_eq!(xa.len(), 1);
    assert_eq!(xa.get(1), Some(Entry::Value(1)));
    assert!(xa.get_mark(1, Mark::MARK_2));
    xa.check_invariants();
}

#[test]
fn reads_through_the_tree_while_this_thread_holds_the_lock_do_not_block() {
    let xa: XArray = XArray::new();
    xa.store(1, Entry::Value(1)).unwrap();
    let locked = xa.lock();
    locked.store(2, Entry::Value(2)).unwrap();
    assert_eq!(xa.get(2), Some(Entry::Value(2)));
    assert_eq!(xa.len(), 2);
    assert!(!xa.get_mark(2, Mark::DIRTY));
    assert_eq!(xa.pin().iter().count(), 2);
    assert_eq!(format!("{xa:?}"), "{1: Value(1), 2: Value(2)}");
}

#[test]
fn a_writing_cursor_survives_a_refused_write_through_the_tree() {
    let xa: XArray = XArray::new();
    for i in 0..10 {
        xa.store(i, Entry::Value(i)).unwrap();
    }
    let locked = xa.lock();
    let mut c = locked.cursor_mut(3);
    assert_eq!(c.next().and_then(|e| e.value()), Some(3));
    let msg = panic_message(|| drop(xa.erase(4)));
    assert!(msg.contains("XArray::erase"), "{msg}");
    // Nothing changed, and the cursor walks on.
    assert_eq!(c.next().and_then(|e| e.value()), Some(4));
    // A change through the handle while the cursor lives: it walks again.
    drop(locked.erase(5));
    assert_eq!(c.next().and_then(|e| e.value()), None);
    assert_eq!(c.next().and_then(|e| e.value()), Some(6));
}

#[test]
fn another_thread_waits_for_the_lock_instead_of_panicking() {
    let xa: XArray = XArray::new();
    let locked = xa.lock();
    std::thread::scope(|s| {
        let writer = s.spawn(|| xa.store(7, Entry::Value(7)).map(|_| ()));
        locked.store(6, Entry::Value(6)).unwrap();
        drop(locked);
        writer.join().unwrap().unwrap();
    });
    assert_eq!(xa.len(), 2);
}

// ---------------------------------------------------------------------
// 5. When items are dropped.

#[test]
fn flush_drops_every_item_the_tree_let_go_of() {
    let drops = Arc::new(AtomicUsize::new(0));
    let xa = own_tree();
    for i in 0..300 {
        xa.store(i, counted(&drops)).unwrap();
    }
    xa.store_order(1 << 20, 9, counted(&drops)).unwrap();
    for i in 0..100 {
        drop(xa.erase(i)); // erased: 100
    }
    for i in 100..150 {
        drop(xa.store(i, Entry::Value(i))); // replaced by values: 50
    }
    drop(xa.store_order(256, 8, counted(&drops))); // displaces 256..=299: 44
    assert_eq!(xa.flush(), 0);
    assert_eq!(drops.load(Ordering::SeqCst), 194);
    xa.clear(); // 150..256, the one at 256, the one at 1 << 20: 108
    assert_eq!(xa.flush(), 0);
    assert_eq!(drops.load(Ordering::SeqCst), 302);
    drop(xa);
    assert_eq!(drops.load(Ordering::SeqCst), 302);
}

#[test]
fn flush_returns_zero_when_nothing_waits() {
    let xa: XArray = XArray::new();
    assert_eq!(xa.flush(), 0);
    xa.store(1, Entry::Value(1)).unwrap();
    xa.erase(1);
    assert_eq!(xa.flush(), 0, "values leave nothing to drop");
}

#[test]
fn flush_reaches_items_let_go_of_by_another_thread_on_a_tree_with_its_own_collector() {
    let drops = Arc::new(AtomicUsize::new(0));
    let xa = own_tree();
    for i in 0..64 {
        xa.store(i, counted(&drops)).unwrap();
    }
    std::thread::scope(|s| {
        s.spawn(|| {
            for i in 0..64 {
                drop(xa.erase(i));
            }
        });
    });
    assert_eq!(xa.flush(), 0);
    assert_eq!(drops.load(Ordering::SeqCst), 64);
}

#[test]
fn a_guard_held_on_this_thread_holds_drops_back_and_flush_says_how_many() {
    let drops = Arc::new(AtomicUsize::new(0));
    let xa = own_tree();
    for i in 0..3 {
        xa.store(i, counted(&drops)).unwrap();
    }
    let handle = xa.handle();
    let guard = handle.pin();
    for i in 0..3 {
        drop(xa.erase(i));
    }
    assert_eq!(xa.flush(), 3);
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    drop(guard);
    assert_eq!(xa.flush(), 0);
    assert_eq!(drops.load(Ordering::SeqCst), 3);
}

#[test]
fn flush_on_the_default_collector_drops_this_threads_items() {
    // Other tests' threads may hold the default collector's epoch for a
    // moment: each flush gives up after a bounded number of rounds, so ask
    // again until it reports none left.
    let drops = Arc::new(AtomicUsize::new(0));
    let xa: XArray<Counted> = XArray::new();
    let folio = Arc::new(Counted(drops.clone()));
    // A large folio: one order-9 entry, split into 512 pieces that share
    // it, 4 of them punched out.
    xa.store_order(0, 9, Entry::Item(folio.clone())).unwrap();
    xa.split(0, 0).unwrap();
    assert_eq!(Arc::strong_count(&folio), 513);
    for i in 0..4 {
        drop(xa.erase(i));
    }
    assert!(
        (0..1000).any(|_| xa.flush() == 0),
        "drops held back for ever"
    );
    assert_eq!(Arc::strong_count(&folio), 509);
    xa.clear();
    assert!(
        (0..1000).any(|_| xa.flush() == 0),
        "drops held back for ever"
    );
    assert_eq!(Arc::strong_count(&folio), 1);
    assert_eq!(drops.load(Ordering::SeqCst), 0);
}

/// An item whose `Drop` panics.
struct Bomb;

impl Drop for Bomb {
    fn drop(&mut self) {
        panic!("bomb item dropped (on purpose)");
    }
}

#[test]
fn flush_raises_a_panic_from_an_items_drop_after_the_other_drops() {
    let prev = std::panic::take_hook();
    std::panic::set_hook(Box::new(|info| {
        let message = info.to_string();
        if !message.contains("on purpose") {
            eprintln!("{message}");
        }
    }));
    let xa: XArray<Bomb> = XArray::with_collector(Collector::new(), Flags::empty());
    for i in 0..10 {
        xa.store(i, Entry::Item(Arc::new(Bomb))).unwrap();
    }
    // Through the handle: `XArray::clear` pushes the collector itself
    // after unlocking, and would raise the panic there.
    xa.lock().clear();
    let msg = panic_message(|| {
        let _ = xa.flush();
    });
    std::panic::set_hook(prev);
    assert!(msg.contains("on purpose"), "{msg}");
    // Every drop ran (the first panic is raised, the rest dropped), and
    // the tree is whole.
    assert_eq!(xa.flush(), 0);
    assert!(xa.is_empty());
    xa.check_invariants();
}

// ---------------------------------------------------------------------
// 6. Mark 0 in an allocating tree.

#[test]
fn an_allocating_tree_keeps_mark_0_to_itself() {
    for flags in [Flags::ALLOC, Flags::ALLOC1] {
        let ids: XArray = XArray::with_flags(flags);
        let a = ids.alloc(Entry::Value(1), 0..=99).unwrap();
        let b = ids.alloc(Entry::Value(2), 0..=99).unwrap();
        ids.set_mark(a, Mark::DIRTY);
        assert!(!ids.get_mark(a, Mark::DIRTY), "{flags:?}");
        assert!(!ids.lock().get_mark(a, Mark::DIRTY), "{flags:?}");
        assert!(!ids.pin().get_mark(a, Mark::DIRTY), "{flags:?}");
        assert_eq!(
            ids.pin().iter_marked(.., Mark::DIRTY).count(),
            0,
            "{flags:?}"
        );
        assert_eq!(
            ids.tag_range(.., Mark::DIRTY, Mark::TOWRITE),
            0,
            "{flags:?}"
        );
        // TOWRITE and MARK_2 work as usual; DIRTY is never given.
        ids.set_mark(b, Mark::TOWRITE);
        assert_eq!(
            ids.tag_range(.., Mark::TOWRITE, Mark::DIRTY),
            1,
            "{flags:?}"
        );
        assert!(!ids.get_mark(b, Mark::DIRTY), "{flags:?}");
        assert_eq!(
            ids.tag_range(.., Mark::TOWRITE, Mark::MARK_2),
            1,
            "{flags:?}"
        );
        assert!(ids.get_mark(b, Mark::MARK_2), "{flags:?}");
        // The free-index bookkeeping is intact: the next id is the next free one.
        ids.clear_mark(a, Mark::DIRTY);
        ids.erase(a);
        assert_eq!(ids.alloc(Entry::Value(3), 0..=99).unwrap(), a, "{flags:?}");
        ids.check_invariants();
    }
}
