//! The pmem flusher: how a store reaches the persistence domain.
//!
//! A store to persistent memory lands in the CPU cache first. On most
//! platforms (ADR) the cache is *outside* the persistence domain: a power
//! failure loses every line that has not been written back. So a DAX fsync
//! must write back each cache line it wants to keep, then fence, and only
//! then report success. This module is that last step, as libpmem does it:
//!
//! * [`Flusher::flush`] writes back every 64-byte line that overlaps a byte
//!   range (libpmem's `pmem_flush`, the kernel's `arch_wb_cache_pmem`);
//! * [`Flusher::drain`] is one `SFENCE`, which waits for those weakly
//!   ordered write-backs (libpmem's `pmem_drain`). fsync calls it once, at
//!   the end, not once per entry: the fence is the expensive part.
//!
//! # Which instruction
//!
//! x86 has three, and the CPU says which it has (CPUID); as in libpmem the
//! last match wins:
//!
//! | instruction  | CPUID             | ordering       | the line afterwards |
//! |--------------|-------------------|----------------|---------------------|
//! | `CLFLUSH`    | leaf 1 EDX bit 19 | serialising    | evicted             |
//! | `CLFLUSHOPT` | leaf 7 EBX bit 23 | needs `SFENCE` | evicted             |
//! | `CLWB`       | leaf 7 EBX bit 24 | needs `SFENCE` | may stay cached     |
//!
//! `is_x86_feature_detected!` knows neither `clflushopt` nor `clwb` (the
//! macro refuses both names), so [`CpuFlush::detect`] reads the CPUID bits
//! itself. Stable Rust has `_mm_clflush` and `_mm_sfence` but no intrinsic
//! for the other two: they are one `asm!` instruction each, only ever
//! executed after CPUID said the CPU has them.
//!
//! libpmem's environment variables are honoured ([`FlushOptions::from_env`]):
//! `PMEM_NO_CLWB=1`, `PMEM_NO_CLFLUSHOPT=1`, `PMEM_NO_FLUSH=1` (the caches
//! are in the persistence domain, eADR: fence only; `=0` forces flushing),
//! `PMEM_IS_PMEM_FORCE=0|1` (treat the mapping as not-pmem / pmem whatever
//! `MAP_SYNC` said), `PMEM_NO_MOVNT=1` and `PMEM_MOVNT_THRESHOLD=n`.
//!
//! # When the mapping is not DAX
//!
//! If `MAP_SYNC` was refused (tmpfs, `/dev/shm`, ext4 without `-o dax`) the
//! file is in the page cache. A cache-line flush then only reaches DRAM
//! page-cache pages, not the medium: the durable step is
//! `msync(MS_SYNC)` over the page-aligned range ([`FlushMethod::Msync`]),
//! which is what libpmem's `pmem_msync` does for a file that is not pmem.
//! Other architectures take the msync path too. On aarch64 the equivalent
//! of CLWB is `DC CVAP` (clean to the point of persistence, ARMv8.2 DPB,
//! `is_aarch64_feature_detected!("dpb")`) followed by `DSB ISH`; it is not
//! wired up here because this example is built and tested on x86_64 only,
//! and msync is correct on every architecture.
//!
//! # Errors
//!
//! Every flush returns `io::Result`. msync can fail (EIO from the device,
//! ENOMEM for a range that is not mapped); the mapping layer must record
//! such an error and report it from the next fsync, or the fsync that
//! follows a failed write-back returns success over lost data (historical
//! bug 14 in DAX.md, fixed in the kernel in 2017 by recording the error in
//! the mapping).
//!
//! Stores into the mapping, and the [`Persist`](crate::persist::Persist)
//! trait that the mapped file and the crash simulator implement, are in
//! [`crate::persist`].

use crate::persist::{store_bytes, CACHE_LINE};
use std::io;

/// Below this many bytes a copy uses ordinary stores plus a flush; above it,
/// non-temporal stores (libpmem's default `PMEM_MOVNT_THRESHOLD`). Small
/// copies gain nothing from bypassing the cache and pay for the fence.
pub(crate) const DEFAULT_MOVNT_THRESHOLD: usize = 256;

