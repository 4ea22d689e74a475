//! The command line: argument parsing, bad input, and a small real run.

use crate::pmem::checks::ScratchDir;
use crate::workload::Workload;
use crate::{parse_args, run, Args, Failure};

fn args(list: &[&str]) -> Result<Args, String> {
    parse_args(list.iter().map(|s| s.to_string()))
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
    assert_eq!(a.workload, Workload::Pmd);
    assert_eq!((a.threads, a.fsync_every), (3, 7));
    assert_eq!(a.flush, Some(crate::flush::FlushMethod::Msync));
}

#[test]
fn bad_arguments_are_one_line_errors() {
    for bad in [
        &["--size", "lots"][..],
        &["--size"],
        &["--workload", "sideways"],
        &["--threads", "0"],
        &["--flush", "mop"],
        &["--frobnicate"],
    ] {
        let e = args(bad).expect_err("accepted");
        assert!(!e.is_empty() && !e.contains('\n'), "{bad:?}: {e:?}");
    }
}

fn usage_error(a: &Args) -> String {
    match run(a) {
        Err(Failure::Usage(e)) => e,
        Err(Failure::Run(e)) => panic!("a run failure, not a usage error: {e}"),
        Ok(()) => panic!("accepted"),
    }
}

#[test]
fn bad_files_are_usage_errors() {
    let dir = ScratchDir::new("cli").unwrap();
    let mut a = args(&[]).unwrap();
    a.file = Some(dir.0.join("no/such/dir/f.pmem"));
    assert!(usage_error(&a).contains("does not exist"));
    let small = dir.0.join("small.pmem");
    std::fs::write(&small, vec![0u8; 8192]).unwrap();
    a.file = Some(small);
    assert!(usage_error(&a).contains("smaller"));
    a.file = Some(dir.0.join("f.pmem"));
    a.size = Some(1 << 20);
    assert!(usage_error(&a).contains("bad size"));
}

#[test]
fn small_runs_verify() {
    let dir = ScratchDir::new("run").unwrap();
    for workload in Workload::ALL {
        let mut a = args(&["--size", "8M", "--threads", "2", "--fsync-every", "16"]).unwrap();
        a.workload = workload;
        a.file = Some(dir.0.join(format!("{}.pmem", workload.name())));
        if let Err(Failure::Run(e) | Failure::Usage(e)) = run(&a) {
            panic!("{}: {e}", workload.name());
        }
    }
}

#[test]
fn cache_line_flush_on_page_cache_is_refused() {
    // The scratch directory is on an ordinary file system, which refuses
    // MAP_SYNC: the file is page cache, where only msync is durable.
    let dir = ScratchDir::new("clwb").unwrap();
    for method in ["clwb", "clflushopt", "clflush"] {
        let mut a = args(&["--size", "8M", "--flush", method]).unwrap();
        a.file = Some(dir.0.join(format!("{method}.pmem")));
        let e = usage_error(&a);
        assert!(!e.contains('\n') && e.contains(method), "{method}: {e}");
        assert!(!dir.0.join(format!("{method}.pmem")).exists(), "file left");
    }
}
