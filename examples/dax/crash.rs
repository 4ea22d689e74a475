//! The crash simulator: persistent memory whose cache can be lost.
//!
//! Tests cannot pull the power, so they run the DAX layer over this model
//! of an ADR platform instead of the mapped file (both implement
//! [`Persist`]). The model keeps two images of the device:
//!
//! * the *visible* image, what loads return: every store lands here at once,
//!   as it lands in the CPU cache;
//! * the *durable* image, what the persistence domain holds, and what a
//!   crash leaves.
//!
//! A store marks its 64-byte lines dirty. [`Persist::flush`] takes a
//! snapshot of each dirty line in the range (the write-back has started);
//! [`Persist::drain`] is the fence that waits for those write-backs, and
//! copies the snapshots into the durable image. A store to a line after its
//! flush dirties it again: that store needs a flush of its own, exactly as
//! with CLWB on real hardware.
//!
//! [`SimulatedPmem::crash`] produces what a power failure at this instant
//! could leave. Caches evict dirty lines whenever they like, and a flush
//! that no fence has waited for may or may not have completed; so for each
//! line that is dirty or flushed-but-not-drained, each aligned 8-byte word
//! independently keeps its durable value, or takes the flushed snapshot, or
//! the current value. Aligned 8-byte stores are the failure-atomic unit of
//! x86 persistent memory: a crash image can tear a line between words,
//! never inside one. Lines with nothing pending are exactly durable.
//!
//! The model can fail, which is the point: a write that was never flushed
//! and drained is missing from some crash image (deterministically, for a
//! seeded random generator), so a test that forgets a flush, flushes the
//! wrong range, or skips the fence is caught.
//!
//! The fence here is global: a drain completes every thread's flushes, as
//! the kernel's fsync ends with a device-wide `nvdimm_flush`. (A per-CPU
//! `SFENCE` is weaker; the DAX layer's fsync always drains itself.)
//!
//! [`CacheModel::Eadr`] puts the caches inside the persistence domain, as
//! eADR platforms do: every store survives, and flushes are mere costs.
//!
//! Flush failures can be injected ([`SimulatedPmem::fail_next_flushes`]) to
//! test that a write-back error reaches the next fsync (DAX.md bug 14).

// The crate's clippy lints keep the library's no_std build honest; this is
// a std program, and the ordered maps below keep crash images reproducible.
#![allow(clippy::std_instead_of_alloc)]

use crate::persist::{device_range, Persist, CACHE_LINE};
use core::ops::Range;
use rand::Rng;
use std::io;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// The failure-atomic unit: an aligned 8-byte word.
pub(crate) const ATOMIC_WORD: usize = 8;

/// Whether the CPU caches are inside the persistence domain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CacheModel {
    /// Asynchronous DRAM Refresh: only flushed and drained data survives.
    Adr,
    /// Enhanced ADR: the caches are flushed on power failure, so every
    /// store survives.
    Eadr,
}

/// What the simulated device has been asked to do.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct SimStats {
    /// `write` calls.
    pub(crate) writes: u64,
    /// Bytes stored by them.
    pub(crate) bytes_written: u64,
    /// `flush` calls that succeeded.
    pub(crate) flushes: u64,
    /// Lines those calls covered (what a CPU would execute CLWB on).
    pub(crate) lines_flushed: u64,
    /// Of those, lines that held data not yet written back.
    pub(crate) dirty_lines_flushed: u64,
    /// `drain` calls.
    pub(crate) drains: u64,
    /// `flush` calls that failed by injection.
    pub(crate) failed_flushes: u64,
}

/// A simulated pmem device; see the module documentation.
#[derive(Debug)]
pub(crate) struct SimulatedPmem {
    len: usize,
    model: CacheModel,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// What loads see: durable image plus every store since.
    visible: Vec<u8>,
    /// What survives a crash for certain.
    durable: Vec<u8>,
    /// Lines holding stores not yet flushed (one bit per line).
    dirty: Lines,
    /// Lines flushed but not yet drained; their content at the flush is in
    /// `snapshots`, at the line's own offset.
    flushed: Lines,
    snapshots: Vec<u8>,
    /// The lines set in `flushed`, for the drain.
    flushed_list: Vec<usize>,
    /// This many next flushes fail with EIO.
    fail_flushes: u32,
    stats: SimStats,
}