/// How a range is made durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum FlushMethod {
    /// `CLWB`: write the line back, leave it in the cache.
    Clwb,
    /// `CLFLUSHOPT`: write back and evict, weakly ordered.
    ClflushOpt,
    /// `CLFLUSH`: write back and evict, serialising (slow on long ranges).
    Clflush,
    /// No cache flush, only the fence: the caches are inside the
    /// persistence domain (eADR), or `PMEM_NO_FLUSH=1` says to pretend so.
    FenceOnly,
    /// `msync(MS_SYNC)` on the page-aligned range: the mapping is page
    /// cache, not DAX.
    Msync,
}

impl FlushMethod {
    /// Every method, strongest hardware first, for option parsing and tests.
    pub(crate) const ALL: [FlushMethod; 5] = [
        FlushMethod::Clwb,
        FlushMethod::ClflushOpt,
        FlushMethod::Clflush,
        FlushMethod::FenceOnly,
        FlushMethod::Msync,
    ];

    /// The name printed in reports and accepted by [`FlushMethod::parse`].
    pub(crate) fn name(self) -> &'static str {
        match self {
            FlushMethod::Clwb => "clwb",
            FlushMethod::ClflushOpt => "clflushopt",
            FlushMethod::Clflush => "clflush",
            FlushMethod::FenceOnly => "fence-only",
            FlushMethod::Msync => "msync",
        }
    }

    /// Parses a method name as given to `--flush` (case-insensitive).
    pub(crate) fn parse(text: &str) -> Option<FlushMethod> {
        FlushMethod::ALL
            .into_iter()
            .find(|method| method.name().eq_ignore_ascii_case(text))
    }

    /// Whether this method is a CPU cache-flush instruction, which needs the
    /// CPU to have it and only makes data durable on a DAX mapping.
    pub(crate) fn is_cpu_flush(self) -> bool {
        matches!(
            self,
            FlushMethod::Clwb | FlushMethod::ClflushOpt | FlushMethod::Clflush
        )
    }
}

/// The cache-flush instructions this CPU has.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct CpuFlush {
    pub(crate) clflush: bool,
    pub(crate) clflushopt: bool,
    pub(crate) clwb: bool,
}

impl CpuFlush {
    /// Reads CPUID (x86_64); other architectures report none, which sends
    /// them down the msync path.
    pub(crate) fn detect() -> CpuFlush {
        #[cfg(target_arch = "x86_64")]
        {
            use core::arch::x86_64::{__cpuid_count, __get_cpuid_max};
            // `__cpuid_count` became a safe fn in newer compilers; the block
            // keeps the crate building on its MSRV (1.84), where it is unsafe.
            #[allow(unused_unsafe)]
            // SAFETY: CPUID exists on every x86_64 CPU, and leaf 7 is only
            // queried after leaf 0 said the CPU has it.
            let (leaf1, leaf7) = unsafe {
                let max_leaf = __get_cpuid_max(0).0;
                let leaf1 = __cpuid_count(1, 0);
                let leaf7 = (max_leaf >= 7).then(|| __cpuid_count(7, 0));
                (leaf1, leaf7)
            };
            let leaf7_ebx = leaf7.map_or(0, |leaf| leaf.ebx);
            CpuFlush {
                clflush: leaf1.edx & (1 << 19) != 0,
                clflushopt: leaf7_ebx & (1 << 23) != 0,
                clwb: leaf7_ebx & (1 << 24) != 0,
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            CpuFlush::default()
        }
    }

    /// Whether the CPU can execute `method` (always true for the methods
    /// that use no cache-flush instruction).
    pub(crate) fn supports(self, method: FlushMethod) -> bool {
        match method {
            FlushMethod::Clwb => self.clwb,
            FlushMethod::ClflushOpt => self.clflushopt,
            FlushMethod::Clflush => self.clflush,
            FlushMethod::FenceOnly | FlushMethod::Msync => true,
        }
    }
}

/// What the user asked for: a forced method, or libpmem's overrides.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FlushOptions {
    /// Use this method whatever the mapping is (`--flush NAME`). A CPU
    /// instruction the CPU lacks is refused at [`Flusher::new`], never run.
    pub(crate) force: Option<FlushMethod>,
    /// `PMEM_NO_CLWB=1`: do not use CLWB.
    pub(crate) no_clwb: bool,
    /// `PMEM_NO_CLFLUSHOPT=1`: do not use CLFLUSHOPT.
    pub(crate) no_clflushopt: bool,
    /// `PMEM_NO_FLUSH`: `Some(true)` fences without flushing (eADR),
    /// `Some(false)` flushes even where the platform might not need it.
    pub(crate) no_flush: Option<bool>,
    /// `PMEM_IS_PMEM_FORCE`: `Some(true)` treats a page-cache mapping as
    /// pmem (CPU flushes, not msync: fast, but not durable on tmpfs);
    /// `Some(false)` uses msync even on a DAX mapping.
    pub(crate) is_pmem: Option<bool>,
    /// `PMEM_NO_MOVNT=1`: never use non-temporal stores for copies.
    pub(crate) no_movnt: bool,
    /// `PMEM_MOVNT_THRESHOLD`: copies of at least this many bytes use
    /// non-temporal stores.
    pub(crate) movnt_threshold: usize,
}

