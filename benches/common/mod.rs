//! Shared by every bench and by `examples/bench_report.rs`: the key sets and
//! orders of `shared/ANCHORS.md`, the structures compared, and a counting
//! allocator.
//!
//! Each bench file includes this module and uses part of it.

#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::{BTreeMap, BTreeSet};
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};
use std::sync::{Barrier, RwLock};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_skiplist::SkipMap;
use xradix::{pin, Entry, XArray};

/// The seed of ANCHORS.md.
pub const SEED: u64 = 0x9E37_79B9_7F4A_7C15;

/// Sparse keys are drawn uniformly from `0 .. 1 << SPARSE_BITS` (the page
/// indices of a 256 GiB file).
pub const SPARSE_BITS: u32 = 26;

/// xorshift64 with shifts 13/7/17, as in ANCHORS.md.
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> Self {
        XorShift(seed)
    }

    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Fisher–Yates, driven by this generator.
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = (self.next_u64() % (i as u64 + 1)) as usize;
            v.swap(i, j);
        }
    }
}

/// `keys` in the random order of ANCHORS.md (a fresh generator on `SEED`).
pub fn shuffled(keys: &[u64]) -> Vec<u64> {
    let mut v = keys.to_vec();
    XorShift::new(SEED).shuffle(&mut v);
    v
}

/// `0..n`.
pub fn dense(n: usize) -> Vec<u64> {
    (0..n as u64).collect()
}

/// `n` distinct keys uniform in `[0, 2^26)`, sorted.
pub fn sparse(n: usize) -> Vec<u64> {
    let mut rng = XorShift::new(SEED.rotate_left(17));
    let mut set = BTreeSet::new();
    while set.len() < n {
        set.insert(rng.next_u64() >> (64 - SPARSE_BITS));
    }
    set.into_iter().collect()
}

/// `n` distinct keys spread like pointers: random multiples of 64 in
/// `[0, 2^40)` (a hashed or pointer-derived key space), sorted.
pub fn pointers(n: usize) -> Vec<u64> {
    let mut rng = XorShift::new(SEED.rotate_left(23));
    let mut set = BTreeSet::new();
    while set.len() < n {
        set.insert((rng.next_u64() >> (64 - 34)) << 6);
    }
    set.into_iter().collect()
}

/// `n` distinct keys in runs of 4 to 8 consecutive keys, each run at a
/// random start in `[0, 2^bits)` (files written in short bursts), sorted.
pub fn clustered(n: usize, bits: u32) -> Vec<u64> {
    let mut rng = XorShift::new(SEED.rotate_left(41));
    let mut set = BTreeSet::new();
    while set.len() < n {
        let start = rng.next_u64() >> (64 - bits);
        let run = 4 + rng.next_u64() % 5;
        for k in start..start + run {
            if set.len() == n {
                break;
            }
            set.insert(k);
        }
    }
    set.into_iter().collect()
}

/// `n` keys of the same kind as `keys` (sorted) that are absent from it:
/// `n..2n` for dense keys, other uniform keys for sparse ones. Sorted.
pub fn misses(keys: &[u64], sparse_kind: bool) -> Vec<u64> {
    let n = keys.len();
    if !sparse_kind {
        return (n as u64..2 * n as u64).collect();
    }
    let present: BTreeSet<u64> = keys.iter().copied().collect();
    let mut rng = XorShift::new(SEED.rotate_left(31));
    let mut set = BTreeSet::new();
    while set.len() < n {
        let k = rng.next_u64() >> (64 - SPARSE_BITS);
        if !present.contains(&k) {
            set.insert(k);
        }
    }
    set.into_iter().collect()
}

/// The `pct` % of `0..n` to mark, sorted: at random, or in runs of 16.
pub fn marked_keys(n: usize, pct: f64, clustered: bool) -> Vec<u64> {
    let k = ((n as f64) * pct / 100.0).round() as usize;
    let mut rng = XorShift::new(SEED);
    let mut v: Vec<u64> = if clustered {
        let mut runs: Vec<u64> = (0..(n / 16) as u64).collect();
        rng.shuffle(&mut runs);
        runs.truncate(k.div_ceil(16));
        runs.iter().flat_map(|r| r * 16..r * 16 + 16).collect()
    } else {
        let mut all = dense(n);
        rng.shuffle(&mut all);
        all.truncate(k);
        all
    };
    v.sort_unstable();
    v
}

