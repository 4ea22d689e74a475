//! The command line: argument parsing, bad input, files, and small real
//! runs with their crash check.

use crate::cli::{run, Args, Failure, Verdict, MAX_THREADS};
use crate::files::{self, Existing};
use crate::pmem::checks::ScratchDir;
use crate::workload::Workload;
use clap::error::ErrorKind;
use clap::Parser;
use std::io::{self, Write};

fn args(list: &[&str]) -> Result<Args, clap::Error> {
    Args::try_parse_from(std::iter::once("dax").chain(list.iter().copied()))
}

#[test]
fn arguments_parse() {
    let a = args(&[
        "--size",
        "8M",
        "--workload=pmd",
        "--threads",
        "3",
        "--fsync-every",
        "7",
        "--flush",
        "msync",
    ])
    .unwrap();
    assert_eq!(a.size, Some(8 << 20));
    assert_eq!(a.workload(), Workload::Pmd);
    assert_eq!((a.threads(), a.fsync_every), (3, 7));
    assert_eq!(a.flush, Some(crate::cli::FlushArg::Msync));
}

#[test]
fn bad_arguments_are_clap_errors() {
    for bad in [
        &["--size", "lots"][..],
        &["--size"],
        &["--workload", "sideways"],
        &["--threads", "0"],
        &["--flush", "mop"],
        &["--bug", "no-such-bug"],
        &["--frobnicate"],
        &["--", "extra"],
    ] {
        let e = args(bad).expect_err("accepted");
        assert_eq!(e.exit_code(), 2, "{bad:?}");
        let first = e.to_string();
        assert!(first.starts_with("error: "), "{bad:?}: {first}");
    }
}

#[test]
fn a_typo_gets_a_suggestion() {
    let e = args(&["--thread", "2"]).expect_err("accepted");
    assert_eq!(e.kind(), ErrorKind::UnknownArgument);
    assert!(e.to_string().contains("--threads"), "{e}");
}

#[test]
fn threads_above_the_cap_name_the_cap() {
    let e = args(&["--threads", "1000"]).expect_err("accepted");
    assert!(e.to_string().contains(&MAX_THREADS.to_string()), "{e}");
    assert_eq!(args(&["--threads", "256"]).unwrap().threads(), 256);
}

#[test]
fn help_and_version_exit_zero_and_tell_about_the_file() {
    let help = args(&["--help"]).expect_err("--help runs nothing");
    assert_eq!((help.kind(), help.exit_code()), (ErrorKind::DisplayHelp, 0));
    let text = help.to_string();
    for want in [
        "--force",
        "--bug",
        "removed",
        "--self-test",
        "skip-flush",
        "SIGKILL",
        "cut short",
        "141",
    ] {
        assert!(text.contains(want), "--help lacks {want:?}");
    }
    let version = args(&["--version"]).expect_err("--version runs nothing");
    assert_eq!(version.kind(), ErrorKind::DisplayVersion);
}

#[test]
fn a_bug_picks_the_workload_that_shows_it() {
    let a = args(&["--bug", "flush-first-4k-only"]).unwrap();
    assert_eq!(a.workload(), Workload::Pmd);
    let a = args(&["--bug", "flush-first-4k-only", "--workload", "seq"]).unwrap();
    assert_eq!(a.workload(), Workload::Seq);
}

fn usage_error(a: &Args) -> String {
    match run(a, &mut io::sink()) {
        Err(Failure::Usage(e)) => e,
        Err(other) => panic!("not a usage error: {other:?}"),
        Ok(v) => panic!("accepted: {v:?}"),
    }
}

#[test]
fn bad_files_are_usage_errors() {
    let dir = ScratchDir::new("cli").unwrap();
    let path = |name: &str| dir.0.join(name).to_string_lossy().into_owned();
    let a = args(&["--file", &path("no/such/dir/f.pmem")]).unwrap();
    assert!(usage_error(&a).contains("does not exist"));
    let small = dir.0.join("small.pmem");
    std::fs::write(&small, files::MAGIC).unwrap();
    let a = args(&["--file", &path("small.pmem")]).unwrap();
    assert!(usage_error(&a).contains("smaller"));
    let a = args(&["--file", &path("f.pmem"), "--size", "1M"]).unwrap();
    assert!(usage_error(&a).contains("bad size"));
}

