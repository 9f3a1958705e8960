//! The checkpoint image: plain data, and its encoding on disk.
//!
//! An image is three files in the image directory:
//! - [`STATE_FILE`]: a header (magic, format version, Husk's version, the
//!   body's length and CRC-32), then the body, [`Image`] encoded with
//!   bincode;
//! - [`PAGES_FILE`]: the memory file's pages at their own offsets, holes
//!   left as holes, so that its size on disk is what the sandbox used;
//! - [`DISK_FILE`]: the data of an overlay's files on disk (empty
//!   without one), each file's runs of data one after another.
//!
//! Nothing in here refers to live objects: shared objects (an address
//! space, an fd table, an open file) appear once, in a list, and are
//! referred to by their index in it.

use serde::{Deserialize, Serialize};

/// The state file's name in the image directory.
pub const STATE_FILE: &str = "husk-state.img";
/// The memory file's pages.
pub const PAGES_FILE: &str = "husk-pages.img";
/// The data of the files of an overlay on disk, which a restore copies
/// into its own overlay's disk store ([`crate::vfs::diskstore::DiskCopy`]
/// says where each file's is).
pub const DISK_FILE: &str = "husk-disk.img";

/// The state file's first bytes.
const MAGIC: &[u8; 8] = b"HUSKCKPT";
/// Bumped whenever [`Image`] changes shape: an image of another format is
/// refused, never misread.
pub const FORMAT_VERSION: u32 = 23;
/// The Husk that wrote the image. Restore refuses another's: the kernel
/// objects' meaning may differ between versions even where their shape
/// does not.
pub const HUSK_VERSION: &str = env!("CARGO_PKG_VERSION");
/// The largest state body restore reads (the pages are in their own file).
pub const MAX_STATE: u64 = 256 << 20;

/// Why an image cannot be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ImageError {
    /// Not a Husk checkpoint at all.
    #[error("not a Husk checkpoint image (bad magic)")]
    Foreign,
    /// Shorter than its header says.
    #[error("the image is truncated ({have} of {want} bytes)")]
    Truncated {
        /// Bytes present.
        have: u64,
        /// Bytes the header promises.
        want: u64,
    },
    /// Another format or another Husk.
    #[error(
        "the image was written by Husk {husk} (format {format}); this is Husk {HUSK_VERSION} (format {FORMAT_VERSION})"
    )]
    Version {
        /// The writer's format version.
        format: u32,
        /// The writer's Husk version.
        husk: String,
    },
    /// The body does not match its checksum.
    #[error("the image is corrupt (checksum mismatch)")]
    Checksum,
    /// The body does not decode, or is beyond the bounds restore accepts.
    #[error("the image is corrupt ({0})")]
    Malformed(String),
}

/// The whole sandbox, as restore needs it.
#[derive(Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Image {
    /// The memory file's allocator and the extents of [`PAGES_FILE`].
    pub memory: MemoryImage,
    /// hostname and domainname.
    pub uts: (Vec<u8>, Vec<u8>),
    /// The pid allocator's last id.
    pub last_pid: i32,
    /// Address spaces.
    pub mms: Vec<MmImage>,
    /// Open file descriptions.
    pub files: Vec<FileImage>,
    /// Pipes (anonymous or named), by the files' `Pipe` entries.
    pub pipes: Vec<PipeImage>,
    /// fd tables: (fd, file index, close-on-exec).
    pub fd_tables: Vec<Vec<(i32, usize, bool)>>,
    /// Root, working directory and umask, shared by CLONE_FS threads.
    pub fs_contexts: Vec<FsImage>,
    /// Every process, live or zombie, by pid.
    pub processes: Vec<ProcessImage>,
    /// The tmpfs mounts' contents.
    pub tmpfs: Vec<TmpfsImage>,
    /// Every mount, in mount order: those made at boot with their flags as
    /// they are now, then those the app made.
    pub mounts: Vec<MountImage>,
    /// Unnamed Unix sockets, each with its peer's index.
    pub unix: Vec<(crate::vfs::unix::EndpointState, Option<usize>)>,
    /// Terminals: the console, and pseudo-terminal pairs.
    pub ttys: Vec<TtyImage>,
    /// Advisory locks held (flock, fcntl and OFD record locks).
    pub locks: Vec<FileLocksImage>,
    /// System V shared memory, semaphores and message queues.
    pub sysv: crate::kernel::ipc::snapshot::SysvSnapshot,
    /// POSIX message queues: those with names, and those only open files
    /// hold.
    /// Each with the IPC namespace whose names it is in (an index in
    /// [`NamespacesImage::ipc`]; None: the sandbox's first).
    pub mqueues: Vec<(Option<usize>, crate::kernel::ipc::mqueue::MqSnapshot)>,
    /// File leases, each on an open file by its index.
    pub leases: Vec<crate::kernel::lease::LeaseSnapshot>,
    /// F_NOTIFY on directories, each through an open file by its index.
    pub dnotify: Vec<crate::vfs::inotify::DirNotifySnapshot>,
    /// Linux AIO contexts.
    pub aio: Vec<crate::kernel::aio::AioSnapshot>,
    /// The namespaces processes made (processes name them by index).
    pub namespaces: NamespacesImage,
    /// The sysctls the app may write that nothing above holds.
    pub sysctls: SysctlsImage,
    /// Keys and keyrings.
    pub keys: KeysImage,
    /// File handles (name_to_handle_at): each file's path, inode number
    /// and generation, oldest first; and the last generation given.
    pub handles: (Vec<HandleImage>, u32),
    /// The caches of host files mapped shared (a volume's), each with its
    /// pages, written back to the host file before it was named.
    pub host_caches: Vec<HostCacheImage>,
    /// Directories removed while open or a working directory: each comes
    /// back empty, removed, at its old path.
    pub gone_dirs: Vec<GoneDirImage>,
}