impl SimulatedPmem {
    /// A zeroed device of `len` bytes, a whole number of cache lines.
    pub(crate) fn new(len: usize, model: CacheModel) -> io::Result<SimulatedPmem> {
        // Two zeroed vectors from the allocator rather than a copy of one:
        // their pages are zeroed by the kernel when first touched, and a
        // large device is mostly never touched.
        SimulatedPmem::with_images(vec![0; len], vec![0; len], model)
    }

    /// A device whose durable content is `image`: the machine rebooted
    /// after a crash, with `image` from [`crash`](Self::crash).
    pub(crate) fn from_image(image: Vec<u8>, model: CacheModel) -> io::Result<SimulatedPmem> {
        SimulatedPmem::with_images(image.clone(), image, model)
    }

    /// A device showing `visible` (equal to `durable`: nothing pending).
    fn with_images(
        visible: Vec<u8>,
        durable: Vec<u8>,
        model: CacheModel,
    ) -> io::Result<SimulatedPmem> {
        let len = durable.len();
        if len == 0 || len % CACHE_LINE != 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "a simulated device is a positive number of {CACHE_LINE}-byte lines, not {len} bytes"
                ),
            ));
        }
        Ok(SimulatedPmem {
            len,
            model,
            state: Mutex::new(State {
                visible,
                snapshots: vec![0; len],
                dirty: Lines::new(len / CACHE_LINE),
                flushed: Lines::new(len / CACHE_LINE),
                flushed_list: Vec::new(),
                durable,
                fail_flushes: 0,
                stats: SimStats::default(),
            }),
        })
    }

    pub(crate) fn model(&self) -> CacheModel {
        self.model
    }

    pub(crate) fn stats(&self) -> SimStats {
        self.lock().stats
    }

    /// Lines whose current content is not yet certain to survive a crash.
    pub(crate) fn unpersisted_lines(&self) -> usize {
        if self.model == CacheModel::Eadr {
            return 0;
        }
        let state = self.lock();
        state.pending().count()
    }

    /// Makes the next `count` flushes fail with EIO, writing nothing back,
    /// as a device with a media error would.
    pub(crate) fn fail_next_flushes(&self, count: u32) {
        self.lock().fail_flushes = count;
    }

    /// What a power failure now could leave on the medium, one of many:
    /// `rng` decides, per 8-byte word of every line with unpersisted data,
    /// which of its possible values survived.
    pub(crate) fn crash<R: Rng + ?Sized>(&self, rng: &mut R) -> Vec<u8> {
        let state = self.lock();
        if self.model == CacheModel::Eadr {
            return state.visible.clone();
        }
        let mut image = state.durable.clone();
        for line in state.pending() {
            state.draw_line(line, rng, &mut image[line * CACHE_LINE..][..CACHE_LINE]);
        }
        image
    }

    /// The same draw as [`crash`](Self::crash), line by line, without the
    /// copy of the device: `visit(line, bytes, lost)` gets each line with
    /// unpersisted data (ascending) as the crash left it, and whether it
    /// lacks a store that loads saw; every other line of the image is the
    /// durable image ([`read_durable`](Self::read_durable)). Lines for which
    /// `skip(line)` says so are passed over undrawn, and the draw stops when
    /// `visit` returns `false`. The command's crash check cuts
    /// hundreds of images from a run over a device of many MiB, where a
    /// copy per image would cost more than the run. `visit` runs under the
    /// device's lock: it must not call the device.
    pub(crate) fn crash_visit<R: Rng + ?Sized>(
        &self,
        rng: &mut R,
        skip: impl Fn(usize) -> bool,
        mut visit: impl FnMut(usize, &[u8; CACHE_LINE], bool) -> bool,
    ) {
        let state = self.lock();
        for line in state.pending() {
            if skip(line) {
                continue;
            }
            let at = line * CACHE_LINE;
            let mut bytes = [0u8; CACHE_LINE];
            if self.model == CacheModel::Eadr {
                bytes.copy_from_slice(&state.visible[at..at + CACHE_LINE]);
            } else {
                bytes.copy_from_slice(&state.durable[at..at + CACHE_LINE]);
                state.draw_line(line, rng, &mut bytes);
            }
            let lost = bytes[..] != state.visible[at..at + CACHE_LINE];
            if !visit(line, &bytes, lost) {
                return;
            }
        }
    }

    /// Reads the durable image: what a crash now leaves of every line with
    /// nothing pending.
    pub(crate) fn read_durable(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let range = device_range(offset, buf.len(), self.len as u64)?;
        let state = self.lock();
        match self.model {
            CacheModel::Eadr => buf.copy_from_slice(&state.visible[range]),
            CacheModel::Adr => buf.copy_from_slice(&state.durable[range]),
        }
        Ok(())
    }

    /// The image a crash leaves if no dirty line was evicted and no
    /// undrained flush completed: only what was drained. Every other crash
    /// image keeps at least as much.
    pub(crate) fn durable_image(&self) -> Vec<u8> {
        let state = self.lock();
        match self.model {
            CacheModel::Eadr => state.visible.clone(),
            CacheModel::Adr => state.durable.clone(),
        }
    }

    /// Whether every possible crash image holds the current content of
    /// `[offset, offset + len)`.
    pub(crate) fn is_persistent(&self, offset: u64, len: usize) -> io::Result<bool> {
        let range = device_range(offset, len, self.len as u64)?;
        if self.model == CacheModel::Eadr || range.is_empty() {
            return Ok(true);
        }
        let state = self.lock();
        // A line with nothing pending has durable == visible, so only the
        // durable image and undrained snapshots can differ.
        let same = |candidate: &[u8], bytes: Range<usize>| candidate == &state.visible[bytes];
        if !same(&state.durable[range.clone()], range.clone()) {
            return Ok(false);
        }
        for line in lines_of(&range).filter(|&line| state.flushed.get(line)) {
            let snapshot = &state.snapshots[line * CACHE_LINE..][..CACHE_LINE];
            let line_start = line * CACHE_LINE;
            let bytes = range.start.max(line_start)..range.end.min(line_start + CACHE_LINE);
            let in_line = bytes.start - line_start..bytes.end - line_start;
            if !same(&snapshot[in_line], bytes) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere (a failing test thread) leaves the state
        // consistent: every update below completes before unlocking.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One bit per cache line of the device. (A bitmap, not a set: zeroing a
/// 2 MiB extent touches 32768 lines, and the race test does that often.)
#[derive(Debug)]
struct Lines(Vec<u64>);

impl Lines {
    fn new(lines: usize) -> Lines {
        Lines(vec![0; lines.div_ceil(64)])
    }

    fn get(&self, line: usize) -> bool {
        self.0[line / 64] & 1 << (line % 64) != 0
    }

    fn set(&mut self, line: usize, on: bool) {
        let bit = 1 << (line % 64);
        if on {
            self.0[line / 64] |= bit;
        } else {
            self.0[line / 64] &= !bit;
        }
    }
}

impl State {
    /// What a crash leaves of pending `line`: `out` holds its durable
    /// content on entry; each aligned 8-byte word independently keeps it,
    /// or takes the flushed snapshot, or the current value.
    fn draw_line<R: Rng + ?Sized>(&self, line: usize, rng: &mut R, out: &mut [u8]) {
        let snapshot = self
            .flushed
            .get(line)
            .then(|| &self.snapshots[line * CACHE_LINE..][..CACHE_LINE]);
        let dirty = self.dirty.get(line);
        for word in (0..CACHE_LINE).step_by(ATOMIC_WORD) {
            let at = line * CACHE_LINE + word;
            let bytes = word..word + ATOMIC_WORD;
            // Candidates: durable (already in `out`), the flushed snapshot,
            // the current value. Without a store since the flush the
            // current value is the snapshot.
            let choices = 1 + usize::from(snapshot.is_some()) + usize::from(dirty);
            match (rng.random_range(0..choices), snapshot) {
                (0, _) => {}
                (1, Some(snapshot)) => out[bytes.clone()].copy_from_slice(&snapshot[bytes]),
                _ => out[bytes].copy_from_slice(&self.visible[at..at + ATOMIC_WORD]),
            }
        }
    }

    /// Lines that are dirty or flushed but not drained, in ascending order
    /// (so a seeded crash draws the same image every time).
    fn pending(&self) -> impl Iterator<Item = usize> + '_ {
        let words = self.dirty.0.iter().zip(&self.flushed.0);
        words.enumerate().flat_map(|(w, (&dirty, &flushed))| {
            let mut bits = dirty | flushed;
            core::iter::from_fn(move || {
                (bits != 0).then(|| {
                    let bit = bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    w * 64 + bit
                })
            })
        })
    }
}

/// The cache lines that overlap a byte range.
fn lines_of(bytes: &Range<usize>) -> Range<usize> {
    bytes.start / CACHE_LINE..bytes.end.div_ceil(CACHE_LINE)
}

impl Persist for SimulatedPmem {
    fn len(&self) -> u64 {
        self.len as u64
    }

    fn read(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let range = device_range(offset, buf.len(), self.len as u64)?;
        buf.copy_from_slice(&self.lock().visible[range]);
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        let range = device_range(offset, data.len(), self.len as u64)?;
        let mut state = self.lock();
        state.visible[range.clone()].copy_from_slice(data);
        for line in lines_of(&range) {
            state.dirty.set(line, true);
        }
        state.stats.writes += 1;
        state.stats.bytes_written += data.len() as u64;
        Ok(())
    }

    fn flush(&self, offset: u64, len: u64) -> io::Result<u64> {
        let len = usize::try_from(len)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "flush length too large"))?;
        let range = device_range(offset, len, self.len as u64)?;
        let mut state = self.lock();
        if state.fail_flushes > 0 {
            state.fail_flushes -= 1;
            state.stats.failed_flushes += 1;
            return Err(io::Error::from_raw_os_error(libc::EIO));
        }
        let state = &mut *state;
        for line in lines_of(&range) {
            state.stats.lines_flushed += 1;
            if state.dirty.get(line) {
                state.dirty.set(line, false);
                let bytes = line * CACHE_LINE..(line + 1) * CACHE_LINE;
                state.snapshots[bytes.clone()].copy_from_slice(&state.visible[bytes]);
                if !state.flushed.get(line) {
                    state.flushed.set(line, true);
                    state.flushed_list.push(line);
                }
                state.stats.dirty_lines_flushed += 1;
            }
        }
        state.stats.flushes += 1;
        Ok((lines_of(&range).len() * CACHE_LINE) as u64)
    }

    fn drain(&self) -> io::Result<()> {
        let mut state = self.lock();
        let state = &mut *state;
        for line in core::mem::take(&mut state.flushed_list) {
            state.flushed.set(line, false);
            let bytes = line * CACHE_LINE..(line + 1) * CACHE_LINE;
            state.durable[bytes.clone()].copy_from_slice(&state.snapshots[bytes]);
        }
        state.stats.drains += 1;
        Ok(())
    }

    fn flush_name(&self) -> &'static str {
        match self.model {
            CacheModel::Adr => "simulated (ADR)",
            CacheModel::Eadr => "simulated (eADR)",
        }
    }
}

