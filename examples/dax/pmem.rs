//! Opening and mapping the pmem file.
//!
//! The example's "persistent memory" is one file, mapped shared. On a file
//! system mounted with `-o dax` over real (or emulated) pmem, the mapping
//! can be made with `MAP_SHARED_VALIDATE | MAP_SYNC`: the kernel then
//! guarantees that the file's block mapping is durable whenever a page
//! fault returns, so CPU cache flushes alone make our stores durable. That
//! is the mapping a DAX file system gives user space, and the one libpmem
//! calls "pmem".
//!
//! Everywhere else (tmpfs, `/dev/shm`, ext4 without dax) the kernel refuses
//! `MAP_SYNC` with EOPNOTSUPP (a kernel older than 4.15 rejects
//! `MAP_SHARED_VALIDATE` itself with EINVAL), and we fall back to a plain
//! `MAP_SHARED` mapping of the page cache. Stores are then durable only
//! after `msync(MS_SYNC)`, so the flusher switches to msync
//! ([`FlushMethod::Msync`](crate::flush::FlushMethod::Msync)). Either way
//! the report says which mode it got and why.
//!
//! A file created or resized here is also `posix_fallocate`d: on tmpfs a
//! sparse file that outgrows the free memory turns a later store into
//! SIGBUS, where reserving the blocks up front turns it into an error now.
//!
//! Every way opening can fail is one [`PmemError`] variant whose message
//! names the path or size, so the command can print one line and exit 2.

use crate::flush::{self, FlushMethod, FlushOptions, Flusher};
use crate::persist::{self, Persist};
use core::fmt;
use core::ptr::NonNull;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// The start of the file name used when no path is given; the process id
/// and `.pmem` follow, so runs at once never share a file.
pub(crate) const DEFAULT_FILE_PREFIX: &str = "xradix-dax-";

/// Sizes are whole 4 KiB pages: the unit the DAX layer maps.
pub(crate) const PAGE_SIZE: u64 = 4096;

/// Where the pmem file goes when none is named: `/dev/shm` (memory-backed,
/// the closest thing to pmem on most machines) if it exists, else the
/// temporary directory; the name carries this process's id.
pub(crate) fn default_path() -> PathBuf {
    let shm = Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    dir.join(format!("{DEFAULT_FILE_PREFIX}{}.pmem", std::process::id()))
}

/// How to open the file.
#[derive(Clone, Debug)]
pub(crate) struct PmemOptions {
    /// The file; [`default_path`] if `None`.
    pub(crate) path: Option<PathBuf>,
    /// Create the file if missing and make it exactly this many bytes (as
    /// libpmem's `pmem_map_file` with `PMEM_FILE_CREATE`). `None` maps an
    /// existing file at its current size.
    pub(crate) size: Option<u64>,
    /// The smallest file the caller can use.
    pub(crate) min_size: u64,
    /// Ask for `MAP_SYNC` first (default); `false` goes straight to
    /// `MAP_SHARED`, to test the fallback on a DAX file system.
    pub(crate) try_map_sync: bool,
    /// How to choose the flush method.
    pub(crate) flush: FlushOptions,
    /// Create the file, and fail with [`PmemError::Exists`] if it is there
    /// already (`O_EXCL`).
    pub(crate) create_new: bool,
}

impl Default for PmemOptions {
    fn default() -> PmemOptions {
        PmemOptions {
            path: None,
            size: None,
            min_size: PAGE_SIZE,
            try_map_sync: true,
            flush: FlushOptions::default(),
            create_new: false,
        }
    }
}