/// A directory removed while open or a working directory.
#[derive(Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct GoneDirImage {
    /// Where it was.
    pub path: Vec<u8>,
    /// Permission bits, owner and group.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// A host file's cache ([`crate::vfs::hostcache`]).
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct HostCacheImage {
    /// The file, as restore finds it again (unused with `disk`).
    pub file: NamedFile,
    /// A file of an overlay on disk: its inode, (filesystem, inode) as
    /// [`BackingImage::MemFile`] names it.
    pub disk: Option<(usize, usize)>,
    /// The cache's size.
    pub size: u64,
    /// Each page index held and its memory-file page.
    pub pages: Vec<(u64, u64)>,
    /// Whether writeback goes on (the file is opened for writing again).
    pub writer: bool,
}

/// A file handle's entry: its file by path, and what the handle says.
#[derive(Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct HandleImage {
    pub path: Vec<u8>,
    pub ino: u64,
    pub gen: u32,
}

/// The key table, and the holds on keyrings that processes and threads
/// have (their process, session and thread keyrings), which they name by
/// index: a hold two share (a session keyring fork passed on) is shared
/// again.
#[derive(Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct KeysImage {
    pub table: crate::kernel::keys::KeysSnapshot,
    /// Each hold's key serial.
    pub holds: Vec<i32>,
}

/// The writable sysctls kept outside any other object of the image.
#[derive(Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct SysctlsImage {
    /// fs/lease-break-time, in seconds.
    pub lease_break_time: i64,
    /// vm/max_map_count.
    pub max_map_count: u64,
    /// kernel/keys/: maxkeys, maxbytes, root_maxkeys, root_maxbytes,
    /// gc_delay and persistent_keyring_expiry.
    pub keys: [i64; 6],
}

/// The namespaces made inside the sandbox, and their bounds.
#[derive(Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct NamespacesImage {
    /// Time namespaces: inode number, offsets, and whether a process has
    /// entered (its offsets are fixed).
    pub time: Vec<(u64, crate::kernel::ns::TimeOffsets, bool)>,
    /// UTS namespaces: inode number, host name, domain name.
    pub uts: Vec<(u64, Vec<u8>, Vec<u8>)>,
    /// /proc/sys/user/max_{time,uts}_namespaces.
    pub max: (u64, u64),
    /// IPC namespaces: inode number and System V objects (their POSIX
    /// message queues are among [`Image::mqueues`], their segments' pages
    /// the memory filesystem at [`crate::checkpoint::memfs::sysv_shm_point`]).
    pub ipc: Vec<(u64, crate::kernel::ipc::snapshot::SysvSnapshot)>,
    /// /proc/sys/user/max_ipc_namespaces.
    pub max_ipc: u64,
}

/// A process's namespaces, by index in [`NamespacesImage`] (None: the
/// sandbox's first).
#[derive(Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct NsSetImage {
    pub uts: Option<usize>,
    pub time: Option<usize>,
    pub time_for_children: Option<usize>,
    pub ipc: Option<usize>,
}

/// One file's advisory locks. The file is named by an open file of the
/// image on it (its key is that file's after the restore), and a lock's
/// open file description by its index.
#[derive(Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileLocksImage {
    /// An open file (index) of the locked file.
    pub file: usize,
    /// flock locks: (the owning file's index, exclusive).
    pub flocks: Vec<(usize, bool)>,
    /// Record locks.
    pub records: Vec<RecordLockImage>,
}

