//! The std traits of the public types: compile-time `Send`/`Sync` facts
//! (positive and negative) and run-time checks of every trait the crate
//! implements for users (`Clone`, `Extend`, `FromIterator`, `Debug`,
//! `Default`, `try_extend`).

use std::cell::Cell;
use std::rc::Rc;
use std::sync::{Arc, MutexGuard};

use static_assertions::{assert_impl_all, assert_not_impl_any};
use xradix::{
    pin, Cursor, CursorMut, Entry, EntryRef, Error, Flags, InvalidInput, Iter, Locked, Mark,
    SmallValue, Value, XArray,
};

// ---------------------------------------------------------------------------
// Send and Sync, exactly when sound.

// A tree is shared between threads: items are read as `&T` from any thread
// (T: Sync) and dropped on whichever thread erases them (T: Send).
assert_impl_all!(XArray<String, u64>: Send, Sync);
assert_impl_all!(XArray: Send, Sync, Default);
assert_impl_all!(XArray<Vec<u8>, u8>: Send, Sync, Clone);
// Not Send/Sync: `Rc` (neither), `Cell` (Send, not Sync: `&Cell` readers on
// two threads would race), `MutexGuard` (Sync, not Send: must be dropped on
// its own thread). Such trees cannot even be made: `new` and every other
// method need `T: Send + Sync + 'static` (see the compile_fail example in
// XArray's docs); the type alone is nameable and is neither Send nor Sync.
assert_not_impl_any!(XArray<Rc<u8>>: Send, Sync);
assert_not_impl_any!(XArray<Cell<u8>>: Send, Sync);
assert_not_impl_any!(XArray<MutexGuard<'static, u8>>: Send, Sync);

// Handles that hold (or borrow) an epoch guard or the lock stay on their
// thread: a guard pins the thread it was made on, and a mutex must be
// unlocked by the thread that locked it.
assert_not_impl_any!(Cursor<'static, 'static, String, u64>: Send, Sync);
assert_not_impl_any!(CursorMut<'static, String, u64>: Send, Sync);
assert_not_impl_any!(Locked<'static, String, u64>: Send, Sync);
assert_not_impl_any!(Iter<'static, 'static, String, u64>: Send, Sync);
assert_not_impl_any!(xradix::Guard: Send, Sync);

// Entries are as thread-safe as an `Arc<T>` (owned) or a `&T` (borrowed).
assert_impl_all!(Entry<String, u64>: Send, Sync, Clone);
assert_impl_all!(EntryRef<'static, String, u64>: Send, Sync, Copy);
assert_not_impl_any!(Entry<Rc<u8>, u64>: Send, Sync);
assert_not_impl_any!(Entry<Cell<u8>, u64>: Send, Sync);
assert_not_impl_any!(EntryRef<'static, Cell<u8>, u64>: Send, Sync);

// Errors travel anywhere, including inside `Box<dyn Error + Send + Sync>`.
assert_impl_all!(Error: Send, Sync, Copy, std::error::Error, std::fmt::Display);
assert_impl_all!(InvalidInput: Send, Sync, Copy);
fn _error_is_static(e: Error) -> Box<dyn std::error::Error + Send + Sync + 'static> {
    Box::new(e)
}
assert_impl_all!(Mark: Send, Sync, Copy, Eq, std::hash::Hash, Ord);
assert_impl_all!(Flags: Send, Sync, Copy, Eq, Default);
assert_impl_all!(xradix::Collector: Send, Sync, Clone);

// The value types that make `Extend`/`FromIterator` available, and not the
// ones whose values may be too wide for a slot.
assert_impl_all!(u8: SmallValue);
assert_impl_all!(u16: SmallValue);
assert_impl_all!(u32: SmallValue);
assert_impl_all!(bool: SmallValue);
assert_not_impl_any!(u64: SmallValue);
assert_not_impl_any!(usize: SmallValue);
assert_impl_all!(XArray<String, u32>: Extend<(u64, Entry<String, u32>)>, FromIterator<(u64, Entry<String, u32>)>);
assert_not_impl_any!(XArray<String, u64>: Extend<(u64, Entry<String, u64>)>, FromIterator<(u64, Entry<String, u64>)>);

// ---------------------------------------------------------------------------
// Run-time checks.

fn item(s: &str) -> Entry<String, u32> {
    Entry::Item(Arc::new(s.to_string()))
}

#[test]
fn default_is_an_empty_tree_without_flags() {
    let xa: XArray<String> = XArray::default();
    assert!(xa.is_empty());
    assert_eq!(xa.flags(), Flags::empty());
}

#[test]
fn collect_builds_a_tree_and_later_entries_win() {
    let xa: XArray<String, u32> = [(3, item("a")), (1, Entry::Value(1)), (3, Entry::Value(33))]
        .into_iter()
        .collect();
    assert_eq!(xa.len(), 2);
    assert_eq!(xa.get(1), Some(Entry::Value(1)));
    assert_eq!(xa.get(3), Some(Entry::Value(33)));
    xa.check_invariants();
}

#[test]
fn extend_keeps_existing_entries_and_marks() {
    let mut xa: XArray<String, u8> = XArray::new();
    xa.store(10, Entry::Value(1)).unwrap();
    xa.set_mark(10, Mark::DIRTY);
    xa.extend([(10, Entry::Value(2)), (11, Entry::Value(3))]);
    assert_eq!(xa.get(10), Some(Entry::Value(2)));
    assert!(
        xa.get_mark(10, Mark::DIRTY),
        "a store over an entry keeps its marks"
    );
    assert_eq!(xa.len(), 2);
}

#[test]
fn extend_with_bool_and_u16_values() {
    let mut flags: XArray<(), bool> = XArray::new();
    flags.extend((0..100).map(|i| (i, Entry::Value(i % 2 == 0))));
    assert_eq!(flags.len(), 100);
    assert_eq!(flags.get(4), Some(Entry::Value(true)));
    let wide: XArray<(), u16> = (0..=u16::MAX)
        .step_by(4097)
        .map(|v| (u64::from(v), Entry::Value(v)))
        .collect();
    assert_eq!(wide.get(61455), Some(Entry::Value(61455)));
}

#[test]
fn try_extend_stops_at_the_first_too_wide_value() {
    let mut xa: XArray = XArray::new();
    let entries = [
        (1, Entry::Value(1)),
        (2, Entry::Value(u64::MAX)),
        (3, Entry::Value(3)),
    ];
    let err = xa.try_extend(entries).unwrap_err();
    assert!(matches!(
        err,
        Error::Invalid {
            reason: InvalidInput::ValueTooWide {
                raw: u64::MAX,
                bits: 62
            }
        }
    ));
    assert_eq!(xa.get(1), Some(Entry::Value(1)));
    assert_eq!(xa.get(2), None);
    assert_eq!(xa.get(3), None, "the rest of the iterator is not consumed");
}

#[test]
fn try_extend_refuses_a_custom_value_that_lies_about_its_width() {
    #[derive(Clone, Copy, Debug, PartialEq)]
    struct Liar(u64);
    impl Value for Liar {
        const BITS: u32 = 4;
        fn into_raw(self) -> u64 {
            self.0
        }
        fn from_raw(raw: u64) -> Self {
            Liar(raw)
        }
    }
    let mut xa: XArray<(), Liar> = XArray::new();
    xa.try_extend([(0, Entry::Value(Liar(15)))]).unwrap();
    assert!(xa.try_extend([(1, Entry::Value(Liar(16)))]).is_err());
    assert_eq!(xa.len(), 1);
}

#[test]
fn locked_try_extend_works_on_a_shared_tree() {
    let xa: Arc<XArray<String>> = Arc::new(XArray::new());
    let other = Arc::clone(&xa);
    std::thread::spawn(move || {
        other
            .lock()
            .try_extend((0..50).map(|i| (i * 2, Entry::Value(i))))
            .unwrap()
    })
    .join()
    .unwrap();
    assert_eq!(xa.len(), 50);
    assert_eq!(xa.get(98), Some(Entry::Value(49)));
}

/// One entry as readers see it: index, order, entry, marks.
type Seen = (u64, u32, Option<Entry<String, u32>>, [bool; 3]);

/// Everything a walk can observe, for comparing trees.
fn picture(xa: &XArray<String, u32>) -> Vec<Seen> {
    let guard = pin();
    xa.iter(&guard)
        .map(|(i, _)| {
            (
                i,
                xa.get_order(i),
                xa.get(i),
                Mark::ALL.map(|m| xa.get_mark(i, m)),
            )
        })
        .collect()
}

#[test]
fn clone_copies_entries_orders_marks_and_reservations_and_shares_items() {
    let xa: XArray<String, u32> = XArray::new();
    let page = Arc::new("page".to_string());
    xa.store(0, Entry::Item(page.clone())).unwrap();
    xa.store(1, Entry::Value(1)).unwrap();
    xa.store_order(512, 9, Entry::Value(9)).unwrap();
    xa.store_order(1 << 20, 4, item("big")).unwrap();
    xa.store(u64::MAX, Entry::Value(7)).unwrap();
    xa.reserve(77).unwrap();
    xa.set_mark(0, Mark::DIRTY);
    xa.set_mark(600, Mark::TOWRITE);
    xa.set_mark(1 << 20, Mark::MARK_2);
    xa.set_mark(u64::MAX, Mark::DIRTY);

    let copy = xa.clone();
    copy.check_invariants();
    assert_eq!(picture(&copy), picture(&xa));
    assert_eq!(copy.len(), xa.len());
    assert_eq!(copy.len(), 6);
    for m in Mark::ALL {
        assert_eq!(copy.has_mark(m), xa.has_mark(m));
    }
    // The item is shared, not deep-copied.
    assert!(copy.get(0).unwrap().same(&Entry::Item(page.clone())));
    assert_eq!(Arc::strong_count(&page), 3);
    // The reservation is kept: insert sees it busy, cmpxchg fills it.
    assert!(matches!(
        copy.insert(77, Entry::Value(0)),
        Err(Error::Busy { index: 77 })
    ));
    // The trees are independent afterwards.
    copy.erase(512);
    assert_eq!(xa.get_order(700), 9);
    // (Dropping `copy` hands its references to the epoch collector, so
    // the count falls back to 2 only once no guard can still see them.)
}

#[test]
fn clone_of_an_allocating_tree_allocates_the_same_next_id() {
    let ids: XArray<String, u32> = XArray::with_flags(Flags::ALLOC1);
    for i in 0..10 {
        ids.alloc(Entry::Value(i), 0..=100).unwrap();
    }
    ids.erase(4);
    let copy = ids.clone();
    assert_eq!(copy.flags(), Flags::ALLOC1);
    copy.check_invariants();
    assert_eq!(copy.alloc(Entry::Value(0), 0..=100).unwrap(), 4);
    assert_eq!(copy.alloc(Entry::Value(0), 0..=100).unwrap(), 11);
}

#[test]
fn clone_keeps_a_custom_collector() {
    let xa: XArray<String, u32> = XArray::with_collector(xradix::Collector::new(), Flags::empty());
    xa.store(5, Entry::Value(5)).unwrap();
    let copy = xa.clone();
    assert!(copy.collector() == xa.collector());
    let handle = copy.handle();
    let guard = handle.pin();
    assert_eq!(copy.load(5, &guard).and_then(|e| e.value()), Some(5));
}

#[test]
fn snapshot_under_a_held_lock_does_not_deadlock() {
    let xa: XArray<String, u32> = XArray::new();
    let locked = xa.lock();
    locked.store_order(64, 6, Entry::Value(1)).unwrap();
    let copy = locked.snapshot();
    locked.erase(64);
    drop(locked);
    assert!(xa.is_empty());
    assert_eq!(copy.get_order(70), 6);
}

#[test]
fn clone_of_an_empty_tree_and_of_one_entry_at_index_zero() {
    let xa: XArray<String, u32> = XArray::new();
    assert!(xa.clone().is_empty());
    xa.store(0, Entry::Value(3)).unwrap();
    xa.set_mark(0, Mark::TOWRITE);
    let copy = xa.clone();
    assert_eq!(picture(&copy), picture(&xa));
}

#[test]
fn debug_of_a_tree_lists_entries_in_index_order_and_is_bounded() {
    let xa: XArray<String, u32> = XArray::new();
    xa.store(2, Entry::Value(2)).unwrap();
    xa.store(1, item("one")).unwrap();
    assert_eq!(format!("{xa:?}"), r#"{1: Item("one"), 2: Value(2)}"#);
    let big: XArray<(), u32> = (0..1000u32)
        .map(|i| (u64::from(i), Entry::Value(i)))
        .collect();
    let text = format!("{big:?}");
    assert!(text.starts_with("{0: Value(0), 1: Value(1), "));
    assert!(
        text.ends_with(r#"63: Value(63), "..": 936 more}"#),
        "{text}"
    );
}

#[test]
fn debug_of_handles_shows_positions_only() {
    let xa: XArray<String, u32> = XArray::new();
    xa.store(9, item("nine")).unwrap();
    let guard = pin();
    let mut c = xa.cursor(8, &guard);
    assert_eq!(format!("{c:?}"), "Cursor { index: 8 }");
    c.next();
    c.next();
    assert_eq!(format!("{c:?}"), "Cursor { index: 9 }");
    let mut it = xa.range(3..=20, &guard);
    // The iterator shows its two ends and its range (the core's format),
    // never the entries.
    assert!(format!("{it:?}").starts_with("Iter { front: 3, back: 20"));
    it.next();
    assert!(format!("{it:?}").starts_with("Iter { front: 9, "));
    assert!(!format!("{it:?}").contains("nine"));
    let locked = xa.lock();
    assert_eq!(
        format!("{locked:?}"),
        "Locked { len: 1, flags: Flags(0x0) }"
    );
    let cm = locked.cursor_mut(42);
    assert_eq!(format!("{cm:?}"), "CursorMut { index: 42 }");
}
