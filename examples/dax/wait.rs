//! The wait table: where threads sleep until a locked entry is unlocked.
//!
//! A DAX entry's lock is one bit in the entry (`LOCKED`), so there is no
//! per-entry mutex to sleep on. fs/dax.c instead hashes the entry's index
//! into a fixed table of wait queues (`wait_table[DAX_WAIT_TABLE_ENTRIES]`)
//! and sleeps there; an unlock wakes the queue its index hashes to. Two
//! rules make that free of lost wake-ups, and both are kept here:
//!
//! 1. **Register before letting go.** A waiter takes its bucket's mutex
//!    *while still holding the tree lock*, reads the bucket's wake counter,
//!    and only then drops the tree lock and sleeps. The unlocker stores the
//!    unlocked entry and bumps the counter under the tree lock. So either
//!    the waiter saw the entry unlocked, or the bump comes after it began
//!    to sleep and wakes it. (Lock order: tree lock, then bucket mutex;
//!    never the other way.)
//! 2. **Wait on the entry's own index.** A PMD entry covers 512 indices;
//!    waiters and wakers both use its PMD-aligned index, or a waiter that
//!    faulted at index 700 sleeps on a queue the unlock at 512 never wakes
//!    (DAX.md bug 10, the 2019 RocksDB hang).
//!
//! Every wake-up wakes all sleepers of the bucket (they re-check and all
//! but one go back to sleep): a deleted entry must wake everyone (bug 10's
//! 2021 case), and waking all also makes hash collisions harmless. A
//! bucket counts its sleepers, and a wake-up of a bucket nobody sleeps on
//! only bumps the counter: the condition variable's notify is a futex
//! system call every time, and every entry unlock wakes (the kernel's
//! `wake_up_all` likewise returns at once on an empty queue). The count
//! is taken with the sleeper's registration, under the bucket's mutex,
//! which the sleeper holds until it sleeps; so a wake-up that finds it
//! zero has nobody to miss.
//!
//! Sleeps time out (one second by default) and re-check. A sleeper that
//! times out, finds the entry unlocked, and sees that its bucket was never
//! woken has *proved* a lost wake-up: the kernel would hang there. The
//! example counts it ([`Stats::lost_wakeups`](crate::mapping::Stats)) and
//! carries on, so a test can assert the count is zero — or, with a bug
//! switched on, that it is not.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

/// Buckets in the table (fs/dax.c uses 4096 as well).
const BUCKETS: usize = 4096;

/// One wait queue: its counters and the condition variable its sleepers
/// wait on.
#[derive(Debug, Default)]
pub(crate) struct Bucket {
    state: Mutex<Counts>,
    cv: Condvar,
}

/// A bucket's wake-ups so far, and the sleepers registered on it.
#[derive(Debug, Default)]
struct Counts {
    wakes: u64,
    sleepers: u64,
}

/// A waiter's place in a bucket, taken under the tree lock; it holds the
/// bucket's mutex until [`Ticket::sleep`]. (One dropped without sleeping
/// leaves the bucket's sleeper count one high, so its wake-ups notify for
/// nothing: slower, never wrong.)
pub(crate) struct Ticket<'a> {
    bucket: &'a Bucket,
    guard: MutexGuard<'a, Counts>,
    seen: u64,
}

/// How a sleep ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Woken {
    /// Someone woke the bucket (perhaps for another index).
    Woken,
    /// The timeout passed and nobody woke the bucket.
    TimedOut,
}

impl Ticket<'_> {
    /// Sleeps until the bucket is woken or `timeout` passes. Call it after
    /// dropping the tree lock.
    pub(crate) fn sleep(self, timeout: core::time::Duration) -> Woken {
        let seen = self.seen;
        let (mut guard, result) = self
            .bucket
            .cv
            .wait_timeout_while(self.guard, timeout, |counts| counts.wakes == seen)
            .unwrap_or_else(PoisonError::into_inner);
        guard.sleepers -= 1;
        drop(guard);
        if result.timed_out() {
            Woken::TimedOut
        } else {
            Woken::Woken
        }
    }
}

/// The hashed table of wait queues.
#[derive(Debug)]
pub(crate) struct WaitTable {
    buckets: Box<[Bucket]>,
}

impl Default for WaitTable {
    fn default() -> WaitTable {
        WaitTable {
            buckets: (0..BUCKETS).map(|_| Bucket::default()).collect(),
        }
    }
}

impl WaitTable {
    fn bucket(&self, key: u64) -> &Bucket {
        // Fibonacci hashing: neighbouring indices land in different buckets.
        let hash = key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 52;
        &self.buckets[hash as usize % self.buckets.len()]
    }

    /// Registers as a sleeper on `key`'s bucket. Must be called with the
    /// tree lock held (rule 1 above).
    pub(crate) fn prepare(&self, key: u64) -> Ticket<'_> {
        let bucket = self.bucket(key);
        let mut guard = bucket.state.lock().unwrap_or_else(PoisonError::into_inner);
        guard.sleepers += 1;
        let seen = guard.wakes;
        Ticket {
            bucket,
            guard,
            seen,
        }
    }

    /// How many times `key`'s bucket has been woken: a sleeper compares
    /// it with its ticket to tell a lost wake-up from a slow holder.
    pub(crate) fn wakes(&self, key: u64) -> u64 {
        self.bucket(key)
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .wakes
    }

    /// Wakes every sleeper on `key`'s bucket. Called with the tree lock
    /// held, after the entry was unlocked or deleted.
    pub(crate) fn wake_all(&self, key: u64) {
        let bucket = self.bucket(key);
        let mut counts = bucket.state.lock().unwrap_or_else(PoisonError::into_inner);
        counts.wakes = counts.wakes.wrapping_add(1);
        if counts.sleepers > 0 {
            bucket.cv.notify_all();
        }
    }
}

impl Ticket<'_> {
    /// The bucket's wake count when the ticket was taken.
    pub(crate) fn seen(&self) -> u64 {
        self.seen
    }
}
