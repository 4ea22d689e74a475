//! What the command does to files: never clobber, never collide, never
//! litter.
//!
//! * **Never collide.** The default file is named for the process
//!   (`/dev/shm/xradix-dax-<pid>.pmem`) and created with `O_EXCL`: two runs
//!   at once get two files.
//! * **Never litter.** The default file is removed when the run ends, and
//!   when the run is cut short: by Ctrl-C, SIGTERM or SIGHUP (the
//!   handler, [`on_interrupt`], says `interrupted` and exits with 130) or
//!   by its output being closed (`| head`: exit 141, as SIGPIPE would). A `--file` stays when the run ends; cut short, one
//!   this run created is removed (it holds only part of a run), one that
//!   existed before is kept, and the message says so. A default file whose
//!   run could not remove it (SIGKILL, a crash) is removed by the next
//!   run ([`remove_stale`]), and only if its process is gone, it starts
//!   with the header, and no run holds its lock ([`Claim`]).
//! * **Never clobber.** Every file the command writes starts with its
//!   [`MAGIC`] header (block 0 of the device, which holds no file data). A
//!   non-empty `--file` without it is someone else's data: the command
//!   refuses it ([`check_existing`]) unless `--force` is given. A file that
//!   `--size` grows or shrinks is reported as such.

use crate::persist::Persist;
use crate::pmem::DEFAULT_FILE_PREFIX;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

/// The first bytes of every file the command has written.
pub(crate) const MAGIC: &[u8; 16] = b"xradix-dax pmem\n";

/// What is at a path the command was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Existing {
    /// Nothing (the command creates it).
    Missing,
    /// An empty file: nothing to lose.
    Empty,
    /// A file this command wrote (it starts with [`MAGIC`]), of this size.
    Ours(u64),
    /// A non-empty file without the header, of this size.
    Foreign(u64),
    /// A directory, device or other non-regular file (opening refuses it).
    Other,
}

/// Looks at `path` without changing it.
pub(crate) fn check_existing(path: &Path) -> io::Result<Existing> {
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Existing::Missing),
        Err(e) => return Err(e),
    };
    if !meta.is_file() {
        return Ok(Existing::Other);
    }
    if meta.len() == 0 {
        return Ok(Existing::Empty);
    }
    let mut head = [0u8; MAGIC.len()];
    let mut file = std::fs::File::open(path)?;
    let ours = file.read_exact(&mut head).is_ok() && head == *MAGIC;
    Ok(if ours {
        Existing::Ours(meta.len())
    } else {
        Existing::Foreign(meta.len())
    })
}

/// Writes the header durably at the start of the device.
pub(crate) fn write_header(pmem: &dyn Persist) -> io::Result<()> {
    pmem.write_durable(0, MAGIC)?;
    pmem.drain()
}

/// What happens to the run's file if the run is cut short.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum IfCut {
    /// Removed: the default file, or a `--file` this run created.
    Remove(PathBuf),
    /// Kept: a `--file` that existed before the run (it may now hold part
    /// of one).
    Keep(PathBuf),
}

/// The run's file and its fate if the run is cut short; taken once.
static IF_CUT: Mutex<Option<IfCut>> = Mutex::new(None);

fn if_cut_slot() -> std::sync::MutexGuard<'static, Option<IfCut>> {
    IF_CUT.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Sets what happens to the run's file if an interrupt cuts the run
/// short.
pub(crate) fn if_cut(fate: IfCut) {
    *if_cut_slot() = Some(fate);
}

/// The run is over with `fate` (set by [`if_cut`]): no interrupt will act
/// on it any more, and its file is removed if `remove`. Both under the
/// slot's lock, so an interrupt arriving meanwhile waits, then finds
/// nothing left to do. (Another `fate` in the slot, which only tests
/// running at once in one process can leave there, stays.)
pub(crate) fn finish(fate: &IfCut, remove: bool) {
    let mut slot = if_cut_slot();
    if slot.as_ref() == Some(fate) {
        *slot = None;
    }
    if let (true, IfCut::Remove(path)) = (remove, fate) {
        let _ = std::fs::remove_file(path);
    }
}