impl Default for FlushOptions {
    fn default() -> FlushOptions {
        FlushOptions {
            force: None,
            no_clwb: false,
            no_clflushopt: false,
            no_flush: None,
            is_pmem: None,
            no_movnt: false,
            movnt_threshold: DEFAULT_MOVNT_THRESHOLD,
        }
    }
}

impl FlushOptions {
    /// Reads libpmem's environment variables.
    pub(crate) fn from_env() -> FlushOptions {
        FlushOptions::from_vars(|name| std::env::var(name).ok())
    }

    /// Same as [`from_env`](FlushOptions::from_env) with the variables
    /// looked up through `var`, so tests need not touch the process
    /// environment. As in libpmem, only the values it documents count
    /// (`"1"` for the `NO_` switches, `"0"`/`"1"` for the two-way ones, a
    /// number for the threshold); anything else is ignored.
    pub(crate) fn from_vars(var: impl Fn(&str) -> Option<String>) -> FlushOptions {
        let is_one = |name: &str| var(name).is_some_and(|v| v.trim() == "1");
        let zero_or_one = |name: &str| match var(name).as_deref().map(str::trim) {
            Some("1") => Some(true),
            Some("0") => Some(false),
            _ => None,
        };
        FlushOptions {
            force: None,
            no_clwb: is_one("PMEM_NO_CLWB"),
            no_clflushopt: is_one("PMEM_NO_CLFLUSHOPT"),
            no_flush: zero_or_one("PMEM_NO_FLUSH"),
            is_pmem: zero_or_one("PMEM_IS_PMEM_FORCE"),
            no_movnt: is_one("PMEM_NO_MOVNT"),
            movnt_threshold: var("PMEM_MOVNT_THRESHOLD")
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(DEFAULT_MOVNT_THRESHOLD),
        }
    }
}

/// Picks the flush method, as libpmem's `pmem_init` does.
///
/// `mapping_is_dax` is whether `MAP_SYNC` was accepted. A forced method
/// wins if the CPU has it, except that a cache-flush instruction is refused
/// on a mapping that is not pmem (unless `PMEM_IS_PMEM_FORCE=1` says it
/// is); otherwise a mapping that is not pmem gets msync,
/// `PMEM_NO_FLUSH=1` gets the fence alone, and the CPU's instructions are
/// tried in libpmem's order, the last one present and not vetoed winning:
/// CLFLUSH, then CLFLUSHOPT, then CLWB.
pub(crate) fn choose_method(
    cpu: CpuFlush,
    mapping_is_dax: bool,
    options: &FlushOptions,
) -> io::Result<FlushMethod> {
    let is_pmem = options.is_pmem.unwrap_or(mapping_is_dax);
    if let Some(method) = options.force {
        if !cpu.supports(method) {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("this CPU has no {} instruction", method.name()),
            ));
        }
        if method.is_cpu_flush() && !is_pmem {
            // Cache-line flushes of page-cache pages reach DRAM, never the
            // medium: accepting this would make every fsync a silent no-op.
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!(
                    "{} writes cache lines back, which makes nothing durable on a \
                     MAP_SHARED page-cache mapping; use msync (or a file on a DAX \
                     file system, which MAP_SYNC accepts)",
                    method.name()
                ),
            ));
        }
        return Ok(method);
    }
    if !is_pmem {
        return Ok(FlushMethod::Msync);
    }
    if options.no_flush == Some(true) {
        return Ok(FlushMethod::FenceOnly);
    }
    let mut method = None;
    if cpu.clflush {
        method = Some(FlushMethod::Clflush);
    }
    if cpu.clflushopt && !options.no_clflushopt {
        method = Some(FlushMethod::ClflushOpt);
    }
    if cpu.clwb && !options.no_clwb {
        method = Some(FlushMethod::Clwb);
    }
    // No flush instruction at all (not x86_64): msync is correct on a DAX
    // mapping too, the kernel writes the lines back for us.
    Ok(method.unwrap_or(FlushMethod::Msync))
}