/// Why the pmem file could not be opened. Each message is one line that
/// names the path or size it is about.
#[derive(Debug)]
pub(crate) enum PmemError {
    /// The file's directory does not exist.
    NoDirectory { path: PathBuf, dir: PathBuf },
    /// The file does not exist and no size was given to create it.
    Missing { path: PathBuf },
    /// The file was to be new, and is there already.
    Exists { path: PathBuf },
    /// The path names a directory, device or other non-regular file.
    NotAFile { path: PathBuf },
    /// The file (or its directory) cannot be opened for writing.
    NotWritable { path: PathBuf, source: io::Error },
    /// The existing file is smaller than the caller needs.
    TooSmall { path: PathBuf, len: u64, min: u64 },
    /// A size that cannot be used: zero, not whole pages, below the
    /// minimum, larger than the address space, or not a number.
    BadSize { size: String, why: String },
    /// The file system has no room for the file.
    NoSpace {
        path: PathBuf,
        size: u64,
        source: io::Error,
    },
    /// The flush method asked for is not available, or useless on how the
    /// file could be mapped.
    Flush {
        path: PathBuf,
        mode: MapMode,
        source: io::Error,
    },
    /// Any other system call failure, with what we were doing.
    Io {
        path: PathBuf,
        action: &'static str,
        source: io::Error,
    },
}

impl fmt::Display for PmemError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PmemError::NoDirectory { path, dir } => write!(
                f,
                "cannot create {}: directory {} does not exist",
                path.display(),
                dir.display()
            ),
            PmemError::Missing { path } => write!(
                f,
                "{} does not exist (give a size to create it)",
                path.display()
            ),
            PmemError::Exists { path } => write!(
                f,
                "{} already exists (left by a run that was killed?); remove it or name another --file",
                path.display()
            ),
            PmemError::NotAFile { path } => write!(f, "{} is not a regular file", path.display()),
            PmemError::NotWritable { path, source } => {
                write!(f, "cannot open {} for writing: {source}", path.display())
            }
            PmemError::TooSmall { path, len, min } => write!(
                f,
                "{} is {}, smaller than the {} needed",
                path.display(),
                format_size(*len),
                format_size(*min)
            ),
            PmemError::BadSize { size, why } => write!(f, "bad size {size}: {why}"),
            PmemError::NoSpace { path, size, source } => write!(
                f,
                "cannot reserve {} for {}: {source}",
                format_size(*size),
                path.display()
            ),
            PmemError::Flush { path, mode, source } => write!(
                f,
                "cannot use that flush method for {} (mapped {}): {source}",
                path.display(),
                mode.name()
            ),
            PmemError::Io {
                path,
                action,
                source,
            } => write!(f, "cannot {action} {}: {source}", path.display()),
        }
    }
}

impl core::error::Error for PmemError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            PmemError::NotWritable { source, .. }
            | PmemError::NoSpace { source, .. }
            | PmemError::Flush { source, .. }
            | PmemError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// `1048576` → `"1 MiB"`; sizes that are not a whole unit stay in bytes.
pub(crate) fn format_size(bytes: u64) -> String {
    const UNITS: [(&str, u32); 4] = [("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)];
    for (unit, shift) in UNITS {
        if bytes >= 1 << shift && bytes % (1 << shift) == 0 {
            return format!("{} {unit}", bytes >> shift);
        }
    }
    format!("{bytes} bytes")
}

/// Parses a size as typed on the command line: a number of bytes with an
/// optional binary suffix `K`, `M`, `G` or `T` (`KiB`... and `KB`... are
/// read the same way, as powers of 1024).
pub(crate) fn parse_size(text: &str) -> Result<u64, PmemError> {
    let bad = |why: &str| PmemError::BadSize {
        size: format!("{text:?}"),
        why: why.to_string(),
    };
    let trimmed = text.trim();
    let digits_end = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (digits, suffix) = trimmed.split_at(digits_end);
    if digits.is_empty() {
        return Err(bad("expected a number of bytes, such as 64M or 1G"));
    }
    let shift = match suffix.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        "T" | "TB" | "TIB" => 40,
        _ => return Err(bad("unknown unit (use K, M, G or T)")),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(1 << shift))
        .ok_or_else(|| bad("too large"))
}

/// Refuses a size the mapping cannot have.
fn check_size(size: u64, min: u64) -> Result<(), PmemError> {
    let why = if size == 0 {
        "the file must not be empty".to_string()
    } else if size % PAGE_SIZE != 0 {
        "not a whole number of 4 KiB pages".to_string()
    } else if size < min {
        format!("smaller than the {} needed", format_size(min))
    } else if usize::try_from(size).map_or(true, |s| s > isize::MAX as usize) {
        "larger than this machine's address space".to_string()
    } else {
        return Ok(());
    };
    Err(PmemError::BadSize {
        size: format_size(size),
        why,
    })
}

/// How the file is mapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MapMode {
    /// `MAP_SHARED_VALIDATE | MAP_SYNC`: a DAX mapping; CPU flushes reach
    /// the medium.
    Sync,
    /// `MAP_SHARED`: the page cache; only msync reaches the medium.
    Shared,
}

