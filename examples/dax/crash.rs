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
//! (It stores the visible image whole and, of the durable image, only the
//! lines that differ from it: those with something pending. See
//! [`Saved`].)
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
    /// What loads see: the durable image plus every store since.
    visible: Vec<u8>,
    /// Lines holding stores not yet flushed (one bit per line).
    dirty: Lines,
    /// Lines flushed but not yet drained.
    flushed: Lines,
    /// Groups with lines dirty or flushed: one bit per group (per word of
    /// `dirty` and `flushed`).
    busy: Lines,
    /// Groups that may hold other bytes than zeros (stored to, or from an
    /// image): one bit per group.
    touched: Lines,
    /// What differs from `visible` of the durable image and the flushed
    /// snapshots, for the groups with pending lines only (see [`Saved`]).
    saved: SavedGroups,
    /// The groups with lines set in `flushed`, for the drain.
    flushed_groups: Vec<usize>,
    /// This many next flushes fail with EIO.
    fail_flushes: u32,
    stats: SimStats,
}

impl SimulatedPmem {
    /// A zeroed device of `len` bytes, a whole number of cache lines.
    pub(crate) fn new(len: usize, model: CacheModel) -> io::Result<SimulatedPmem> {
        // A zeroed vector from the allocator: its pages are zeroed by the
        // kernel when first touched, and a large device is mostly never
        // touched.
        let mut image = vec![0; len];
        huge_pages(&mut image);
        SimulatedPmem::with_image(image, true, model)
    }

    /// A device whose durable content is `image`: the machine rebooted
    /// after a crash, with `image` from [`crash`](Self::crash).
    pub(crate) fn from_image(image: Vec<u8>, model: CacheModel) -> io::Result<SimulatedPmem> {
        SimulatedPmem::with_image(image, false, model)
    }

