//! The command: its flags (clap), the run, and the report.
//!
//! A run has four phases, each with a progress bar on stderr when stderr
//! is a terminal (`indicatif` hides them otherwise): storing (the
//! workload), verification (every page re-read from the re-opened file),
//! the crash check ([`crate::crash_check`]), and the report on stdout.

use crate::blocks::BLOCK_SIZE;
use crate::bugs::{command_bug, Bugs, COMMAND_BUGS};
use crate::crash_check::{self, Counting, CrashReport, Setup, IMAGES};
use crate::files::{self, Existing};
use crate::flush::{FlushMethod, FlushOptions};
use crate::mapping::{DaxFile, Options, Stats};
use crate::persist::Persist;
use crate::pmem::{self, format_size, parse_size, PmemFile, PmemOptions};
use crate::vm::PMD_PAGES;
use crate::workload::{self, fill_page, Plan, Workload};
use clap::Parser;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

/// The smallest file the command can use: the header's 2 MiB group plus
/// one 2 MiB region of file data, plus room for PTE fallbacks.
pub(crate) const MIN_SIZE: u64 = 4 << 20;

/// Size of a created file when none is given.
pub(crate) const DEFAULT_SIZE: u64 = 64 << 20;

/// The most worker threads `--threads` takes.
pub(crate) const MAX_THREADS: u64 = 256;

const AFTER_HELP: &str = "\
The file:
  Without --file, a new file named for this process (/dev/shm/xradix-dax-<pid>.pmem,
  or in the temp dir) is created, and removed at the end, on Ctrl-C, SIGTERM or
  SIGHUP, and when the output is closed (| head). Such a file left by a run that
  was killed (SIGKILL) is removed by the next run, and said so, if its process is
  gone, it starts with this command's header and no run holds its lock.
  With --file PATH, PATH is created if missing and kept at the end. If the run is
  cut short (Ctrl-C, SIGTERM, SIGHUP, output closed), a PATH this run created is
  removed (it would hold only part of a run); a PATH that existed is kept, and
  may then hold part of a run. An existing PATH is reused only if this command
  wrote it (it starts with an xradix-dax header); any other non-empty file is
  refused unless --force is given, and then overwritten. --size resizes an
  existing file, growing or shrinking it, and the report says so; without
  --size it keeps its size.
  File data is whole 2 MiB regions after the device's first 2 MiB, which holds
  the 4 KiB header and spare blocks: a 64 MiB file holds 62 MiB of file data.

The crash check:
  After the run, the workload is replayed (same seed; the workers one after
  another) through a simulated persistence domain that loses what was not
  flushed and fenced, and 200 crash images are cut from it. Every byte whose
  fsync returned must be in every image; if one is missing the command exits 1.
  --flush none, and each --bug, must make it fail.

Exit status: 0 ok; 1 a run failed or fsynced data was lost; 2 bad input;
130 interrupted; 141 the output was closed before the report's end (as SIGPIPE
would end a program; nothing is printed).";

/// The DAX fsync path of a small file system over a pmem file, checked
/// by a crash simulator.
#[derive(Debug, Parser)]
#[command(
    name = "dax",
    version,
    about = "xradix's DAX example: the kernel's fault, fsync and hole-punch paths over a pmem file, with a crash check",
    after_help = AFTER_HELP,
    after_long_help = AFTER_HELP
)]
pub(crate) struct Args {
    /// The pmem file (default: a new per-process file, removed afterwards).
    #[arg(long, value_name = "PATH")]
    pub(crate) file: Option<PathBuf>,

    /// File size, e.g. 64M, 1G [default: 64M; an existing --file keeps its size].
    #[arg(long, value_name = "SIZE", value_parser = size_arg)]
    pub(crate) size: Option<u64>,

    /// What to run [default: seq, or the workload that shows the --bug].
    #[arg(long, value_enum, value_name = "W")]
    pub(crate) workload: Option<Workload>,

    /// Worker threads [default: CPUs, at most 4; at most 256].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=MAX_THREADS))]
    pub(crate) threads: Option<u64>,

    /// Pages each thread stores between fsyncs.
    #[arg(long, value_name = "N", default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) fsync_every: u64,

    /// Force a flush method (default: CPUID, or msync for a page-cache mapping).
    #[arg(long, value_enum, value_name = "M")]
    pub(crate) flush: Option<FlushArg>,