/// A byte-range lock: `end` exclusive, `u64::MAX` to the end of the file.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RecordLockImage {
    /// A process's (F_SETLK) by pid, or else an open file description's
    /// (F_OFD_SETLK) by file index.
    pub owner: LockOwnerImage,
    pub write: bool,
    pub start: u64,
    pub end: u64,
}

/// Who holds a record lock.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum LockOwnerImage {
    Process(i32),
    File(usize),
}

/// A terminal: a host terminal (the console's, which a restore's new one
/// replaces) or a pseudo-terminal pair of the sandbox's, which may be the
/// console's, bridged to the host terminal.
#[derive(Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct TtyImage {
    /// The terminal's own state (its session, its termios...).
    pub tty: crate::kernel::tty::TtySnapshot,
    /// The pair, for a pty (none: a host terminal, the console's).
    pub pty: Option<crate::kernel::pty::PtySnapshot>,
    /// The pair is the console's, bridged to the host terminal, which the
    /// restore's terminal replaces.
    pub console: bool,
}

/// A mount, as /proc/mounts shows it and as it was made.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct MountImage {
    /// Its record: place, flags, options, how it was made.
    pub record: crate::vfs::mount::MountRecord,
    /// A bind mount's source, as a path in the sandbox.
    pub bind_source: Vec<u8>,
}

/// One tmpfs mount's files, or what an overlay's upper layer holds.
#[derive(Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct TmpfsImage {
    /// Its mount point.
    pub point: Vec<u8>,
    /// For a tmpfs the app mounted: its mount, by index in
    /// [`Image::mounts`] (filled right after that mount is made again).
    pub mount: Option<usize>,
    /// An overlay's upper layer (the root's copy first), not a tmpfs.
    pub overlay: bool,
    /// Its inodes, the root's first.
    pub inodes: Vec<InodeImage>,
    /// Its names, each after its directory's.
    pub entries: Vec<TmpfsEntry>,
    /// Inodes no name leads to any more (unlinked, or O_TMPFILE) that open
    /// files or mappings still hold.
    pub unlinked: Vec<usize>,
}

/// A name in a tmpfs or an overlay.
#[derive(Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct TmpfsEntry {
    /// The entry of its directory (`u32::MAX`: the root).
    pub parent: u32,
    /// The name.
    pub name: Vec<u8>,
    /// Its inode, by index (none for a whiteout).
    pub inode: usize,
    /// What the name is.
    pub kind: EntryKind,
}

/// What a name of a tmpfs or an overlay is.
#[derive(Debug, Default, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum EntryKind {
    /// A file of the sandbox's own (every name of a tmpfs; in an overlay,
    /// a file made or changed there, which the lower file no longer shows
    /// through).
    #[default]
    Own,
    /// An overlay's lower directory of this name, copied up: its lower
    /// names show through where the directory's own do not say otherwise.
    CopiedDir,
    /// An overlay's whiteout: the lower file of this name is gone.
    Whiteout,
}

/// A tmpfs inode (the tmpfs's own record of what a checkpoint keeps).
pub use crate::vfs::tmpfs::InodeState as InodeImage;

/// The memory file: its allocator as it was, and where data is.
#[derive(Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct MemoryImage {
    /// Free runs below the tail: (offset, length).
    pub free: Vec<(u64, u64)>,
    /// Where never-allocated space starts.
    pub tail: u64,
    /// Runs with more than one owner: (start, end, owners).
    pub shared: Vec<(u64, u64, u32)>,
    /// The runs of the memory file that hold data: (offset, length).
    pub extents: Vec<(u64, u64)>,
    /// The pages of the checkpointed Sentry's vDSO, which the restored
    /// one replaces with its own: (offset, length) each.
    pub vdso: Vec<(u64, u64)>,
    /// CRC-32 of each block of the memory file with data (its data, in
    /// order; [`crate::mm::lazy::LOAD_BLOCK`] bytes a block), in order: a
    /// restore checks each block as it loads it.
    pub crcs: Vec<u32>,
    /// Where each of those blocks is in [`PAGES_FILE`].
    pub blocks: Vec<crate::mm::lazy::StoredBlock>,
}

/// An address space.
#[derive(Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct MmImage {
    /// The mappings, by start address.
    pub vmas: Vec<VmaImage>,
    /// The program break's base and current end.
    pub brk: (u64, u64),
    /// Where mmap's top-down search starts.
    pub mmap_top: u64,
    /// mlockall(MCL_FUTURE): Some(populate).
    pub lock_future: Option<bool>,
    /// membarrier's registrations (Linux's MEMBARRIER_STATE_* bits).
    pub membarrier: u32,
}