/// Reads `count` keys of `keys` cyclically from `*pos`, summing what `f`
/// returns (so that no read can be optimised away).
#[inline(always)]
pub fn cycle(keys: &[u64], pos: &mut usize, count: u64, mut f: impl FnMut(u64) -> u64) -> u64 {
    let mut sum = 0u64;
    let mut i = *pos;
    for _ in 0..count {
        sum = sum.wrapping_add(f(keys[i]));
        i += 1;
        if i == keys.len() {
            i = 0;
        }
    }
    *pos = i;
    black_box(sum)
}

// ---------------------------------------------------------------------------
// The structures compared. Each maps u64 keys to u64 values (xradix: value
// entries, no allocation per entry).

pub type Xa = XArray<(), u64>;
pub type Congee = congee::Congee<usize, usize>;
pub type Scc = scc::TreeIndex<u64, u64>;

/// A map built from `keys` (each key maps to itself), read with lookups.
/// Lock-free ones pin one guard for the whole batch, as a reader pinning
/// once per batch does.
pub trait Map: Sized + Send + Sync {
    const NAME: &'static str;
    fn build(keys: &[u64]) -> Self;
    /// `count` lookups of `keys` read cyclically from `*pos`.
    fn lookups(&self, keys: &[u64], pos: &mut usize, count: u64) -> u64;
}

impl Map for Xa {
    const NAME: &'static str = "xradix";
    fn build(keys: &[u64]) -> Self {
        let xa = Xa::new();
        {
            let locked = xa.lock();
            for &k in keys {
                locked.store(k, Entry::Value(k)).unwrap();
            }
        }
        xa
    }
    #[inline(never)]
    fn lookups(&self, keys: &[u64], pos: &mut usize, count: u64) -> u64 {
        let g = pin();
        cycle(keys, pos, count, |k| {
            self.load(k, &g).and_then(|e| e.value()).unwrap_or(0)
        })
    }
}

impl Map for BTreeMap<u64, u64> {
    const NAME: &'static str = "BTreeMap";
    /// One insert per key, as the others are built (`collect` from a
    /// sorted iterator would bulk-build fuller nodes).
    fn build(keys: &[u64]) -> Self {
        let mut m = BTreeMap::new();
        for &k in keys {
            m.insert(k, k);
        }
        m
    }
    #[inline(never)]
    fn lookups(&self, keys: &[u64], pos: &mut usize, count: u64) -> u64 {
        cycle(keys, pos, count, |k| self.get(&k).copied().unwrap_or(0))
    }
}

impl Map for SkipMap<u64, u64> {
    const NAME: &'static str = "SkipMap";
    fn build(keys: &[u64]) -> Self {
        let m = SkipMap::new();
        for &k in keys {
            m.insert(k, k);
        }
        m
    }
    #[inline(never)]
    fn lookups(&self, keys: &[u64], pos: &mut usize, count: u64) -> u64 {
        // SkipMap pins inside each call; nesting under an outer pin makes
        // those pins cheap, which is the fairest batch form it offers.
        let _g = crossbeam_epoch::pin();
        cycle(keys, pos, count, |k| self.get(&k).map_or(0, |e| *e.value()))
    }
}

impl Map for Scc {
    const NAME: &'static str = "scc::TreeIndex";
    fn build(keys: &[u64]) -> Self {
        let m = Scc::new();
        for &k in keys {
            m.insert(k, k).unwrap();
        }
        m
    }
    #[inline(never)]
    fn lookups(&self, keys: &[u64], pos: &mut usize, count: u64) -> u64 {
        let g = scc::ebr::Guard::new();
        cycle(keys, pos, count, |k| {
            self.peek(&k, &g).copied().unwrap_or(0)
        })
    }
}

impl Map for Congee {
    const NAME: &'static str = "congee";
    fn build(keys: &[u64]) -> Self {
        let m = Congee::default();
        let g = m.pin();
        for &k in keys {
            m.insert(k as usize, k as usize, &g).unwrap();
        }
        drop(g);
        m
    }
    #[inline(never)]
    fn lookups(&self, keys: &[u64], pos: &mut usize, count: u64) -> u64 {
        let g = self.pin();
        cycle(keys, pos, count, |k| {
            self.get(&(k as usize), &g).unwrap_or(0) as u64
        })
    }
}

/// A map that one writer changes while readers read (the concurrent bench).
pub trait ConcurrentMap: Map {
    /// Removes `k` and puts it back (one erase, one store).
    fn churn(&self, k: u64);
    /// `count` lookups as a concurrent reader does them: lock-free maps pin
    /// once per `batch` reads, the locked map takes the read lock per read.
    fn reads(&self, keys: &[u64], pos: &mut usize, count: u64, batch: u64) -> u64 {
        let mut sum = 0u64;
        let mut left = count;
        while left > 0 {
            let n = left.min(batch);
            sum = sum.wrapping_add(self.lookups(keys, pos, n));
            left -= n;
        }
        sum
    }
}

