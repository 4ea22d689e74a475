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
//!
//! The lock is not reentrant. With `std` it records which thread holds it
//! (the address of a thread-local, unique among live threads), so that a
//! thread asking for a lock it already holds is told so at once
//! ([`Lock::held_by_current_thread`]) instead of waiting for itself for
//! ever. The `no_std` spin lock has no portable notion of a thread and
//! records nothing: there, the same slip spins.
//!
//! # Waiting for items to be dropped
//!
//! Every item a tree lets go of is counted until its deferred drop has run
//! ([`InFlight`]), so that [`flush`] can tell when all of them are gone.

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
///
/// Pinning may run deferred drops of items that trees let go of earlier;
/// if one of them panicked, the panic is raised here (see the crate docs,
/// "When is my item dropped?").
#[cfg(feature = "std")]
#[inline]
pub fn pin() -> Guard {
    let guard = crossbeam_epoch::pin();
    rethrow_item_panic();
    guard
}

/// A thread's registration with a tree's collector, made by
/// [`XArray::handle`](crate::XArray::handle): it pins guards for lock-free
/// reads of that tree, and borrows the tree, so that it cannot outlive it.
///
/// Why the borrow: a tree made [`with_collector`](crate::XArray::with_collector)
/// owns its collector. If a [`LocalHandle`] registered with that collector
/// outlived the tree, dropping the handle would drop the collector's last
/// reference from inside crossbeam-epoch's own bookkeeping of the handle,
/// which is undefined behaviour (crossbeam-rs/crossbeam#545). A `Handle`
/// and the guards it pins are dropped before the tree, by the borrow
/// checker's rules.
///
/// ```
/// use xradix::{Collector, Entry, Flags, XArray};
/// let xa: XArray = XArray::with_collector(Collector::new(), Flags::empty());
/// xa.store(1, Entry::Value(2)).unwrap();
/// let handle = xa.handle();
/// let guard = handle.pin();
/// assert_eq!(xa.load(1, &guard).and_then(|e| e.value()), Some(2));
/// ```
pub struct Handle<'a> {
    local: LocalHandle,
    _tree: core::marker::PhantomData<&'a ()>,
}

impl<'a> Handle<'a> {
    pub(crate) fn new(collector: &'a Collector) -> Self {
        Handle {
            local: collector.register(),
            _tree: core::marker::PhantomData,
        }
    }

    /// Pins the thread and returns a guard for reads of the tree; the guard
    /// borrows the handle. It dereferences to a [`Guard`], so it is passed
    /// to reads as `&guard`.
    ///
    /// ```
    /// use xradix::{Collector, Flags, XArray};
    /// let xa: XArray = XArray::with_collector(Collector::new(), Flags::empty());
    /// let handle = xa.handle();
    /// let guard = handle.pin();
    /// assert!(xa.load(0, &guard).is_none());
    /// ```
    #[must_use]
    pub fn pin(&self) -> HandleGuard<'_> {
        HandleGuard {
            guard: self.local.pin(),
            _handle: core::marker::PhantomData,
        }
    }
}

impl core::fmt::Debug for Handle<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Handle { .. }")
    }
}

/// A guard pinned by a [`Handle`]; dereferences to [`Guard`].
///
/// ```
/// use xradix::{Collector, Flags, XArray};
/// let xa: XArray = XArray::with_collector(Collector::new(), Flags::empty());
/// let handle = xa.handle();
/// let guard = handle.pin();
/// let g: &xradix::Guard = &guard;
/// assert!(xa.iter(g).next().is_none());
/// ```
pub struct HandleGuard<'h> {
    guard: Guard,
    _handle: core::marker::PhantomData<&'h ()>,
}

impl core::ops::Deref for HandleGuard<'_> {
    type Target = Guard;
    #[inline]
    fn deref(&self) -> &Guard {
        &self.guard
    }
}

impl core::fmt::Debug for HandleGuard<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("HandleGuard { .. }")
    }
}

/// The collector that [`pin`] pins to.
#[cfg(feature = "std")]
pub(crate) fn default_collector() -> &'static Collector {
    crossbeam_epoch::default_collector()
}

/// A guard pinned to `collector`, for a writer or for a read that pins
/// inside. With `std` and the default collector this is the thread-local
/// fast path; otherwise a handle is registered for the guard's lifetime
/// (the guard keeps it alive).
///
/// Pinning may run the collector, and so the deferred drops of items: user
/// code. A panic one of them raised (and [`drop_item`] caught) is raised
/// again here, right after the pin, before the caller has changed anything.
pub(crate) fn writer_guard(collector: &Collector, is_default: bool) -> Guard {
    let guard = pin_quietly(collector, is_default);
    rethrow_item_panic();
    guard
}