/// A chosen way of making ranges of a mapping durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Flusher {
    method: FlushMethod,
    /// Copies of at least this many bytes use non-temporal stores; `None`
    /// when they never do (msync or not x86_64, or `PMEM_NO_MOVNT=1`).
    movnt_threshold: Option<usize>,
}

impl Flusher {
    /// Chooses the method for a mapping with this CPU and these options.
    pub(crate) fn new(mapping_is_dax: bool, options: &FlushOptions) -> io::Result<Flusher> {
        let cpu = CpuFlush::detect();
        let method = choose_method(cpu, mapping_is_dax, options)?;
        let movnt =
            cfg!(target_arch = "x86_64") && !options.no_movnt && method != FlushMethod::Msync;
        Ok(Flusher {
            method,
            movnt_threshold: movnt.then_some(options.movnt_threshold),
        })
    }

    /// Uses `method`, with libpmem's default copy threshold; refused if
    /// the CPU lacks the instruction.
    pub(crate) fn with_method(method: FlushMethod) -> io::Result<Flusher> {
        let options = FlushOptions {
            force: Some(method),
            ..FlushOptions::default()
        };
        Flusher::new(true, &options)
    }

    pub(crate) fn method(&self) -> FlushMethod {
        self.method
    }

    /// The method's name for reports ("clwb", "msync", ...).
    pub(crate) fn name(&self) -> &'static str {
        self.method.name()
    }

    /// Writes back every cache line that overlaps `[addr, addr + len)`
    /// (every page, for msync). Durable after the next [`drain`](Self::drain).
    /// Returns the bytes the operation covered: whole 64-byte lines for a
    /// CPU flush, whole pages for msync, 0 for fence-only (which writes
    /// nothing back).
    ///
    /// # Safety
    ///
    /// The range must lie inside one live mapping for the whole call. (The
    /// lines rounded out from it are then mapped too: a mapping is whole
    /// pages and a line never crosses a page.)
    pub(crate) unsafe fn flush(&self, addr: *const u8, len: usize) -> io::Result<u64> {
        if len == 0 {
            return Ok(0);
        }
        match self.method {
            FlushMethod::FenceOnly => Ok(0),
            FlushMethod::Msync => msync_range(addr, len),
            #[cfg(target_arch = "x86_64")]
            method => {
                let head = addr as usize % CACHE_LINE;
                let first = addr.wrapping_sub(head);
                let lines = (head + len).div_ceil(CACHE_LINE);
                for i in 0..lines {
                    let line = first.wrapping_add(i * CACHE_LINE);
                    // SAFETY: `line` is one of the lines overlapping the
                    // range, mapped by the caller's contract; the CPU has
                    // the instruction, because a `Flusher` only holds a
                    // CPU method that `CpuFlush::detect` reported.
                    unsafe { x86::flush_line(method, line) };
                }
                Ok((lines * CACHE_LINE) as u64)
            }
            #[cfg(not(target_arch = "x86_64"))]
            method => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("{} exists only on x86_64", method.name()),
            )),
        }
    }

    /// Waits until every earlier flush (and non-temporal store) of this
    /// thread has reached the persistence domain: one `SFENCE`. With
    /// CLFLUSH the fence is redundant (libpmem skips it) but harmless; with
    /// msync there is nothing to wait for, msync was synchronous.
    pub(crate) fn drain(&self) {
        if self.method == FlushMethod::Msync {
            return;
        }
        #[cfg(target_arch = "x86_64")]
        x86::sfence();
        // Elsewhere only fence-only can get here (forced): order the stores
        // at least; on aarch64 real pmem would want `DSB` after `DC CVAP`.
        #[cfg(not(target_arch = "x86_64"))]
        core::sync::atomic::fence(core::sync::atomic::Ordering::SeqCst);
    }

    /// Copies `src` to `dst` so that it is durable after the next
    /// [`drain`](Self::drain), like libpmem's `pmem_memcpy_nodrain`: large
    /// copies bypass the cache with non-temporal stores (no flush needed),
    /// small ones are ordinary stores followed by a flush.
    ///
    /// # Safety
    ///
    /// `[dst, dst + src.len())` must lie inside one live mapping for the
    /// whole call, and `src` must not overlap it.
    pub(crate) unsafe fn copy_durable(&self, dst: *mut u8, src: &[u8]) -> io::Result<()> {
        match self.movnt_threshold {
            #[cfg(target_arch = "x86_64")]
            Some(threshold) if src.len() >= threshold => {
                // SAFETY: forwarded from this function's contract.
                unsafe { self.copy_nontemporal(dst, src) }
            }
            _ => {
                // SAFETY: forwarded from this function's contract.
                unsafe {
                    store_bytes(dst, src);
                    self.flush(dst, src.len()).map(drop)
                }
            }
        }
    }

    /// The non-temporal copy: 8-byte `MOVNTI` stores for the aligned body,
    /// ordinary stores and a line flush for an unaligned head and tail.
    ///
    /// # Safety
    ///
    /// As for [`copy_durable`](Self::copy_durable).
    #[cfg(target_arch = "x86_64")]
    unsafe fn copy_nontemporal(&self, dst: *mut u8, src: &[u8]) -> io::Result<()> {
        let head = dst.align_offset(8).min(src.len());
        let body = (src.len() - head) / 8 * 8;
        let (head_bytes, rest) = src.split_at(head);
        let (body_bytes, tail_bytes) = rest.split_at(body);
        // SAFETY: the three pieces partition `[dst, dst + src.len())`,
        // which the caller guarantees is mapped; the body starts 8-aligned
        // and is a whole number of words.
        unsafe {
            store_bytes(dst, head_bytes);
            self.flush(dst, head)?;
            let body_dst = dst.add(head);
            for (i, word) in body_bytes.chunks_exact(8).enumerate() {
                let mut value = [0u8; 8];
                value.copy_from_slice(word);
                x86::store_nontemporal(body_dst.add(i * 8).cast(), u64::from_ne_bytes(value));
            }
            let tail_dst = body_dst.add(body);
            store_bytes(tail_dst, tail_bytes);
            self.flush(tail_dst, tail_bytes.len())?;
        }
        Ok(())
    }
}

