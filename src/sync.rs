//! The only module that names `std`, `loom` or `crossbeam-epoch`.
//!
//! Everything else in the crate takes its atomics, its lock and its
//! reclamation from here, so that one cfg switches the whole tree to loom's
//! model-checked versions (`--cfg xradix_loom`, together with
//! crossbeam-epoch's `loom` feature and `--cfg crossbeam_loom`), and so that
//! the `no_std` build has exactly one place where the lock differs.
//!
//! # Reclamation
//!
//! Nodes and items are freed through crossbeam-epoch: a writer that unlinks
//! something calls [`Guard::defer_unchecked`] and the collector runs the
//! destructor once every thread pinned at that time has unpinned. Readers
//! pin a [`Guard`] and never write shared memory.
//!
//! # The writer lock
//!
//! One lock per tree serialises writers. With `std` it is a
//! `std::sync::Mutex<()>` (it parks instead of spinning when a writer holds
//! it through a long batch); without `std` it is a test-and-set spin lock.
//! A panic while the lock is held cannot leave a half-made change behind,
//! since no library code panics between the first and last store of a
//! change, so a poisoned mutex is simply taken over.

#[cfg(not(xradix_loom))]
pub(crate) use core::sync::atomic::{fence, AtomicPtr, AtomicU32, AtomicU64, AtomicU8, Ordering};
#[cfg(xradix_loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicPtr, AtomicU32, AtomicU64, AtomicU8, Ordering};

/// A pause in a reader's retry loop (a writer is in the middle of a change
/// it will finish soon). Under loom, a yield, so that the model lets the
/// writer run instead of exploring the spin for ever.
#[inline]
pub(crate) fn spin_hint() {
    #[cfg(xradix_loom)]
    loom::thread::yield_now();
    #[cfg(not(xradix_loom))]
    core::hint::spin_loop();
}

/// Counters that only writers change and readers only report (`len`): they
/// order nothing, so they stay plain atomics even under loom, where every
/// modelled atomic would multiply the states to explore.
pub(crate) use core::sync::atomic::AtomicUsize as StatCounter;

pub use crossbeam_epoch::{Collector, Guard, LocalHandle};

/// Pins the current thread to the default collector and returns a guard for
/// lock-free reads.
///
/// Entries borrowed under a guard stay valid until it is dropped; hold a
/// guard for a batch of reads, not for ever, since nothing unlinked while it
/// is alive can be freed.
///
/// ```
/// use xradix::{pin, Entry, XArray};
/// let xa: XArray = XArray::new();
/// xa.store(1, Entry::Value(10)).unwrap();
/// let guard = pin();
/// assert_eq!(xa.load(1, &guard).and_then(|e| e.value()), Some(10));
/// ```
#[cfg(feature = "std")]
#[inline]
pub fn pin() -> Guard {
    crossbeam_epoch::pin()
}

/// The collector that [`pin`] pins to.
#[cfg(feature = "std")]
pub(crate) fn default_collector() -> &'static Collector {
    crossbeam_epoch::default_collector()
}

/// A guard for a writer: pinned to `collector`. With `std` and the default
/// collector this is the thread-local fast path; otherwise a handle is
/// registered for the guard's lifetime (the guard keeps it alive).
pub(crate) fn writer_guard(collector: &Collector, is_default: bool) -> Guard {
    #[cfg(feature = "std")]
    if is_default {
        return crossbeam_epoch::pin();
    }
    let _ = is_default;
    collector.register().pin()
}

/// A writer's access to the epoch collector: a guard pinned on first use.
///
/// Writers read the tree under its lock and need no guard for that: only
/// writers free anything, and they hold the lock. They need a guard only to
/// hand what they unlinked to the collector, so a store that displaces
/// nothing (or only a value) never pins.
pub(crate) struct Reclaimer<'c> {
    collector: &'c Collector,
    is_default: bool,
    guard: core::cell::OnceCell<Guard>,
}