/// Pushes the collector along until what was retired before the call is
/// freed, if no other thread is pinned: the local batch goes to the global
/// queue and the epoch advances the two steps a deferred function waits
/// for. Runs deferred drops (user code) after the caller's change is done.
pub(crate) fn collect_now(collector: &Collector, is_default: bool) {
    // Three pins with a flush each: one to seal the batch, two to advance.
    for _ in 0..3 {
        pin_quietly(collector, is_default).flush();
    }
    rethrow_item_panic();
}

/// [`writer_guard`] without raising a caught panic (for `Drop`).
fn pin_quietly(collector: &Collector, is_default: bool) -> Guard {
    #[cfg(feature = "std")]
    if is_default {
        return crossbeam_epoch::pin();
    }
    let _ = is_default;
    collector.register().pin()
}

/// Hands the tree's reference to an item to the collector: it is dropped
/// once no guard pinned now can still see the item.
///
/// With `std`, a panic in the item's `Drop` does not unwind through the
/// collector (that would lose every other deferred drop of the same batch,
/// a leak): it is caught and raised again by the next xradix call on the
/// thread that ran the drop, when that call pins and before it changes
/// anything ([`writer_guard`], [`pin`]).
///
/// The drop is counted in the tree's [`InFlight`] until it has run.
///
/// # Safety
/// `item` came from `Arc::<T>::into_raw`, and the tree no longer holds it.
pub(crate) unsafe fn drop_item<T>(reclaim: &Reclaimer<'_>, item: *const T) {
    let token = reclaim.drop_tokens(1);
    let run = move || {
        // SAFETY: the caller's contract: the reference is ours to drop, and
        // the collector runs this once no reader can see the item.
        unsafe { drop_item_now(item) };
        // Only now, after the item's drop (panicking or not), does the
        // count go down: `InFlight::pending` of 0 means it has run.
        drop(token);
    };
    // SAFETY: the closure owns nothing that a pinned reader could still
    // use after the collector runs it (the caller's contract).
    unsafe { reclaim.guard().defer_unchecked(run) };
}

/// Drops the tree's reference to an item now, from inside a deferred
/// function; a panic in its `Drop` is caught (see [`drop_item`]). A
/// deferred function that drops items this way holds a [`DropTokens`] for
/// them and drops it after them.
///
/// # Safety
/// `item` came from `Arc::<T>::into_raw`, and no reader can see it any
/// more.
pub(crate) unsafe fn drop_item_now<T>(item: *const T) {
    catch_item_panic(move || {
        // SAFETY: the caller's contract.
        drop(unsafe { alloc::sync::Arc::from_raw(item) })
    });
}

/// Counts a tree's items whose deferred drop has not run yet.
///
/// Shared with the deferred functions (they hold [`DropTokens`]), since
/// they may run after the tree is gone. The count is one atomic add when
/// items are retired and one subtract when their deferred function has
/// dropped them: for a whole subtree, one of each.
pub(crate) struct InFlight(alloc::sync::Arc<core::sync::atomic::AtomicUsize>);

/// Stands for `n` items a deferred function will drop: made when they
/// leave the tree, dropped by the function after it dropped them.
pub(crate) struct DropTokens {
    count: alloc::sync::Arc<core::sync::atomic::AtomicUsize>,
    n: usize,
}

impl Drop for DropTokens {
    fn drop(&mut self) {
        // Release: the items' drops, done before this in program order,
        // happen before a `pending` that reads the lower count.
        // (core's atomics even under loom: a plain counter, never used to
        // order the tree's memory.)
        self.count
            .fetch_sub(self.n, core::sync::atomic::Ordering::Release);
    }
}

impl InFlight {
    pub(crate) fn new() -> Self {
        InFlight(alloc::sync::Arc::new(core::sync::atomic::AtomicUsize::new(
            0,
        )))
    }

    /// How many of the tree's items wait for their deferred drop. When it
    /// reads 0, every one of those drops happened before this returned.
    pub(crate) fn pending(&self) -> usize {
        // Acquire: pairs with the Release in `DropTokens::drop`, so that the
        // drops counted out are visible to the caller (a drop counter in a
        // test reads the right number).
        self.0.load(core::sync::atomic::Ordering::Acquire)
    }
}