    /// Workload seed (the crash check replays it).
    #[arg(long, value_name = "N", default_value_t = 0x5eed)]
    pub(crate) seed: u64,

    /// Switch a historical bug back on (repeatable); the crash check must
    /// then fail.
    #[arg(long = "bug", value_name = "NAME", value_parser = bug_names())]
    pub(crate) bugs: Vec<String>,

    /// Overwrite a --file that this command did not write.
    #[arg(long)]
    pub(crate) force: bool,

    /// Run the building blocks' self-checks and exit.
    #[arg(long)]
    pub(crate) self_test: bool,
}

/// `--flush` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum FlushArg {
    /// CLWB cache-line write-back
    Clwb,
    /// CLFLUSHOPT
    Clflushopt,
    /// CLFLUSH
    Clflush,
    /// msync(MS_SYNC) of whole pages
    Msync,
    /// no write-back, only the fence (data is lost unless the caches are persistent)
    None,
}

impl FlushArg {
    fn method(self) -> FlushMethod {
        match self {
            FlushArg::Clwb => FlushMethod::Clwb,
            FlushArg::Clflushopt => FlushMethod::ClflushOpt,
            FlushArg::Clflush => FlushMethod::Clflush,
            FlushArg::Msync => FlushMethod::Msync,
            FlushArg::None => FlushMethod::FenceOnly,
        }
    }
}

fn size_arg(text: &str) -> Result<u64, String> {
    parse_size(text).map_err(|e| e.to_string())
}

fn bug_names() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(
        COMMAND_BUGS
            .iter()
            .map(|b| clap::builder::PossibleValue::new(b.name).help(b.what)),
    )
}

impl Args {
    /// The switched-on bugs.
    pub(crate) fn bug_flags(&self) -> Bugs {
        self.bugs
            .iter()
            .filter_map(|name| command_bug(name))
            .fold(Bugs::empty(), |all, b| all | b.bug)
    }

    /// The workload: as given, else the first `--bug`'s, else `seq`.
    pub(crate) fn workload(&self) -> Workload {
        self.workload
            .or_else(|| {
                self.bugs
                    .first()
                    .and_then(|n| command_bug(n))
                    .map(|b| b.workload)
            })
            .unwrap_or(Workload::Seq)
    }

    pub(crate) fn threads(&self) -> usize {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        self.threads.map_or(cpus.min(4), |n| n as usize)
    }
}

/// Exit status when stdout was closed before the report's end: 128 +
/// SIGPIPE, what a shell reports for a program that signal ended.
pub(crate) const CLOSED_EXIT: u8 = 141;

/// The command's entry point.
pub(crate) fn main() -> ExitCode {
    let args = Args::parse();
    let mut stdout = io::stdout();
    if args.self_test {
        return match self_test(&mut stdout) {
            Ok(code) => code,
            Err(failure) => exit_code(failure),
        };
    }
    if let Err(e) = files::on_interrupt() {
        warn(&e);
        return ExitCode::FAILURE;
    }
    match run(&args, &mut stdout) {
        Ok(Verdict::Durable) => ExitCode::SUCCESS,
        Ok(Verdict::Lost) => {
            warn("fsync returned for data that a crash can lose (see the crash line)");
            ExitCode::FAILURE
        }
        Err(failure) => exit_code(failure),
    }
}

/// Says why the command fails (except for a closed stdout, where nobody
/// reads on) and gives the exit status.
fn exit_code(failure: Failure) -> ExitCode {
    match failure {
        Failure::Usage(e) => {
            warn(&e);
            ExitCode::from(2)
        }
        Failure::Run(e) => {
            warn(&e);
            ExitCode::FAILURE
        }
        Failure::Closed => ExitCode::from(CLOSED_EXIT),
    }
}

/// One line on stderr; `eprintln!` would panic if stderr is closed too.
fn warn(message: &str) {
    let _ = writeln!(io::stderr(), "dax: {message}");
}

/// Why the command failed: bad input (exit 2), a failed run (exit 1), or
/// a closed stdout (exit [`CLOSED_EXIT`]: `dax | head -3` reads its three
/// lines and closes the pipe, and the run stops at the next line it would
/// print, as a program SIGPIPE ends would, but with its file cleaned up).
#[derive(Debug)]
pub(crate) enum Failure {
    Usage(String),
    Run(String),
    Closed,
}

impl From<String> for Failure {
    fn from(e: String) -> Failure {
        Failure::Run(e)
    }
}

