//! DAX on xradix: a small file system's fault, fsync and hole-punch paths
//! over a real mapped pmem file, checked by a crash simulator.
//!
//! ```text
//! cargo run --release --example dax [-- OPTIONS]
//!   --file PATH        the pmem file (default: /dev/shm or the temp dir;
//!                      created, and removed afterwards)
//!   --size SIZE        file size, e.g. 64M, 1G (default 64M; an existing
//!                      --file keeps its size unless this is given)
//!   --workload W       seq | random | pmd | punch | mixed | shared (default seq)
//!   --threads N        worker threads (default: CPUs, at most 4)
//!   --fsync-every N    pages each thread stores between fsyncs (default 64)
//!   --flush M          force clwb | clflushopt | clflush | msync | none
//!   --seed N           workload seed
//!   --self-test        run the building blocks' self-checks and exit
//! ```
//!
//! The pieces, one file each: [`entry`] (the DAX entry as a value entry),
//! [`mapping`] (the file: tree, entry locks, data path), [`fault`],
//! [`fsync`], [`punch`], [`vm`] (simulated page tables), [`wait`] (the wait
//! table), [`extents`] and [`blocks`] (block map and allocator), [`pmem`],
//! [`flush`] and [`persist`] (the real pmem file and how it is flushed),
//! [`crash`] (the crash simulator), [`bugs`] (historical bugs, switchable
//! for tests), [`workload`] (what the command runs). Start with
//! [`fsync`]: its documentation draws the whole writeback path.
//!
//! Bad input (a missing directory, a file too small, an unwritable path, a
//! bad size or flag) prints one line to stderr and exits with status 2.

// A std program: `Arc` and the collections come from std here; the crate's
// `std_instead_of_alloc` lint guards the library's no_std build.
#![allow(clippy::std_instead_of_alloc)]

mod blocks;
mod bugs;
mod crash;
mod entry;
mod extents;
mod fault;
mod flush;
mod fsync;
mod mapping;
mod persist;
mod pmem;
mod punch;
mod sched;
mod vm;
mod wait;
mod workload;

#[cfg(test)]
mod tests;

use crate::blocks::BLOCK_SIZE;
use crate::flush::{FlushMethod, FlushOptions};
use crate::mapping::{DaxFile, Options, Stats};
use crate::persist::Persist;
use crate::pmem::{format_size, parse_size, PmemFile, PmemOptions};
use crate::vm::PMD_PAGES;
use crate::workload::{fill_page, Plan, Workload};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// The smallest file the command can use: the header's 2 MiB group plus
/// one 2 MiB region of file data, plus room for PTE fallbacks.
const MIN_SIZE: u64 = 4 << 20;

/// Size of a created file when none is given.
const DEFAULT_SIZE: u64 = 64 << 20;

/// What the command line asked for.
#[derive(Debug)]
struct Args {
    file: Option<PathBuf>,
    size: Option<u64>,
    workload: Workload,
    threads: usize,
    fsync_every: u64,
    flush: Option<FlushMethod>,
    seed: u64,
    self_test: bool,
    help: bool,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut parsed = Args {
        file: None,
        size: None,
        workload: Workload::Seq,
        threads: cpus.min(4),
        fsync_every: 64,
        flush: None,
        seed: 0x5eed,
        self_test: false,
        help: false,
    };
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        let number = |name: &str, text: String| {
            text.parse::<u64>()
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| format!("{name}: expected a positive number, got {text:?}"))
        };
        match flag.as_str() {
            "--file" => parsed.file = Some(PathBuf::from(value("--file")?)),
            "--size" => {
                let text = value("--size")?;
                parsed.size = Some(parse_size(&text).map_err(|e| e.to_string())?);
            }
            "--workload" => {
                let text = value("--workload")?;
                parsed.workload = Workload::parse(&text).ok_or_else(|| {
                    format!("unknown workload {text:?} (seq, random, pmd, punch, mixed or shared)")
                })?;
            }
            "--threads" => {
                let n = number("--threads", value("--threads")?)?;
                parsed.threads = usize::try_from(n.min(256)).unwrap_or(256);
            }
            "--fsync-every" => {
                parsed.fsync_every = number("--fsync-every", value("--fsync-every")?)?
            }
            "--seed" => {
                let text = value("--seed")?;
                parsed.seed = text
                    .parse()
                    .map_err(|_| format!("--seed: expected a number, got {text:?}"))?;
            }
            "--flush" => {
                let text = value("--flush")?;
                let method = if text.eq_ignore_ascii_case("none") {
                    Some(FlushMethod::FenceOnly)
                } else {
                    FlushMethod::parse(&text)
                };
                parsed.flush = Some(method.ok_or_else(|| {
                    format!(
                        "unknown flush method {text:?} (clwb, clflushopt, clflush, msync or none)"
                    )
                })?);
            }
            "--self-test" => parsed.self_test = true,
            "--help" | "-h" => parsed.help = true,
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    Ok(parsed)
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(e) => return usage_error(&e),
    };
    if args.help {
        println!(
            "{}",
            include_str!("main.rs")
                .lines()
                .skip(4)
                .take(11)
                .map(|l| l.trim_start_matches("//! "))
                .collect::<Vec<_>>()
                .join("\n")
        );
        return ExitCode::SUCCESS;
    }
    if args.self_test {
        return self_test();
    }
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(e)) => usage_error(&e),
        Err(Failure::Run(e)) => {
            eprintln!("dax: {e}");
            ExitCode::FAILURE
        }
    }
}