impl MapMode {
    pub(crate) fn name(self) -> &'static str {
        match self {
            MapMode::Sync => "MAP_SYNC (DAX)",
            MapMode::Shared => "MAP_SHARED (page cache)",
        }
    }
}

/// Whether what fsync does through this mapping makes data durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Durability {
    /// Flushed and fenced data reaches the medium; how.
    Medium(&'static str),
    /// A fence-only method on a DAX mapping: durable only if the CPU caches
    /// are inside the persistence domain (eADR).
    IfEadr,
    /// Nothing the method does makes data durable; why.
    Nothing(&'static str),
}

impl Durability {
    /// What a method on a mapping of `mode` makes durable. `memory_fs`: the
    /// file is on tmpfs or ramfs, which keep it only in memory.
    pub(crate) fn of(mode: MapMode, method: FlushMethod, memory_fs: bool) -> Durability {
        match (method, mode) {
            (FlushMethod::FenceOnly, MapMode::Sync) => Durability::IfEadr,
            (FlushMethod::FenceOnly, MapMode::Shared) => Durability::Nothing(
                "a fence alone writes nothing back, and this mapping is the page cache",
            ),
            (FlushMethod::Msync, _) if memory_fs => Durability::Nothing(
                "msync on tmpfs writes nothing back, the file lives only in memory",
            ),
            (FlushMethod::Msync, _) => {
                Durability::Medium("msync writes the pages back to the file system")
            }
            (_, MapMode::Sync) => Durability::Medium(
                "cache lines written back to pmem, the block map kept durable by MAP_SYNC",
            ),
            (_, MapMode::Shared) => Durability::Nothing(
                "cache-line flushes of page-cache pages reach DRAM, not the medium; \
                 msync is still needed",
            ),
        }
    }

    /// One sentence for the report.
    pub(crate) fn describe(self) -> String {
        match self {
            Durability::Medium(how) => format!("durable ({how})"),
            Durability::IfEadr => "durable only if the CPU caches are in the persistence \
                 domain (eADR), since no cache line is written back"
                .to_string(),
            Durability::Nothing(why) => format!("nothing made durable ({why})"),
        }
    }
}

/// Whether `file` is on tmpfs or ramfs (Linux `fstatfs`); `false` when
/// that cannot be told.
fn on_memory_fs(file: &File) -> bool {
    #[cfg(target_os = "linux")]
    {
        let mut stat = core::mem::MaybeUninit::<libc::statfs>::uninit();
        // SAFETY: fstatfs writes a whole `statfs` into the buffer on
        // success and nothing else; we read it only then.
        let rc = unsafe { libc::fstatfs(file.as_raw_fd(), stat.as_mut_ptr()) };
        if rc != 0 {
            return false;
        }
        // SAFETY: fstatfs returned 0, so the buffer is initialised.
        let stat = unsafe { stat.assume_init() };
        // linux/magic.h; libc has the first, not the second.
        const RAMFS_MAGIC: i64 = 0x8584_58f6;
        // `f_type` and the constant are of different widths on other libcs.
        #[allow(clippy::unnecessary_cast)]
        let (kind, tmpfs) = (stat.f_type as i64, libc::TMPFS_MAGIC as i64);
        kind == tmpfs || kind == RAMFS_MAGIC
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = file;
        false
    }
}

/// The mapped pmem file. Unmapped when dropped.
#[derive(Debug)]
pub(crate) struct PmemFile {
    path: PathBuf,
    /// Kept open for the mapping's lifetime (not required by mmap, but it
    /// pins the inode we report on).
    _file: File,
    mapping: Mapping,
    mode: MapMode,
    /// Why `MAP_SYNC` was refused, if it was.
    map_sync_refused: Option<io::Error>,
    flusher: Flusher,
    durability: Durability,
    created: bool,
}

impl PmemFile {
    /// Opens (creating if asked) and maps the file.
    pub(crate) fn open(options: &PmemOptions) -> Result<PmemFile, PmemError> {
        let path = options.path.clone().unwrap_or_else(default_path);
        let min = options.min_size.max(PAGE_SIZE);
        if let Some(size) = options.size {
            check_size(size, min)?;
        }
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if !dir.is_dir() {
            return Err(PmemError::NoDirectory { path, dir });
        }
        if path.is_dir() {
            return Err(PmemError::NotAFile { path });
        }
        let existed = path.exists();
        let file = match OpenOptions::new()
            .read(true)
            .write(true)
            .create(options.size.is_some())
            .create_new(options.create_new && options.size.is_some())
            .open(&path)
        {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return Err(PmemError::Exists { path })
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(PmemError::Missing { path })
            }
            Err(e) if is_permission_error(&e) => {
                return Err(PmemError::NotWritable { path, source: e })
            }
            Err(source) => {
                return Err(PmemError::Io {
                    path,
                    action: "open",
                    source,
                })
            }
        };
        let created = !existed;
        PmemFile::size_and_map(file, path.clone(), options, min, created).inspect_err(|_| {
            // Leave no half-made file behind; an existing file stays.
            if created {
                let _ = std::fs::remove_file(&path);
            }
        })
    }

    /// The part of `open` after the file is open: size it, map it, choose
    /// the flush method.
    fn size_and_map(
        file: File,
        path: PathBuf,
        options: &PmemOptions,
        min: u64,
        created: bool,
    ) -> Result<PmemFile, PmemError> {
        let io_error = |action, source| PmemError::Io {
            path: path.clone(),
            action,
            source,
        };
        let meta = file.metadata().map_err(|e| io_error("stat", e))?;
        if !meta.is_file() {
            return Err(PmemError::NotAFile { path });
        }
        let len = match options.size {
            Some(size) => {
                set_size(&file, &path, size)?;
                size
            }
            None if meta.len() < min => {
                return Err(PmemError::TooSmall {
                    path,
                    len: meta.len(),
                    min,
                })
            }
            None => {
                check_size(meta.len(), min)?;
                meta.len()
            }
        };
        // `check_size` refused anything above isize::MAX.
        let (mapping, mode, map_sync_refused) =
            Mapping::new(&file, len as usize, options.try_map_sync)
                .map_err(|e| io_error("mmap", e))?;
        let flusher = Flusher::new(mode == MapMode::Sync, &options.flush).map_err(|source| {
            PmemError::Flush {
                path: path.clone(),
                mode,
                source,
            }
        })?;
        let durability = Durability::of(mode, flusher.method(), on_memory_fs(&file));
        Ok(PmemFile {
            path,
            _file: file,
            mapping,
            mode,
            map_sync_refused,
            flusher,
            durability,
            created,
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn mode(&self) -> MapMode {
        self.mode
    }

    /// Why the kernel refused `MAP_SYNC`, when it did.
    pub(crate) fn map_sync_refused(&self) -> Option<&io::Error> {
        self.map_sync_refused.as_ref()
    }

    pub(crate) fn flusher(&self) -> &Flusher {
        &self.flusher
    }

    /// What the flushes make durable.
    pub(crate) fn durability(&self) -> Durability {
        self.durability
    }

    /// Whether this open created the file.
    pub(crate) fn created(&self) -> bool {
        self.created
    }

    /// One line for the report: mapping mode, why, and flush method.
    pub(crate) fn describe(&self) -> String {
        let why = match &self.map_sync_refused {
            Some(e) => format!(", MAP_SYNC refused: {e}"),
            None => String::new(),
        };
        format!(
            "{} {} mapped {}{why}; flush: {}",
            self.path.display(),
            format_size(self.mapping.len as u64),
            self.mode.name(),
            self.flusher.name()
        )
    }

    /// The address of `range` inside the mapping, bounds-checked.
    fn at(&self, offset: u64, len: usize) -> io::Result<*mut u8> {
        let range = persist::device_range(offset, len, self.mapping.len as u64)?;
        // SAFETY: `range.start <= len`, so the result is inside the mapping
        // or one past its end.
        Ok(unsafe { self.mapping.base.as_ptr().add(range.start) })
    }
}

impl Persist for PmemFile {
    fn len(&self) -> u64 {
        self.mapping.len as u64
    }

    fn read(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let src = self.at(offset, buf.len())?;
        // SAFETY: `at` checked the range lies in the mapping, which lives as
        // long as `self`; all accesses to it are atomic.
        unsafe { persist::load_bytes(src, buf) };
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        let dst = self.at(offset, data.len())?;
        // SAFETY: as in `read`; `data` is caller memory, not the mapping
        // (no reference into the mapping is ever handed out).
        unsafe { persist::store_bytes(dst, data) };
        Ok(())
    }

    fn write_durable(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        let dst = self.at(offset, data.len())?;
        // SAFETY: as in `write`.
        unsafe { self.flusher.copy_durable(dst, data) }
    }

    fn flush(&self, offset: u64, len: u64) -> io::Result<u64> {
        let len = usize::try_from(len)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "flush length too large"))?;
        let start = self.at(offset, len)?;
        // SAFETY: `at` checked the range lies in the mapping.
        unsafe { self.flusher.flush(start, len) }
    }

    fn drain(&self) -> io::Result<()> {
        self.flusher.drain();
        Ok(())
    }

    fn flush_name(&self) -> &'static str {
        self.flusher.name()
    }
}

