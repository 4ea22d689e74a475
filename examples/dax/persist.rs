//! The persistence domain as the DAX layer sees it, and how we touch it.
//!
//! [`Persist`] is four operations: store bytes, load bytes, flush a range,
//! drain. Those are what a DAX file system does to persistent memory, and
//! all the fsync path needs. Two backends implement it: the mapped pmem
//! file ([`crate::pmem`], flushing with a [`Flusher`](crate::flush::Flusher))
//! and the crash simulator ([`crate::crash`]), which stands in for real
//! pmem in tests and can pull the power.
//!
//! The contract is that of pmem on an ADR platform: a store is visible to
//! every reader at once but durable only after a flush of its cache lines
//! *and* a later drain. The simulator enforces exactly that, so code that
//! passes its crash tests is correct on the real thing.
//!
//! # Memory model
//!
//! A `MAP_SHARED` file mapping is memory that any process may write at any
//! time, so it is never reached through Rust references (`&[u8]` over
//! memory another thread stores to would be undefined behaviour). Stores
//! and loads go word by word through relaxed atomics ([`store_bytes`],
//! [`load_bytes`]): aligned 8-byte words, single bytes for an unaligned
//! head and tail. Non-temporal stores (flush.rs) are `MOVNTI` of aligned
//! 8-byte words, which the CPU performs as single atomic accesses too. So
//! every access to the mapping is an atomic access of 8 bytes or 1, and the
//! 8-byte word is also the failure-atomic unit of persistent memory: a
//! crash never tears an aligned word, which the simulator models.
//!
//! Two threads storing to the same bytes at once still race at the level
//! of the program (the last store to each word wins, words of one call may
//! interleave with another's); the DAX layer's entry lock is what keeps
//! writers of one page apart, as in the kernel.

use core::ops::Range;
use core::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::io;

/// Cache-line size: the unit of flushing, and of the crash simulator's
/// cache. Every x86-64 CPU with CLFLUSH uses 64 bytes (CPUID leaf 1
/// EBX[15:8] reports 8 × 8); libpmem hard-codes the same `FLUSH_ALIGN`.
pub(crate) const CACHE_LINE: usize = 64;

/// The byte range `[offset, offset + len)` as indices into a device of
/// `device_len` bytes, or `InvalidInput` if it does not fit.
pub(crate) fn device_range(offset: u64, len: usize, device_len: u64) -> io::Result<Range<usize>> {
    let end = offset.checked_add(len as u64);
    match end {
        Some(end) if end <= device_len => Ok(offset as usize..end as usize),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("range {offset}+{len} is outside the {device_len}-byte device"),
        )),
    }
}

/// Stores `src` at `dst` with relaxed atomic stores: 8-byte words where
/// `dst` is aligned, single bytes for the unaligned head and tail.
///
/// # Safety
///
/// `[dst, dst + src.len())` must be valid for writes for the whole call,
/// and every other access to it must be atomic too (as all of this module's
/// and flush.rs's are); `src` must not overlap it.
pub(crate) unsafe fn store_bytes(dst: *mut u8, src: &[u8]) {
    let head = dst.align_offset(8).min(src.len());
    let words = (src.len() - head) / 8;
    for (i, &byte) in src[..head].iter().enumerate() {
        // SAFETY: in range by the contract; a u8 is always aligned.
        unsafe { AtomicU8::from_ptr(dst.add(i)) }.store(byte, Ordering::Relaxed);
    }
    for (i, word) in src[head..head + words * 8].chunks_exact(8).enumerate() {
        let mut value = [0u8; 8];
        value.copy_from_slice(word);
        // SAFETY: in range by the contract, and 8-aligned because the head
        // was stored byte by byte up to the first 8-aligned address.
        unsafe { AtomicU64::from_ptr(dst.add(head + i * 8).cast()) }
            .store(u64::from_ne_bytes(value), Ordering::Relaxed);
    }
    for (i, &byte) in src.iter().enumerate().skip(head + words * 8) {
        // SAFETY: in range by the contract.
        unsafe { AtomicU8::from_ptr(dst.add(i)) }.store(byte, Ordering::Relaxed);
    }
}

/// Loads `dst.len()` bytes from `src`, word by word like [`store_bytes`].
///
/// # Safety
///
/// `[src, src + dst.len())` must be valid for reads for the whole call,
/// and every other access to it must be atomic.
pub(crate) unsafe fn load_bytes(src: *const u8, dst: &mut [u8]) {
    let head = src.align_offset(8).min(dst.len());
    let words = (dst.len() - head) / 8;
    for (i, byte) in dst[..head].iter_mut().enumerate() {
        // SAFETY: in range by the contract; the atomic is only loaded from.
        *byte = unsafe { AtomicU8::from_ptr(src.add(i).cast_mut()) }.load(Ordering::Relaxed);
    }
    for (i, word) in dst[head..head + words * 8].chunks_exact_mut(8).enumerate() {
        // SAFETY: in range and 8-aligned, as in `store_bytes`.
        let value = unsafe { AtomicU64::from_ptr(src.add(head + i * 8).cast_mut().cast()) }
            .load(Ordering::Relaxed);
        word.copy_from_slice(&value.to_ne_bytes());
    }
    for (i, byte) in dst.iter_mut().enumerate().skip(head + words * 8) {
        // SAFETY: in range by the contract.
        *byte = unsafe { AtomicU8::from_ptr(src.add(i).cast_mut()) }.load(Ordering::Relaxed);
    }
}