fn usage_error(message: &str) -> ExitCode {
    eprintln!("dax: {message}");
    ExitCode::from(2)
}

/// Why the command failed: bad input (exit 2) or a failed run (exit 1).
enum Failure {
    Usage(String),
    Run(String),
}

fn run(args: &Args) -> Result<(), Failure> {
    let explicit = args.file.is_some();
    let path = args.file.clone().unwrap_or_else(pmem::default_path);
    // An existing --file keeps its size; anything else is created.
    let size = match args.size {
        Some(size) => Some(size),
        None if explicit && path.exists() => None,
        None => Some(DEFAULT_SIZE),
    };
    let mut flush = FlushOptions::from_env();
    flush.force = args.flush;
    let options = PmemOptions {
        path: Some(path.clone()),
        size,
        min_size: MIN_SIZE,
        flush,
        ..PmemOptions::default()
    };
    let pmem = PmemFile::open(&options).map_err(|e| Failure::Usage(e.to_string()))?;
    let remove_after = !explicit && pmem.created();
    let result = run_on(args, pmem);
    if remove_after {
        let _ = std::fs::remove_file(&path);
    }
    result.map_err(Failure::Run)
}

fn run_on(args: &Args, pmem: PmemFile) -> Result<(), String> {
    let device = pmem.len();
    let describe = pmem.describe();
    let durability = pmem.durability();
    let method = pmem.flusher().method();
    let path = pmem.path().to_path_buf();
    // File data: whole 2 MiB regions after the header's group.
    let region = PMD_PAGES * BLOCK_SIZE;
    let file_size = (device / region).saturating_sub(1) * region;
    let pmem: Arc<dyn Persist> = Arc::new(pmem);
    let file = DaxFile::new(Arc::clone(&pmem), file_size, Options::default())
        .map_err(|e| e.to_string())?;
    println!("xradix DAX example");
    println!("  file      {describe}");
    println!(
        "  workload  {}, {} thread(s), fsync every {} pages, {} of file data",
        args.workload.name(),
        args.threads,
        args.fsync_every,
        format_size(file_size)
    );
    let plan = Plan {
        workload: args.workload,
        threads: args.threads,
        fsync_every: args.fsync_every,
        seed: args.seed,
        progress: true,
    };
    let outcome = workload::run(&file, plan).map_err(|e| e.to_string())?;
    let dirty_after = file.dirty_entries();
    let s = &file.stats;
    let g = Stats::get;
    println!(
        "  faults    PTE {}, PMD {}, zero-page {}, PMD fallbacks {}, PMD downgrades {}",
        g(&s.pte_faults),
        g(&s.pmd_faults),
        g(&s.zero_faults),
        g(&s.pmd_fallbacks),
        g(&s.downgrades)
    );
    println!(
        "  entries   {} in the tree ({} dirty after the last fsync), {} PMD splits, {} punches",
        file.tree.len(),
        dirty_after,
        g(&s.splits),
        outcome.punches
    );
    let fsyncs = outcome.fsyncs.max(1);
    let walk = outcome.fsync.walk;
    let flush = outcome.fsync.flush;
    println!(
        "  fsync     {} calls: {} dirty entries tagged, {} written back",
        outcome.fsyncs, outcome.fsync.tagged, outcome.fsync.flushed,
    );
    println!(
        "  flushed   {}; {}",
        flushed_bytes(method, outcome.fsync.bytes),
        durability.describe()
    );
    println!(
        "            time: tree walk {:.1} ms + flushing {:.1} ms (per fsync {:.1} + {:.1} µs), flush: {}",
        walk.as_secs_f64() * 1e3,
        flush.as_secs_f64() * 1e3,
        walk.as_secs_f64() * 1e6 / fsyncs as f64,
        flush.as_secs_f64() * 1e6 / fsyncs as f64,
        pmem.flush_name()
    );
    println!(
        "  waits     {} entry-lock sleeps, {} lost wake-ups",
        g(&s.entry_waits),
        g(&s.lost_wakeups)
    );
    let stored = g(&s.bytes_stored);
    let secs = outcome.elapsed.as_secs_f64();
    println!(
        "  stored    {} pages, {:.1} MiB in {:.2} s = {:.0} MiB/s ({:.0} pages/s), faults and fsyncs included; {} loads checked",
        outcome.pages_stored,
        stored as f64 / f64::from(1 << 20),
        secs,
        stored as f64 / f64::from(1 << 20) / secs.max(1e-9),
        outcome.pages_stored as f64 / secs.max(1e-9),
        outcome.loads_checked
    );
    // Re-open the file and check every page against the model.
    let blocks = file.extents.snapshot();
    drop(file);
    drop(pmem);
    let reopened = PmemFile::open(&PmemOptions {
        path: Some(path),
        min_size: MIN_SIZE,
        ..PmemOptions::default()
    })
    .map_err(|e| format!("re-opening for verification: {e}"))?;
    let verified = verify(&reopened, &blocks, &outcome.versions, args.seed)?;
    println!(
        "  verify    re-opened ({}): {} pages ({}) match, {} holes",
        reopened.mode().name(),
        verified.pages,
        format_size(verified.pages * BLOCK_SIZE),
        verified.holes,
    );
    Ok(())
}