/// `msync(MS_SYNC)` over the pages that overlap `[addr, addr + len)`;
/// returns the bytes of those pages.
///
/// Safe for any address: the kernel checks the range and answers ENOMEM for
/// one that is not mapped. The error is returned, never dropped: it is the
/// write-back error fsync must report (DAX.md bug 14).
pub(crate) fn msync_range(addr: *const u8, len: usize) -> io::Result<u64> {
    if len == 0 {
        return Ok(0);
    }
    let page = page_size();
    let head = addr as usize % page;
    let start = addr.wrapping_sub(head);
    let span = (head + len).div_ceil(page) * page;
    // SAFETY: msync only reads the arguments; the kernel validates the range
    // and does not touch memory through it.
    let rc = unsafe { libc::msync(start as *mut libc::c_void, span, libc::MS_SYNC) };
    if rc == 0 {
        Ok(span as u64)
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The system page size (4 KiB on the machines this runs on, but asked).
pub(crate) fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size)
        .ok()
        .filter(|s| s.is_power_of_two())
        .unwrap_or(4096)
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    //! The instructions themselves, one function each.

    use super::FlushMethod;
    use core::arch::asm;
    use core::arch::x86_64::{_mm_clflush, _mm_sfence};

    /// Writes back (and for the CLFLUSH kinds evicts) the line holding `line`.
    ///
    /// # Safety
    ///
    /// `line` must be mapped, and the CPU must have the instruction that
    /// `method` names; `method` must be a CPU flush.
    pub(super) unsafe fn flush_line(method: FlushMethod, line: *const u8) {
        match method {
            // SAFETY: the caller guarantees the CPU has CLWB and the line
            // is mapped. No `nomem`: the asm must stay after the stores it
            // writes back, so the compiler treats it as touching memory.
            FlushMethod::Clwb => unsafe {
                asm!("clwb [{}]", in(reg) line, options(nostack, preserves_flags));
            },
            // SAFETY: as for CLWB, with CLFLUSHOPT.
            FlushMethod::ClflushOpt => unsafe {
                asm!("clflushopt [{}]", in(reg) line, options(nostack, preserves_flags));
            },
            // SAFETY: the caller guarantees the line is mapped; CLFLUSH is
            // baseline on x86_64 (SSE2).
            FlushMethod::Clflush => unsafe { _mm_clflush(line) },
            FlushMethod::FenceOnly | FlushMethod::Msync => {}
        }
    }

    /// One `SFENCE`: orders the weakly ordered flushes and non-temporal
    /// stores before it against every store after it.
    pub(super) fn sfence() {
        #[allow(unused_unsafe)]
        // SAFETY: SSE is baseline on x86_64; `_mm_sfence` is unsafe only on
        // compilers older than the target-feature-1.1 intrinsics.
        unsafe {
            _mm_sfence()
        }
    }

    /// `MOVNTI`: an 8-byte store that bypasses the cache.
    ///
    /// # Safety
    ///
    /// `dst` must be valid for writes and 8-aligned. Every x86-64 CPU
    /// performs an aligned 8-byte store as one atomic access, so to the
    /// Rust memory model this is a relaxed atomic store, weakly ordered
    /// until the next `SFENCE`; it may race with persist.rs's atomic loads.
    pub(super) unsafe fn store_nontemporal(dst: *mut u64, value: u64) {
        // SAFETY: by the contract above.
        unsafe {
            asm!("movnti qword ptr [{}], {}", in(reg) dst, in(reg) value,
                 options(nostack, preserves_flags));
        }
    }
}