/// One mapping.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct VmaImage {
    /// First address.
    pub start: u64,
    /// One past the last.
    pub end: u64,
    /// PROT_* bits.
    pub prot: u32,
    /// MAP_SHARED.
    pub shared: bool,
    /// Copy-on-write after a fork.
    pub cow: bool,
    /// VM_MAYWRITE.
    pub may_write: bool,
    /// VM_MAYEXEC.
    pub may_exec: bool,
    /// Memory-file offset of the first byte.
    pub mem_off: u64,
    /// What fills it.
    pub backing: BackingImage,
    /// mlock'ed.
    pub locked: bool,
    /// mseal'ed.
    pub sealed: bool,
    /// MAP_GROWSDOWN.
    pub grows_down: bool,
}

/// What a mapping is backed by.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum BackingImage {
    /// Anonymous memory.
    Anon,
    /// A private copy of a file served by the Gofer, reopened by path.
    File {
        /// The file, as restore finds it again.
        file: NamedFile,
        /// File offset of the first byte.
        offset: u64,
    },
    /// The vDSO's data page (`vvar`) or its image.
    Vdso {
        /// The image (true) or the data page.
        image: bool,
        /// Offset within the part.
        offset: u64,
    },
    /// Past a shared file mapping's end.
    PastEof,
    /// A file of a tmpfs or an overlay's upper layer (shared: its very
    /// pages; private: a copy, refilled from it).
    MemFile {
        /// The filesystem, by index in [`Image::tmpfs`].
        fs: usize,
        /// The inode, by index in its image.
        inode: usize,
        /// File offset of the first byte.
        offset: u64,
    },
    /// A System V shared-memory segment, by its table index.
    SysvShm {
        /// The segment's IPC namespace (an index in [`NamespacesImage::ipc`];
        /// None: the sandbox's first).
        ns: Option<usize>,
        index: i32,
        offset: u64,
    },
    /// A host file's cache (shared: its very pages; private: a copy,
    /// refilled from it), by index in [`Image::host_caches`].
    HostCache { cache: usize, offset: u64 },
}

/// A file restore opens again by its path, and checks as unchanged.
#[derive(Debug, Default, Serialize, Deserialize, PartialEq, Eq, Clone)]
pub struct NamedFile {
    /// Its absolute path in the sandbox.
    pub path: Vec<u8>,
    /// Its size and modification time (seconds, nanoseconds) then.
    pub size: u64,
    /// mtime.
    pub mtime: (i64, i64),
}

/// An open file description.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileImage {
    /// Status flags (O_APPEND, O_NONBLOCK, the access mode, O_PATH...).
    pub flags: u32,
    /// The position.
    pub offset: u64,
    /// What it is.
    pub kind: FileKind,
    /// F_SETOWN, F_SETSIG and O_ASYNC, if any was set.
    pub owner: Option<crate::kernel::fasync::OwnerState>,
}