fn is_permission_error(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::PermissionDenied || e.raw_os_error() == Some(libc::EROFS)
}

/// Makes the file `size` bytes and reserves its blocks.
fn set_size(file: &File, path: &Path, size: u64) -> Result<(), PmemError> {
    let io_error = |action, source| PmemError::Io {
        path: path.to_path_buf(),
        action,
        source,
    };
    let no_space = |source: io::Error| PmemError::NoSpace {
        path: path.to_path_buf(),
        size,
        source,
    };
    file.set_len(size).map_err(|e| match e.raw_os_error() {
        Some(libc::ENOSPC) | Some(libc::EFBIG) => no_space(e),
        _ if is_permission_error(&e) => PmemError::NotWritable {
            path: path.to_path_buf(),
            source: e,
        },
        _ => io_error("resize", e),
    })?;
    let len = libc::off_t::try_from(size).map_err(|_| PmemError::BadSize {
        size: format_size(size),
        why: "larger than a file offset".to_string(),
    })?;
    // SAFETY: plain system call on an open descriptor.
    let rc = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len) };
    match rc {
        0 => Ok(()),
        // The file system cannot preallocate; the sparse file still works.
        libc::EOPNOTSUPP | libc::EINVAL => Ok(()),
        libc::ENOSPC | libc::EFBIG => Err(no_space(io::Error::from_raw_os_error(rc))),
        _ => Err(io_error("allocate", io::Error::from_raw_os_error(rc))),
    }
}