/// Checks for the example's self-test and the integration tests.
pub(crate) mod checks {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    /// A check: `Err` describes the first thing that went wrong.
    pub(crate) type Check = fn() -> Result<(), String>;

    /// `(name, check)` for every check in this module.
    pub(crate) const CHECKS: &[(&str, Check)] = &[
        (
            "crash_keeps_flushed_and_drained_data",
            crash_keeps_flushed_and_drained_data,
        ),
        (
            "crash_can_lose_unflushed_write",
            crash_can_lose_unflushed_write,
        ),
        (
            "crash_can_lose_flush_without_drain",
            crash_can_lose_flush_without_drain,
        ),
        (
            "crash_tears_lines_only_between_words",
            crash_tears_lines_only_between_words,
        ),
        (
            "crash_store_after_flush_needs_another_flush",
            crash_store_after_flush_needs_another_flush,
        ),
        ("crash_eadr_keeps_every_store", crash_eadr_keeps_every_store),
        (
            "crash_visit_draws_what_crash_draws",
            crash_visit_draws_what_crash_draws,
        ),
        (
            "crash_injected_flush_error_writes_nothing_back",
            crash_injected_flush_error_writes_nothing_back,
        ),
        (
            "crash_threads_keep_their_drained_writes",
            crash_threads_keep_their_drained_writes,
        ),
        ("crash_bad_ranges_are_errors", crash_bad_ranges_are_errors),
        ("crash_stats_count_lines", crash_stats_count_lines),
    ];