/// The kinds of open file a checkpoint covers.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum FileKind {
    /// A file with a name, opened again by it: a regular file, a directory,
    /// a device node, a file of the Sentry's own filesystems.
    Named(NamedFile),
    /// One of the sandbox's stdio fds as the runtime gave them (0, 1, 2):
    /// restore gives the new sandbox's.
    Stdio(u8),
    /// The read end of pipe N.
    PipeRead(usize),
    /// The write end of pipe N.
    PipeWrite(usize),
    /// A pidfd of a process already reaped: it stays readable and hung up,
    /// and names no process.
    ReapedPidFd { pid: i32 },
    /// POSIX message queue N of [`Image::mqueues`].
    MQueue(usize),
    /// A directory removed while open: entry N of [`Image::gone_dirs`].
    GoneDir(usize),
    /// An O_PATH file of a removed node that is neither a regular file nor
    /// a directory (a named pipe, a socket file, a device node, a
    /// symlink): where it was, its type and permission bits, owner and
    /// group, device number and a symlink's target.
    GoneNode { path: Vec<u8>, mode: u32, owner: (u32, u32), rdev: u64, target: Vec<u8> },
    /// A namespace file (a /proc/PID/ns link opened): its kind's name, and
    /// the namespace by index in [`NamespacesImage`]'s list of its kind
    /// (None: the sandbox's first).
    Namespace { kind: String, index: Option<usize> },
    /// A named pipe (FIFO) open on `file`, whose pipe is pipe N: its ends
    /// as the access mode says (O_RDWR: both).
    Fifo { pipe: usize, file: NamedFile },
    /// A named pipe open after its name was removed: pipe N, where it
    /// was, and its permission bits, owner and group.
    GoneFifo { pipe: usize, path: Vec<u8>, mode: u32, owner: (u32, u32) },
    /// An eventfd.
    EventFd {
        /// Its counter.
        count: u64,
        /// EFD_SEMAPHORE.
        semaphore: bool,
    },
    /// A timerfd.
    TimerFd {
        /// Its clock.
        clock: u32,
        /// Time to its next expiry (0: not armed).
        left_ns: u64,
        /// Its interval.
        interval_ns: u64,
        /// Expirations not yet read.
        ticks: u64,
    },
    /// A signalfd of process `pid`'s signals in `mask`.
    SignalFd {
        /// The signals.
        mask: u64,
        /// The process.
        pid: i32,
    },
    /// An epoll set: (file, the fd it was added with, events, data, a
    /// one-shot entry that fired) for each entry.
    Epoll(Vec<(usize, i32, u32, u64, bool)>),
    /// Unix socket N of [`Image::unix`].
    Unix(usize),
    /// A pidfd of process `pid`, still in the process table (running or a
    /// zombie).
    PidFd { pid: i32 },
    /// An inotify instance: its watches (descriptor, the watched file by
    /// its path, the events watched for) and the events not yet read
    /// (descriptor, mask, cookie, name).
    Inotify { next_wd: i32, watches: Vec<(i32, NamedFile, u32)>, events: Vec<(i32, u32, u32, Vec<u8>)> },
    /// A file of a tmpfs or an overlay that no name leads to any more
    /// (unlinked while open, or made with O_TMPFILE): inode `inode` of
    /// [`Image::tmpfs`] entry `fs`, which was at `path`.
    Unlinked {
        fs: usize,
        inode: usize,
        path: Vec<u8>,
        /// An O_TMPFILE file that linkat may still give a name.
        linkable: bool,
    },
    /// A memfd: inode `inode` of [`Image::tmpfs`] entry `fs` (the memfds'
    /// filesystem), as /proc shows it (`/memfd:NAME (deleted)`), with its
    /// seals (shared by every open of the one inode).
    MemFd { fs: usize, inode: usize, link: Vec<u8>, seals: u32 },
    /// A file of terminal N of [`Image::ttys`] (the console, or a pty's
    /// replica), opened by `path` (if by a path) when the terminal's hangup
    /// count was `hangups`.
    Terminal {
        /// The terminal.
        tty: usize,
        /// The node it was opened by (/dev/console, /dev/tty, /dev/pts/N).
        path: Option<Vec<u8>>,
        /// The hangup count at its open.
        hangups: u64,
    },
    /// The master of pty N of [`Image::ttys`], opened by the ptmx node
    /// `path`.
    PtyMaster {
        /// The pair.
        tty: usize,
        /// The ptmx node.
        path: Vec<u8>,
    },
}

/// A pipe and what it holds.
#[derive(Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct PipeImage {
    /// The bytes written and not yet read.
    pub data: Vec<u8>,
    /// Its capacity (F_SETPIPE_SZ).
    pub capacity: u64,
}

/// Root, working directory, umask.
#[derive(Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct FsImage {
    /// The root's path.
    pub root: Vec<u8>,
    /// The working directory's path.
    pub cwd: Vec<u8>,
    /// A working directory removed since it was entered: its index in
    /// [`Image::gone_dirs`] (`cwd` is where it was).
    pub cwd_gone: Option<usize>,
    /// The file-creation mask.
    pub umask: u32,
}