/// An interrupt cut the run short: does what the slot says with the run's
/// file (at most once), and returns what to add to the message about it.
fn cut_short() -> String {
    match if_cut_slot().take() {
        Some(IfCut::Remove(path)) => match std::fs::remove_file(&path) {
            Ok(()) => format!("; removed {}", path.display()),
            Err(_) => String::new(),
        },
        Some(IfCut::Keep(path)) => format!(
            "; kept {}, which existed before this run (it may now hold part of one)",
            path.display()
        ),
        None => String::new(),
    }
}

/// Installs the handler for Ctrl-C, SIGTERM and SIGHUP: the run is cut
/// short ([`cut_short`]), says `interrupted` and exits with 130 (128 +
/// SIGINT, what a shell reports for a Ctrl-C).
pub(crate) fn on_interrupt() -> Result<(), String> {
    ctrlc::set_handler(|| {
        let note = cut_short();
        // Nothing to do if stderr is closed too: exit all the same.
        let _ = writeln!(io::stderr(), "\ndax: interrupted{note}");
        std::process::exit(130);
    })
    .map_err(|e| format!("cannot install the interrupt handler: {e}"))
}

/// A shared lock on the run's default file, held for as long as the file
/// exists: a run that finds the file and would take it for stale tries an
/// exclusive lock first, and leaves it when that fails. Process ids alone
/// do not tell, where runs in other PID namespaces (containers) share
/// /dev/shm.
pub(crate) struct Claim {
    _file: File,
}

/// Takes the [`Claim`] on `path`.
pub(crate) fn claim(path: &Path) -> io::Result<Claim> {
    let file = File::open(path)?;
    // SAFETY: flock on a descriptor this function owns, with no pointers.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(Claim { _file: file })
}

/// Whether a process `pid` exists (kill with signal 0 sends nothing; EPERM
/// means it exists under another user).
fn process_exists(pid: libc::pid_t) -> bool {
    // SAFETY: signal 0 only checks; `pid` is positive, so it names one
    // process, never a group.
    let sent = unsafe { libc::kill(pid, 0) } == 0;
    sent || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// The process id in a default file's name, `xradix-dax-<pid>.pmem`.
fn pid_of(name: &str) -> Option<libc::pid_t> {
    let digits = name
        .strip_prefix(DEFAULT_FILE_PREFIX)?
        .strip_suffix(".pmem")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<libc::pid_t>().ok().filter(|&pid| pid > 0)
}

/// Removes from `dir` the default files of runs that were killed before
/// they could remove them, and returns them with their sizes. A file goes
/// only if all of these hold, so nothing else is ever deleted: its name is
/// a default file's (`xradix-dax-<pid>.pmem`), it is a regular file (not a
/// link), no process `<pid>` exists, it starts with the command's header,
/// and an exclusive lock on it can be taken (no run holds its
/// [`Claim`]).
pub(crate) fn remove_stale(dir: &Path) -> Vec<(PathBuf, u64)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let own = std::process::id();
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(pid_of) else {
            continue;
        };
        if u32::try_from(pid) == Ok(own) || process_exists(pid) {
            continue;
        }
        let path = entry.path();
        // Not through a link: its target is someone else's.
        if !std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_file()) {
            continue;
        }
        let Ok(Existing::Ours(len)) = check_existing(&path) else {
            continue;
        };
        let Ok(file) = File::open(&path) else {
            continue;
        };
        // SAFETY: flock on a descriptor owned here, with no pointers; the
        // lock goes when `file` is dropped, after the removal.
        let free = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
        if free && std::fs::remove_file(&path).is_ok() {
            removed.push((path, len));
        }
    }
    removed.sort();
    removed
}
