//! ID allocation: the kernel's `xa_alloc` / IDR pattern.
//!
//! A tree made with `Flags::ALLOC1` hands out the lowest free index of a
//! limit, never 0 (so 0 can mean "no id"), in O(height): free slots are
//! tracked in mark 0. Freed ids are reused lowest first; a full limit is
//! `Error::Full`. Allocation takes the tree's lock, so threads sharing one
//! tree always get distinct ids, and lookups by id stay lock-free.
//!
//! Run with `cargo run --example ids`.

use std::collections::BTreeSet;
use std::sync::Arc;

use xradix::{pin, Entry, EntryRef, Error, Flags, XArray};

/// What an id names: here, a client session.
#[derive(Debug)]
struct Session {
    user: String,
}

fn session(user: &str) -> Entry<Session> {
    Entry::Item(Arc::new(Session {
        user: user.to_string(),
    }))
}

const THREADS: u64 = 4;
const PER_THREAD: u64 = 1000;

fn main() {
    let ids: XArray<Session> = XArray::with_flags(Flags::ALLOC1);

    // Lowest free first, starting at 1.
    let alice = ids.alloc(session("alice"), 0..=u32::MAX as u64).unwrap();
    let bob = ids.alloc(session("bob"), 0..=u32::MAX as u64).unwrap();
    let carol = ids.alloc(session("carol"), 0..=u32::MAX as u64).unwrap();
    assert_eq!((alice, bob, carol), (1, 2, 3));
    println!("alice = {alice}, bob = {bob}, carol = {carol} (ALLOC1 never hands out 0)");

    // Free and reuse: the lowest free id comes back first.
    let gone = ids.erase(bob).unwrap();
    assert_eq!(gone.item().map(|s| s.user.as_str()), Some("bob"));
    let dave = ids.alloc(session("dave"), 0..=u32::MAX as u64).unwrap();
    assert_eq!(dave, bob);
    println!("bob logged out; dave reuses id {dave}");

    // Lookups by id are lock-free.
    let guard = pin();
    match ids.load(dave, &guard) {
        Some(EntryRef::Item(s)) => assert_eq!(s.user, "dave"),
        other => panic!("id {dave}: {other:?}"),
    }
    drop(guard);

    // A small limit runs out: Error::Full names the limit.
    let small: XArray<Session> = XArray::with_flags(Flags::ALLOC1);
    for _ in 1..=8 {
        small.alloc(session("x"), 0..=8).unwrap();
    }
    let err = small.alloc(session("one too many"), 0..=8).unwrap_err();
    assert!(matches!(err, Error::Full { start: 0, end: 8 }));
    println!("limit 0..=8 with ALLOC1: 8 ids, then `{err}`");
    small.erase(5);
    assert_eq!(small.alloc(session("y"), 0..=8).unwrap(), 5);
    // A tree made without an ALLOC flag refuses to allocate.
    let plain: XArray<Session> = XArray::new();
    assert!(matches!(
        plain.alloc(session("z"), 0..=8),
        Err(Error::Invalid { .. })
    ));

    // Many threads, one allocator: every id is handed out once.
    let shared = Arc::new(XArray::<Session>::with_flags(Flags::ALLOC1));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || {
                let mut mine = Vec::new();
                for i in 0..PER_THREAD {
                    let id = shared
                        .alloc(session(&format!("t{t}-{i}")), 1..=1_000_000)
                        .unwrap();
                    mine.push(id);
                    // Free every third id again: others may reuse it.
                    if i % 3 == 0 {
                        shared.erase(id);
                        mine.pop();
                    }
                }
                mine
            })
        })
        .collect();
    let mut held = BTreeSet::new();
    for h in handles {
        for id in h.join().unwrap() {
            assert!(held.insert(id), "id {id} handed out twice");
        }
    }
    assert_eq!(held.len(), shared.len());
    // Every id still held names the session of the thread that got it.
    let guard = pin();
    for (id, entry) in shared.iter(&guard) {
        assert!(held.contains(&id));
        assert!(matches!(entry, EntryRef::Item(s) if s.user.starts_with('t')));
    }
    // Freed ids were reused, so the held ids are packed near the bottom.
    let max = *held.last().unwrap();
    assert!(
        max < THREADS * PER_THREAD,
        "ids were reused: highest is {max}"
    );
    println!(
        "{THREADS} threads allocated {} ids and freed {}; the {} still held are distinct, the highest is {max}",
        THREADS * PER_THREAD,
        THREADS * PER_THREAD - held.len() as u64,
        held.len()
    );
    shared.check_invariants();
}

#[cfg(test)]
mod tests {
    /// `cargo test --all-targets` runs the example, with its assertions.
    #[test]
    fn example_runs_and_its_claims_hold() {
        super::main();
    }
}