/// A process (thread group) and its place in the tree.
#[derive(Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ProcessImage {
    /// Its pid.
    pub pid: i32,
    /// Its process and session keyrings (holds of [`KeysImage`]).
    pub keyrings: (Option<usize>, Option<usize>),
    /// Its parent's pid (0: none in the sandbox).
    pub parent: i32,
    /// Its children's pids.
    pub children: Vec<i32>,
    /// Process group and session.
    pub pgid: i32,
    /// Session.
    pub sid: i32,
    /// Running (None), stopped by this signal (and whether the parent
    /// heard), or a zombie with this status.
    pub state: ProcStateImage,
    /// It was continued and its parent has not heard yet.
    pub continued: bool,
    /// The signal its parent gets when it ends.
    pub exit_signal: u32,
    /// It has called execve.
    pub did_exec: bool,
    /// Signal actions: (handler, flags, restorer, mask) per signal.
    pub actions: Vec<(u64, u64, u64, u64)>,
    /// Process-directed pending signals (siginfo each).
    pub pending: Vec<Vec<u8>>,
    /// Credentials.
    pub creds: CredsImage,
    /// Resource limits (soft, hard).
    pub rlimits: Vec<(u64, u64)>,
    /// PR_SET_PDEATHSIG.
    pub pdeathsig: u32,
    /// PR_SET_CHILD_SUBREAPER and PR_SET_THP_DISABLE.
    pub subreaper_thp: (bool, bool),
    /// The nice value.
    pub nice: i32,
    /// oom_score_adj and its floor.
    pub oom_score_adj: (i32, i32),
    /// The group's stop state is in force (SIGSTOP'd).
    pub stopped: bool,
    /// Its controlling terminal, by index in [`Image::ttys`].
    pub ctty: Option<usize>,
    /// Its threads (none for a zombie).
    pub threads: Vec<ThreadImage>,
    /// ITIMER_REAL (and alarm): (ns left, interval ns), if armed.
    pub itimer_real: Option<(u64, u64)>,
    /// ITIMER_VIRTUAL and ITIMER_PROF: (ns of CPU time left, interval
    /// ns), if armed.
    pub itimer_cpu: [Option<(u64, u64)>; 2],
    /// Its POSIX timers, and the next id timer_create tries.
    pub posix_timers: (Vec<PosixTimerImage>, i32),
    /// /proc/PID/exe's path, argv and the environment as execve got them.
    pub exe: Option<Vec<u8>>,
    /// argv, each NUL-terminated.
    pub cmdline: Vec<u8>,
    /// envp, each NUL-terminated.
    pub environ: Vec<u8>,
    /// Its namespaces.
    pub ns: NsSetImage,
}

/// A POSIX timer on a wall clock.
#[derive(Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct PosixTimerImage {
    /// Its id.
    pub id: i32,
    /// Its clock.
    pub clock: u32,
    /// Whom it tells: 0 none, 1 the process, 2 thread `tid`.
    pub notify: (u8, i32),
    /// The signal and `sigev_value`.
    pub signo: u32,
    /// `sigev_value`.
    pub value: u64,
    /// Time left and interval, in nanoseconds (0 left: disarmed).
    pub when: (u64, u64),
    /// On a process's CPU-time clock: (pid, user time only); None on a
    /// wall clock.
    pub cpu: Option<(i32, bool)>,
    /// On a thread's CPU-time clock: the thread (0: it has exited, and
    /// the timer never fires).
    pub thread_cpu: Option<i32>,
}

/// A process's state in the tree.
#[derive(Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub enum ProcStateImage {
    /// Running.
    #[default]
    Running,
    /// Stopped by `sig`; `reported` once its parent heard.
    Stopped {
        /// The stop signal.
        sig: u32,
        /// wait has reported it.
        reported: bool,
    },
    /// A zombie with its wait status (exit code, or signal and core).
    Zombie(ExitImage),
}

/// How a process ended.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq, Clone, Copy)]
pub enum ExitImage {
    /// exit(N).
    Exited(u8),
    /// Killed by a signal.
    Signaled(u32),
    /// Killed by a signal, with a core.
    Dumped(u32),
}

impl From<crate::kernel::ExitStatus> for ExitImage {
    fn from(s: crate::kernel::ExitStatus) -> ExitImage {
        use crate::kernel::ExitStatus::*;
        match s {
            Exited(c) => ExitImage::Exited(c),
            Signaled(s) => ExitImage::Signaled(s),
            Dumped(s) => ExitImage::Dumped(s),
        }
    }
}

impl From<ExitImage> for crate::kernel::ExitStatus {
    fn from(e: ExitImage) -> crate::kernel::ExitStatus {
        use crate::kernel::ExitStatus::*;
        match e {
            ExitImage::Exited(c) => Exited(c),
            ExitImage::Signaled(s) => Signaled(s),
            ExitImage::Dumped(s) => Dumped(s),
        }
    }
}

/// Credentials.
#[derive(Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct CredsImage {
    /// uid, euid, suid, fsuid.
    pub uids: [u32; 4],
    /// gid, egid, sgid, fsgid.
    pub gids: [u32; 4],
    /// Supplementary groups.
    pub groups: Vec<u32>,
    /// effective, permitted, inheritable, bounding, ambient.
    pub caps: [u64; 5],
    /// securebits.
    pub securebits: u32,
}