#[test]
fn a_foreign_file_is_refused_without_force() {
    let dir = ScratchDir::new("foreign").unwrap();
    let target = dir.0.join("data.bin");
    let data: Vec<u8> = (0..8u32 << 20).map(|i| (i * 31 % 251) as u8).collect();
    std::fs::write(&target, &data).unwrap();
    let file = target.to_string_lossy().into_owned();
    let e = usage_error(&args(&["--file", &file, "--size", "8M"]).unwrap());
    assert!(e.contains("--force") && !e.contains('\n'), "{e}");
    assert_eq!(
        std::fs::read(&target).unwrap(),
        data,
        "a refused file changed"
    );
    // With --force it is overwritten, and carries the header after.
    let a = args(&["--file", &file, "--size", "8M", "--force"]).unwrap();
    assert_eq!(run(&a, &mut io::sink()).unwrap(), Verdict::Durable);
    assert_eq!(
        files::check_existing(&target).unwrap(),
        Existing::Ours(8 << 20)
    );
    // Now it is ours: reused without --force, and kept.
    let a = args(&["--file", &file, "--threads", "1"]).unwrap();
    assert_eq!(run(&a, &mut io::sink()).unwrap(), Verdict::Durable);
    assert!(target.exists(), "a --file must stay");
}

#[test]
fn small_runs_verify_and_pass_the_crash_check() {
    let dir = ScratchDir::new("run").unwrap();
    for workload in Workload::ALL {
        let file = dir.0.join(format!("{}.pmem", workload.name()));
        let a = args(&[
            "--size",
            "8M",
            "--threads",
            "2",
            "--fsync-every",
            "16",
            "--workload",
            workload.name(),
            "--file",
            &file.to_string_lossy(),
        ])
        .unwrap();
        match run(&a, &mut io::sink()) {
            Ok(Verdict::Durable) => {}
            other => panic!("{}: {other:?}", workload.name()),
        }
    }
}

#[test]
fn flush_none_and_each_command_bug_fail_the_crash_check() {
    let dir = ScratchDir::new("lost").unwrap();
    let file = dir.0.join("f.pmem").to_string_lossy().into_owned();
    let mut cases = vec![vec!["--flush", "none"]];
    for bug in crate::bugs::COMMAND_BUGS {
        cases.push(vec!["--bug", bug.name]);
    }
    for case in cases {
        let mut list = vec!["--size", "8M", "--threads", "2", "--file", &file];
        list.extend(&case);
        match run(&args(&list).unwrap(), &mut io::sink()) {
            Ok(Verdict::Lost) => {}
            other => panic!("{case:?}: {other:?}"),
        }
    }
}

#[test]
fn the_default_file_is_per_process_and_removed() {
    let path = crate::pmem::default_path();
    assert!(
        path.to_string_lossy()
            .contains(&format!("-{}.pmem", std::process::id())),
        "{}",
        path.display()
    );
    // Made by this test only: the default name is the process's, so the
    // runs of the other tests of this process use --file.
    let a = args(&["--size", "8M", "--threads", "1"]).unwrap();
    assert_eq!(run(&a, &mut io::sink()).unwrap(), Verdict::Durable);
    assert!(!path.exists(), "the default file was left behind");
    // Cut short by a closed stdout, it goes too.
    match run(&a, &mut ClosedAfter(3)) {
        Err(Failure::Closed) => {}
        other => panic!("stdout closed: {other:?}"),
    }
    assert!(!path.exists(), "a run cut short left the default file");
}

/// Stdout as `dax | head -3` leaves it: `lines` lines get through, then
/// every write fails with a broken pipe.
struct ClosedAfter(usize);