/// Pushes the collector until every item of the tree counted in
/// `in_flight` has been dropped, or until it stops making progress; returns
/// how many are still waiting (0: all dropped, and those drops happened
/// before this returned). See [`XArray::flush`](crate::XArray::flush) for
/// what can hold them back.
///
/// Each round pins, flushes this thread's deferred drops to the collector
/// and lets it collect (crossbeam-epoch's `Guard::flush`). The rounds stop
/// after [`FLUSH_STALLS`] of them brought the count no lower than it had
/// been: so the call is bounded even while a guard holds the epoch back
/// (then no round can make progress) or other writers keep retiring items.
pub(crate) fn flush(collector: &Collector, is_default: bool, in_flight: &InFlight) -> usize {
    let mut lowest = in_flight.pending();
    let mut stalls = 0;
    while lowest != 0 && stalls < FLUSH_STALLS {
        // Not raised here: a drop's panic is raised once, after the loop,
        // so that one panicking item does not stop the others' drops.
        pin_quietly(collector, is_default).flush();
        let now = in_flight.pending();
        if now < lowest {
            lowest = now;
        } else {
            stalls += 1;
            // Give a thread that is pinned for a moment the chance to
            // unpin, so that the epoch can move.
            yield_now();
        }
    }
    rethrow_item_panic();
    in_flight.pending()
}

/// How many rounds of [`flush`] may pass without progress before it gives
/// up. Large enough to get through other trees' deferred drops queued
/// ahead of ours (crossbeam-epoch collects at most 8 batches of 64 per
/// round), small enough that a flush held back by a long-lived guard
/// returns promptly.
const FLUSH_STALLS: u32 = 4096;

/// Lets other threads run (std), or pauses briefly (`no_std`, loom).
fn yield_now() {
    #[cfg(all(feature = "std", not(xradix_loom)))]
    std::thread::yield_now();
    #[cfg(not(all(feature = "std", not(xradix_loom))))]
    spin_hint();
}

#[cfg(all(feature = "std", not(xradix_loom)))]
mod item_panic {
    extern crate std;
    use std::boxed::Box;
    use std::cell::Cell;

    type Payload = Box<dyn core::any::Any + Send + 'static>;

    std::thread_local! {
        /// The first panic an item's `Drop` raised on this thread inside the
        /// collector, not yet raised again.
        static CAUGHT: Cell<Option<Payload>> = const { Cell::new(None) };
    }

    pub(super) fn catch(f: impl FnOnce()) {
        if let Err(payload) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
            // Keep the first; a second one in the same batch is dropped.
            let _ = CAUGHT.try_with(|c| {
                let first = c.take();
                c.set(Some(first.unwrap_or(payload)));
            });
        }
    }

    pub(super) fn rethrow() {
        if let Some(payload) = CAUGHT.try_with(Cell::take).ok().flatten() {
            std::panic::resume_unwind(payload);
        }
    }
}

/// Runs an item's deferred drop; see [`drop_item`].
#[inline]
fn catch_item_panic(f: impl FnOnce()) {
    #[cfg(all(feature = "std", not(xradix_loom)))]
    item_panic::catch(f);
    // Without std there is no unwinding to catch (no_std users build with
    // panic = "abort"); under loom, the models' items do not panic.
    #[cfg(not(all(feature = "std", not(xradix_loom))))]
    f();
}

/// Raises again a panic an item's `Drop` raised inside the collector on
/// this thread; see [`drop_item`].
#[inline]
pub(crate) fn rethrow_item_panic() {
    #[cfg(all(feature = "std", not(xradix_loom)))]
    item_panic::rethrow();
}

/// A writer's access to the epoch collector: a guard pinned on demand.
///
/// Writers read the tree under its lock and need no guard for that: only
/// writers free anything, and they hold the lock. They need a guard only to
/// hand what they unlinked to the collector, so a store that displaces
/// nothing (or only a value) never pins.
///
/// But pinning may run the collector, which runs deferred drops of items:
/// user code, which may panic. So a writer that may retire something calls
/// [`Reclaimer::prepare`] *before its first store to the tree*, never in
/// the middle of a change: a panic there leaves the tree as it was.
pub(crate) struct Reclaimer<'c> {
    collector: &'c Collector,
    is_default: bool,
    /// The tree's count of items waiting for their deferred drop.
    in_flight: &'c InFlight,
    guard: core::cell::OnceCell<Guard>,
}

impl<'c> Reclaimer<'c> {
    pub(crate) fn new(collector: &'c Collector, is_default: bool, in_flight: &'c InFlight) -> Self {
        Reclaimer {
            collector,
            is_default,
            in_flight,
            guard: core::cell::OnceCell::new(),
        }
    }

    /// Pins, if not yet pinned, before a change that may retire something.
    /// Call it before the change's first store.
    #[inline]
    pub(crate) fn prepare(&self) {
        self.guard
            .get_or_init(|| writer_guard(self.collector, self.is_default));
    }

    /// [`Reclaimer::prepare`] for a tree being dropped: a caught item panic
    /// is left for a later call, since raising it from `Drop` would leak the
    /// tree's contents (or abort, during an unwind).
    pub(crate) fn prepare_quietly(&self) {
        self.guard
            .get_or_init(|| pin_quietly(self.collector, self.is_default));
    }