impl ConcurrentMap for Xa {
    fn churn(&self, k: u64) {
        self.erase(k);
        self.store(k, Entry::Value(k)).unwrap();
    }
}

impl ConcurrentMap for SkipMap<u64, u64> {
    fn churn(&self, k: u64) {
        self.remove(&k);
        self.insert(k, k);
    }
}

impl ConcurrentMap for Scc {
    fn churn(&self, k: u64) {
        self.remove(&k);
        let _ = self.insert(k, k);
    }
}

impl ConcurrentMap for Congee {
    fn churn(&self, k: u64) {
        let g = self.pin();
        self.remove(&(k as usize), &g);
        self.insert(k as usize, k as usize, &g).unwrap();
    }
}

/// `RwLock<BTreeMap>`: the read lock per read, the write lock per change.
pub struct Locked(pub RwLock<BTreeMap<u64, u64>>);

impl Map for Locked {
    const NAME: &'static str = "RwLock<BTreeMap>";
    fn build(keys: &[u64]) -> Self {
        Locked(RwLock::new(BTreeMap::build(keys)))
    }
    #[inline(never)]
    fn lookups(&self, keys: &[u64], pos: &mut usize, count: u64) -> u64 {
        cycle(keys, pos, count, |k| {
            self.0.read().unwrap().get(&k).copied().unwrap_or(0)
        })
    }
}

impl ConcurrentMap for Locked {
    fn churn(&self, k: u64) {
        let mut m = self.0.write().unwrap();
        m.remove(&k);
        m.insert(k, k);
    }
}

/// Reads per guard for the lock-free structures.
pub const BATCH: u64 = 64;

/// What one concurrent run measured.
pub struct Run {
    /// Wall time of the readers, from the start signal to the last one done.
    pub wall: Duration,
    /// CPU time of the first reader thread (immune to other processes
    /// taking the cores, which wall time is not).
    pub cpu: Duration,
    /// Changes (erase + store pairs) the writer made meanwhile.
    pub writes: u64,
}

/// CPU time of the calling thread.
#[cfg(unix)]
pub fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write to.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Where there is no per-thread CPU clock in reach (Windows, without a
/// crate for `GetThreadTimes`): wall time since the first call, so the
/// differences the benchmarks take are wall times there.
#[cfg(not(unix))]
pub fn thread_cpu() -> Duration {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed()
}

/// Runs `readers` threads of `iters` reads each (the first on this thread),
/// with a writer churning random keys when `writer` is set.
pub fn run<M: ConcurrentMap>(m: &M, keys: &[u64], readers: usize, writer: bool, iters: u64) -> Run {
    let n = keys.len() as u64;
    let churn = |rng: &mut XorShift| m.churn(rng.next_u64() % n);
    run_with(m, keys, readers, writer.then_some(&churn), iters)
}

/// [`run`] with the writer's step given: `write` makes one change (the
/// generator is the writer's own), and is called until the readers are done.
pub fn run_with<M: ConcurrentMap>(
    m: &M,
    keys: &[u64],
    readers: usize,
    write: Option<&(dyn Fn(&mut XorShift) + Sync)>,
    iters: u64,
) -> Run {
    let stop = AtomicBool::new(false);
    let ready = Barrier::new(readers + usize::from(write.is_some()));
    thread::scope(|s| {
        let w = write.map(|write| {
            let (ready, stop) = (&ready, &stop);
            s.spawn(move || {
                let mut rng = XorShift::new(SEED ^ 0x5555);
                let mut writes = 0u64;
                ready.wait();
                while !stop.load(Ordering::Relaxed) {
                    for _ in 0..16 {
                        write(&mut rng);
                    }
                    writes += 16;
                }
                writes
            })
        });
        let others: Vec<_> = (1..readers)
            .map(|r| {
                let ready = &ready;
                s.spawn(move || {
                    let mut pos = keys.len() * r / readers;
                    ready.wait();
                    m.reads(keys, &mut pos, iters, BATCH);
                })
            })
            .collect();
        let mut pos = 0;
        ready.wait();
        let c = thread_cpu();
        let t = Instant::now();
        m.reads(keys, &mut pos, iters, BATCH);
        let cpu = thread_cpu() - c;
        for h in others {
            h.join().unwrap();
        }
        let wall = t.elapsed();
        stop.store(true, Ordering::Relaxed);
        let writes = w.map_or(0, |h| h.join().unwrap());
        Run { wall, cpu, writes }
    })
}

/// `count` lookups of `keys` read cyclically from `*pos`, as
/// [`Map::lookups`] does for xradix, but through `XArray::load_many` (one
/// call per pass over the rest of `keys`, one guard for the whole batch).
#[inline(never)]
pub fn load_many_sum(xa: &Xa, keys: &[u64], pos: &mut usize, count: u64) -> u64 {
    let g = pin();
    let mut sum = 0u64;
    let mut left = count as usize;
    while left > 0 {
        let n = left.min(keys.len() - *pos);
        sum = xa
            .load_many(keys[*pos..*pos + n].iter().copied(), &g)
            .fold(sum, |a, e| {
                a.wrapping_add(e.and_then(|e| e.value()).unwrap_or(0))
            });
        *pos = (*pos + n) % keys.len();
        left -= n;
    }
    black_box(sum)
}

/// The floor of a point read: `count` reads of a flat array (`flat[k]`),
/// with `keys` read cyclically from `*pos` in the same order as the lookups.
#[inline(never)]
pub fn flat_lookups(flat: &[u64], keys: &[u64], pos: &mut usize, count: u64) -> u64 {
    cycle(keys, pos, count, |k| flat[k as usize])
}

// ---------------------------------------------------------------------------
// A counting allocator: install with `#[global_allocator]`.

/// Counts the bytes requested and not yet freed, and what the system
/// allocator really reserves for them: on Linux `malloc_usable_size` plus
/// glibc's 8-byte chunk header; elsewhere (no `malloc_usable_size`) the
/// requested size, so the two figures agree.
pub struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);
static LIVE_REAL: AtomicIsize = AtomicIsize::new(0);