/// Checks that the example's self-test and the integration tests run.
/// Each returns a description of the first thing that went wrong.
pub(crate) mod checks {
    use super::*;

    /// A check: `Err` describes the first thing that went wrong.
    pub(crate) type Check = fn() -> Result<(), String>;

    /// `(name, check)` for every check in this module.
    pub(crate) const CHECKS: &[(&str, Check)] = &[
        ("flush_choice_last_match_wins", flush_choice_last_match_wins),
        ("flush_env_overrides", flush_env_overrides),
        (
            "flush_forced_method_needs_cpu",
            flush_forced_method_needs_cpu,
        ),
        (
            "flush_every_supported_method_runs",
            flush_every_supported_method_runs,
        ),
        (
            "copy_durable_copies_every_alignment",
            copy_durable_copies_every_alignment,
        ),
        ("msync_error_is_returned", msync_error_is_returned),
    ];

    macro_rules! ensure {
        ($cond:expr, $($why:tt)+) => {
            if !$cond {
                return Err(format!($($why)+));
            }
        };
    }

    const ALL_CPU: CpuFlush = CpuFlush {
        clflush: true,
        clflushopt: true,
        clwb: true,
    };

    /// libpmem's order: CLWB beats CLFLUSHOPT beats CLFLUSH, each only if
    /// present; not pmem means msync; no instruction means msync.
    pub(crate) fn flush_choice_last_match_wins() -> Result<(), String> {
        let opts = FlushOptions::default();
        let cases = [
            (ALL_CPU, true, FlushMethod::Clwb),
            (
                CpuFlush {
                    clwb: false,
                    ..ALL_CPU
                },
                true,
                FlushMethod::ClflushOpt,
            ),
            (
                CpuFlush {
                    clflush: true,
                    ..CpuFlush::default()
                },
                true,
                FlushMethod::Clflush,
            ),
            (
                CpuFlush {
                    clwb: true,
                    ..CpuFlush::default()
                },
                true,
                FlushMethod::Clwb,
            ),
            (CpuFlush::default(), true, FlushMethod::Msync),
            (ALL_CPU, false, FlushMethod::Msync),
        ];
        for (cpu, dax, want) in cases {
            let got = choose_method(cpu, dax, &opts).map_err(|e| e.to_string())?;
            ensure!(
                got == want,
                "{cpu:?} dax={dax}: chose {got:?}, want {want:?}"
            );
        }
        Ok(())
    }