/// What fsync's flushes covered, by which method.
fn flushed_bytes(method: FlushMethod, bytes: u64) -> String {
    let amount = format!(
        "{bytes} bytes ({:.1} MiB)",
        bytes as f64 / f64::from(1 << 20)
    );
    match method {
        FlushMethod::FenceOnly => {
            format!("{amount}: --flush none writes no cache line back, it only fences")
        }
        FlushMethod::Msync => format!("{amount} by msync(MS_SYNC), in whole pages"),
        cpu => format!("{amount} by {}, in 64-byte cache lines", cpu.name()),
    }
}

struct Verified {
    pages: u64,
    holes: u64,
}

/// Reads every written page back through the re-opened file and compares
/// it with what the model says.
fn verify(
    pmem: &PmemFile,
    blocks: &std::collections::BTreeMap<u64, u64>,
    versions: &[u32],
    seed: u64,
) -> Result<Verified, String> {
    let mut want = vec![0u8; BLOCK_SIZE as usize];
    let mut got = vec![0u8; BLOCK_SIZE as usize];
    let mut verified = Verified { pages: 0, holes: 0 };
    for (page, &version) in versions.iter().enumerate() {
        let page = page as u64;
        match (version, blocks.get(&page)) {
            (0, None) => {
                verified.holes += 1;
                continue;
            }
            (0, Some(_)) => want.fill(0),
            (v, Some(_)) => fill_page(seed, page, v, &mut want),
            (_, None) => return Err(format!("page {page} was written but has no block")),
        }
        let block = blocks[&page];
        pmem.read(block * BLOCK_SIZE, &mut got)
            .map_err(|e| format!("reading block {block}: {e}"))?;
        if got != want {
            return Err(format!(
                "verification failed: page {page} (block {block}) differs from what was written"
            ));
        }
        verified.pages += 1;
    }
    Ok(verified)
}

/// Runs every building block's self-check (`--self-test`).
fn self_test() -> ExitCode {
    let mut failed = 0;
    for (name, check) in all_checks() {
        match check() {
            Ok(()) => println!("ok    {name}"),
            Err(e) => {
                failed += 1;
                println!("FAIL  {name}: {e}");
            }
        }
    }
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

type Check = (&'static str, fn() -> Result<(), String>);

fn all_checks() -> Vec<Check> {
    [
        blocks::checks::CHECKS,
        crash::checks::CHECKS,
        entry::checks::CHECKS,
        flush::checks::CHECKS,
        persist::checks::CHECKS,
        pmem::checks::CHECKS,
    ]
    .concat()
}