/// Where the report goes, a line at a time: a failed write ends the run
/// (a broken pipe quietly), instead of `println!`'s panic.
struct Report<'a>(&'a mut dyn Write);

impl Report<'_> {
    fn line(&mut self, line: core::fmt::Arguments<'_>) -> Result<(), Failure> {
        match writeln!(self.0, "{line}") {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Err(Failure::Closed),
            Err(e) => Err(Failure::Run(format!("writing the report: {e}"))),
        }
    }
}

/// `say!(report, "format", args)`: one line of the report, or return
/// the failure to write it.
macro_rules! say {
    ($report:expr, $($arg:tt)*) => {
        $report.line(format_args!($($arg)*))?
    };
}

/// What the crash check concluded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Every fsynced byte in every image.
    Durable,
    /// Some image lacks fsynced data.
    Lost,
}

/// Runs the command, writing its report to `out`: open (or refuse) the
/// file, run, verify, crash-check.
pub(crate) fn run(args: &Args, out: &mut dyn Write) -> Result<Verdict, Failure> {
    let explicit = args.file.is_some();
    let default = pmem::default_path();
    let path = args.file.clone().unwrap_or_else(|| default.clone());
    let mut notes = Vec::new();
    // Never litter: default files of killed runs go, whichever file this
    // run uses.
    if let Some(dir) = default.parent() {
        let stale = files::remove_stale(dir);
        if !stale.is_empty() {
            let total: u64 = stale.iter().map(|(_, len)| len).sum();
            let names: Vec<String> = stale.iter().map(|(p, _)| p.display().to_string()).collect();
            notes.push(format!(
                "removed {} file(s) left by killed runs ({}): {}",
                stale.len(),
                format_size(total),
                names.join(", ")
            ));
        }
    }
    // Never clobber: a non-empty file must be ours, or --force.
    let existing = if explicit {
        files::check_existing(&path)
            .map_err(|e| Failure::Usage(format!("cannot read {}: {e}", path.display())))?
    } else {
        Existing::Missing
    };
    let old_len = match existing {
        Existing::Foreign(len) if !args.force => {
            return Err(Failure::Usage(format!(
                "{} holds {} this command did not write (no xradix-dax header); \
                 it would be overwritten: give --force to allow that",
                path.display(),
                format_size(len)
            )))
        }
        Existing::Foreign(len) => {
            notes.push(format!(
                "--force: overwriting {} ({}, not written by this command)",
                path.display(),
                format_size(len)
            ));
            Some(len)
        }
        Existing::Ours(len) => Some(len),
        _ => None,
    };
    // An existing --file keeps its size; anything else is created.
    let size = match args.size {
        Some(size) => Some(size),
        None if explicit && path.exists() => None,
        None => Some(DEFAULT_SIZE),
    };
    if let (Some(old), Some(new)) = (old_len, size) {
        if new != old {
            let how = if new < old { "shrinking" } else { "growing" };
            notes.push(format!(
                "{how} {} from {} to {}, as --size asks",
                path.display(),
                format_size(old),
                format_size(new)
            ));
        }
    }
    let mut flush = FlushOptions::from_env();
    flush.force = args.flush.map(FlushArg::method);
    let options = PmemOptions {
        path: Some(path.clone()),
        size,
        min_size: MIN_SIZE,
        flush,
        create_new: !explicit,
        ..PmemOptions::default()
    };
    // Cut short, a file this run creates goes; one that was there stays.
    let fate = if explicit && path.exists() {
        files::IfCut::Keep(path.clone())
    } else {
        files::IfCut::Remove(path.clone())
    };
    files::if_cut(fate.clone());
    let pmem = PmemFile::open(&options).map_err(|e| {
        // A file it created is gone already.
        files::finish(&fate, false);
        Failure::Usage(e.to_string())
    })?;
    let remove_after = !explicit && pmem.created();
    // Held while the default file exists: no other run takes it for stale.
    let claim = remove_after.then(|| files::claim(&path).ok());
    let what_then = if remove_after {
        "removed at exit"
    } else if pmem.created() {
        "new; kept at exit, removed if the run is cut short"
    } else {
        "kept"
    };
    let result = run_on(args, pmem, &notes, what_then, &mut Report(out));
    // Cut short by a closed stdout, the run's file goes as an interrupt
    // would take it; at the end only the default file goes.
    let remove = match result {
        Err(Failure::Closed) => matches!(fate, files::IfCut::Remove(_)),
        _ => remove_after,
    };
    files::finish(&fate, remove);
    drop(claim);
    result
}