/// One shared mapping of the file, unmapped on drop.
#[derive(Debug)]
struct Mapping {
    base: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is owned by this value and lives until drop; every
// access through `base` goes through flush.rs's atomic loads and stores, so
// using it from several threads adds no data race.
unsafe impl Send for Mapping {}
// SAFETY: as for Send; `&Mapping` hands out no references into the memory.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Maps `len` bytes of `file`, with `MAP_SYNC` if asked and the kernel
    /// agrees. Returns the mapping, its mode, and why `MAP_SYNC` was
    /// refused.
    fn new(
        file: &File,
        len: usize,
        try_map_sync: bool,
    ) -> io::Result<(Mapping, MapMode, Option<io::Error>)> {
        let mmap = |flags| {
            // SAFETY: a new mapping at an address of the kernel's choosing;
            // it overlaps no existing Rust object.
            let addr = unsafe {
                libc::mmap(
                    core::ptr::null_mut(),
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    flags,
                    file.as_raw_fd(),
                    0,
                )
            };
            if addr == libc::MAP_FAILED {
                Err(io::Error::last_os_error())
            } else {
                NonNull::new(addr.cast::<u8>())
                    .map(|base| Mapping { base, len })
                    .ok_or_else(|| io::Error::other("mmap returned address 0"))
            }
        };
        let mut refused = None;
        if try_map_sync {
            match mmap(libc::MAP_SHARED_VALIDATE | libc::MAP_SYNC) {
                Ok(mapping) => return Ok((mapping, MapMode::Sync, None)),
                // EOPNOTSUPP: not a DAX file; EINVAL: a kernel without
                // MAP_SHARED_VALIDATE.
                Err(e) if matches!(e.raw_os_error(), Some(libc::EOPNOTSUPP | libc::EINVAL)) => {
                    refused = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        let mapping = mmap(libc::MAP_SHARED)?;
        Ok((mapping, MapMode::Shared, refused))
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `base`/`len` are the mapping `new` made, and nothing can
        // use it after drop. munmap cannot lose data (the page cache or the
        // DAX medium keeps it), and a drop has nobody to report to.
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.len) };
    }
}

/// Checks for the example's self-test and the integration tests.
pub(crate) mod checks {
    use super::*;