impl Write for ClosedAfter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.0 == 0 {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        self.0 -= buf.iter().filter(|&&b| b == b'\n').count().min(self.0);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_closed_stdout_ends_the_run_quietly() {
    let dir = ScratchDir::new("closed").unwrap();
    let new = dir.0.join("new.pmem");
    let file = new.to_string_lossy().into_owned();
    let a = args(&["--size", "8M", "--threads", "1", "--file", &file]).unwrap();
    // A --file this run created holds only part of a run: it goes.
    for lines in [0, 3, 8] {
        match run(&a, &mut ClosedAfter(lines)) {
            Err(Failure::Closed) => {}
            other => panic!("stdout closed after {lines} lines: {other:?}"),
        }
        assert!(!new.exists(), "a --file created by a run cut short stayed");
    }
    // One that was there stays.
    assert_eq!(run(&a, &mut io::sink()).unwrap(), Verdict::Durable);
    match run(&a, &mut ClosedAfter(3)) {
        Err(Failure::Closed) => {}
        other => panic!("stdout closed: {other:?}"),
    }
    assert_eq!(
        files::check_existing(&new).unwrap(),
        Existing::Ours(8 << 20),
        "an existing --file must stay"
    );
    // Another failing write is a failed run, said in one line.
    struct Full;
    impl Write for Full {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::from_raw_os_error(libc::ENOSPC))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    match run(&a, &mut Full) {
        Err(Failure::Run(e)) => assert!(e.contains("writing the report") && !e.contains('\n')),
        other => panic!("stdout full: {other:?}"),
    }
}

#[test]
fn only_default_files_of_dead_runs_are_removed() {
    let dir = ScratchDir::new("stale").unwrap();
    let at = |name: &str| dir.0.join(name);
    let ours = |name: &str| {
        let mut content = files::MAGIC.to_vec();
        content.resize(8192, 7);
        std::fs::write(at(name), content).unwrap();
    };
    // No process has an id above 2^22 (Linux's PID_MAX_LIMIT).
    let dead = |n: u32| format!("xradix-dax-{}.pmem", (1 << 22) + n);
    ours(&dead(1));
    std::fs::write(at(&dead(2)), b"someone else's data").unwrap();
    ours(&format!("xradix-dax-{}.pmem", std::process::id()));
    ours("xradix-dax-1.pmem");
    ours(&dead(3));
    let claim = files::claim(&at(&dead(3))).unwrap();
    ours("xradix-dax-12x.pmem");
    ours("other.pmem");
    ours(&format!("{}.bak", dead(4)));
    std::os::unix::fs::symlink(at("other.pmem"), at(&dead(5))).unwrap();
    let removed = files::remove_stale(&dir.0);
    assert_eq!(removed, vec![(at(&dead(1)), 8192)]);
    let mut left: Vec<String> = std::fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    let mut want = vec![
        dead(2),
        format!("xradix-dax-{}.pmem", std::process::id()),
        "xradix-dax-1.pmem".to_string(),
        dead(3),
        "xradix-dax-12x.pmem".to_string(),
        "other.pmem".to_string(),
        format!("{}.bak", dead(4)),
        dead(5),
    ];
    want.sort();
    assert_eq!(left, want);
    // Once no run holds it, the claimed file goes too.
    drop(claim);
    assert_eq!(files::remove_stale(&dir.0), vec![(at(&dead(3)), 8192)]);
}

#[test]
fn cache_line_flush_on_page_cache_is_refused() {
    // The scratch directory is on an ordinary file system, which refuses
    // MAP_SYNC: the file is page cache, where only msync is durable.
    let dir = ScratchDir::new("clwb").unwrap();
    for method in ["clwb", "clflushopt", "clflush"] {
        let file = dir.0.join(format!("{method}.pmem"));
        let a = args(&[
            "--size",
            "8M",
            "--flush",
            method,
            "--file",
            &file.to_string_lossy(),
        ])
        .unwrap();
        let e = usage_error(&a);
        assert!(!e.contains('\n') && e.contains(method), "{method}: {e}");
        assert!(!file.exists(), "file left");
    }
}