    /// The environment variables, read through a fake environment.
    pub(crate) fn flush_env_overrides() -> Result<(), String> {
        let with = |vars: &[(&str, &str)]| {
            let vars: Vec<(String, String)> = vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            FlushOptions::from_vars(move |name| {
                vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
            })
        };
        let choose = |opts: &FlushOptions, dax: bool| choose_method(ALL_CPU, dax, opts).ok();
        type Vars<'a> = &'a [(&'a str, &'a str)];
        let cases: [(Vars, bool, FlushMethod); 9] = [
            (&[("PMEM_NO_CLWB", "1")], true, FlushMethod::ClflushOpt),
            (
                &[("PMEM_NO_CLWB", "1"), ("PMEM_NO_CLFLUSHOPT", "1")],
                true,
                FlushMethod::Clflush,
            ),
            (&[("PMEM_NO_CLFLUSHOPT", "1")], true, FlushMethod::Clwb),
            (&[("PMEM_NO_CLWB", "yes")], true, FlushMethod::Clwb),
            (&[("PMEM_NO_FLUSH", "1")], true, FlushMethod::FenceOnly),
            (&[("PMEM_NO_FLUSH", "0")], true, FlushMethod::Clwb),
            (&[("PMEM_IS_PMEM_FORCE", "1")], false, FlushMethod::Clwb),
            (&[("PMEM_IS_PMEM_FORCE", "0")], true, FlushMethod::Msync),
            (&[("PMEM_NO_FLUSH", "1")], false, FlushMethod::Msync),
        ];
        for (vars, dax, want) in cases {
            let got = choose(&with(vars), dax);
            ensure!(
                got == Some(want),
                "{vars:?} dax={dax}: chose {got:?}, want {want:?}"
            );
        }
        let opts = with(&[("PMEM_NO_MOVNT", "1"), ("PMEM_MOVNT_THRESHOLD", "4096")]);
        ensure!(
            opts.no_movnt && opts.movnt_threshold == 4096,
            "movnt vars: {opts:?}"
        );
        let opts = with(&[("PMEM_MOVNT_THRESHOLD", "lots")]);
        ensure!(
            opts.movnt_threshold == DEFAULT_MOVNT_THRESHOLD,
            "a bad threshold must be ignored: {opts:?}"
        );
        Ok(())
    }

    /// Forcing an instruction the CPU lacks is an error, not a SIGILL.
    pub(crate) fn flush_forced_method_needs_cpu() -> Result<(), String> {
        for method in FlushMethod::ALL {
            let opts = FlushOptions {
                force: Some(method),
                ..FlushOptions::default()
            };
            let none = choose_method(CpuFlush::default(), false, &opts);
            ensure!(
                none.is_ok() != method.is_cpu_flush(),
                "{method:?} forced on a CPU without flush instructions: {none:?}"
            );
            let dax = choose_method(ALL_CPU, true, &opts);
            ensure!(
                dax.as_ref().ok() == Some(&method),
                "{method:?} forced on a DAX mapping: {dax:?}"
            );
            // On the page cache only msync and the fence are accepted: a
            // cache-line flush there makes nothing durable.
            let page_cache = choose_method(ALL_CPU, false, &opts);
            ensure!(
                page_cache.is_ok() != method.is_cpu_flush(),
                "{method:?} forced on a page-cache mapping: {page_cache:?}"
            );
            let told = FlushOptions {
                is_pmem: Some(true),
                ..opts.clone()
            };
            let forced = choose_method(ALL_CPU, false, &told);
            ensure!(
                forced.as_ref().ok() == Some(&method),
                "{method:?} forced with PMEM_IS_PMEM_FORCE=1: {forced:?}"
            );
            ensure!(
                FlushMethod::parse(method.name()) == Some(method),
                "parse {method:?}"
            );
        }
        ensure!(
            FlushMethod::parse("CLWB") == Some(FlushMethod::Clwb),
            "parse is case-blind"
        );
        ensure!(
            FlushMethod::parse("wbinvd").is_none(),
            "parse accepts a bad name"
        );
        Ok(())
    }