    /// A check: `Err` describes the first thing that went wrong.
    pub(crate) type Check = fn() -> Result<(), String>;

    /// `(name, check)` for every check in this module.
    pub(crate) const CHECKS: &[(&str, Check)] = &[
        (
            "pmem_create_write_reopen_read",
            pmem_create_write_reopen_read,
        ),
        ("pmem_mode_matches_flusher", pmem_mode_matches_flusher),
        (
            "pmem_open_errors_name_the_problem",
            pmem_open_errors_name_the_problem,
        ),
        (
            "pmem_out_of_range_is_an_error",
            pmem_out_of_range_is_an_error,
        ),
        ("pmem_parse_size", pmem_parse_size),
    ];

    macro_rules! ensure {
        ($cond:expr, $($why:tt)+) => {
            if !$cond {
                return Err(format!($($why)+));
            }
        };
    }

    /// A scratch directory, removed on drop.
    pub(crate) struct ScratchDir(pub(crate) PathBuf);

    impl ScratchDir {
        pub(crate) fn new(tag: &str) -> Result<ScratchDir, String> {
            use core::sync::atomic::{AtomicU32, Ordering};
            static NEXT: AtomicU32 = AtomicU32::new(0);
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let dir =
                std::env::temp_dir().join(format!("xradix-dax-{tag}-{}-{n}", std::process::id()));
            std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            Ok(ScratchDir(dir))
        }
    }

    impl Drop for ScratchDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn options(path: PathBuf, size: Option<u64>) -> PmemOptions {
        PmemOptions {
            path: Some(path),
            size,
            ..PmemOptions::default()
        }
    }