/// The persistence domain as the DAX layer sees it.
///
/// `write` is a CPU store: visible at once to every reader, durable only
/// after `flush` of its range *and* a later `drain`. That is the contract
/// of real pmem on an ADR platform, and the crash simulator enforces it.
/// All methods take `&self`: faults and fsync run on many threads at once.
pub(crate) trait Persist: Send + Sync {
    /// Size of the device in bytes.
    fn len(&self) -> u64;

    /// Reads what the CPU sees (cached or not) at `offset`.
    fn read(&self, offset: u64, buf: &mut [u8]) -> io::Result<()>;

    /// Stores `data` at `offset`; not durable until flushed and drained.
    fn write(&self, offset: u64, data: &[u8]) -> io::Result<()>;

    /// Stores `data` so that it is durable after the next `drain`, without
    /// a separate flush (non-temporal stores where the backend has them).
    fn write_durable(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.write(offset, data)?;
        self.flush(offset, data.len() as u64).map(drop)
    }

    /// Starts writing back every cache line overlapping the range. Returns
    /// the bytes the backend's operation covered: whole cache lines, whole
    /// pages for msync, 0 when it writes nothing back (fence-only). That,
    /// not the length asked for, is what fsync reports as flushed.
    fn flush(&self, offset: u64, len: u64) -> io::Result<u64>;

    /// Waits for every flush started before it: after `drain` returns, the
    /// flushed data survives a crash.
    fn drain(&self) -> io::Result<()>;

    /// How this backend flushes, for reports ("clwb", "simulated", ...).
    fn flush_name(&self) -> &'static str;
}

/// Checks for the example's self-test and the integration tests.
pub(crate) mod checks {
    use super::*;

    /// A check: `Err` describes the first thing that went wrong.
    pub(crate) type Check = fn() -> Result<(), String>;

    /// `(name, check)` for every check in this module.
    pub(crate) const CHECKS: &[(&str, Check)] = &[
        (
            "device_range_refuses_overflow",
            device_range_refuses_overflow,
        ),
        (
            "store_and_load_bytes_every_alignment",
            store_and_load_bytes_every_alignment,
        ),
    ];

    macro_rules! ensure {
        ($cond:expr, $($why:tt)+) => {
            if !$cond {
                return Err(format!($($why)+));
            }
        };
    }

    /// Offsets past the end, and ones that overflow, are refused.
    pub(crate) fn device_range_refuses_overflow() -> Result<(), String> {
        let fits = |offset, len, device| device_range(offset, len, device).ok();
        ensure!(fits(0, 10, 10) == Some(0..10), "whole device refused");
        ensure!(
            fits(10, 0, 10) == Some(10..10),
            "empty range at the end refused"
        );
        ensure!(fits(5, 6, 10).is_none(), "range past the end accepted");
        ensure!(
            fits(u64::MAX, 2, u64::MAX).is_none(),
            "overflowing range accepted"
        );
        Ok(())
    }

    /// Word-wise atomic stores and loads copy exactly, at every alignment
    /// of address and length, and touch nothing outside.
    pub(crate) fn store_and_load_bytes_every_alignment() -> Result<(), String> {
        let source: Vec<u8> = (0..100u8).map(|i| i.wrapping_mul(37) | 1).collect();
        for offset in 0..16 {
            for len in 0..40 {
                let mut memory = vec![0u64; 16];
                let base = memory.as_mut_ptr().cast::<u8>();
                // SAFETY: `offset + len` < 128 bytes, the size of `memory`,
                // which nothing else accesses during the call.
                unsafe { store_bytes(base.add(offset), &source[..len]) };
                let mut back = vec![0u8; len];
                // SAFETY: as above, reading.
                unsafe { load_bytes(base.add(offset), &mut back) };
                ensure!(
                    back == source[..len],
                    "{len} bytes at +{offset} read back differently"
                );
                let bytes: Vec<u8> = memory.iter().flat_map(|w| w.to_ne_bytes()).collect();
                ensure!(
                    bytes[offset..offset + len] == source[..len],
                    "{len} bytes at +{offset} stored wrong"
                );
                let outside = bytes[..offset].iter().chain(&bytes[offset + len..]);
                ensure!(
                    outside.into_iter().all(|&b| b == 0),
                    "{len} bytes at +{offset} wrote outside"
                );
            }
        }
        Ok(())
    }
}