    /// Every method this CPU has flushes a buffer (every alignment of start
    /// and length) without faulting, and drains.
    pub(crate) fn flush_every_supported_method_runs() -> Result<(), String> {
        let cpu = CpuFlush::detect();
        let buffer = vec![0x5au8; 3 * 4096];
        for method in FlushMethod::ALL.into_iter().filter(|&m| cpu.supports(m)) {
            let flusher = Flusher::with_method(method).map_err(|e| format!("{method:?}: {e}"))?;
            for (start, len) in [(0, 1), (63, 2), (64, 64), (100, 5000), (0, 3 * 4096)] {
                // SAFETY: `start + len` stays inside `buffer`, which lives
                // until the end of the loop.
                let result = unsafe { flusher.flush(buffer.as_ptr().add(start), len) };
                result.map_err(|e| format!("{method:?} flush {start}+{len}: {e}"))?;
            }
            flusher.drain();
        }
        Ok(())
    }

    /// `copy_durable` copies exactly, on both sides of the non-temporal
    /// threshold and at every alignment of destination and length.
    pub(crate) fn copy_durable_copies_every_alignment() -> Result<(), String> {
        let cpu = CpuFlush::detect();
        let source: Vec<u8> = (0..1200u32).map(|i| (i * 7 + 3) as u8).collect();
        for method in FlushMethod::ALL.into_iter().filter(|&m| cpu.supports(m)) {
            let flusher = Flusher::with_method(method).map_err(|e| e.to_string())?;
            for offset in 0..17 {
                for len in [0, 1, 7, 8, 9, 255, 256, 257, 1000, 1100] {
                    let mut target = vec![0xeeu8; 1200 + 32];
                    let src = &source[..len];
                    // SAFETY: `offset + len` < `target.len()`, and `src`
                    // is another allocation.
                    let result =
                        unsafe { flusher.copy_durable(target.as_mut_ptr().add(offset), src) };
                    result.map_err(|e| format!("{method:?} copy: {e}"))?;
                    flusher.drain();
                    ensure!(
                        target[offset..offset + len] == *src,
                        "{method:?}: copy of {len} bytes at +{offset} differs"
                    );
                    ensure!(
                        target[..offset]
                            .iter()
                            .chain(&target[offset + len..])
                            .all(|&b| b == 0xee),
                        "{method:?}: copy of {len} bytes at +{offset} wrote outside"
                    );
                }
            }
        }
        Ok(())
    }

    /// msync over memory that is not mapped fails, and the error comes back.
    pub(crate) fn msync_error_is_returned() -> Result<(), String> {
        let len = page_size();
        // SAFETY: a fresh anonymous mapping, no existing memory involved.
        let addr = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        ensure!(
            addr != libc::MAP_FAILED,
            "mmap: {}",
            io::Error::last_os_error()
        );
        // SAFETY: the mapping was just made and nothing points into it.
        let rc = unsafe { libc::munmap(addr, len) };
        ensure!(rc == 0, "munmap: {}", io::Error::last_os_error());
        match msync_range(addr.cast(), len) {
            Err(e) if e.raw_os_error() == Some(libc::ENOMEM) => Ok(()),
            other => Err(format!(
                "msync of an unmapped page gave {other:?}, want ENOMEM"
            )),
        }
    }
}