    /// Bytes written (plain and durable copies), flushed and drained are
    /// there after unmapping and mapping again.
    pub(crate) fn pmem_create_write_reopen_read() -> Result<(), String> {
        let dir = ScratchDir::new("reopen")?;
        let path = dir.0.join("file.pmem");
        let size = 1 << 20;
        let pattern: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
        {
            let pmem =
                PmemFile::open(&options(path.clone(), Some(size))).map_err(|e| e.to_string())?;
            ensure!(pmem.created(), "a new file must report created");
            ensure!(
                pmem.path() == path,
                "path {} want {}",
                pmem.path().display(),
                path.display()
            );
            ensure!(pmem.len() == size, "length {} want {size}", pmem.len());
            pmem.write(3, &pattern).map_err(|e| e.to_string())?;
            pmem.flush(3, pattern.len() as u64)
                .map_err(|e| e.to_string())?;
            pmem.write_durable(size - 5000, &pattern)
                .map_err(|e| e.to_string())?;
            pmem.drain().map_err(|e| e.to_string())?;
        }
        let pmem = PmemFile::open(&options(path, None)).map_err(|e| e.to_string())?;
        ensure!(!pmem.created(), "an existing file must not report created");
        ensure!(pmem.len() == size, "reopened length {}", pmem.len());
        let mut back = vec![0u8; pattern.len()];
        for offset in [3, size - 5000] {
            pmem.read(offset, &mut back).map_err(|e| e.to_string())?;
            ensure!(back == pattern, "data at {offset} differs after reopening");
        }
        let mut zeros = vec![1u8; 100];
        pmem.read(6000, &mut zeros).map_err(|e| e.to_string())?;
        ensure!(
            zeros.iter().all(|&b| b == 0),
            "unwritten bytes must read as zero"
        );
        Ok(())
    }

    /// MAP_SYNC goes with a CPU flush, MAP_SHARED with msync and a reason.
    pub(crate) fn pmem_mode_matches_flusher() -> Result<(), String> {
        let dir = ScratchDir::new("mode")?;
        for try_map_sync in [true, false] {
            let opts = PmemOptions {
                try_map_sync,
                ..options(dir.0.join("mode.pmem"), Some(64 << 10))
            };
            let pmem = PmemFile::open(&opts).map_err(|e| e.to_string())?;
            let method = pmem.flusher().method();
            match pmem.mode() {
                MapMode::Sync => ensure!(
                    try_map_sync
                        && pmem.map_sync_refused().is_none()
                        && method != flush::FlushMethod::Msync,
                    "MAP_SYNC mapping with {method:?}"
                ),
                MapMode::Shared => ensure!(
                    method == flush::FlushMethod::Msync
                        && pmem.map_sync_refused().is_some() == try_map_sync,
                    "MAP_SHARED mapping with {method:?}, refusal {:?}",
                    pmem.map_sync_refused()
                ),
            }
            ensure!(
                pmem.describe().contains(pmem.flush_name()),
                "{}",
                pmem.describe()
            );
        }
        Ok(())
    }