impl<'c> Reclaimer<'c> {
    pub(crate) fn new(collector: &'c Collector, is_default: bool) -> Self {
        Reclaimer {
            collector,
            is_default,
            guard: core::cell::OnceCell::new(),
        }
    }

    /// The guard, pinned now if it was not yet.
    #[inline]
    pub(crate) fn guard(&self) -> &Guard {
        self.guard
            .get_or_init(|| writer_guard(self.collector, self.is_default))
    }
}

/// Whether `guard` was pinned to `collector`.
#[inline]
pub(crate) fn guard_belongs(guard: &Guard, collector: &Collector) -> bool {
    guard.collector() == Some(collector)
}

/// Aligns `T` to its own cache lines, so that what writers keep changing
/// (the lock word, counters) does not share a line with what every reader
/// loads (the head): otherwise each write would cost every reader a miss.
/// 128 bytes: x86_64's adjacent-line prefetcher and aarch64's big cores
/// work in pairs of 64-byte lines.
#[cfg_attr(any(target_arch = "x86_64", target_arch = "aarch64"), repr(align(128)))]
#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    repr(align(64))
)]
pub(crate) struct CachePadded<T>(pub(crate) T);

impl<T> core::ops::Deref for CachePadded<T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        &self.0
    }
}

// ---------------------------------------------------------------------------
// The writer lock.

#[cfg(all(feature = "std", not(xradix_loom)))]
mod lock_impl {
    extern crate std;

    /// The tree's writer lock.
    #[derive(Default)]
    pub(crate) struct Lock(std::sync::Mutex<()>);

    /// Proof that the writer lock is held.
    pub(crate) struct LockGuard<'a>(#[allow(dead_code)] std::sync::MutexGuard<'a, ()>);

    impl Lock {
        pub(crate) fn new() -> Self {
            Lock(std::sync::Mutex::new(()))
        }

        pub(crate) fn lock(&self) -> LockGuard<'_> {
            LockGuard(
                self.0
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()),
            )
        }
    }
}

#[cfg(xradix_loom)]
mod lock_impl {
    /// The tree's writer lock, as loom models it.
    pub(crate) struct Lock(loom::sync::Mutex<()>);

    /// Proof that the writer lock is held.
    pub(crate) struct LockGuard<'a>(#[allow(dead_code)] loom::sync::MutexGuard<'a, ()>);

    impl Lock {
        pub(crate) fn new() -> Self {
            Lock(loom::sync::Mutex::new(()))
        }

        pub(crate) fn lock(&self) -> LockGuard<'_> {
            LockGuard(
                self.0
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()),
            )
        }
    }
}

#[cfg(all(not(feature = "std"), not(xradix_loom)))]
mod lock_impl {
    use core::sync::atomic::{AtomicBool, Ordering};

    /// The tree's writer lock: test-and-test-and-set.
    pub(crate) struct Lock(AtomicBool);

    /// Proof that the writer lock is held; releases it on drop.
    pub(crate) struct LockGuard<'a>(&'a AtomicBool);

    impl Lock {
        pub(crate) fn new() -> Self {
            Lock(AtomicBool::new(false))
        }

        pub(crate) fn lock(&self) -> LockGuard<'_> {
            loop {
                // Acquire: the holder's writes before its Release unlock are
                // visible to us once we own the lock.
                if self
                    .0
                    .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
                {
                    return LockGuard(&self.0);
                }
                // Spin on a plain load so that waiters do not bounce the
                // cache line with failed read-modify-writes.
                while self.0.load(Ordering::Relaxed) {
                    core::hint::spin_loop();
                }
            }
        }
    }

    impl Drop for LockGuard<'_> {
        fn drop(&mut self) {
            // Release: publishes everything done under the lock to the next
            // holder's Acquire.
            self.0.store(false, Ordering::Release);
        }
    }
}

pub(crate) use lock_impl::{Lock, LockGuard};