    /// Crash images drawn per check: enough that a line of 8 words is all
    /// old (probability 2^-8 per image for a dirty line) in some image.
    const IMAGES: usize = 512;

    macro_rules! ensure {
        ($cond:expr, $($why:tt)+) => {
            if !$cond {
                return Err(format!($($why)+));
            }
        };
    }

    fn sim(len: usize, model: CacheModel) -> Result<SimulatedPmem, String> {
        SimulatedPmem::new(len, model).map_err(|e| e.to_string())
    }

    fn fill(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) | 1)
            .collect()
    }

    /// Writes of every size and alignment, each flushed and drained, are in
    /// every crash image, and in a device rebooted from one.
    pub(crate) fn crash_keeps_flushed_and_drained_data() -> Result<(), String> {
        let pmem = sim(64 << 10, CacheModel::Adr)?;
        let mut rng = StdRng::seed_from_u64(1);
        let mut expected = vec![0u8; 64 << 10];
        for round in 0..200u64 {
            let len = rng.random_range(1..3000);
            let offset = rng.random_range(0..(64 << 10) - len);
            let data = fill(len, round as u8);
            pmem.write(offset as u64, &data)
                .map_err(|e| e.to_string())?;
            pmem.flush(offset as u64, len as u64)
                .map_err(|e| e.to_string())?;
            pmem.drain().map_err(|e| e.to_string())?;
            expected[offset..offset + len].copy_from_slice(&data);
        }
        ensure!(
            pmem.unpersisted_lines() == 0,
            "{} lines unpersisted",
            pmem.unpersisted_lines()
        );
        for i in 0..IMAGES {
            ensure!(
                pmem.crash(&mut rng) == expected,
                "crash image {i} lost drained data"
            );
        }
        let rebooted = SimulatedPmem::from_image(pmem.crash(&mut rng), CacheModel::Adr)
            .map_err(|e| e.to_string())?;
        let mut back = vec![0u8; expected.len()];
        rebooted.read(0, &mut back).map_err(|e| e.to_string())?;
        ensure!(back == expected, "rebooted device differs");
        Ok(())
    }

    /// A write never flushed is absent from some crash image (and present
    /// in another: lines do get evicted).
    pub(crate) fn crash_can_lose_unflushed_write() -> Result<(), String> {
        let pmem = sim(4096, CacheModel::Adr)?;
        let data = fill(64, 7);
        pmem.write(128, &data).map_err(|e| e.to_string())?;
        ensure!(
            !pmem.is_persistent(128, 64).map_err(|e| e.to_string())?,
            "unflushed data reported persistent"
        );
        ensure!(
            pmem.durable_image()[128..192] != data[..],
            "durable image has unflushed data"
        );
        let mut rng = StdRng::seed_from_u64(2);
        let (mut lost, mut kept) = (0, 0);
        for _ in 0..IMAGES {
            let image = pmem.crash(&mut rng);
            if image[128..192] == data[..] {
                kept += 1;
            } else {
                lost += 1;
            }
        }
        ensure!(lost > 0, "no crash image lost the unflushed write");
        ensure!(kept > 0, "no crash image evicted the dirty line");
        Ok(())
    }

    /// A flush that no drain waited for may not have completed.
    pub(crate) fn crash_can_lose_flush_without_drain() -> Result<(), String> {
        let pmem = sim(4096, CacheModel::Adr)?;
        let data = fill(200, 3);
        pmem.write(1000, &data).map_err(|e| e.to_string())?;
        pmem.flush(1000, 200).map_err(|e| e.to_string())?;
        let mut rng = StdRng::seed_from_u64(3);
        let lost = (0..IMAGES).any(|_| pmem.crash(&mut rng)[1000..1200] != data[..]);
        ensure!(lost, "an undrained flush survived every crash");
        pmem.drain().map_err(|e| e.to_string())?;
        ensure!(
            pmem.is_persistent(1000, 200).map_err(|e| e.to_string())?,
            "drained data not persistent"
        );
        let kept = (0..IMAGES).all(|_| pmem.crash(&mut rng)[1000..1200] == data[..]);
        ensure!(kept, "drained data lost in a crash");
        Ok(())
    }

    /// Every crash image word is wholly old or wholly new, and some image
    /// mixes old and new words within one line.
    pub(crate) fn crash_tears_lines_only_between_words() -> Result<(), String> {
        let old = [0xaa_u8; 64];
        let new = [0xbb_u8; 72];
        let pmem =
            SimulatedPmem::from_image(old.repeat(4), CacheModel::Adr).map_err(|e| e.to_string())?;
        // Unaligned on purpose: bytes 60..132 touch three lines.
        pmem.write(60, &new).map_err(|e| e.to_string())?;
        let mut rng = StdRng::seed_from_u64(4);
        let mut torn = false;
        for _ in 0..IMAGES {
            let image = pmem.crash(&mut rng);
            for (w, word) in image.chunks_exact(8).enumerate() {
                let expect_new = |b: usize| (60..132).contains(&(w * 8 + b));
                let all_old = word.iter().all(|&b| b == 0xaa);
                let all_new = word
                    .iter()
                    .enumerate()
                    .all(|(b, &v)| v == if expect_new(b) { 0xbb } else { 0xaa });
                ensure!(all_old || all_new, "word {w} torn inside: {word:02x?}");
            }
            let line1 = &image[64..128];
            torn |= line1.contains(&0xaa) && line1.contains(&0xbb);
        }
        ensure!(torn, "no crash image tore a line between words");
        Ok(())
    }

    /// A store after the flush but before the drain is not covered by it.
    pub(crate) fn crash_store_after_flush_needs_another_flush() -> Result<(), String> {
        let pmem = sim(4096, CacheModel::Adr)?;
        let (first, second) = ([1u8; 64], [2u8; 64]);
        pmem.write(0, &first).map_err(|e| e.to_string())?;
        pmem.flush(0, 64).map_err(|e| e.to_string())?;
        pmem.write(0, &second).map_err(|e| e.to_string())?;
        pmem.drain().map_err(|e| e.to_string())?;
        ensure!(
            !pmem.is_persistent(0, 64).map_err(|e| e.to_string())?,
            "re-dirtied line reported persistent"
        );
        ensure!(
            pmem.durable_image()[..64] == first,
            "the drained flush must have written the first value"
        );
        let mut rng = StdRng::seed_from_u64(5);
        let mut saw_first = false;
        for _ in 0..IMAGES {
            let image = pmem.crash(&mut rng);
            for word in image[..64].chunks_exact(8) {
                ensure!(
                    word == [1; 8] || word == [2; 8],
                    "word {word:?} neither flushed nor current"
                );
                saw_first |= word == [1; 8];
            }
        }
        ensure!(saw_first, "the unflushed second store survived every crash");
        pmem.flush(0, 64).map_err(|e| e.to_string())?;
        pmem.drain().map_err(|e| e.to_string())?;
        ensure!(
            pmem.is_persistent(0, 64).map_err(|e| e.to_string())?,
            "second flush did not persist"
        );
        Ok(())
    }

    /// With the caches in the persistence domain every store survives.
    pub(crate) fn crash_eadr_keeps_every_store() -> Result<(), String> {
        let pmem = sim(4096, CacheModel::Eadr)?;
        ensure!(pmem.model() == CacheModel::Eadr, "model {:?}", pmem.model());
        let data = fill(300, 9);
        pmem.write(77, &data).map_err(|e| e.to_string())?;
        ensure!(
            pmem.is_persistent(77, 300).map_err(|e| e.to_string())?,
            "eADR store not persistent"
        );
        ensure!(
            pmem.unpersisted_lines() == 0,
            "eADR counts unpersisted lines"
        );
        let mut rng = StdRng::seed_from_u64(6);
        for _ in 0..64 {
            ensure!(
                pmem.crash(&mut rng)[77..377] == data[..],
                "eADR crash lost a store"
            );
        }
        ensure!(pmem.flush_name().contains("eADR"), "{}", pmem.flush_name());
        Ok(())
    }

    /// A line-by-line draw over the durable image is the image `crash`
    /// draws with the same seed, and says which lines lack a store.
    pub(crate) fn crash_visit_draws_what_crash_draws() -> Result<(), String> {
        let pmem = sim(8192, CacheModel::Adr)?;
        pmem.write(0, &fill(3000, 1)).map_err(|e| e.to_string())?;
        pmem.flush(0, 1000).map_err(|e| e.to_string())?;
        pmem.drain().map_err(|e| e.to_string())?;
        pmem.write(500, &fill(5000, 2)).map_err(|e| e.to_string())?;
        pmem.flush(2000, 3000).map_err(|e| e.to_string())?;
        let mut visible = vec![0u8; 8192];
        pmem.read(0, &mut visible).map_err(|e| e.to_string())?;
        for seed in 0..16 {
            let whole = pmem.crash(&mut StdRng::seed_from_u64(seed));
            let mut drawn = pmem.durable_image();
            let mut lost_lines = 0;
            let mut wrong = None;
            let rng = &mut StdRng::seed_from_u64(seed);
            pmem.crash_visit(
                rng,
                |_| false,
                |line, bytes, lost| {
                    drawn[line * CACHE_LINE..][..CACHE_LINE].copy_from_slice(bytes);
                    let differs = bytes[..] != visible[line * CACHE_LINE..][..CACHE_LINE];
                    lost_lines += usize::from(lost);
                    if lost != differs {
                        wrong.get_or_insert(line);
                    }
                    true
                },
            );
            ensure!(wrong.is_none(), "seed {seed}: line {wrong:?} misreported");
            ensure!(drawn == whole, "seed {seed}: the two draws differ");
            ensure!(lost_lines > 0, "seed {seed}: no line lost a store");
        }
        Ok(())
    }

    /// An injected flush error is returned, writes nothing back, and the
    /// flush after it works again.
    pub(crate) fn crash_injected_flush_error_writes_nothing_back() -> Result<(), String> {
        let pmem = sim(4096, CacheModel::Adr)?;
        let data = fill(64, 11);
        pmem.write(64, &data).map_err(|e| e.to_string())?;
        pmem.fail_next_flushes(1);
        match pmem.flush(64, 64) {
            Err(e) if e.raw_os_error() == Some(libc::EIO) => {}
            other => return Err(format!("injected flush error: got {other:?}")),
        }
        pmem.drain().map_err(|e| e.to_string())?;
        ensure!(
            pmem.durable_image()[64..128] != data[..],
            "a failed flush wrote data back"
        );
        ensure!(pmem.stats().failed_flushes == 1, "{:?}", pmem.stats());
        pmem.flush(64, 64)
            .map_err(|e| format!("flush after the error: {e}"))?;
        pmem.drain().map_err(|e| e.to_string())?;
        ensure!(
            pmem.durable_image()[64..128] == data[..],
            "retry did not write back"
        );
        Ok(())
    }

    /// Threads writing, flushing and draining their own ranges at once:
    /// every write each drained is in every crash image afterwards.
    pub(crate) fn crash_threads_keep_their_drained_writes() -> Result<(), String> {
        const THREADS: usize = 4;
        const SPAN: usize = 16 << 10;
        let pmem = sim(THREADS * SPAN, CacheModel::Adr)?;
        let results: Vec<Result<Vec<u8>, String>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..THREADS)
                .map(|t| {
                    let pmem = &pmem;
                    scope.spawn(move || -> Result<Vec<u8>, String> {
                        let mut rng = StdRng::seed_from_u64(100 + t as u64);
                        let mut mine = vec![0u8; SPAN];
                        for round in 0..300 {
                            let len = rng.random_range(1..500);
                            let at = rng.random_range(0..SPAN - len);
                            let data = fill(len, round as u8 ^ t as u8);
                            let offset = (t * SPAN + at) as u64;
                            pmem.write(offset, &data).map_err(|e| e.to_string())?;
                            pmem.flush(offset, len as u64).map_err(|e| e.to_string())?;
                            pmem.drain().map_err(|e| e.to_string())?;
                            mine[at..at + len].copy_from_slice(&data);
                        }
                        Ok(mine)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err("thread panicked".to_string()))
                })
                .collect()
        });
        let mut expected = Vec::with_capacity(THREADS * SPAN);
        for result in results {
            expected.extend(result?);
        }
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..32 {
            ensure!(
                pmem.crash(&mut rng) == expected,
                "a crash lost a drained write"
            );
        }
        Ok(())
    }

    /// Out-of-range accesses and impossible devices are errors.
    pub(crate) fn crash_bad_ranges_are_errors() -> Result<(), String> {
        ensure!(
            SimulatedPmem::new(0, CacheModel::Adr).is_err(),
            "empty device accepted"
        );
        ensure!(
            SimulatedPmem::new(100, CacheModel::Adr).is_err(),
            "partial line accepted"
        );
        let pmem = sim(4096, CacheModel::Adr)?;
        let mut buf = [0u8; 8];
        ensure!(pmem.read(4090, &mut buf).is_err(), "read past the end");
        ensure!(pmem.write(u64::MAX - 2, &buf).is_err(), "write at u64::MAX");
        ensure!(pmem.flush(4096, 1).is_err(), "flush past the end");
        ensure!(
            pmem.is_persistent(4000, 200).is_err(),
            "is_persistent past the end"
        );
        ensure!(pmem.stats().writes == 0, "a refused write counted");
        Ok(())
    }

    /// Flushing clean lines costs instructions but writes nothing back.
    pub(crate) fn crash_stats_count_lines() -> Result<(), String> {
        let pmem = sim(8192, CacheModel::Adr)?;
        pmem.write(10, &[1; 100]).map_err(|e| e.to_string())?; // lines 0 and 1
        pmem.flush(0, 4096).map_err(|e| e.to_string())?;
        pmem.drain().map_err(|e| e.to_string())?;
        pmem.flush(0, 4096).map_err(|e| e.to_string())?;
        let stats = pmem.stats();
        let want = SimStats {
            writes: 1,
            bytes_written: 100,
            flushes: 2,
            lines_flushed: 128,
            dirty_lines_flushed: 2,
            drains: 1,
            failed_flushes: 0,
        };
        ensure!(stats == want, "{stats:?}, want {want:?}");
        Ok(())
    }
}