    /// A device showing `image`, with nothing pending (so durable too);
    /// `zeroed` says it is all zeros.
    fn with_image(image: Vec<u8>, zeroed: bool, model: CacheModel) -> io::Result<SimulatedPmem> {
        let len = image.len();
        if len == 0 || len % CACHE_LINE != 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "a simulated device is a positive number of {CACHE_LINE}-byte lines, not {len} bytes"
                ),
            ));
        }
        let lines = len / CACHE_LINE;
        Ok(SimulatedPmem {
            len,
            model,
            state: Mutex::new(State {
                visible: image,
                dirty: Lines::new(lines),
                flushed: Lines::new(lines),
                busy: Lines::new(lines.div_ceil(GROUP_LINES)),
                touched: Lines(vec![
                    if zeroed { 0 } else { !0 };
                    lines.div_ceil(GROUP_LINES).div_ceil(GROUP_LINES)
                ]),
                saved: SavedGroups::new(lines.div_ceil(GROUP_LINES)),
                flushed_groups: Vec::new(),
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
        let mut image = state.visible.clone();
        if self.model == CacheModel::Eadr {
            return image;
        }
        for line in state.pending() {
            let out = &mut image[line * CACHE_LINE..][..CACHE_LINE];
            out.copy_from_slice(state.durable_line(line));
            state.draw_line(line, rng, out);
        }
        image
    }

    /// The same draw as [`crash`](Self::crash), line by line, without the
    /// copy of the device: `visit(line, bytes, lost)` gets each line with
    /// unpersisted data (ascending) as the crash left it, and whether it
    /// lacks a store that loads saw; every other line of the image is the
    /// durable image ([`read_durable`](Self::read_durable)). The lines of
    /// the 4 KiB pages for which `skip(page)` says so are passed over
    /// undrawn, and the draw stops when `visit` returns `false`. The
    /// command's crash check cuts hundreds of images from a run over a
    /// device of many MiB, where a copy per image would cost more than the
    /// run. `visit` runs under the device's lock: it must not call the
    /// device.
    pub(crate) fn crash_visit<R: Rng + ?Sized>(
        &self,
        rng: &mut R,
        mut skip: impl FnMut(usize) -> bool,
        mut visit: impl FnMut(usize, &[u8; CACHE_LINE], bool) -> bool,
    ) {
        let state = self.lock();
        for g in state.busy_groups() {
            if skip(g) {
                continue;
            }
            for line in state.pending_in(g) {
                let at = line * CACHE_LINE;
                let mut bytes = [0u8; CACHE_LINE];
                if self.model == CacheModel::Eadr {
                    bytes.copy_from_slice(&state.visible[at..at + CACHE_LINE]);
                } else {
                    bytes.copy_from_slice(state.durable_line(line));
                    state.draw_line(line, rng, &mut bytes);
                }
                let lost = bytes[..] != state.visible[at..at + CACHE_LINE];
                if !visit(line, &bytes, lost) {
                    return;
                }
            }
        }
    }

    /// The fence ([`Persist::drain`]), returning the 4 KiB pages (groups)
    /// it wrote back, ascending by first flush: the only places where the
    /// durable image can have changed. The command's crash check compares
    /// again just the synced pages among them.
    pub(crate) fn drain_groups(&self) -> Vec<usize> {
        let mut state = self.lock();
        let State {
            dirty,
            flushed,
            busy,
            saved,
            flushed_groups,
            stats,
            ..
        } = &mut *state;
        let groups = core::mem::take(flushed_groups);
        for &g in &groups {
            let drained = core::mem::take(&mut flushed.0[g]);
            if dirty.0[g] == 0 {
                // Every snapshot is what loads see: durable as it reads.
                saved.remove(g);
                busy.0[g / GROUP_LINES] &= !(1 << (g % GROUP_LINES));
            } else if let Some(group) = saved.get_mut(g) {
                // Lines stored to again since their flush: the snapshot
                // becomes durable, and they stay pending.
                group.snapshot_to_durable(drained & dirty.0[g]);
                group.stored_again &= !drained;
            }
        }
        stats.drains += 1;
        groups
    }

    /// Reads the durable image: what a crash now leaves of every line with
    /// nothing pending.
    pub(crate) fn read_durable(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let range = device_range(offset, buf.len(), self.len as u64)?;
        self.lock().durable_parts(self.model, &range, |at, bytes| {
            buf[at..at + bytes.len()].copy_from_slice(bytes);
            true
        });
        Ok(())
    }

    /// Whether the durable image holds `expected` at `offset`: the same as
    /// comparing what [`read_durable`](Self::read_durable) reads, without
    /// the copy.
    pub(crate) fn durable_equals(&self, offset: u64, expected: &[u8]) -> io::Result<bool> {
        let range = device_range(offset, expected.len(), self.len as u64)?;
        let mut same = true;
        self.lock().durable_parts(self.model, &range, |at, bytes| {
            same = expected[at..at + bytes.len()] == *bytes;
            same
        });
        Ok(same)
    }

    /// The image a crash leaves if no dirty line was evicted and no
    /// undrained flush completed: only what was drained. Every other crash
    /// image keeps at least as much.
    pub(crate) fn durable_image(&self) -> Vec<u8> {
        let state = self.lock();
        let mut image = state.visible.clone();
        if self.model == CacheModel::Adr {
            for line in state.pending() {
                image[line * CACHE_LINE..][..CACHE_LINE].copy_from_slice(state.durable_line(line));
            }
        }
        image
    }

    /// Whether every possible crash image holds the current content of
    /// `[offset, offset + len)`.
    pub(crate) fn is_persistent(&self, offset: u64, len: usize) -> io::Result<bool> {
        let range = device_range(offset, len, self.len as u64)?;
        if self.model == CacheModel::Eadr || range.is_empty() {
            return Ok(true);
        }
        let state = self.lock();
        // A line with nothing pending is durable as it reads, so only the
        // durable content and snapshots of pending lines can differ.
        for line in lines_of(&range).filter(|&line| state.is_pending(line)) {
            let (bytes, in_line) = overlap(&range, line);
            let visible = &state.visible[bytes];
            if state.durable_line(line)[in_line.clone()] != *visible {
                return Ok(false);
            }
            if let Some(snapshot) = state.snapshot_line(line) {
                if snapshot[in_line] != *visible {
                    return Ok(false);
                }
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

/// Asks the kernel to back `memory` with 2 MiB pages where it can. The
/// command's crash check replays a run on a device of 64 MiB or more, and
/// the first store to each 4 KiB page of it is a page fault: 16384 of them
/// for 64 MiB cost about 60 ms on the 2-core VM this was measured on,
/// 32 faults of 2 MiB about 12 ms. (Linux enables transparent huge pages
/// for such regions by default only when asked, `madvise` mode.) Only a
/// hint: where it is refused or unavailable, pages are 4 KiB as before.
fn huge_pages(memory: &mut [u8]) {
    const HUGE: usize = 2 << 20;
    if memory.len() < 2 * HUGE {
        return;
    }
    let (start, len) = page_aligned(memory.as_mut_ptr(), memory.len());
    // SAFETY: `[start, start + len)` lies inside `memory`, which this
    // function borrows exclusively, and is page-aligned as madvise
    // requires. MADV_HUGEPAGE changes no content and no mapping, only how
    // the kernel backs later faults; its result is ignored because a
    // refusal leaves the memory as it was.
    unsafe {
        libc::madvise(start.cast(), len, libc::MADV_HUGEPAGE);
    }
}

/// The whole pages of `[start, start + len)`: their start and length.
fn page_aligned(start: *mut u8, len: usize) -> (*mut u8, usize) {
    let page = crate::pmem::PAGE_SIZE as usize;
    let skip = start.align_offset(page).min(len);
    (start.wrapping_add(skip), (len - skip) / page * page)
}

/// The bytes of `range` within `line`: as device offsets, and as offsets
/// in the line.
fn overlap(range: &Range<usize>, line: usize) -> (Range<usize>, Range<usize>) {
    let line_start = line * CACHE_LINE;
    let bytes = range.start.max(line_start)..range.end.min(line_start + CACHE_LINE);
    let in_line = bytes.start - line_start..bytes.end - line_start;
    (bytes, in_line)
}

/// One bit per cache line of the device. (A bitmap, not a set: zeroing a
/// 2 MiB extent touches 32768 lines, and the race test does that often.)
/// A word of it is a [group](GROUP_LINES) of lines.
#[derive(Debug)]
struct Lines(Vec<u64>);

impl Lines {
    fn new(lines: usize) -> Lines {
        Lines(vec![0; lines.div_ceil(GROUP_LINES)])
    }

    fn get(&self, line: usize) -> bool {
        self.0[line / GROUP_LINES] & 1 << (line % GROUP_LINES) != 0
    }
}

/// Lines per group: one word of the line bitmaps, one 4 KiB page of the
/// device. The simulator updates its state a group at a time, so a store,
/// flush or drain of a page costs a few word operations and copies, not 64
/// rounds of per-line bookkeeping.
const GROUP_LINES: usize = 64;
const GROUP_BYTES: usize = GROUP_LINES * CACHE_LINE;

/// Lines `lo..hi` of a group, as a mask.
fn mask(lo: usize, hi: usize) -> u64 {
    match hi - lo {
        0 => 0,
        GROUP_LINES => !0,
        n => ((1 << n) - 1) << lo,
    }
}

/// The groups that `lines` touches, each with the mask of its lines in
/// `lines`.
fn groups_of(lines: Range<usize>) -> impl Iterator<Item = (usize, u64)> {
    let groups = lines.start / GROUP_LINES..lines.end.div_ceil(GROUP_LINES);
    groups.map(move |g| {
        let first = g * GROUP_LINES;
        let lo = lines.start.max(first) - first;
        let hi = lines.end.min(first + GROUP_LINES) - first;
        (g, mask(lo, hi.max(lo)))
    })
}

/// Copies the lines of group-relative `lines` from `src` to `dst`, both a
/// group's bytes (the last group of a device may be short: the lines are
/// in it).
fn copy_lines(dst: &mut [u8], src: &[u8], mut lines: u64) {
    while lines != 0 {
        let lo = lines.trailing_zeros() as usize;
        let hi = lo + (lines >> lo).trailing_ones() as usize;
        let bytes = lo * CACHE_LINE..hi * CACHE_LINE;
        dst[bytes.clone()].copy_from_slice(&src[bytes]);
        lines &= !mask(lo, hi);
    }
}

/// What a group with pending lines (dirty, or flushed and not drained)
/// holds besides what loads see.
///
/// A line with nothing pending is durable exactly as it reads, so the
/// durable image and the flushed snapshots differ from the visible image
/// only in pending lines; the simulator keeps the groups that have some,
/// not two more copies of the device. (The command's crash check replays a
/// run on a device of up to 256 MiB: three full images cost it more in
/// page faults and copies than the DAX path it checks.)
///
/// Its buffers are allocated when first needed and kept with the slot:
/// the durable content of a group never stored to is zeros, which needs
/// none (a failing run, with nothing ever written back, has every group it
/// stored to pending), and most groups never need a snapshot.
#[derive(Clone, Debug, Default)]
struct Saved {
    /// The durable content of the group's pending lines (the bytes of
    /// other lines mean nothing), unless `durable_zero`.
    durable: Option<Box<[u8; GROUP_BYTES]>>,
    /// The durable content of every pending line is zeros.
    durable_zero: bool,
    /// For the flushed lines stored to since their flush (`stored_again`),
    /// the content the flush took; a flushed line not stored to since
    /// reads as its snapshot.
    snapshot: Option<Box<[u8; GROUP_BYTES]>>,
    stored_again: u64,
}

/// A group of zeros: the durable content of a group `durable_zero`.
static ZERO_GROUP: [u8; GROUP_BYTES] = [0; GROUP_BYTES];

impl Saved {
    fn durable(&self) -> &[u8; GROUP_BYTES] {
        match &self.durable {
            Some(buffer) if !self.durable_zero => buffer,
            _ => &ZERO_GROUP,
        }
    }

    fn durable_mut(&mut self) -> &mut [u8; GROUP_BYTES] {
        let zero = core::mem::take(&mut self.durable_zero);
        let buffer = self
            .durable
            .get_or_insert_with(|| Box::new([0; GROUP_BYTES]));
        if zero {
            buffer.fill(0);
        }
        buffer
    }

    fn snapshot(&self) -> &[u8; GROUP_BYTES] {
        self.snapshot.as_deref().unwrap_or(&ZERO_GROUP)
    }

    fn snapshot_mut(&mut self) -> &mut [u8; GROUP_BYTES] {
        self.snapshot
            .get_or_insert_with(|| Box::new([0; GROUP_BYTES]))
    }

    /// Drained `lines` stored to again: their snapshot becomes durable.
    fn snapshot_to_durable(&mut self, lines: u64) {
        if lines != 0 {
            let snapshot = *self.snapshot();
            copy_lines(self.durable_mut(), &snapshot, lines);
        }
    }
}

/// The [`Saved`] groups: a slot number per group of the device (0: none),
/// slots reused as groups settle, so the memory they take follows what is
/// pending, not the device.
#[derive(Debug)]
struct SavedGroups {
    slot_of: Vec<u32>,
    slots: Vec<Saved>,
    free: Vec<u32>,
}

impl SavedGroups {
    fn new(groups: usize) -> SavedGroups {
        SavedGroups {
            slot_of: vec![0; groups],
            slots: Vec::new(),
            free: Vec::new(),
        }
    }

    fn get(&self, group: usize) -> Option<&Saved> {
        let slot = self.slot_of[group];
        (slot != 0).then(|| &self.slots[slot as usize - 1])
    }

    fn get_mut(&mut self, group: usize) -> Option<&mut Saved> {
        let slot = self.slot_of[group];
        (slot != 0).then(|| &mut self.slots[slot as usize - 1])
    }

    /// The group's slot, taken from the free ones if it has none.
    fn get_or_insert(&mut self, group: usize) -> &mut Saved {
        if self.slot_of[group] == 0 {
            let slot = self.free.pop().unwrap_or_else(|| {
                self.slots.push(Saved::default());
                // The device has fewer than 2^32 groups (16 TiB): the
                // simulator is for tests and replays of at most 256 MiB.
                u32::try_from(self.slots.len()).unwrap_or(u32::MAX)
            });
            let saved = &mut self.slots[slot as usize - 1];
            saved.stored_again = 0;
            saved.durable_zero = false;
            self.slot_of[group] = slot;
        }
        let slot = self.slot_of[group];
        &mut self.slots[slot as usize - 1]
    }

    /// The group has nothing pending any more: durable as it reads.
    fn remove(&mut self, group: usize) {
        let slot = core::mem::replace(&mut self.slot_of[group], 0);
        if slot != 0 {
            self.free.push(slot);
        }
    }
}

impl State {
    fn is_pending(&self, line: usize) -> bool {
        let g = line / GROUP_LINES;
        (self.dirty.0[g] | self.flushed.0[g]) & 1 << (line % GROUP_LINES) != 0
    }

    /// The bytes of group `g` in `visible` (4 KiB, or less at the end).
    fn group_bytes(len: usize, g: usize) -> Range<usize> {
        g * GROUP_BYTES..((g + 1) * GROUP_BYTES).min(len)
    }

    /// The durable content of `line`.
    fn durable_line(&self, line: usize) -> &[u8] {
        let (g, at) = (line / GROUP_LINES, line % GROUP_LINES * CACHE_LINE);
        match self.saved.get(g) {
            Some(saved) if self.is_pending(line) => &saved.durable()[at..at + CACHE_LINE],
            _ => &self.visible[line * CACHE_LINE..][..CACHE_LINE],
        }
    }

    /// The content `line` had when it was flushed, if it is flushed and
    /// not drained.
    fn snapshot_line(&self, line: usize) -> Option<&[u8]> {
        if !self.flushed.get(line) {
            return None;
        }
        let (g, bit) = (line / GROUP_LINES, line % GROUP_LINES);
        Some(match self.saved.get(g) {
            Some(saved) if saved.stored_again & 1 << bit != 0 => {
                &saved.snapshot()[bit * CACHE_LINE..][..CACHE_LINE]
            }
            _ => &self.visible[line * CACHE_LINE..][..CACHE_LINE],
        })
    }

    /// What a crash leaves of pending `line`: `out` holds its durable
    /// content on entry; each aligned 8-byte word independently keeps it,
    /// or takes the flushed snapshot, or the current value.
    fn draw_line<R: Rng + ?Sized>(&self, line: usize, rng: &mut R, out: &mut [u8]) {
        let snapshot = self.snapshot_line(line);
        let dirty = self.dirty.get(line);
        let current = &self.visible[line * CACHE_LINE..][..CACHE_LINE];
        for word in (0..CACHE_LINE).step_by(ATOMIC_WORD) {
            let bytes = word..word + ATOMIC_WORD;
            // Candidates: durable (already in `out`), the flushed snapshot,
            // the current value. Without a store since the flush the
            // current value is the snapshot.
            let choices = 1 + usize::from(snapshot.is_some()) + usize::from(dirty);
            // A word whose candidates are all one value has nothing to
            // draw (a line zeroed over zeros, the words a store left as
            // they were): no random number is spent on it, which leaves
            // the odds of every other word as they were.
            let same = |candidate: &[u8]| candidate[bytes.clone()] == out[bytes.clone()];
            if same(current) && snapshot.is_none_or(same) {
                continue;
            }
            match (rng.random_range(0..choices), snapshot) {
                (0, _) => {}
                (1, Some(snapshot)) => out[bytes.clone()].copy_from_slice(&snapshot[bytes]),
                _ => out[bytes.clone()].copy_from_slice(&current[bytes]),
            }
        }
    }

    /// Lines that are dirty or flushed but not drained, in ascending order
    /// (so a seeded crash draws the same image every time).
    fn pending(&self) -> impl Iterator<Item = usize> + '_ {
        self.busy_groups().flat_map(|g| self.pending_in(g))
    }

    /// The groups with pending lines, ascending: a scan of one bit per
    /// group (a 64 MiB device has 16384 groups, 256 words), not of the
    /// line bitmaps, for each of the crash check's hundreds of cuts.
    fn busy_groups(&self) -> impl Iterator<Item = usize> + '_ {
        self.busy
            .0
            .iter()
            .enumerate()
            .flat_map(|(w, &word)| bits(word, w))
    }

    /// The pending lines of group `g`, ascending.
    fn pending_in(&self, g: usize) -> impl Iterator<Item = usize> {
        bits(self.dirty.0[g] | self.flushed.0[g], g)
    }

    /// Calls `part(at, bytes)` with the durable content of `range`, piece
    /// by piece in order (`at`: where `bytes` starts, from `range.start`),
    /// until it returns `false`: a group with nothing pending is one piece
    /// of `visible`.
    fn durable_parts(
        &self,
        model: CacheModel,
        range: &Range<usize>,
        mut part: impl FnMut(usize, &[u8]) -> bool,
    ) {
        let mut at = range.start;
        while at < range.end {
            let g = at / GROUP_BYTES;
            let group_start = g * GROUP_BYTES;
            let group_end = (group_start + GROUP_BYTES).min(range.end);
            let pending = match (model, self.saved.get(g)) {
                (CacheModel::Adr, Some(saved)) => {
                    Some((self.dirty.0[g] | self.flushed.0[g], saved))
                }
                _ => None,
            };
            let Some((pending, saved)) = pending else {
                if !part(at - range.start, &self.visible[at..group_end]) {
                    return;
                }
                at = group_end;
                continue;
            };
            while at < group_end {
                let line = at / CACHE_LINE;
                let end = ((line + 1) * CACHE_LINE).min(range.end);
                let bytes = if pending & 1 << (line % GROUP_LINES) != 0 {
                    &saved.durable()[at - group_start..end - group_start]
                } else {
                    &self.visible[at..end]
                };
                if !part(at - range.start, bytes) {
                    return;
                }
                at = end;
            }
        }
    }
}

/// The set bits of `word`, ascending, as indices counted from `word_index`
/// words of 64.
fn bits(mut word: u64, word_index: usize) -> impl Iterator<Item = usize> {
    core::iter::from_fn(move || {
        (word != 0).then(|| {
            let bit = word.trailing_zeros() as usize;
            word &= word - 1;
            word_index * 64 + bit
        })
    })
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
        let State {
            visible,
            dirty,
            flushed,
            busy,
            touched,
            saved,
            stats,
            ..
        } = &mut *state;
        for (g, lines) in groups_of(lines_of(&range)) {
            let group_bytes = State::group_bytes(self.len, g);
            let part = range.start.max(group_bytes.start)..range.end.min(group_bytes.end);
            let new = &data[part.start - range.start..part.end - range.start];
            // A store that leaves a group's bytes as they were changes none
            // of the values a crash could leave there, so the group stays
            // as it was: zeroing a block that reads as zeros (every fault
            // on a fresh block) costs a comparison, and leaves no lines
            // pending that every later crash image would have to draw.
            if lines == 0 || visible[part.clone()] == *new {
                continue;
            }
            // Before the store: lines that were durable as they read keep
            // their durable content, flushed lines what their flush took.
            let pending = dirty.0[g] | flushed.0[g];
            let newly = lines & !pending;
            let current = &visible[State::group_bytes(self.len, g)];
            let fresh = !touched.get(g);
            let group = saved.get_or_insert(g);
            if pending == 0 {
                // A group never stored to reads as zeros: so is its
                // durable content, with no copy.
                group.durable_zero = fresh;
            }
            if newly != 0 && !(fresh && group.durable_zero) {
                copy_lines(group.durable_mut(), current, newly);
            }
            let restore = lines & flushed.0[g] & !group.stored_again;
            if restore != 0 {
                copy_lines(group.snapshot_mut(), current, restore);
                group.stored_again |= restore;
            }
            touched.0[g / GROUP_LINES] |= 1 << (g % GROUP_LINES);
            dirty.0[g] |= lines;
            busy.0[g / GROUP_LINES] |= 1 << (g % GROUP_LINES);
            visible[part].copy_from_slice(new);
        }
        stats.writes += 1;
        stats.bytes_written += data.len() as u64;
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
        let State {
            dirty,
            flushed,
            saved,
            flushed_groups,
            stats,
            ..
        } = &mut *state;
        for (g, lines) in groups_of(lines_of(&range)) {
            stats.lines_flushed += u64::from(lines.count_ones());
            let written = dirty.0[g] & lines;
            if written == 0 {
                continue;
            }
            dirty.0[g] &= !written;
            // Their snapshot is now what loads see.
            if let Some(group) = saved.get_mut(g) {
                group.stored_again &= !written;
            }
            if flushed.0[g] == 0 {
                flushed_groups.push(g);
            }
            flushed.0[g] |= written;
            stats.dirty_lines_flushed += u64::from(written.count_ones());
        }
        stats.flushes += 1;
        Ok((lines_of(&range).len() * CACHE_LINE) as u64)
    }

    fn drain(&self) -> io::Result<()> {
        self.drain_groups();
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
        (
            "crash_matches_a_model_of_whole_images",
            crash_matches_a_model_of_whole_images,
        ),
        (
            "crash_same_bytes_store_leaves_nothing_pending",
            crash_same_bytes_store_leaves_nothing_pending,
        ),
        (
            "crash_drain_groups_are_what_it_wrote_back",
            crash_drain_groups_are_what_it_wrote_back,
        ),
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

    /// The simulator as it was first written, with three whole images
    /// (visible, durable, flushed snapshots) and a dirty and a flushed flag
    /// per line: what the group-at-a-time simulator must match.
    struct Model {
        visible: Vec<u8>,
        durable: Vec<u8>,
        snapshots: Vec<u8>,
        dirty: Vec<bool>,
        flushed: Vec<bool>,
    }

    impl Model {
        fn new(len: usize) -> Model {
            Model {
                visible: vec![0; len],
                durable: vec![0; len],
                snapshots: vec![0; len],
                dirty: vec![false; len / CACHE_LINE],
                flushed: vec![false; len / CACHE_LINE],
            }
        }

        fn write(&mut self, at: usize, data: &[u8]) {
            self.visible[at..at + data.len()].copy_from_slice(data);
            for line in lines_of(&(at..at + data.len())) {
                self.dirty[line] = true;
            }
        }

        fn flush(&mut self, at: usize, len: usize) {
            for line in lines_of(&(at..at + len)) {
                if core::mem::take(&mut self.dirty[line]) {
                    let bytes = line * CACHE_LINE..(line + 1) * CACHE_LINE;
                    self.snapshots[bytes.clone()].copy_from_slice(&self.visible[bytes]);
                    self.flushed[line] = true;
                }
            }
        }

        fn drain(&mut self) {
            for line in 0..self.flushed.len() {
                if core::mem::take(&mut self.flushed[line]) {
                    let bytes = line * CACHE_LINE..(line + 1) * CACHE_LINE;
                    self.durable[bytes.clone()].copy_from_slice(&self.snapshots[bytes]);
                }
            }
        }

        /// The values a crash may leave in the aligned word at `at`.
        fn candidates(&self, at: usize) -> Vec<&[u8]> {
            let line = at / CACHE_LINE;
            let word = at..at + ATOMIC_WORD;
            let mut all = vec![&self.durable[word.clone()]];
            if self.flushed[line] {
                all.push(&self.snapshots[word.clone()]);
            }
            if self.dirty[line] {
                all.push(&self.visible[word]);
            }
            all
        }
    }

    /// Random stores (of new bytes, of the bytes already there, across
    /// groups, unaligned), flushes, drains and failed flushes on a device
    /// whose last group is short: after each, the durable image, reads of
    /// it, `durable_equals`, `is_persistent` and every word of a crash
    /// image agree with [`Model`].
    pub(crate) fn crash_matches_a_model_of_whole_images() -> Result<(), String> {
        const LEN: usize = 3 * GROUP_BYTES + 10 * CACHE_LINE;
        let pmem = sim(LEN, CacheModel::Adr)?;
        let mut model = Model::new(LEN);
        let mut rng = StdRng::seed_from_u64(8);
        for step in 0..3000u32 {
            let len = match rng.random_range(0..4) {
                0 => rng.random_range(0..16),
                1 => rng.random_range(1..200),
                2 => GROUP_BYTES,
                _ => rng.random_range(1..2 * GROUP_BYTES),
            };
            let at = rng.random_range(0..=LEN - len);
            match rng.random_range(0..11) {
                0..=3 => {
                    let data = fill(len, step as u8);
                    pmem.write(at as u64, &data).map_err(|e| e.to_string())?;
                    model.write(at, &data);
                }
                4 | 10 => {
                    // The bytes already there (changes no candidate), or
                    // the durable ones back (the current value becomes the
                    // durable one, a flushed snapshot stays apart).
                    let data = match step % 2 {
                        0 => model.visible[at..at + len].to_vec(),
                        _ => model.durable[at..at + len].to_vec(),
                    };
                    pmem.write(at as u64, &data).map_err(|e| e.to_string())?;
                    model.write(at, &data);
                }
                5..=7 => {
                    pmem.flush(at as u64, len as u64)
                        .map_err(|e| e.to_string())?;
                    model.flush(at, len);
                }
                8 => {
                    pmem.drain().map_err(|e| e.to_string())?;
                    model.drain();
                }
                _ => {
                    pmem.fail_next_flushes(1);
                    ensure!(pmem.flush(at as u64, len as u64).is_err(), "step {step}");
                }
            }
            ensure!(
                pmem.durable_image() == model.durable,
                "step {step}: durable images differ"
            );
            let mut read = vec![0; len];
            pmem.read_durable(at as u64, &mut read)
                .map_err(|e| e.to_string())?;
            ensure!(
                read == model.durable[at..at + len],
                "step {step}: read_durable({at}, {len})"
            );
            let same = pmem
                .durable_equals(at as u64, &model.durable[at..at + len])
                .map_err(|e| e.to_string())?;
            ensure!(same, "step {step}: durable_equals({at}, {len})");
            let persistent = pmem
                .is_persistent(at as u64, len)
                .map_err(|e| e.to_string())?;
            let want = (at..at + len).all(|byte| {
                let word = byte / ATOMIC_WORD * ATOMIC_WORD;
                model
                    .candidates(word)
                    .iter()
                    .all(|c| c[byte - word] == model.visible[byte])
            });
            ensure!(
                persistent == want,
                "step {step}: is_persistent({at}, {len}) = {persistent}"
            );
            if step % 50 == 0 {
                let image = pmem.crash(&mut rng);
                for word in (0..LEN).step_by(ATOMIC_WORD) {
                    let got = &image[word..word + ATOMIC_WORD];
                    ensure!(
                        model.candidates(word).contains(&got),
                        "step {step}: crash word at {word} is {got:?}"
                    );
                }
            }
        }
        Ok(())
    }

    /// Storing the bytes already there leaves nothing unpersisted; storing
    /// others does.
    pub(crate) fn crash_same_bytes_store_leaves_nothing_pending() -> Result<(), String> {
        let pmem = sim(2 * GROUP_BYTES, CacheModel::Adr)?;
        pmem.write(0, &[0; GROUP_BYTES])
            .map_err(|e| e.to_string())?;
        ensure!(pmem.unpersisted_lines() == 0, "zeros over zeros pending");
        let data = fill(300, 4);
        pmem.write(100, &data).map_err(|e| e.to_string())?;
        let pending = pmem.unpersisted_lines();
        ensure!(pending == 6, "{pending} lines pending, want 6");
        pmem.flush(0, 8192).map_err(|e| e.to_string())?;
        pmem.drain().map_err(|e| e.to_string())?;
        pmem.write(100, &data).map_err(|e| e.to_string())?;
        ensure!(
            pmem.unpersisted_lines() == 0,
            "a durable page stored again with its own bytes is pending"
        );
        Ok(())
    }

    /// `drain_groups` names the 4 KiB groups whose lines it wrote back:
    /// not those only flushed clean, nor those stored to and not flushed.
    pub(crate) fn crash_drain_groups_are_what_it_wrote_back() -> Result<(), String> {
        let pmem = sim(4 * GROUP_BYTES, CacheModel::Adr)?;
        let data = fill(64, 5);
        for group in [1u64, 3] {
            pmem.write(group * GROUP_BYTES as u64 + 640, &data)
                .map_err(|e| e.to_string())?;
        }
        // Groups 0..=2 flushed: 0 and 2 have nothing dirty, 3 is not flushed.
        pmem.flush(0, 3 * GROUP_BYTES as u64)
            .map_err(|e| e.to_string())?;
        let groups = pmem.drain_groups();
        ensure!(
            groups == [1],
            "drain wrote back groups {groups:?}, want [1]"
        );
        ensure!(pmem.drain_groups().is_empty(), "a second drain wrote back");
        Ok(())
    }
}
