//! DAX on xradix: a small file system's fault, fsync and hole-punch paths
//! over a real mapped pmem file, checked by a crash simulator.
//!
//! ```text
//! cargo run --release --example dax [-- OPTIONS]     (--help lists them)
//! ```
//!
//! The command runs a workload on the file, re-reads every page, then
//! proves durability: it replays the workload through the crash
//! simulator and checks that every byte whose fsync returned is in every
//! one of 200 crash images ([`crash_check`]). Exit status: 0 when all is
//! well, 1 when a run failed or the crash check found fsynced data lost,
//! 2 for bad input (one line on stderr; clap's hint for flags), 130 when
//! interrupted, 141 when stdout was closed before the report's end (`|
//! head`; quietly, as SIGPIPE would end a program, but with the file
//! cleaned up).
//!
//! The pieces, one file each: [`entry`] (the DAX entry as a value entry),
//! [`mapping`] (the file: tree, entry locks, data path), [`fault`],
//! [`fsync`], [`punch`], [`vm`] (simulated page tables), [`wait`] (the wait
//! table), [`extents`] and [`blocks`] (block map and allocator), [`pmem`],
//! [`flush`] and [`persist`] (the real pmem file and how it is flushed),
//! [`crash`] (the crash simulator), [`crash_check`] (the command's proof
//! of durability), [`files`] (what the command does to files), [`bugs`]
//! (historical bugs, switchable), [`workload`] (what the command runs).
//! Start with [`fsync`]: its documentation draws the whole writeback path.
//!
//! The command needs Linux (`MAP_SYNC`, `posix_fallocate`, `fstatfs`);
//! elsewhere it builds, says so and exits.

// A std program: `Arc` and the collections come from std here; the crate's
// `std_instead_of_alloc` lint guards the library's no_std build.
#![allow(clippy::std_instead_of_alloc)]
// Off Linux only `main` below is built; the modules are not used.
#![cfg_attr(not(target_os = "linux"), allow(dead_code, unused_imports))]

#[cfg(target_os = "linux")]
mod blocks;
#[cfg(target_os = "linux")]
mod bugs;
#[cfg(target_os = "linux")]
mod crash;
#[cfg(target_os = "linux")]
mod crash_check;
#[cfg(target_os = "linux")]
mod entry;
#[cfg(target_os = "linux")]
mod extents;
#[cfg(target_os = "linux")]
mod fault;
#[cfg(target_os = "linux")]
mod files;
#[cfg(target_os = "linux")]
mod flush;
#[cfg(target_os = "linux")]
mod fsync;
#[cfg(target_os = "linux")]
mod mapping;
#[cfg(target_os = "linux")]
mod persist;
#[cfg(target_os = "linux")]
mod pmem;
#[cfg(target_os = "linux")]
mod punch;
#[cfg(target_os = "linux")]
mod sched;
#[cfg(target_os = "linux")]
mod vm;
#[cfg(target_os = "linux")]
mod wait;
#[cfg(target_os = "linux")]
mod workload;

#[cfg(all(test, target_os = "linux"))]
mod tests;

#[cfg(target_os = "linux")]
mod cli;

/// Off Linux: the DAX path needs `MAP_SYNC` and friends.
#[cfg(not(target_os = "linux"))]
fn main() -> std::process::ExitCode {
    use std::io::Write;
    // Not eprintln!, which panics when stderr is closed.
    let _ = writeln!(
        std::io::stderr(),
        "dax: this command needs Linux (MAP_SYNC, posix_fallocate, fstatfs); on {} it only builds. \
         The library, its tests, benches and the other examples run here.",
        std::env::consts::OS
    );
    std::process::ExitCode::from(2)
}

#[cfg(target_os = "linux")]
fn main() -> std::process::ExitCode {
    cli::main()
}
