//! Scheduling points: named places at the lock boundaries of the DAX path
//! where a test may perturb or stop the calling thread.
//!
//! The races that lose data in fs/dax.c live between two lock holds: a
//! fault that has mapped a page but not yet stored its entry back, an
//! fsync that slept on an entry and has not yet re-taken the tree lock, a
//! punch that holds a PMD entry locked for its split. Real threads hit
//! those windows rarely. So the fault, fsync and punch paths call
//! [`point`] at each boundary, always with the tree lock *not* held, and a
//! test thread can install a hook ([`install`]) that runs there:
//!
//! * the randomized race test (`tests/race.rs`) yields, or sleeps for a few
//!   microseconds, at seeded random points, so that many seeds explore many
//!   interleavings;
//! * a deterministic scenario parks a thread at one exact point until the
//!   test has arranged the rest of the world (`tests/scenarios.rs`).
//!
//! Outside tests no hook is ever installed and a point is a thread-local
//! read. A hook is taken out of its slot while it runs, so a hook that
//! calls back into the DAX path (a writer driven by fsync's progress) does
//! not re-enter itself.

use std::cell::RefCell;

/// Where a thread is in the DAX path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Point {
    /// A fault holds its entry locked and is about to do the slow part.
    FaultEntryLocked,
    /// A fault has installed its page-table entry and not yet stored the
    /// entry back unlocked.
    FaultMapped,
    /// A store found its page unmapped or read-only and faulted; it is
    /// about to look at the mapping again.
    StoreRefault,
    /// fsync has tagged its range DIRTY → TOWRITE.
    FsyncTagged,
    /// fsync has locked a batch and is about to write-protect and flush it.
    FsyncBatchLocked,
    /// fsync has flushed a batch and is about to clear DIRTY and unlock.
    FsyncBatchFlushed,
    /// fsync has unlocked a batch; no lock is held.
    FsyncBatchDone,
    /// A thread that slept on a locked entry woke and is about to take the
    /// tree lock again to re-check it.
    EntryWaitWoken,
    /// Punch holds a PMD entry locked for its split, before unmapping it.
    PunchSplitLocked,
    /// Punch has split a PMD entry (the pieces are unlocked).
    PunchSplitDone,
    /// Punch is about to delete the next entry of its range.
    PunchErase,
}

type Hook = Box<dyn FnMut(Point)>;

thread_local! {
    static HOOK: RefCell<Option<Hook>> = const { RefCell::new(None) };
}

/// Runs this thread's hook, if any, at `at`. Never call it with the tree
/// lock held: a hook may sleep, or run DAX operations of its own.
pub(crate) fn point(at: Point) {
    let hook = HOOK.with(|slot| slot.borrow_mut().take());
    if let Some(mut hook) = hook {
        hook(at);
        HOOK.with(|slot| {
            let mut slot = slot.borrow_mut();
            if slot.is_none() {
                *slot = Some(hook);
            }
        });
    }
}

/// Installs `hook` for the calling thread (replacing any other) until the
/// returned guard is dropped.
#[cfg(test)]
pub(crate) fn install(hook: impl FnMut(Point) + 'static) -> Installed {
    HOOK.with(|slot| *slot.borrow_mut() = Some(Box::new(hook)));
    Installed(())
}

/// Removes the thread's hook when dropped.
#[cfg(test)]
pub(crate) struct Installed(());

#[cfg(test)]
impl Drop for Installed {
    fn drop(&mut self) {
        HOOK.with(|slot| *slot.borrow_mut() = None);
    }
}
