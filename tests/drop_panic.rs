//! An item's `Drop` that panics never runs in the middle of a change, and
//! leaks nothing: the reader contract's last rule (../API.md, "What a
//! reader may see"). Writers pin before their first store, and the
//! collector's deferred drops catch a panic and raise it again at the next
//! pin on the same thread, before anything changes.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use xradix::{pin, Entry, XArray};

static DROPPED: AtomicUsize = AtomicUsize::new(0);
static PANICKED: AtomicUsize = AtomicUsize::new(0);

/// An item whose `Drop` counts itself and panics when `bomb` is set.
struct Item {
    bomb: bool,
}

impl Drop for Item {
    fn drop(&mut self) {
        DROPPED.fetch_add(1, Ordering::SeqCst);
        if self.bomb {
            PANICKED.fetch_add(1, Ordering::SeqCst);
            panic!("item drop panics (on purpose)");
        }
    }
}

fn quiet<R>(f: impl FnOnce() -> R) -> std::thread::Result<R> {
    catch_unwind(AssertUnwindSafe(f))
}

/// Runs the collector until every item made so far was dropped, or gives up.
fn drain(made: usize) {
    for _ in 0..10_000 {
        if DROPPED.load(Ordering::SeqCst) == made {
            return;
        }
        let _ = quiet(|| pin().flush());
    }
}

#[test]
fn a_panicking_item_drop_leaves_the_tree_consistent_and_leaks_nothing() {
    let prev = std::panic::take_hook();
    // The planted panics are expected; anything else is reported.
    std::panic::set_hook(Box::new(|info| {
        let message = info.to_string();
        if !message.contains("on purpose") {
            eprintln!("{message}");
        }
    }));
    let xa: XArray<Item> = XArray::new();
    let mut model: BTreeMap<u64, bool> = BTreeMap::new();
    let mut made = 0;
    let mut caught = 0;
    let rounds = if cfg!(miri) { 3 } else { 40u64 };
    for round in 0..rounds {
        // Fill: every third item panics when dropped.
        for i in 0..if cfg!(miri) { 40 } else { 200 } {
            let index = i * 7 + round % 5;
            let item = Arc::new(Item {
                bomb: (i + round) % 3 == 0,
            });
            made += 1;
            // A store that unwinds gives its item back; hold a reference so
            // that a bomb does not go off during that unwind (which would
            // abort, as any panic in a drop during an unwind does).
            let keep = item.clone();
            let stored = quiet(|| xa.store(index, Entry::Item(item)));
            let _ = quiet(|| drop(keep));
            match stored {
                Ok(r) => {
                    r.unwrap();
                    model.insert(index, true);
                }
                // The store did not happen: the panic came from the pin
                // before it. The item went back to us and was dropped (a
                // bomb panics again, inside this closure's unwind: caught).
                Err(_) => caught += 1,
            }
        }
        // Erase half, then overwrite a quarter, in ways that retire items
        // and nodes; each may raise an earlier item's panic.
        let keys: Vec<u64> = model.keys().copied().collect();
        for (n, &index) in keys.iter().enumerate() {
            let outcome = if n % 2 == 0 {
                quiet(|| xa.erase(index).is_some()).map(|_| None)
            } else if n % 4 == 1 {
                let item = Arc::new(Item { bomb: n % 3 == 0 });
                made += 1;
                let keep = item.clone();
                let stored =
                    quiet(|| xa.store(index, Entry::Item(item)).map(|_| ())).map(|_| Some(true));
                let _ = quiet(|| drop(keep));
                stored
            } else {
                continue;
            };
            match outcome {
                Ok(None) => {
                    model.remove(&index);
                }
                Ok(Some(_)) => {}
                Err(_) => caught += 1,
            }
            // Whatever happened, the tree is whole and agrees with itself.
            xa.check_invariants();
            assert_eq!(xa.len(), xa.iter(&pin_quiet()).count());
        }
        // Where the model and the tree differ, it is only because a
        // panicking call did not happen: the tree has what it says.
        let held: Vec<u64> = xa.iter(&pin_quiet()).map(|(i, _)| i).collect();
        model = held.iter().map(|&i| (i, true)).collect();
        if round % 8 == 7 || (cfg!(miri) && round + 1 == rounds) {
            let _ = quiet(|| xa.clear());
            xa.check_invariants();
            model.clear();
        }
    }
    assert!(
        caught > 0,
        "no panic reached a writer: the test proves nothing"
    );
    drop(xa);
    drain(made);
    std::panic::set_hook(prev);
    assert_eq!(
        DROPPED.load(Ordering::SeqCst),
        made,
        "every item is dropped exactly once ({} panicked in Drop, {caught} reached a call)",
        PANICKED.load(Ordering::SeqCst),
    );
}

/// A guard for reading; a pending item panic raised by pinning is
/// swallowed here and the pin retried.
fn pin_quiet() -> xradix::Guard {
    loop {
        if let Ok(g) = quiet(pin) {
            return g;
        }
    }
}