/// One thread: everything the Sentry holds of it while it is frozen.
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ThreadImage {
    /// Its tid.
    pub tid: i32,
    /// Its thread keyring (a hold of [`KeysImage`]), and request_key's
    /// default keyring (KEYCTL_SET_REQKEY_KEYRING).
    pub keyring: Option<usize>,
    pub reqkey_default: i32,
    /// The general registers, in the platform's `Regs` order.
    pub regs: Vec<u64>,
    /// The FPU state (the XSAVE area), if the platform gave one.
    pub fp: Option<Vec<u8>>,
    /// Its last switch stopped at a syscall whose result has not been
    /// through signal delivery (which restarts it or not) yet.
    pub in_syscall: bool,
    /// Blocked signals.
    pub sigmask: u64,
    /// The mask sigsuspend-like calls restore.
    pub saved_mask: Option<u64>,
    /// Thread-directed pending signals.
    pub pending: Vec<Vec<u8>>,
    /// sigaltstack: (sp, size, flags).
    pub altstack: (u64, u64, u32),
    /// What restart_syscall resumes.
    pub restart: Option<RestartImage>,
    /// set_tid_address.
    pub clear_child_tid: u64,
    /// set_robust_list: (head, length).
    pub robust_list: (u64, u64),
    /// PR_SET_NAME.
    pub comm: Vec<u8>,
    /// PR_SET_DUMPABLE.
    pub dumpable: bool,
    /// personality(2).
    pub personality: u32,
    /// sched_setaffinity's mask.
    pub affinity: Option<Vec<u8>>,
    /// PR_SET_NO_NEW_PRIVS.
    pub no_new_privs: bool,
    /// seccomp's mode and filters.
    pub seccomp: crate::kernel::seccomp::ModeImage,
    /// The scheduling policy and priority as recorded.
    pub sched: u64,
    /// PR_SET_TIMERSLACK's value and the default it goes back to.
    pub timer_slack: (u64, u64),
    /// SCHED_DEADLINE's parameters.
    pub deadline: crate::kernel::task::DeadlineParams,
    /// ioprio_set's value.
    pub ioprio: u32,
    /// Its last fault's trap number and error code (arm64: the ESR).
    pub trap: (u64, u64),
    /// Indexes of its address space, fd table and filesystem context.
    pub mm: usize,
    /// fd table index.
    pub fds: usize,
    /// Filesystem context index.
    pub fs: usize,
    /// Its ptrace link, as tracee and as tracer (None: it has none).
    pub ptrace: Option<PtraceImage>,
    /// A vfork parent's child, which it waits for to exec or exit.
    pub vfork_parent_of: Option<i32>,
    /// A vfork child that has not exec'd or exited yet: its parent waits.
    pub vfork_child: bool,
}

/// A thread's ptrace link ([`crate::kernel::ptrace::TraceeState`]).
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PtraceImage {
    /// The tracing thread and its process (0: none).
    pub tracer: (i32, i32),
    /// PTRACE_SEIZE'd, and the PTRACE_O_* options.
    pub seized: bool,
    pub options: u32,
    /// The stop it is in: its wait status and whether a wait reported it,
    /// and where it was taken (the thread waits there again on restore).
    pub stop: Option<(i32, bool)>,
    pub kind: crate::kernel::ptrace::StopKind,
    /// The last resume: signal, PTRACE_SYSCALL, single-step, and the
    /// tracer's pid and uid.
    pub resume: (u32, bool, bool, i32, u32),
    /// The last stop's siginfo, and PTRACE_GETEVENTMSG's value.
    pub siginfo: Option<Vec<u8>>,
    pub event_msg: u64,
    /// Registers and FPU state the tracer changed in the stop (None:
    /// unchanged, the thread's own).
    pub regs: Option<Vec<u64>>,
    pub fp: Option<Vec<u8>>,
    /// The debug registers as set.
    pub debugreg: [u64; 8],
    /// trap_pending, group_stop_seen, listening, stepping.
    pub flags: (bool, bool, bool, bool),
    /// PTRACE_SETSIGMASK's mask, for when it runs on.
    pub set_mask: Option<u64>,
    /// The tids this thread traces.
    pub tracees: Vec<i32>,
    /// Its tracees' exits not yet reported: tid, process group, uid, how.
    pub exits: Vec<(i32, i32, u32, ExitImage)>,
}

/// A restart block, its deadlines as time left.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq, Clone, Copy)]
pub enum RestartImage {
    /// A relative sleep: nanoseconds left (None: none), where to write
    /// what is left.
    Sleep {
        /// Time left.
        left_ns: Option<u64>,
        /// `rem`.
        rem: u64,
    },
    /// A futex wait with a timeout.
    FutexWait {
        /// The word.
        addr: u64,
        /// Its expected value.
        val: u32,
        /// The bitset.
        bitset: u32,
        /// Time left.
        left_ns: u64,
    },
    /// A poll with a timeout.
    Poll {
        /// The array.
        addr: u64,
        /// Its length.
        nfds: u64,
        /// Time left.
        left_ns: u64,
    },
}