/// A progress bar on stderr, hidden when stderr is not a terminal.
fn bar(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    let style =
        ProgressStyle::with_template("  {prefix:<9} [{bar:30}] {pos}/{len} {msg} ({elapsed})")
            .map(|s| s.progress_chars("=> "))
            .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_prefix(what.to_string());
    bar
}

fn run_on(
    args: &Args,
    pmem: PmemFile,
    notes: &[String],
    what_then: &str,
    out: &mut Report<'_>,
) -> Result<Verdict, Failure> {
    files::write_header(&pmem)
        .map_err(|e| format!("writing the header of {}: {e}", pmem.path().display()))?;
    let device = pmem.len();
    let describe = pmem.describe();
    let durability = pmem.durability();
    let method = pmem.flusher().method();
    let flush_name = pmem.flush_name();
    let path = pmem.path().to_path_buf();
    // File data: whole 2 MiB regions after the header's group.
    let region = PMD_PAGES * BLOCK_SIZE;
    let file_size = (device / region).saturating_sub(1) * region;
    let counting = Arc::new(Counting::new(Arc::new(pmem)));
    let bugs = args.bug_flags();
    let options = Options {
        bugs,
        ..Options::default()
    };
    let file = DaxFile::new(
        Arc::clone(&counting) as Arc<dyn Persist>,
        file_size,
        options,
    )
    .map_err(|e| e.to_string())?;
    let plan = Plan {
        workload: args.workload(),
        threads: args.threads(),
        fsync_every: args.fsync_every,
        seed: args.seed,
    };
    say!(out, "xradix DAX example");
    say!(out, "  file      {describe} ({what_then})");
    for note in notes {
        say!(out, "            {note}");
    }
    say!(
        out,
        "  workload  {}, {} thread(s), fsync every {} pages, {} of file data",
        plan.workload.name(),
        plan.threads,
        plan.fsync_every,
        format_size(file_size)
    );
    say!(
        out,
        "            (whole 2 MiB regions; the device's first 2 MiB holds the 4 KiB header and spare 4 KiB blocks)"
    );
    if !bugs.is_empty() {
        say!(out, "  bugs      switched on: {}", args.bugs.join(", "));
    }
    let storing = bar(file_size / BLOCK_SIZE, "storing");
    let outcome = workload::run(&file, plan, Some(&storing)).map_err(|e| e.to_string())?;
    storing.finish_and_clear();
    let dirty_after = file.dirty_entries();
    let s = &file.stats;
    let g = Stats::get;
    say!(
        out,
        "  faults    PTE {}, PMD {}, zero-page {}, PMD fallbacks {}, PMD downgrades {}",
        g(&s.pte_faults),
        g(&s.pmd_faults),
        g(&s.zero_faults),
        g(&s.pmd_fallbacks),
        g(&s.downgrades)
    );
    say!(
        out,
        "  entries   {} in the tree ({} dirty after the last fsync), {} PMD splits, {} punches",
        file.tree.len(),
        dirty_after,
        g(&s.splits),
        outcome.punches
    );
    let fsyncs = outcome.fsyncs.max(1);
    let walk = outcome.fsync.walk;
    let flushing = outcome.fsync.flush;
    say!(
        out,
        "  fsync     {} calls: {} dirty entries tagged, {} written back",
        outcome.fsyncs,
        outcome.fsync.tagged,
        outcome.fsync.flushed,
    );
    say!(
        out,
        "  flushed   {}; {}",
        flushed_bytes(method, outcome.fsync.bytes),
        durability.describe()
    );
    say!(
        out,
        "            time in fsync, per-thread times summed over {} thread(s), not wall time: tree walk {:.1} ms + flushing {:.1} ms; per fsync {:.1} + {:.1} µs; flush: {flush_name}",
        plan.threads,
        walk.as_secs_f64() * 1e3,
        flushing.as_secs_f64() * 1e3,
        walk.as_secs_f64() * 1e6 / fsyncs as f64,
        flushing.as_secs_f64() * 1e6 / fsyncs as f64,
    );
    say!(
        out,
        "  waits     {} entry-lock sleeps, {} lost wake-ups",
        g(&s.entry_waits),
        g(&s.lost_wakeups)
    );
    let stored = g(&s.bytes_stored);
    let secs = outcome.elapsed.as_secs_f64();
    say!(
        out,
        "  stored    {} pages, {:.1} MiB in {:.2} s wall = {:.0} MiB/s ({:.0} pages/s), faults and fsyncs included; {} loads checked",
        outcome.pages_stored,
        stored as f64 / f64::from(1 << 20),
        secs,
        stored as f64 / f64::from(1 << 20) / secs.max(1e-9),
        outcome.pages_stored as f64 / secs.max(1e-9),
        outcome.loads_checked
    );
    let events = counting.events();
    // Re-open the file and check every page against the model.
    let blocks = file.extents.snapshot();
    drop(file);
    drop(counting);
    let started = Instant::now();
    let reopened = PmemFile::open(&PmemOptions {
        path: Some(path),
        min_size: MIN_SIZE,
        ..PmemOptions::default()
    })
    .map_err(|e| format!("re-opening for verification: {e}"))?;
    let verifying = bar(outcome.versions.len() as u64, "verifying");
    let verified = verify(&reopened, &blocks, &outcome.versions, args.seed, &verifying)?;
    verifying.finish_and_clear();
    say!(
        out,
        "  verify    re-opened ({}): {} pages ({}) match, {} holes, in {:.2} s wall",
        reopened.mode().name(),
        verified.pages,
        format_size(verified.pages * BLOCK_SIZE),
        verified.holes,
        started.elapsed().as_secs_f64(),
    );
    drop(reopened);
    let checking = bar(IMAGES as u64, "crash");
    let report = crash_check::check(Setup {
        plan,
        bugs,
        method,
        device,
        events,
        progress: Some(checking),
    })?;
    print_crash(out, &report, method, outcome.elapsed.as_secs_f64())?;
    Ok(if report.fsynced_lost == 0 {
        Verdict::Durable
    } else {
        Verdict::Lost
    })
}