#[cfg(target_os = "linux")]
fn real_size(ptr: *mut u8, layout: Layout) -> isize {
    if layout.align() <= 16 {
        // SAFETY: `ptr` was returned by System (glibc malloc) for this
        // layout, and is still allocated.
        (unsafe { libc::malloc_usable_size(ptr.cast()) } + 8) as isize
    } else {
        layout.size() as isize
    }
}

#[cfg(not(target_os = "linux"))]
fn real_size(_ptr: *mut u8, layout: Layout) -> isize {
    layout.size() as isize
}

// SAFETY: every call forwards to `System` with the same arguments; the
// counters are only statistics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
            LIVE_REAL.fetch_add(real_size(p, layout), Ordering::Relaxed);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
            LIVE_REAL.fetch_add(real_size(p, layout), Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        LIVE_REAL.fetch_sub(real_size(ptr, layout), Ordering::Relaxed);
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        LIVE_REAL.fetch_sub(real_size(ptr, layout), Ordering::Relaxed);
        // SAFETY: forwarded as is.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        // On failure the old block is still live.
        let (q, size) = if p.is_null() {
            (ptr, layout.size())
        } else {
            (p, new_size)
        };
        // SAFETY: `size` and the alignment come from a valid layout.
        let l = unsafe { Layout::from_size_align_unchecked(size, layout.align()) };
        LIVE.fetch_add(size as isize, Ordering::Relaxed);
        LIVE_REAL.fetch_add(real_size(q, l), Ordering::Relaxed);
        p
    }
}

/// Bytes live now: (requested, really reserved by malloc).
pub fn live_bytes() -> (isize, isize) {
    (
        LIVE.load(Ordering::Relaxed),
        LIVE_REAL.load(Ordering::Relaxed),
    )
}

/// Bytes (requested, reserved) held by what `build` returns, and the
/// structure itself. Flushes the epoch garbage of this thread first, so that
/// deferred frees of earlier structures do not count.
pub fn measure<S>(build: impl FnOnce() -> S) -> ((isize, isize), S) {
    flush_epoch();
    let before = live_bytes();
    let s = build();
    flush_epoch();
    let after = live_bytes();
    ((after.0 - before.0, after.1 - before.1), s)
}

/// Pins and flushes until the live byte count stops moving, so that the
/// deferred destructors of earlier structures have run (crossbeam-epoch's
/// and scc's collectors).
pub fn flush_epoch() {
    let mut last = live_bytes();
    let mut same = 0;
    for _ in 0..10_000 {
        crossbeam_epoch::pin().flush();
        let g = scc::ebr::Guard::new();
        g.accelerate();
        drop(g);
        let now = live_bytes();
        if now == last {
            same += 1;
            if same == 64 {
                return;
            }
        } else {
            same = 0;
            last = now;
        }
    }
}