/// Encodes `image` as the state file's bytes: header, then body.
pub fn encode(image: &Image) -> Result<Vec<u8>, ImageError> {
    let body = bincode::serialize(image).map_err(|e| ImageError::Malformed(e.to_string()))?;
    let mut out = Vec::with_capacity(body.len() + 64);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    let husk = HUSK_VERSION.as_bytes();
    out.extend_from_slice(&(husk.len() as u32).to_le_bytes());
    out.extend_from_slice(husk);
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

/// Reads `n` bytes at `*at`, advancing it.
fn take<'a>(bytes: &'a [u8], at: &mut usize, n: usize) -> Result<&'a [u8], ImageError> {
    let end = at.checked_add(n).filter(|&e| e <= bytes.len());
    let end =
        end.ok_or(ImageError::Truncated { have: bytes.len() as u64, want: (*at as u64).saturating_add(n as u64) })?;
    let s = &bytes[*at..end];
    *at = end;
    Ok(s)
}

fn le_u32(b: &[u8]) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[..4]);
    u32::from_le_bytes(w)
}

/// Decodes a state file, checking its header and checksum first.
pub fn decode(bytes: &[u8]) -> Result<Image, ImageError> {
    let mut at = 0;
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        return Err(ImageError::Foreign);
    }
    at += MAGIC.len();
    let format = le_u32(take(bytes, &mut at, 4)?);
    let husk_len = le_u32(take(bytes, &mut at, 4)?) as usize;
    if husk_len > 64 {
        return Err(ImageError::Malformed("a version string longer than 64 bytes".into()));
    }
    let husk = String::from_utf8_lossy(take(bytes, &mut at, husk_len)?).into_owned();
    if format != FORMAT_VERSION || husk != HUSK_VERSION {
        return Err(ImageError::Version { format, husk });
    }
    let mut len = [0u8; 8];
    len.copy_from_slice(take(bytes, &mut at, 8)?);
    let len = u64::from_le_bytes(len);
    let crc = le_u32(take(bytes, &mut at, 4)?);
    if len > MAX_STATE {
        return Err(ImageError::Malformed(format!("a state of {len} bytes (at most {MAX_STATE})")));
    }
    let have = (bytes.len() - at) as u64;
    if have < len {
        return Err(ImageError::Truncated { have: at as u64 + have, want: at as u64 + len });
    }
    let body = &bytes[at..at + len as usize];
    if crc32fast::hash(body) != crc {
        return Err(ImageError::Checksum);
    }
    use bincode::Options;
    // Bounded by the body: a length field inside cannot make decoding
    // allocate more than the image holds.
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .allow_trailing_bytes()
        .with_limit(len)
        .deserialize(body)
        .map_err(|e| ImageError::Malformed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Image {
        Image {
            last_pid: 7,
            uts: (b"box".to_vec(), b"(none)".to_vec()),
            fd_tables: vec![vec![(0, 0, false)]],
            files: vec![FileImage { flags: 2, offset: 5, kind: FileKind::Stdio(0), owner: None }],
            ..Default::default()
        }
    }

    #[test]
    fn an_image_reads_back_as_written() {
        let bytes = encode(&sample()).expect("encodes");
        assert_eq!(decode(&bytes).expect("decodes"), sample());
    }

    #[test]
    fn foreign_truncated_corrupt_and_other_versions_are_refused() {
        let bytes = encode(&sample()).expect("encodes");
        assert_eq!(decode(b"ELF\0 not an image"), Err(ImageError::Foreign));
        assert!(matches!(decode(&bytes[..bytes.len() - 3]), Err(ImageError::Truncated { .. })));
        assert!(matches!(decode(&bytes[..10]), Err(ImageError::Truncated { .. })));
        let mut flipped = bytes.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 0x40;
        assert_eq!(decode(&flipped), Err(ImageError::Checksum));
        let mut other = bytes.clone();
        other[8] = 99;
        assert!(matches!(decode(&other), Err(ImageError::Version { format: 99, .. })));
        // A body whose length fields promise more than it holds.
        let mut huge = bytes[..bytes.len()].to_vec();
        let body_at = huge.len() - bincode::serialize(&sample()).expect("body").len();
        huge.truncate(body_at);
        let mut body = vec![0xffu8; 64];
        body[..8].copy_from_slice(&u64::MAX.to_le_bytes());
        let crc = crc32fast::hash(&body);
        let n = huge.len();
        huge[n - 12..n - 4].copy_from_slice(&(body.len() as u64).to_le_bytes());
        huge[n - 4..].copy_from_slice(&crc.to_le_bytes());
        huge.extend_from_slice(&body);
        assert!(matches!(decode(&huge), Err(ImageError::Malformed(_))));
    }
}