/// The crash check's lines of the report.
fn print_crash(
    out: &mut Report<'_>,
    report: &CrashReport,
    method: FlushMethod,
    run_secs: f64,
) -> Result<(), Failure> {
    let fsynced = if report.fsynced_lost == 0 {
        "fsynced data intact in all".to_string()
    } else {
        format!("fsynced data LOST in {}", report.fsynced_lost)
    };
    say!(
        out,
        "  crash     {} images: {fsynced}; unsynced data lost in {}",
        report.images,
        report.unsynced_lost
    );
    let flushing = match method {
        FlushMethod::FenceOnly => "writing nothing back, as --flush none does".to_string(),
        FlushMethod::Msync => "flushing whole pages, as msync does".to_string(),
        cpu => format!("flushing cache lines, as {} does", cpu.name()),
    };
    say!(
        out,
        "            the run replayed (same seed, threads in turn) on a simulated {} ADR device, {flushing}: {} stores, flushes and fences; {:.2} s wall (the run: {:.2} s)",
        format_size(report.device),
        report.events,
        report.elapsed.as_secs_f64(),
        run_secs
    );
    if let Some(loss) = &report.first_loss {
        say!(out, "            first loss: {loss}");
    }
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
    progress: &ProgressBar,
) -> Result<Verified, String> {
    let mut want = vec![0u8; BLOCK_SIZE as usize];
    let mut got = vec![0u8; BLOCK_SIZE as usize];
    let mut verified = Verified { pages: 0, holes: 0 };
    for (page, &version) in versions.iter().enumerate() {
        if page % 1024 == 0 {
            progress.set_position(page as u64);
        }
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

/// Runs every building block's self-check (`--self-test`), ending with a
/// summary line.
fn self_test(out: &mut dyn Write) -> Result<ExitCode, Failure> {
    let out = &mut Report(out);
    let (mut passed, mut failed) = (0, 0);
    for (name, check) in all_checks() {
        match check() {
            Ok(()) => {
                passed += 1;
                say!(out, "ok    {name}");
            }
            Err(e) => {
                failed += 1;
                say!(out, "FAIL  {name}: {e}");
            }
        }
    }
    say!(out, "self-test: {passed} passed, {failed} failed");
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

type Check = (&'static str, fn() -> Result<(), String>);

fn all_checks() -> Vec<Check> {
    [
        crate::blocks::checks::CHECKS,
        crate::crash::checks::CHECKS,
        crate::entry::checks::CHECKS,
        crate::flush::checks::CHECKS,
        crate::persist::checks::CHECKS,
        crate::pmem::checks::CHECKS,
    ]
    .concat()
}