    /// Each bad input gets its own error, naming the path or size.
    pub(crate) fn pmem_open_errors_name_the_problem() -> Result<(), String> {
        let dir = ScratchDir::new("errors")?;
        let expect =
            |opts: PmemOptions, want: &str, ok: fn(&PmemError) -> bool| match PmemFile::open(&opts)
            {
                Ok(_) => Err(format!("{want}: opened {:?}", opts.path)),
                Err(e) if ok(&e) => Ok(e.to_string()),
                Err(e) => Err(format!("{want}: got {e:?}")),
            };
        let missing_dir = dir.0.join("no/such/dir/file.pmem");
        let msg = expect(
            options(missing_dir, Some(1 << 20)),
            "missing directory",
            |e| matches!(e, PmemError::NoDirectory { .. }),
        )?;
        ensure!(
            msg.contains("no/such/dir"),
            "message must name the directory: {msg}"
        );

        let msg = expect(options(dir.0.join("absent"), None), "missing file", |e| {
            matches!(e, PmemError::Missing { .. })
        })?;
        ensure!(msg.contains("absent"), "{msg}");

        let msg = expect(
            options(dir.0.clone(), Some(1 << 20)),
            "directory as file",
            |e| matches!(e, PmemError::NotAFile { .. }),
        )?;
        ensure!(msg.contains(&*dir.0.to_string_lossy()), "{msg}");

        for (size, hint) in [(0, "empty"), (5000, "4 KiB"), (1 << 63, "address space")] {
            let msg = expect(options(dir.0.join("sized"), Some(size)), "bad size", |e| {
                matches!(e, PmemError::BadSize { .. })
            })?;
            ensure!(msg.contains(hint), "size {size}: {msg}");
        }
        let below_min = PmemOptions {
            min_size: 4 << 20,
            ..options(dir.0.join("sized"), Some(1 << 20))
        };
        expect(below_min, "size below minimum", |e| {
            matches!(e, PmemError::BadSize { .. })
        })?;
        ensure!(
            !dir.0.join("sized").exists(),
            "a refused size must not create the file"
        );

        let small = dir.0.join("small");
        std::fs::write(&small, [0u8; 8192]).map_err(|e| e.to_string())?;
        let too_small = PmemOptions {
            min_size: 1 << 20,
            ..options(small, None)
        };
        let msg = expect(too_small, "file too small", |e| {
            matches!(e, PmemError::TooSmall { .. })
        })?;
        ensure!(
            msg.contains("small") && msg.contains("8 KiB") && msg.contains("1 MiB"),
            "{msg}"
        );

        // Read-only even for root: sysctl files without a write bit.
        let read_only = PathBuf::from("/proc/sys/kernel/osrelease");
        if read_only.exists() {
            let msg = expect(options(read_only, None), "unwritable file", |e| {
                matches!(e, PmemError::NotWritable { .. })
            })?;
            ensure!(msg.contains("osrelease"), "{msg}");
        }
        Ok(())
    }

    /// Reads, writes and flushes past the end fail instead of faulting.
    pub(crate) fn pmem_out_of_range_is_an_error() -> Result<(), String> {
        let dir = ScratchDir::new("range")?;
        let size = 64 << 10;
        let pmem =
            PmemFile::open(&options(dir.0.join("f"), Some(size))).map_err(|e| e.to_string())?;
        let mut buf = [0u8; 16];
        ensure!(pmem.read(size - 8, &mut buf).is_err(), "read past the end");
        ensure!(pmem.write(size, &buf).is_err(), "write past the end");
        ensure!(
            pmem.write_durable(u64::MAX, &buf).is_err(),
            "durable write at u64::MAX"
        );
        ensure!(pmem.flush(size - 1, 2).is_err(), "flush past the end");
        ensure!(pmem.flush(0, u64::MAX).is_err(), "huge flush");
        pmem.flush(size - 1, 1)
            .map_err(|e| format!("flush of the last byte: {e}"))?;
        Ok(())
    }

    /// Size parsing: units, spaces, and the errors.
    pub(crate) fn pmem_parse_size() -> Result<(), String> {
        let good = [
            ("4096", 4096),
            ("64K", 64 << 10),
            ("64KiB", 64 << 10),
            (" 256m ", 256 << 20),
            ("1G", 1 << 30),
            ("2 GB", 2 << 30),
            ("1T", 1 << 40),
        ];
        for (text, want) in good {
            let got = parse_size(text).map_err(|e| e.to_string())?;
            ensure!(got == want, "{text:?} → {got}, want {want}");
        }
        for text in [
            "",
            "M",
            "12Q",
            "-5",
            "1.5G",
            "99999999999999999999",
            "16777216T",
        ] {
            ensure!(
                matches!(parse_size(text), Err(PmemError::BadSize { .. })),
                "{text:?} must be a bad size"
            );
        }
        ensure!(format_size(2 << 20) == "2 MiB", "{}", format_size(2 << 20));
        ensure!(format_size(4097) == "4097 bytes", "{}", format_size(4097));
        Ok(())
    }
}
