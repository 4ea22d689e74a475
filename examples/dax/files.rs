//! What the command does to files: never clobber, never collide, never
//! litter.
//!
//! * **Never collide.** The default file is named for the process
//!   (`/dev/shm/xradix-dax-<pid>.pmem`) and created with `O_EXCL`: two runs
//!   at once get two files.
//! * **Never litter.** The default file is removed when the run ends, and
//!   on Ctrl-C, SIGTERM or SIGHUP too: the handler ([`on_interrupt`])
//!   removes it, says `interrupted` and exits with 130. A file named with
//!   `--file` stays.
//! * **Never clobber.** Every file the command writes starts with its
//!   [`MAGIC`] header (block 0 of the device, which holds no file data). A
//!   non-empty `--file` without it is someone else's data: the command
//!   refuses it ([`check_existing`]) unless `--force` is given. A file that
//!   `--size` grows or shrinks is reported as such.

use crate::persist::Persist;
use std::io::{self, Read};
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

/// The file to remove if the run is interrupted.
static REMOVE_ON_INTERRUPT: Mutex<Option<PathBuf>> = Mutex::new(None);

/// Sets (or, with `None`, clears) the file the interrupt handler removes.
pub(crate) fn remove_on_interrupt(path: Option<PathBuf>) {
    *REMOVE_ON_INTERRUPT
        .lock()
        .unwrap_or_else(PoisonError::into_inner) = path;
}

/// Removes `path` now, unless an interrupt is removing it: a file is
/// removed once, by whoever takes it from the handler's slot first.
pub(crate) fn remove_now(path: &Path) {
    let mut slot = REMOVE_ON_INTERRUPT
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if slot.as_deref() == Some(path) {
        *slot = None;
    }
    let _ = std::fs::remove_file(path);
}

/// Installs the handler for Ctrl-C, SIGTERM and SIGHUP: remove the
/// registered file, say `interrupted`, exit with 130 (128 + SIGINT, what a
/// shell reports for a Ctrl-C).
pub(crate) fn on_interrupt() -> Result<(), String> {
    ctrlc::set_handler(|| {
        let path = REMOVE_ON_INTERRUPT
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        match path {
            Some(path) => {
                let removed = std::fs::remove_file(&path).is_ok();
                if removed {
                    eprintln!("\ndax: interrupted; removed {}", path.display());
                } else {
                    eprintln!("\ndax: interrupted");
                }
            }
            None => eprintln!("\ndax: interrupted"),
        }
        std::process::exit(130);
    })
    .map_err(|e| format!("cannot install the interrupt handler: {e}"))
}