    /// Counts `n` items leaving the tree, whose drops a deferred function
    /// will run: it holds the tokens and drops them after the items.
    #[inline]
    pub(crate) fn drop_tokens(&self, n: usize) -> DropTokens {
        // Relaxed: the add happens before the deferred function can run
        // (it is made first, on this thread, and crossbeam-epoch's hand-over
        // of the function orders the rest), so the matching subtract comes
        // after it in the counter's order; `pending` needs no more.
        self.in_flight
            .0
            .fetch_add(n, core::sync::atomic::Ordering::Relaxed);
        DropTokens {
            count: alloc::sync::Arc::clone(&self.in_flight.0),
            n,
        }
    }

    /// The guard [`Reclaimer::prepare`] pinned.
    #[inline]
    pub(crate) fn guard(&self) -> &Guard {
        debug_assert!(
            self.guard.get().is_some(),
            "xradix: a writer retires something without having pinned before its change"
        );
        // Pins here only if a caller forgot `prepare` (a bug, caught above
        // in debug builds): better late than a use-after-free.
        self.guard
            .get_or_init(|| pin_quietly(self.collector, self.is_default))
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
    use core::sync::atomic::{AtomicUsize, Ordering};

    /// The tree's writer lock, which knows which thread holds it.
    #[derive(Default)]
    pub(crate) struct Lock {
        mutex: std::sync::Mutex<()>,
        /// [`this_thread`] of the holder, 0 when free.
        ///
        /// Relaxed everywhere: the only question asked of it is "is it
        /// me?", and a thread sees its own id here only while it holds the
        /// lock. It writes its id after taking the lock and 0 before
        /// releasing it; nobody else writes it meanwhile (they would have
        /// to hold the lock), so by coherence its own reads see its own
        /// last store, and any other thread's read sees 0 or some other
        /// thread's id, never its own (it wrote 0 after its own id, in
        /// program order, before it could have let go).
        owner: AtomicUsize,
    }

    /// Proof that the writer lock is held.
    pub(crate) struct LockGuard<'a> {
        owner: &'a AtomicUsize,
        // Dropped after `Drop::drop` cleared `owner`: the mutex is released
        // last.
        _mutex: std::sync::MutexGuard<'a, ()>,
    }

    std::thread_local! {
        /// Its address names the thread: unique among live threads. (A
        /// thread that exits holding a lock leaked it with `mem::forget`;
        /// the lock is then held for ever anyway.)
        static ME: u8 = const { 0 };
    }

    /// This thread's name for [`Lock::owner`]; 0 while the thread's locals
    /// are being destroyed (nothing is recorded or matched then).
    #[inline]
    fn this_thread() -> usize {
        ME.try_with(|me| core::ptr::from_ref(me).addr())
            .unwrap_or(0)
    }

    impl Lock {
        pub(crate) fn new() -> Self {
            Lock {
                mutex: std::sync::Mutex::new(()),
                owner: AtomicUsize::new(0),
            }
        }

        /// Takes the lock, or `None` if this thread already holds it (a
        /// `Locked` handle of this tree is alive on it): waiting would be
        /// for ever.
        #[inline]
        pub(crate) fn lock(&self) -> Option<LockGuard<'_>> {
            // One thread-local lookup serves the check and the record.
            let me = this_thread();
            // Relaxed: see `owner`.
            if me != 0 && self.owner.load(Ordering::Relaxed) == me {
                return None;
            }
            let mutex = self
                .mutex
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            // Relaxed: see `owner`.
            self.owner.store(me, Ordering::Relaxed);
            Some(LockGuard {
                owner: &self.owner,
                _mutex: mutex,
            })
        }
    }

    impl Drop for LockGuard<'_> {
        #[inline]
        fn drop(&mut self) {
            // Relaxed: see `Lock::owner`; the mutex's release orders the
            // rest.
            self.owner.store(0, Ordering::Relaxed);
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

        /// Takes the lock; never `None`: the models never lock twice on one
        /// thread.
        pub(crate) fn lock(&self) -> Option<LockGuard<'_>> {
            Some(LockGuard(
                self.0
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()),
            ))
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

        /// Takes the lock; never `None`. Without `std` there is no portable
        /// way to name the current thread (or interrupt context), so nothing
        /// is recorded, and a thread that locks twice spins for ever.
        #[inline]
        pub(crate) fn lock(&self) -> Option<LockGuard<'_>> {
            loop {
                // Acquire: the holder's writes before its Release unlock are
                // visible to us once we own the lock.
                if self
                    .0
                    .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
                {
                    return Some(LockGuard(&self.0));
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
