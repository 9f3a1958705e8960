//! In-Sentry filesystems: tmpfs (and devfs, which is a tmpfs with device
//! nodes in it).
//!
//! As in Linux's tmpfs, the dentry tree is the namespace: a directory's
//! child map in its [`Dentry`] is the directory. An [`Inode`] holds the
//! attributes and, for a regular file, its data: pages of the Sentry's
//! memory file, one map entry per page, holes unallocated. Because the data
//! lives in memory-file pages, `mmap(MAP_SHARED)` maps the very pages (see
//! [`PageSource`]), so every process sharing the file shares the memory.
//!
//! Reference counts: a file holds one reference on each of its pages; a
//! shared mapping takes another ([`MemoryFile::incref`]), so truncating or
//! deleting a mapped file leaves the mapping's pages alone until it is
//! unmapped. An unlinked file lives while a dentry of it is open.
//!
//! Locking: namespace changes on one filesystem serialise on its namespace
//! lock ([`MemFs::ns_lock`]), taken before any child map; an inode's
//! attribute lock and its page lock are never held together.

use std::collections::BTreeMap;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use abi::flags::fsflags::{FS_APPEND_FL, FS_IMMUTABLE_FL, FS_NOATIME_FL, FS_NODUMP_FL};
use abi::flags::mode::{S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG, S_IFSOCK};
use abi::{Errno, PAGE_SIZE};
use gofer::{DirEntry, FileAttr};

use super::file::FileOps;
use super::ops::{may_create, may_delete};
use super::pipe::Pipe;
use super::{Children, Dentry, FIRST_POS};
use crate::kernel::process::Credentials;
use crate::mm::{Chunk, MemoryFile, PageSource, SysResult};

/// tmpfs's `f_type`.
pub const TMPFS_MAGIC: i64 = 0x0102_1994;
/// Linux's tmpfs counts this many bytes of directory size per entry.
const BOGO_DIRENT_SIZE: u64 = 20;
/// The largest file size (Linux's MAX_LFS_FILESIZE).
const MAX_FILE_SIZE: u64 = i64::MAX as u64;
/// The set-group-id bit.
pub const S_ISGID: u32 = 0o2000;
/// The set-user-id bit.
pub const S_ISUID: u32 = 0o4000;
/// The sticky bit.
pub const S_ISVTX: u32 = 0o1000;

static ZEROS: [u8; PAGE_SIZE as usize] = [0; PAGE_SIZE as usize];
/// The minor number of the next in-memory filesystem's device (major 0,
/// as Linux's anonymous devices). High, where the host's own anonymous
/// devices, numbered from 1 up, do not reach: the files of a host tree
/// keep their host device numbers, and a tmpfs of the same number (say
/// /dev/shm, against the host overlay of a container's root) made
/// programs that find a file's mount by its device, as busybox's `df`,
/// take one for the other.
static NEXT_ANON_MINOR: AtomicU32 = AtomicU32::new(0xc_0000);
/// The first inode number of an overlay's new files.
const UPPER_FIRST_INO: u64 = 1 << 40;
/// How many inode numbers each overlay's upper layer has.
const UPPER_INO_RANGE: u64 = 1 << 32;

/// The current wall-clock time.
pub(crate) fn now() -> (i64, i64) {
    crate::sys::clock_gettime(abi::flags::clock::CLOCK_REALTIME).unwrap_or((0, 0))
}

/// Which filesystem type an instance reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FsKind {
    /// A tmpfs (/tmp, /dev/shm).
    Tmpfs,
    /// The device filesystem (/dev): a tmpfs with device nodes.
    Devfs,
}

/// One in-Sentry filesystem instance.
pub struct MemFs {
    dev: u64,
    kind: FsKind,
    mf: Arc<MemoryFile>,
    next_ino: AtomicU64,
    /// The first inode number it hands out.
    first_ino: u64,
    /// Pages the files of this filesystem hold.
    pages: AtomicU64,
    /// The size limit, in pages: like Linux's default for tmpfs, half of
    /// the host's memory.
    max_pages: AtomicU64,
    /// Serialises changes to the namespace.
    ns_lock: Mutex<()>,
    /// Mounted read-only: every change fails with EROFS.
    readonly: AtomicBool,
    /// Mounted noexec: its files cannot be executed or mapped executable.
    noexec: AtomicBool,
    /// The most inodes it may hold (tmpfs's `nr_inodes`; `u64::MAX`: no
    /// limit), and how many it holds.
    max_inodes: AtomicU64,
    live_inodes: Arc<AtomicU64>,
    /// An overlay upper layer on disk: where its regular files' data goes.
    disk: std::sync::OnceLock<Arc<super::diskstore::DiskStore>>,
    /// [`MemFs::inodes_used`] when the sandbox finished booting.
    baseline: AtomicU64,
}

impl MemFs {
    /// Keeps the data of regular files made from now on in `store`, on
    /// disk (an overlay's upper layer, `--overlay disk:DIR`).
    pub fn set_disk_store(&self, store: Arc<super::diskstore::DiskStore>) {
        let _ = self.disk.set(store);
    }

    /// A new regular file's data: pages of the memory file, or a file of
    /// the disk store.
    pub(crate) fn new_regular(&self) -> SysResult<InodeKind> {
        match self.disk.get() {
            Some(store) => Ok(InodeKind::Disk(store.new_file()?)),
            None => Ok(InodeKind::Regular(Mutex::new(Pages::default()))),
        }
    }

    /// Whether regular files' data goes to disk.
    pub(crate) fn on_disk(&self) -> Option<&Arc<super::diskstore::DiskStore>> {
        self.disk.get()
    }

    /// The memory file its data lives in.
    pub(crate) fn mf(&self) -> &Arc<MemoryFile> {
        &self.mf
    }

    /// A new, empty filesystem whose file data lives in `mf`.
    pub fn new(kind: FsKind, mf: Arc<MemoryFile>) -> Arc<MemFs> {
        Arc::new(MemFs {
            dev: super::devfs::makedev(0, NEXT_ANON_MINOR.fetch_add(1, Ordering::Relaxed)),
            kind,
            mf,
            next_ino: AtomicU64::new(1),
            first_ino: 1,
            pages: AtomicU64::new(0),
            max_pages: AtomicU64::new((crate::sys::host_memory().0 / 2 / PAGE_SIZE).max(1024)),
            ns_lock: Mutex::new(()),
            readonly: AtomicBool::new(false),
            noexec: AtomicBool::new(false),
            max_inodes: AtomicU64::new(u64::MAX),
            live_inodes: Arc::new(AtomicU64::new(0)),
            disk: std::sync::OnceLock::new(),
            baseline: AtomicU64::new(0),
        })
    }

    /// The upper layer of an overlay root whose lower layer is on device
    /// `dev`: its files report that device, so the root is one filesystem
    /// to stat, and new files take inode numbers from high up, clear of
    /// the lower files' numbers that copies keep.
    pub fn new_upper(mf: Arc<MemoryFile>, dev: u64) -> Arc<MemFs> {
        // Each upper layer has a range of its own: two overlays over one
        // host filesystem (/usr and /etc on the host's system) report the
        // same device, so their new files must not share numbers.
        static NEXT_RANGE: AtomicU64 = AtomicU64::new(0);
        let first = UPPER_FIRST_INO + NEXT_RANGE.fetch_add(1, Ordering::Relaxed) * UPPER_INO_RANGE;
        Arc::new(MemFs {
            dev,
            kind: FsKind::Tmpfs,
            mf,
            next_ino: AtomicU64::new(first),
            first_ino: first,
            pages: AtomicU64::new(0),
            max_pages: AtomicU64::new((crate::sys::host_memory().0 / 2 / PAGE_SIZE).max(1024)),
            ns_lock: Mutex::new(()),
            readonly: AtomicBool::new(false),
            noexec: AtomicBool::new(false),
            max_inodes: AtomicU64::new(u64::MAX),
            live_inodes: Arc::new(AtomicU64::new(0)),
            disk: std::sync::OnceLock::new(),
            baseline: AtomicU64::new(0),
        })
    }

    /// A copy of a lower file (an overlay's copy-up): `kind` with the
    /// lower file's attributes (mode, owner, times, inode number; a
    /// regular file's size comes with its pages).
    pub(crate) fn copy_inode(self: &Arc<Self>, kind: InodeKind, a: &FileAttr) -> Arc<Inode> {
        let is_dir = a.mode & S_IFMT == S_IFDIR;
        let meta = Meta {
            mode: a.mode,
            uid: a.uid,
            gid: a.gid,
            nlink: if is_dir { a.nlink.max(2) } else { 1 },
            rdev: a.rdev,
            size: if is_dir { a.size } else { 0 },
            atime: (a.atime_sec, a.atime_nsec),
            mtime: (a.mtime_sec, a.mtime_nsec),
            ctime: (a.ctime_sec, a.ctime_nsec),
        };
        Arc::new(Inode {
            fs: self.clone(),
            ino: a.ino,
            meta: Mutex::new(meta),
            kind,
            linkable: AtomicBool::new(false),
            xattrs: Mutex::default(),
            fsflags: AtomicU32::new(0),
            _counted: LiveInode::new(self),
        })
    }

    /// An inode as a checkpoint left it, its pages (memory-file
    /// references the restored memory file still counts) its own again.
    /// The next inode number handed out comes after it.
    pub fn restore_inode(
        self: &Arc<Self>,
        s: &InodeState,
        disk: Option<super::diskstore::DiskData>,
    ) -> Result<Arc<Inode>, Errno> {
        let kind = match (s.mode & S_IFMT, disk) {
            (S_IFREG, Some(d)) => InodeKind::Disk(d),
            (_, Some(_)) => return Err(Errno::EINVAL),
            (mode, None) => Self::restored_kind(self, mode, s)?,
        };
        let meta = Meta {
            mode: s.mode,
            uid: s.uid,
            gid: s.gid,
            nlink: s.nlink,
            rdev: s.rdev,
            size: if s.mode & S_IFMT == S_IFDIR { s.size } else { 0 },
            atime: s.times[0],
            mtime: s.times[1],
            ctime: s.times[2],
        };
        self.next_ino.fetch_max(s.ino.saturating_add(1), Ordering::Relaxed);
        Ok(Arc::new(Inode {
            fs: self.clone(),
            ino: s.ino,
            meta: Mutex::new(meta),
            kind,
            linkable: AtomicBool::new(false),
            xattrs: Mutex::new(super::xattr::Xattrs::from_entries(s.xattrs.clone())),
            fsflags: AtomicU32::new(s.fsflags & FSFLAGS_SETTABLE),
            _counted: LiveInode::new(self),
        }))
    }

    /// The kind of a restored inode of type `mode` held in memory.
    fn restored_kind(self: &Arc<Self>, mode: u32, s: &InodeState) -> Result<InodeKind, Errno> {
        Ok(match mode {
            S_IFDIR => InodeKind::Dir,
            S_IFREG => InodeKind::Regular(Mutex::new(Pages::restored(self, s.size, &s.pages)?)),
            S_IFLNK => InodeKind::Symlink(s.target.clone()),
            S_IFIFO => InodeKind::Fifo(Pipe::new_fifo()),
            S_IFSOCK => InodeKind::Socket,
            abi::flags::mode::S_IFCHR | abi::flags::mode::S_IFBLK => InodeKind::Device,
            _ => return Err(Errno::EINVAL),
        })
    }

    /// Holds at most `bytes` of file data from now on (an overlay's upper
    /// layer within the sandbox's memory limit): writes past it get ENOSPC.
    pub fn limit_to(&self, bytes: u64) {
        let pages = (bytes / PAGE_SIZE).max(1);
        self.max_pages.fetch_min(pages, Ordering::Relaxed);
    }

    /// Whether the filesystem is mounted read-only.
    pub fn readonly(&self) -> bool {
        self.readonly.load(Ordering::Relaxed)
    }

    /// Makes the filesystem read-only (a read-only mount of it).
    pub fn set_readonly(&self) {
        self.readonly.store(true, Ordering::Relaxed);
    }

    /// Makes the filesystem read-only or writable again (a remount).
    pub fn set_readonly_to(&self, ro: bool) {
        self.readonly.store(ro, Ordering::Relaxed);
    }

    /// Makes its files never executable (a noexec mount of it).
    pub fn set_noexec(&self) {
        self.noexec.store(true, Ordering::Relaxed);
    }

    /// Sets the size limit to `pages` exactly (a tmpfs's `size=`, at its
    /// mount or a remount): EINVAL if it holds more already.
    pub fn set_max_pages(&self, pages: u64) -> SysResult<()> {
        if pages < self.pages_used() {
            return Err(Errno::EINVAL);
        }
        self.max_pages.store(pages, Ordering::Relaxed);
        Ok(())
    }

    /// Sets the inode limit (a tmpfs's `nr_inodes`; `u64::MAX`: none):
    /// EINVAL if it holds more already.
    pub fn set_max_inodes(&self, n: u64) -> SysResult<()> {
        if n < self.live_inodes() {
            return Err(Errno::EINVAL);
        }
        self.max_inodes.store(n, Ordering::Relaxed);
        Ok(())
    }

    /// The inode limit (`u64::MAX`: none).
    pub fn max_inodes(&self) -> u64 {
        self.max_inodes.load(Ordering::Relaxed)
    }

    /// Inodes it holds now.
    pub fn live_inodes(&self) -> u64 {
        self.live_inodes.load(Ordering::Relaxed)
    }

    /// ENOSPC if one more inode would pass the limit.
    fn may_add_inode(&self) -> SysResult<()> {
        if self.live_inodes() >= self.max_inodes() {
            return Err(Errno::ENOSPC);
        }
        Ok(())
    }

    /// Whether its files may not be executed (noexec).
    pub fn noexec(&self) -> bool {
        self.noexec.load(Ordering::Relaxed)
    }

    /// A number unique to this filesystem (its device number).
    pub fn id(&self) -> u64 {
        self.dev
    }

    /// The filesystem type.
    pub fn kind(&self) -> FsKind {
        self.kind
    }

    /// Pages of file data held.
    pub fn pages_used(&self) -> u64 {
        self.pages.load(Ordering::Relaxed)
    }

    /// The most pages of file data the filesystem may hold.
    pub fn pages_max(&self) -> u64 {
        self.max_pages.load(Ordering::Relaxed)
    }

    /// Counts `n` more pages of file data, or ENOSPC if that would pass the
    /// size limit.
    fn reserve(&self, n: u64) -> SysResult<()> {
        let ok = self.pages.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
            used.checked_add(n).filter(|&total| total <= self.max_pages.load(Ordering::Relaxed))
        });
        ok.map(|_| ()).map_err(|_| Errno::ENOSPC)
    }

    /// Notes what it holds now as its state at boot.
    pub fn mark_baseline(&self) {
        self.baseline.store(self.inodes_used(), Ordering::Relaxed);
    }

    /// Whether files were made in it since [`MemFs::mark_baseline`]: every
    /// change to a tmpfs made empty at boot, or to an overlay's upper layer
    /// (a copy-up, which each change to the lower tree begins with), makes
    /// an inode.
    pub fn changed_since_baseline(&self) -> bool {
        self.inodes_used() > self.baseline.load(Ordering::Relaxed)
    }

    /// Inodes handed out so far.
    pub fn inodes_used(&self) -> u64 {
        self.next_ino.load(Ordering::Relaxed) - self.first_ino
    }

    pub(crate) fn ns_lock(&self) -> MutexGuard<'_, ()> {
        self.ns_lock.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new inode of this filesystem.
    pub(crate) fn new_inode(self: &Arc<Self>, kind: InodeKind, mode: u32, uid: u32, gid: u32, rdev: u64) -> Arc<Inode> {
        let t = now();
        let nlink = if mode & S_IFMT == S_IFDIR { 2 } else { 1 };
        let size = if mode & S_IFMT == S_IFDIR { 2 * BOGO_DIRENT_SIZE } else { 0 };
        Arc::new(Inode {
            fs: self.clone(),
            ino: self.next_ino.fetch_add(1, Ordering::Relaxed),
            meta: Mutex::new(Meta { mode, uid, gid, nlink, rdev, size, atime: t, mtime: t, ctime: t }),
            kind,
            linkable: AtomicBool::new(false),
            xattrs: Mutex::default(),
            fsflags: AtomicU32::new(0),
            _counted: LiveInode::new(self),
        })
    }

    /// An empty regular file, in no directory: stands in for a missing
    /// mount point of a bind-mounted file.
    pub fn new_file(self: &Arc<Self>, perm: u32) -> Arc<Dentry> {
        let inode =
            self.new_inode(InodeKind::Regular(Mutex::new(Pages::default())), S_IFREG | (perm & 0o7777), 0, 0, 0);
        Dentry::new_mem(b"", inode)
    }

    /// A directory dentry that is the root of this filesystem (or stands in
    /// for a missing mount point).
    pub fn new_root(self: &Arc<Self>, perm: u32, uid: u32, gid: u32) -> Arc<Dentry> {
        Dentry::new_mem(b"", self.new_inode(InodeKind::Dir, S_IFDIR | (perm & 0o7777), uid, gid, 0))
    }
}

#[derive(Clone, Copy)]
struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    nlink: u64,
    rdev: u64,
    /// Size of a directory (Linux's bogus per-entry count).
    size: u64,
    atime: (i64, i64),
    mtime: (i64, i64),
    ctime: (i64, i64),
}

/// What an inode is.
pub enum InodeKind {
    /// A directory (its entries live in its dentry).
    Dir,
    /// A regular file and its pages.
    Regular(Mutex<Pages>),
    /// A regular file whose data is a host file (an overlay's upper layer
    /// on disk).
    Disk(super::diskstore::DiskData),
    /// A symlink and its target.
    Symlink(Vec<u8>),
    /// A character or block device (its number is `rdev`).
    Device,
    /// A named pipe.
    Fifo(Arc<Pipe>),
    /// A socket node (nothing can open it).
    Socket,
}

/// A file of an in-Sentry filesystem.
pub struct Inode {
    /// Its filesystem.
    pub fs: Arc<MemFs>,
    /// Inode number.
    pub ino: u64,
    meta: Mutex<Meta>,
    /// What it is.
    pub kind: InodeKind,
    /// An O_TMPFILE file (no links) that linkat may still give a name.
    linkable: AtomicBool,
    /// Extended attributes, name → value (see [`super::xattr`]).
    pub(crate) xattrs: Mutex<super::xattr::Xattrs>,
    /// Inode flags (`FS_*_FL`, FS_IOC_SETFLAGS): those of [`FSFLAGS_SETTABLE`].
    fsflags: AtomicU32,
    /// Counts it among its filesystem's inodes while it lives.
    _counted: LiveInode,
}

/// One of a filesystem's live inodes ([`MemFs::live_inodes`]).
struct LiveInode(Arc<AtomicU64>);

impl LiveInode {
    fn new(fs: &MemFs) -> LiveInode {
        fs.live_inodes.fetch_add(1, Ordering::Relaxed);
        LiveInode(fs.live_inodes.clone())
    }
}

impl Drop for LiveInode {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What a checkpoint keeps of an inode.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InodeState {
    /// Inode number.
    pub ino: u64,
    /// Type and permission bits.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Links.
    pub nlink: u64,
    /// Device number.
    pub rdev: u64,
    /// A directory's size; a regular file's.
    pub size: u64,
    /// Times, (seconds, nanoseconds): access, modification, change.
    pub times: [(i64, i64); 3],
    /// `FS_*_FL`.
    pub fsflags: u32,
    /// Extended attributes.
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
    /// A regular file's pages: (page index, memory-file offset).
    pub pages: Vec<(u64, u64)>,
    /// A symlink's target.
    pub target: Vec<u8>,
    /// A file of an overlay's layer on disk: where the image keeps its
    /// data.
    pub disk: Option<super::diskstore::DiskCopy>,
}

/// The inode flags a tmpfs file may have, as Linux's tmpfs
/// (`TMPFS_FL_USER_MODIFIABLE`, less case folding, which needs an encoding).
pub const FSFLAGS_SETTABLE: u32 = FS_IMMUTABLE_FL | FS_APPEND_FL | FS_NODUMP_FL | FS_NOATIME_FL;
/// Those a new file takes from its directory.
const FSFLAGS_INHERITED: u32 = FS_NODUMP_FL | FS_NOATIME_FL;

/// How a timestamp changes (utimensat).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeSet {
    /// Leave it.
    Omit,
    /// The current time.
    Now,
    /// This time.
    At(i64, i64),
}

impl Inode {
    fn meta(&self) -> MutexGuard<'_, Meta> {
        self.meta.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Type and permission bits.
    pub fn mode(&self) -> u32 {
        self.meta().mode
    }

    /// The attributes, as stat reports them.
    pub fn attr(&self) -> FileAttr {
        let m = *self.meta();
        let (size, blocks) = match &self.kind {
            InodeKind::Regular(p) => {
                let p = p.lock().unwrap_or_else(|e| e.into_inner());
                (p.size, p.map.len() as u64 * (PAGE_SIZE / 512))
            }
            InodeKind::Disk(d) => d.size_and_blocks(),
            InodeKind::Symlink(t) => (t.len() as u64, 0),
            _ => (m.size, 0),
        };
        FileAttr {
            mode: m.mode,
            nlink: m.nlink,
            uid: m.uid,
            gid: m.gid,
            size,
            blksize: PAGE_SIZE,
            blocks,
            atime_sec: m.atime.0,
            atime_nsec: m.atime.1,
            mtime_sec: m.mtime.0,
            mtime_nsec: m.mtime.1,
            ctime_sec: m.ctime.0,
            ctime_nsec: m.ctime.1,
            ino: self.ino,
            dev: self.fs.dev,
            rdev: m.rdev,
        }
    }

    /// What a checkpoint keeps of it. A file of an overlay's layer on
    /// disk keeps its size here; its data the checkpoint copies
    /// ([`Inode::disk_data`], into [`InodeState::disk`]).
    pub fn checkpoint_state(&self) -> InodeState {
        let m = *self.meta();
        let mut s = InodeState {
            ino: self.ino,
            mode: m.mode,
            uid: m.uid,
            gid: m.gid,
            nlink: m.nlink,
            rdev: m.rdev,
            size: m.size,
            times: [m.atime, m.mtime, m.ctime],
            fsflags: self.fsflags(),
            xattrs: self.xattrs.lock().unwrap_or_else(|e| e.into_inner()).entries().to_vec(),
            ..InodeState::default()
        };
        match &self.kind {
            InodeKind::Regular(p) => {
                let p = p.lock().unwrap_or_else(|e| e.into_inner());
                s.size = p.size;
                s.pages = p.entries();
            }
            InodeKind::Symlink(t) => s.target = t.clone(),
            InodeKind::Disk(d) => s.size = d.size_and_blocks().0,
            InodeKind::Dir | InodeKind::Device | InodeKind::Fifo(_) | InodeKind::Socket => {}
        }
        s
    }

    /// A file of an overlay's layer on disk: its data.
    pub fn disk_data(&self) -> Option<&super::diskstore::DiskData> {
        match &self.kind {
            InodeKind::Disk(d) => Some(d),
            _ => None,
        }
    }

    /// Whether linkat may still give this nameless (O_TMPFILE) file a name.
    pub fn linkable(&self) -> bool {
        self.linkable.load(Ordering::Acquire)
    }

    /// Restores [`Inode::linkable`].
    pub fn set_linkable(&self, linkable: bool) {
        self.linkable.store(linkable, Ordering::Release);
    }

    /// Takes a checkpoint's attributes (not its kind, nor its pages): for
    /// a filesystem's root, made at boot.
    pub fn restore_attributes(&self, s: &InodeState) {
        {
            let mut m = self.meta();
            m.mode = (m.mode & S_IFMT) | (s.mode & 0o7777);
            (m.uid, m.gid) = (s.uid, s.gid);
            [m.atime, m.mtime, m.ctime] = s.times;
        }
        self.fsflags.store(s.fsflags & FSFLAGS_SETTABLE, Ordering::Relaxed);
        *self.xattrs.lock().unwrap_or_else(|e| e.into_inner()) = super::xattr::Xattrs::from_entries(s.xattrs.clone());
    }

    /// A symlink's target.
    pub fn symlink_target(&self) -> Option<Vec<u8>> {
        match &self.kind {
            InodeKind::Symlink(t) => Some(t.clone()),
            _ => None,
        }
    }

    /// Updates the chosen timestamps to now.
    pub fn touch(&self, atime: bool, mtime: bool, ctime: bool) {
        let t = now();
        let mut m = self.meta();
        if atime {
            m.atime = t;
        }
        if mtime {
            m.mtime = t;
        }
        if ctime {
            m.ctime = t;
        }
    }

    /// Marks a read: atime, relatime-style (only if it is not newer than
    /// mtime or ctime, or is a day old).
    fn accessed(&self) {
        if self.fsflags() & FS_NOATIME_FL != 0 {
            return;
        }
        let t = now();
        let mut m = self.meta();
        if m.atime <= m.mtime || m.atime <= m.ctime || t.0 - m.atime.0 >= 24 * 3600 {
            m.atime = t;
        }
    }

    /// The inode flags (`FS_*_FL`).
    pub fn fsflags(&self) -> u32 {
        self.fsflags.load(Ordering::Relaxed)
    }

    /// Sets the inode flags (of [`FSFLAGS_SETTABLE`]), and ctime.
    pub fn set_fsflags(&self, flags: u32) {
        self.fsflags.store(flags & FSFLAGS_SETTABLE, Ordering::Relaxed);
        self.touch(false, false, true);
    }

    /// Sets the permission bits (and ctime).
    pub fn set_mode(&self, perm: u32) {
        let mut m = self.meta();
        m.mode = (m.mode & S_IFMT) | (perm & 0o7777);
        m.ctime = now();
    }

    /// Sets owner and group (None: unchanged), clearing set-id bits as
    /// chown does on non-directories; updates ctime.
    pub fn set_owner(&self, uid: Option<u32>, gid: Option<u32>) {
        let mut m = self.meta();
        if let Some(u) = uid {
            m.uid = u;
        }
        if let Some(g) = gid {
            m.gid = g;
        }
        if m.mode & S_IFMT != S_IFDIR {
            m.mode &= !S_ISUID;
            if m.mode & 0o010 != 0 {
                m.mode &= !S_ISGID;
            }
        }
        m.ctime = now();
    }

    /// Sets atime and mtime; ctime becomes now.
    pub fn set_times(&self, atime: TimeSet, mtime: TimeSet) {
        let t = now();
        let mut m = self.meta();
        let pick = |ts: TimeSet, old: (i64, i64)| match ts {
            TimeSet::Omit => old,
            TimeSet::Now => t,
            TimeSet::At(s, n) => (s, n),
        };
        m.atime = pick(atime, m.atime);
        m.mtime = pick(mtime, m.mtime);
        m.ctime = t;
    }

    /// Gives the file no links: it is in no directory and never was (a
    /// memfd), or no longer is (a restored removed directory).
    pub fn orphan(&self) {
        self.set_nlink(0);
    }

    fn add_links(&self, delta: i64) {
        let mut m = self.meta();
        m.nlink = m.nlink.saturating_add_signed(delta);
        m.ctime = now();
    }

    fn set_nlink(&self, n: u64) {
        self.meta().nlink = n;
    }

    /// A directory gained (`+1`) or lost (`-1`) an entry: its size, its
    /// times, and its link count if the entry is a directory.
    fn dir_changed(&self, entries: i64, subdirs: i64) {
        let t = now();
        let mut m = self.meta();
        m.size = m.size.saturating_add_signed(entries * BOGO_DIRENT_SIZE as i64);
        m.nlink = m.nlink.saturating_add_signed(subdirs);
        m.mtime = t;
        m.ctime = t;
    }

    fn pages(&self) -> SysResult<MutexGuard<'_, Pages>> {
        match &self.kind {
            InodeKind::Regular(p) => Ok(p.lock().unwrap_or_else(|e| e.into_inner())),
            InodeKind::Dir => Err(Errno::EISDIR),
            _ => Err(Errno::EINVAL),
        }
    }

    /// Truncates or extends a regular file.
    pub fn truncate(&self, size: u64) -> SysResult<()> {
        if size > MAX_FILE_SIZE {
            return Err(Errno::EFBIG);
        }
        match &self.kind {
            InodeKind::Disk(d) => d.truncate(size)?,
            _ => self.pages()?.truncate(&self.fs, size),
        }
        self.touch(false, true, true);
        Ok(())
    }

    /// fallocate: `keep_size` leaves the size alone; `punch` frees the range.
    pub fn allocate(&self, offset: u64, len: u64, keep_size: bool, punch: bool) -> SysResult<()> {
        let end = offset.checked_add(len).filter(|&e| e <= MAX_FILE_SIZE).ok_or(Errno::EFBIG)?;
        if let InodeKind::Disk(d) = &self.kind {
            d.allocate(offset, len, keep_size, punch)?;
            self.touch(false, true, true);
            return Ok(());
        }
        let mut p = self.pages()?;
        if punch {
            p.punch(&self.fs, offset, end);
        } else {
            p.ensure(&self.fs, offset / PAGE_SIZE, end.div_ceil(PAGE_SIZE))?;
            if !keep_size && end > p.size {
                p.size = end;
            }
        }
        drop(p);
        self.touch(false, true, true);
        Ok(())
    }

    /// Copies a regular file into a new memfd (for the loader, which reads
    /// and maps programs through host fds).
    pub fn snapshot_to_memfd(&self) -> SysResult<OwnedFd> {
        if let InodeKind::Disk(d) = &self.kind {
            return d.reopen();
        }
        let p = self.pages()?;
        let file = std::fs::File::from(crate::sys::memfd_create()?);
        let io = |e: std::io::Error| Errno(e.raw_os_error().unwrap_or(libc::EIO));
        file.set_len(p.size).map_err(io)?;
        let mut buf = vec![0u8; PAGE_SIZE as usize];
        for (&page, &moff) in &p.map {
            let at = page * PAGE_SIZE;
            if at >= p.size {
                break;
            }
            let n = (p.size - at).min(PAGE_SIZE) as usize;
            self.fs.mf.read(moff, &mut buf[..n]);
            crate::sys::pwrite_all(std::os::fd::AsRawFd::as_raw_fd(&file), &buf[..n], at)?;
        }
        Ok(OwnedFd::from(file))
    }
}

impl Drop for Inode {
    fn drop(&mut self) {
        if let InodeKind::Regular(p) = &self.kind {
            p.lock().unwrap_or_else(|e| e.into_inner()).truncate(&self.fs, 0);
        }
    }
}

impl PageSource for Inode {
    fn copy_to(&self, mf: &MemoryFile, dst: &[Chunk], offset: u64) -> SysResult<()> {
        self.pages()?.read(mf, dst, offset);
        Ok(())
    }

    fn share(&self, offset: u64, len: u64) -> SysResult<Vec<Chunk>> {
        self.pages()?.share(&self.fs, offset, len)
    }
}

/// A regular file's data: its size and the memory-file page behind each
/// allocated page index. Bytes past the size in the last page are zero.
#[derive(Default)]
pub struct Pages {
    size: u64,
    map: BTreeMap<u64, u64>,
}

fn release_runs(fs: &MemFs, offs: impl IntoIterator<Item = u64>) {
    let mut run: Option<(u64, u64)> = None;
    let mut count = 0;
    for m in offs {
        count += 1;
        run = match run {
            Some((s, l)) if s + l == m => Some((s, l + PAGE_SIZE)),
            Some((s, l)) => {
                fs.mf.release(s, l);
                Some((m, PAGE_SIZE))
            }
            None => Some((m, PAGE_SIZE)),
        };
    }
    if let Some((s, l)) = run {
        fs.mf.release(s, l);
    }
    fs.pages.fetch_sub(count, Ordering::Relaxed);
}

impl Pages {
    /// The size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// SEEK_DATA (`hole` false) or SEEK_HOLE from `offset`, by the pages
    /// held, as Linux's tmpfs: ENXIO from the size on, or for data when
    /// only holes follow.
    /// How many of the pages `first..=last` are held (not holes).
    pub fn held(&self, first: u64, last: u64) -> u64 {
        if first > last {
            return 0;
        }
        self.map.range(first..=last).count() as u64
    }

    pub fn seek_data(&self, offset: u64, hole: bool) -> SysResult<u64> {
        if offset >= self.size {
            return Err(Errno::ENXIO);
        }
        let first = offset / PAGE_SIZE;
        let at = if hole {
            // The first page from `first` on that is not held.
            let mut p = first;
            for (&q, _) in self.map.range(first..) {
                if q != p {
                    break;
                }
                p += 1;
            }
            p.saturating_mul(PAGE_SIZE).max(offset).min(self.size)
        } else {
            let q = self.map.range(first..).next().map(|(&q, _)| q).ok_or(Errno::ENXIO)?;
            q.saturating_mul(PAGE_SIZE).max(offset)
        };
        if !hole && at >= self.size {
            return Err(Errno::ENXIO);
        }
        Ok(at)
    }

    /// Pages a checkpoint kept (`entries`, each a page index and its
    /// memory-file page: references the restored memory file still counts),
    /// `fs`'s again.
    pub(crate) fn restored(fs: &MemFs, size: u64, entries: &[(u64, u64)]) -> SysResult<Pages> {
        let mut map = BTreeMap::new();
        for &(page, off) in entries {
            if !off.is_multiple_of(PAGE_SIZE) || map.insert(page, off).is_some() {
                return Err(Errno::EINVAL);
            }
        }
        fs.pages.fetch_add(map.len() as u64, Ordering::Relaxed);
        Ok(Pages { size, map })
    }

    /// Each page index held and its memory-file page, for a checkpoint.
    pub(crate) fn entries(&self) -> Vec<(u64, u64)> {
        self.map.iter().map(|(&i, &o)| (i, o)).collect()
    }

    /// The first `size` bytes of the host file `fd` (fewer if it ends
    /// sooner), in new pages of `fs`: ENOSPC when they do not fit.
    pub(crate) fn from_fd(fs: &MemFs, fd: std::os::fd::RawFd, size: u64) -> SysResult<Pages> {
        let mut p = Pages::default();
        if let Err(e) = p.fill_from_fd(fs, fd, size) {
            p.truncate(fs, 0);
            return Err(e);
        }
        Ok(p)
    }

    fn fill_from_fd(&mut self, fs: &MemFs, fd: std::os::fd::RawFd, size: u64) -> SysResult<()> {
        let end = size.min(MAX_FILE_SIZE);
        self.ensure(fs, 0, end.div_ceil(PAGE_SIZE))?;
        // The pages in runs contiguous in the memory file, read a run at a
        // time.
        let mut runs: Vec<Chunk> = Vec::new();
        for &m in self.map.values() {
            match runs.last_mut() {
                Some(r) if r.off + r.len == m => r.len += PAGE_SIZE,
                _ => runs.push(Chunk { off: m, len: PAGE_SIZE }),
            }
        }
        let mut pos = 0u64;
        'runs: for run in runs {
            let mut done = 0;
            while done < run.len && pos < end {
                let want = (run.len - done).min(end - pos);
                let chunk = Chunk { off: run.off + done, len: want };
                let n = match fs.mf.read_from_fd(fd, &[chunk], Some(pos)) {
                    Ok(0) => break 'runs,
                    Ok(n) => n as u64,
                    Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
                    Err(e) => return Err(Errno(e.raw_os_error().unwrap_or(libc::EIO))),
                };
                done += n;
                pos += n;
            }
        }
        // A file that ended sooner keeps only the pages it reached.
        self.size = end;
        if pos < end {
            self.truncate(fs, pos);
        }
        Ok(())
    }

    /// Allocates the missing pages among `[first, last)`, in runs, so that
    /// consecutive pages written together are contiguous in the memory file.
    /// Only the holes are visited, so a huge sparse range costs nothing.
    fn ensure(&mut self, fs: &MemFs, first: u64, last: u64) -> SysResult<()> {
        let mut holes = Vec::new();
        let mut p = first;
        for (&q, _) in self.map.range(first..last) {
            if q > p {
                holes.push((p, q));
            }
            p = q + 1;
        }
        if p < last {
            holes.push((p, last));
        }
        for (from, to) in holes {
            let n = to - from;
            fs.reserve(n)?;
            let off = match fs.mf.allocate(n * PAGE_SIZE) {
                Ok(off) => off,
                Err(_) => {
                    fs.pages.fetch_sub(n, Ordering::Relaxed);
                    return Err(Errno::ENOSPC);
                }
            };
            for i in 0..n {
                self.map.insert(from + i, off + i * PAGE_SIZE);
            }
        }
        Ok(())
    }

    /// Copies up to `dst`'s length from `offset` (stopping at the end of the
    /// file) into `dst`; holes read as zeros. Returns the bytes copied.
    pub(crate) fn read(&self, mf: &MemoryFile, dst: &[Chunk], offset: u64) -> usize {
        if offset >= self.size {
            return 0;
        }
        let want: u64 = dst.iter().map(|c| c.len).sum();
        let end = offset + want.min(self.size - offset);
        let mut pos = offset;
        for c in dst {
            let mut coff = c.off;
            let mut left = c.len.min(end - pos);
            while left > 0 {
                let (page, inp) = (pos / PAGE_SIZE, pos % PAGE_SIZE);
                let take = (PAGE_SIZE - inp).min(left);
                match self.map.get(&page) {
                    Some(&m) => mf.copy(coff, m + inp, take),
                    None => mf.write(coff, &ZEROS[..take as usize]),
                }
                pos += take;
                coff += take;
                left -= take;
            }
            if pos >= end {
                break;
            }
        }
        (pos - offset) as usize
    }

    /// Writes `src` at `offset`, growing the file as needed.
    pub(crate) fn write(&mut self, fs: &MemFs, src: &[Chunk], offset: u64) -> SysResult<usize> {
        let len: u64 = src.iter().map(|c| c.len).sum();
        let mut end = offset.checked_add(len).filter(|&e| e <= MAX_FILE_SIZE).ok_or(Errno::EFBIG)?;
        match self.ensure(fs, offset / PAGE_SIZE, end.div_ceil(PAGE_SIZE)) {
            Ok(()) => {}
            // Full: as much as fits is written, as Linux's
            // generic_perform_write does, page by page.
            Err(Errno::ENOSPC) => {
                let mut page = offset / PAGE_SIZE;
                while page < end.div_ceil(PAGE_SIZE) && self.ensure(fs, page, page + 1).is_ok() {
                    page += 1;
                }
                end = end.min(page * PAGE_SIZE);
                if end <= offset {
                    return Err(Errno::ENOSPC);
                }
            }
            Err(e) => return Err(e),
        }
        let mut pos = offset;
        for c in src {
            if pos >= end {
                break;
            }
            let mut coff = c.off;
            let mut left = c.len.min(end - pos);
            while left > 0 {
                let (page, inp) = (pos / PAGE_SIZE, pos % PAGE_SIZE);
                let take = (PAGE_SIZE - inp).min(left);
                let &m = self.map.get(&page).ok_or(Errno::EIO)?;
                fs.mf.copy(m + inp, coff, take);
                pos += take;
                coff += take;
                left -= take;
            }
        }
        self.size = self.size.max(end);
        Ok((end - offset) as usize)
    }

    pub(crate) fn truncate(&mut self, fs: &MemFs, size: u64) {
        if size < self.size || size == 0 {
            let keep = size.div_ceil(PAGE_SIZE);
            let gone = self.map.split_off(&keep);
            if !gone.is_empty() {
                release_runs(fs, gone.into_values());
            }
            let inp = size % PAGE_SIZE;
            if inp != 0 {
                if let Some(&m) = self.map.get(&(size / PAGE_SIZE)) {
                    fs.mf.write(m + inp, &ZEROS[..(PAGE_SIZE - inp) as usize]);
                }
            }
        }
        self.size = size;
    }

    /// The pages holding `[offset, offset + len)` of the file (as far as
    /// it reaches), as `(file offset, memory-file run)` in order, runs
    /// merged where both are contiguous; holes are left out.
    pub(crate) fn file_runs(&self, offset: u64, len: u64) -> Vec<(u64, Chunk)> {
        let end = offset.saturating_add(len).min(self.size);
        let mut runs: Vec<(u64, Chunk)> = Vec::new();
        if offset >= end {
            return runs;
        }
        for (&page, &m) in self.map.range(offset / PAGE_SIZE..end.div_ceil(PAGE_SIZE)) {
            let from = (page * PAGE_SIZE).max(offset);
            let to = ((page + 1) * PAGE_SIZE).min(end);
            let mem = m + from % PAGE_SIZE;
            match runs.last_mut() {
                Some((f, c)) if *f + c.len == from && c.off + c.len == mem => c.len += to - from,
                _ => runs.push((from, Chunk { off: mem, len: to - from })),
            }
        }
        runs
    }

    /// Frees the whole pages of `[start, end)` and zeroes the partial ones.
    pub(crate) fn punch(&mut self, fs: &MemFs, start: u64, end: u64) {
        let (first_full, last_full) = (start.div_ceil(PAGE_SIZE), end / PAGE_SIZE);
        let zero = |from: u64, to: u64| {
            if from < to {
                if let Some(&m) = self.map.get(&(from / PAGE_SIZE)) {
                    fs.mf.write(m + from % PAGE_SIZE, &ZEROS[..(to - from) as usize]);
                }
            }
        };
        if first_full > last_full {
            // Within one page.
            zero(start, end);
            return;
        }
        zero(start, first_full * PAGE_SIZE);
        zero(last_full * PAGE_SIZE, end);
        let doomed: Vec<u64> = self.map.range(first_full..last_full).map(|(&p, _)| p).collect();
        let offs: Vec<u64> = doomed.iter().filter_map(|p| self.map.remove(p)).collect();
        if !offs.is_empty() {
            release_runs(fs, offs);
        }
    }

    /// The pages behind `[offset, offset + len)` (page-aligned), as far as
    /// the file reaches, allocated if they were holes, each with a reference
    /// taken for the caller.
    pub(crate) fn share(&mut self, fs: &MemFs, offset: u64, len: u64) -> SysResult<Vec<Chunk>> {
        let first = offset / PAGE_SIZE;
        let last = (first + len / PAGE_SIZE).min(self.size.div_ceil(PAGE_SIZE));
        if first >= last {
            return Ok(Vec::new());
        }
        self.ensure(fs, first, last)?;
        let mut runs: Vec<Chunk> = Vec::new();
        for (_, &m) in self.map.range(first..last) {
            match runs.last_mut() {
                Some(r) if r.off + r.len == m => r.len += PAGE_SIZE,
                _ => runs.push(Chunk { off: m, len: PAGE_SIZE }),
            }
        }
        for r in &runs {
            fs.mf.incref(r.off, r.len);
        }
        Ok(runs)
    }
}

/// What a new name is.
pub enum NewKind {
    /// A regular file.
    Regular,
    /// A directory.
    Dir,
    /// A symlink to this target.
    Symlink(Vec<u8>),
    /// A named pipe.
    Fifo,
    /// A socket node.
    Socket,
    /// A device node with this number and type (S_IFCHR or S_IFBLK).
    Device(u32, u64),
}

fn new_inode_for(fs: &Arc<MemFs>, dir: &Inode, kind: NewKind, perm: u32, creds: &Credentials) -> SysResult<Arc<Inode>> {
    let dmeta = *dir.meta();
    // BSD group semantics under a set-group-id directory.
    let gid = if dmeta.mode & S_ISGID != 0 { dmeta.gid } else { creds.fsgid };
    let mut perm = perm & 0o7777;
    let (ik, fmt, rdev) = match kind {
        NewKind::Regular => (fs.new_regular()?, S_IFREG, 0),
        NewKind::Dir => {
            if dmeta.mode & S_ISGID != 0 {
                perm |= S_ISGID;
            }
            (InodeKind::Dir, S_IFDIR, 0)
        }
        NewKind::Symlink(t) => {
            perm = 0o777;
            (InodeKind::Symlink(t), S_IFLNK, 0)
        }
        NewKind::Fifo => (InodeKind::Fifo(Pipe::new_fifo()), S_IFIFO, 0),
        NewKind::Socket => (InodeKind::Socket, S_IFSOCK, 0),
        NewKind::Device(fmt, rdev) => {
            // Linux's vfs_mknod: CAP_MKNOD, but for a whiteout (0:0).
            let whiteout = fmt == abi::flags::mode::S_IFCHR && rdev == 0;
            if !whiteout && !creds.has_cap(abi::flags::capability::CAP_MKNOD) {
                return Err(Errno::EPERM);
            }
            (InodeKind::Device, fmt, rdev)
        }
    };
    // A non-member creating a set-group-id file loses the bit, as in
    // Linux, unless it has CAP_FSETID.
    if fmt != S_IFDIR
        && perm & S_ISGID != 0
        && !in_group(creds, gid)
        && !creds.has_cap(abi::flags::capability::CAP_FSETID)
    {
        perm &= !S_ISGID;
    }
    fs.may_add_inode()?;
    let inode = fs.new_inode(ik, fmt | perm, creds.fsuid, gid, rdev);
    inode.fsflags.store(dir.fsflags() & FSFLAGS_INHERITED, Ordering::Relaxed);
    Ok(inode)
}

/// Whether `gid` is the caller's filesystem group or a supplementary one.
pub(crate) fn in_group(creds: &Credentials, gid: u32) -> bool {
    creds.fsgid == gid || creds.groups.contains(&gid)
}

fn mem_dir(dir: &Dentry) -> SysResult<&Arc<Inode>> {
    match dir.inode() {
        Some(i) if matches!(i.kind, InodeKind::Dir) => Ok(i),
        Some(_) => Err(Errno::ENOTDIR),
        None => Err(Errno::EROFS),
    }
}

/// Creates `name` in the in-Sentry directory `dir`. `perm` already has the
/// umask applied.
pub fn create(dir: &Arc<Dentry>, name: &[u8], kind: NewKind, perm: u32, creds: &Credentials) -> SysResult<Arc<Dentry>> {
    let di = mem_dir(dir)?;
    let fs = di.fs.clone();
    let _ns = fs.ns_lock();
    let mut kids = dir.children();
    if kids.dead {
        return Err(Errno::ENOENT);
    }
    if kids.map.get(name).is_some_and(|c| c.is_some()) {
        return Err(Errno::EEXIST);
    }
    may_create(&di.attr(), di.fsflags(), creds)?;
    let is_dir = matches!(kind, NewKind::Dir);
    let inode = new_inode_for(&fs, di, kind, perm, creds)?;
    let d = Dentry::new_mem(name, inode);
    dir.attach(&mut kids, name, &d);
    di.dir_changed(1, i64::from(is_dir));
    Ok(d)
}

/// O_TMPFILE: a regular file in `dir`'s filesystem with no name; linkat
/// may give it one unless `linkable` is false (O_EXCL).
pub fn tmpfile(dir: &Arc<Dentry>, perm: u32, linkable: bool, creds: &Credentials) -> SysResult<Arc<Dentry>> {
    let di = mem_dir(dir)?;
    if dir.is_dead() {
        return Err(Errno::ENOENT);
    }
    may_create(&di.attr(), di.fsflags(), creds)?;
    let inode = new_inode_for(&di.fs, di, NewKind::Regular, perm, creds)?;
    inode.set_nlink(0);
    inode.linkable.store(linkable, Ordering::Release);
    Ok(Dentry::new_mem(b"", inode))
}

/// mkdir in an in-Sentry directory.
pub fn mkdir(dir: &Arc<Dentry>, name: &[u8], perm: u32, creds: &Credentials) -> SysResult<Arc<Dentry>> {
    create(dir, name, NewKind::Dir, perm, creds)
}

/// Makes `name` in `dir` another link to `target`'s inode.
pub fn link(dir: &Arc<Dentry>, name: &[u8], target: &Arc<Dentry>, creds: &Credentials) -> SysResult<()> {
    let di = mem_dir(dir)?;
    let ti = target.inode().ok_or(Errno::EXDEV)?;
    if !Arc::ptr_eq(&ti.fs, &di.fs) {
        return Err(Errno::EXDEV);
    }
    let fs = di.fs.clone();
    let _ns = fs.ns_lock();
    let mut kids = dir.children();
    if kids.dead {
        return Err(Errno::ENOENT);
    }
    if kids.map.get(name).is_some_and(|c| c.is_some()) {
        return Err(Errno::EEXIST);
    }
    may_create(&di.attr(), di.fsflags(), creds)?;
    if target.is_dir() {
        return Err(Errno::EPERM);
    }
    if ti.attr().nlink == 0 && !ti.linkable.swap(false, Ordering::AcqRel) {
        return Err(Errno::ENOENT);
    }
    let d = Dentry::new_mem(name, ti.clone());
    dir.attach(&mut kids, name, &d);
    ti.add_links(1);
    di.dir_changed(1, 0);
    Ok(())
}

/// unlink in an in-Sentry directory. `trailing_slash`: the path ended in
/// `/`, which only a directory may have.
pub fn unlink(dir: &Arc<Dentry>, name: &[u8], trailing_slash: bool, creds: &Credentials) -> SysResult<()> {
    let di = mem_dir(dir)?;
    let fs = di.fs.clone();
    let _ns = fs.ns_lock();
    let mut kids = dir.children();
    let victim = kids.map.get(name).cloned().flatten().ok_or(Errno::ENOENT)?;
    if trailing_slash {
        return Err(if victim.is_dir() { Errno::EISDIR } else { Errno::ENOTDIR });
    }
    may_delete(&di.attr(), di.fsflags(), &victim, false, creds)?;
    if victim.is_mount_point() {
        return Err(Errno::EBUSY);
    }
    dir.detach(&mut kids, name);
    if let Some(vi) = victim.inode() {
        vi.add_links(-1);
    }
    di.dir_changed(-1, 0);
    Ok(())
}

fn is_empty(kids: &Children) -> bool {
    kids.map.values().all(|c| c.is_none())
}

/// rmdir in an in-Sentry directory.
pub fn rmdir(dir: &Arc<Dentry>, name: &[u8], creds: &Credentials) -> SysResult<()> {
    let di = mem_dir(dir)?;
    let fs = di.fs.clone();
    let _ns = fs.ns_lock();
    let mut kids = dir.children();
    let victim = kids.map.get(name).cloned().flatten().ok_or(Errno::ENOENT)?;
    may_delete(&di.attr(), di.fsflags(), &victim, true, creds)?;
    if victim.is_mount_point() {
        return Err(Errno::EBUSY);
    }
    {
        let mut vk = victim.children();
        if !is_empty(&vk) {
            return Err(Errno::ENOTEMPTY);
        }
        vk.dead = true;
    }
    dir.detach(&mut kids, name);
    if let Some(vi) = victim.inode() {
        vi.set_nlink(0);
        vi.touch(false, false, true);
    }
    di.dir_changed(-1, -1);
    Ok(())
}

/// rename within one in-Sentry filesystem. `noreplace`: RENAME_NOREPLACE.
pub fn rename(
    odir: &Arc<Dentry>,
    oname: &[u8],
    ndir: &Arc<Dentry>,
    nname: &[u8],
    noreplace: bool,
    trailing_slash: bool,
    creds: &Credentials,
) -> SysResult<()> {
    let odi = mem_dir(odir)?;
    let ndi = mem_dir(ndir)?;
    if !Arc::ptr_eq(&odi.fs, &ndi.fs) {
        return Err(Errno::EXDEV);
    }
    let fs = odi.fs.clone();
    let _ns = fs.ns_lock();
    let old = odir.children().map.get(oname).cloned().flatten().ok_or(Errno::ENOENT)?;
    let is_dir = old.is_dir();
    if !is_dir && trailing_slash {
        return Err(Errno::ENOTDIR);
    }
    if old.is_ancestor_of(ndir) {
        return Err(Errno::EINVAL);
    }
    let (target, ndead) = {
        let k = ndir.children();
        (k.map.get(nname).cloned().flatten(), k.dead)
    };
    if let Some(t) = &target {
        if t.is_ancestor_of(odir) {
            return Err(Errno::ENOTEMPTY);
        }
        if noreplace {
            return Err(Errno::EEXIST);
        }
        if let (Some(a), Some(b)) = (old.inode(), t.inode()) {
            if Arc::ptr_eq(a, b) {
                // Two names of one file: nothing to do.
                return Ok(());
            }
        }
    }
    may_delete(&odi.attr(), odi.fsflags(), &old, is_dir, creds)?;
    match &target {
        Some(t) => may_delete(&ndi.attr(), ndi.fsflags(), t, is_dir, creds)?,
        None => {
            if ndead {
                return Err(Errno::ENOENT);
            }
            may_create(&ndi.attr(), ndi.fsflags(), creds)?;
        }
    }
    if is_dir && !Arc::ptr_eq(odir, ndir) {
        // The directory's ".." changes: that is a write to it.
        if let Some(oi) = old.inode() {
            super::ops::check_perm(creds, &oi.attr(), 2)?;
        }
    }
    if old.is_mount_point() || target.as_ref().is_some_and(|t| t.is_mount_point()) {
        return Err(Errno::EBUSY);
    }
    if let Some(t) = &target {
        if t.is_dir() {
            let tk = t.children();
            if !is_empty(&tk) {
                return Err(Errno::ENOTEMPTY);
            }
        }
    }
    // Commit: the old name goes, then the new name is replaced in one step
    // under its directory's lock, so lookups see the old file or the new.
    odir.detach(&mut odir.children(), oname);
    {
        let mut nk = ndir.children();
        if let Some(t) = &target {
            ndir.detach(&mut nk, nname);
            if t.is_dir() {
                t.children().dead = true;
                if let Some(ti) = t.inode() {
                    ti.set_nlink(0);
                    ti.touch(false, false, true);
                }
            } else if let Some(ti) = t.inode() {
                ti.add_links(-1);
            }
        }
        ndir.attach(&mut nk, nname, &old);
    }
    let subdir = i64::from(is_dir);
    let replaced_dir = i64::from(target.as_ref().is_some_and(|t| t.is_dir()));
    if Arc::ptr_eq(odir, ndir) {
        odi.dir_changed(-i64::from(target.is_some()), -replaced_dir);
    } else {
        odi.dir_changed(-1, -subdir);
        ndi.dir_changed(i64::from(target.is_none()), subdir - replaced_dir);
    }
    if let Some(oi) = old.inode() {
        oi.touch(false, false, true);
    }
    Ok(())
}

/// renameat2 with RENAME_EXCHANGE: swaps two names in one filesystem.
pub fn exchange(
    odir: &Arc<Dentry>,
    oname: &[u8],
    ndir: &Arc<Dentry>,
    nname: &[u8],
    old_slash: bool,
    new_slash: bool,
    creds: &Credentials,
) -> SysResult<()> {
    let odi = mem_dir(odir)?;
    let ndi = mem_dir(ndir)?;
    if !Arc::ptr_eq(&odi.fs, &ndi.fs) {
        return Err(Errno::EXDEV);
    }
    let fs = odi.fs.clone();
    let _ns = fs.ns_lock();
    let old = odir.children().map.get(oname).cloned().flatten().ok_or(Errno::ENOENT)?;
    let new = ndir.children().map.get(nname).cloned().flatten().ok_or(Errno::ENOENT)?;
    let (old_is_dir, new_is_dir) = (old.is_dir(), new.is_dir());
    if (!old_is_dir && old_slash) || (!new_is_dir && new_slash) {
        return Err(Errno::ENOTDIR);
    }
    if old.is_ancestor_of(ndir) || new.is_ancestor_of(odir) {
        return Err(Errno::EINVAL);
    }
    if let (Some(a), Some(b)) = (old.inode(), new.inode()) {
        if Arc::ptr_eq(a, b) {
            return Ok(());
        }
    }
    may_delete(&odi.attr(), odi.fsflags(), &old, old_is_dir, creds)?;
    may_delete(&ndi.attr(), ndi.fsflags(), &new, new_is_dir, creds)?;
    if !Arc::ptr_eq(odir, ndir) {
        for (d, is_dir) in [(&old, old_is_dir), (&new, new_is_dir)] {
            if let (true, Some(i)) = (is_dir, d.inode()) {
                super::ops::check_perm(creds, &i.attr(), 2)?;
            }
        }
    }
    if old.is_mount_point() || new.is_mount_point() {
        return Err(Errno::EBUSY);
    }
    if Arc::ptr_eq(odir, ndir) {
        let mut k = odir.children();
        odir.detach(&mut k, oname);
        odir.detach(&mut k, nname);
        odir.attach(&mut k, nname, &old);
        odir.attach(&mut k, oname, &new);
        drop(k);
        odi.dir_changed(0, 0);
    } else {
        odir.detach(&mut odir.children(), oname);
        {
            let mut nk = ndir.children();
            ndir.detach(&mut nk, nname);
            ndir.attach(&mut nk, nname, &old);
        }
        odir.attach(&mut odir.children(), oname, &new);
        let moved = i64::from(new_is_dir) - i64::from(old_is_dir);
        odi.dir_changed(0, moved);
        ndi.dir_changed(0, -moved);
    }
    for d in [&old, &new] {
        if let Some(i) = d.inode() {
            i.touch(false, false, true);
        }
    }
    Ok(())
}

/// An open regular file of an in-Sentry filesystem.
pub struct RegFile {
    inode: Arc<Inode>,
}

impl RegFile {
    /// Opens `inode` (a regular file).
    pub fn new(inode: Arc<Inode>) -> RegFile {
        RegFile { inode }
    }
}

impl FileOps for RegFile {
    fn seekable(&self) -> bool {
        true
    }

    fn seek_data(&self, offset: u64, hole: bool) -> Option<SysResult<u64>> {
        match &self.inode.kind {
            InodeKind::Disk(_) => None,
            _ => Some(self.inode.pages().and_then(|p| p.seek_data(offset, hole))),
        }
    }

    fn cached_pages(&self, first: u64, last: u64) -> u64 {
        match &self.inode.kind {
            InodeKind::Regular(p) => p.lock().unwrap_or_else(|e| e.into_inner()).held(first, last),
            _ => 0,
        }
    }

    fn read(&self, mf: &MemoryFile, dst: &[Chunk], offset: Option<u64>) -> SysResult<usize> {
        let n = match &self.inode.kind {
            InodeKind::Disk(d) => d.read(mf, dst, offset.unwrap_or(0))?,
            _ => self.inode.pages()?.read(mf, dst, offset.unwrap_or(0)),
        };
        self.inode.accessed();
        Ok(n)
    }

    fn write(&self, mf: &MemoryFile, src: &[Chunk], offset: Option<u64>) -> SysResult<usize> {
        let n = match &self.inode.kind {
            InodeKind::Disk(d) => d.write(mf, src, offset.unwrap_or(0))?,
            _ => self.inode.pages()?.write(&self.inode.fs, src, offset.unwrap_or(0))?,
        };
        self.inode.touch(false, true, true);
        Ok(n)
    }

    fn write_append(&self, mf: &MemoryFile, src: &[Chunk]) -> SysResult<(usize, u64)> {
        if let InodeKind::Disk(d) = &self.inode.kind {
            // One appender at a time: the end is found and written at once.
            let _ns = self.inode.fs.ns_lock();
            let at = d.size_and_blocks().0;
            let n = d.write(mf, src, at)?;
            drop(_ns);
            self.inode.touch(false, true, true);
            return Ok((n, at + n as u64));
        }
        let mut p = self.inode.pages()?;
        let at = p.size;
        let n = p.write(&self.inode.fs, src, at)?;
        let end = p.size;
        drop(p);
        self.inode.touch(false, true, true);
        Ok((n, end))
    }

    fn stat(&self) -> SysResult<FileAttr> {
        Ok(self.inode.attr())
    }

    fn truncate(&self, size: u64) -> SysResult<()> {
        self.inode.truncate(size)
    }

    fn allocate(&self, offset: u64, len: u64, keep_size: bool, punch: bool) -> SysResult<()> {
        self.inode.allocate(offset, len, keep_size, punch)
    }

    fn mappable(&self) -> Option<super::file::Mappable> {
        let size = self.inode.attr().size;
        match &self.inode.kind {
            InodeKind::Disk(d) => Some(d.mappable()),
            _ => Some(super::file::Mappable::Pages(self.inode.clone(), size)),
        }
    }

    fn shared_pages(
        &self,
        _write: bool,
        _name: Option<&Arc<super::Dentry>>,
    ) -> Option<SysResult<Arc<dyn crate::mm::PageSource>>> {
        match &self.inode.kind {
            // Its cache's pages, written back to the disk file.
            InodeKind::Disk(d) => Some(d.pages().map(|c| c as Arc<dyn crate::mm::PageSource>)),
            _ => None,
        }
    }
}

/// An open directory of an in-Sentry filesystem.
pub struct DirFile {
    dentry: Arc<Dentry>,
}

impl DirFile {
    /// Opens the directory `dentry`.
    pub fn new(dentry: Arc<Dentry>) -> DirFile {
        DirFile { dentry }
    }
}

impl FileOps for DirFile {
    fn seekable(&self) -> bool {
        true
    }

    fn read(&self, _mf: &MemoryFile, _dst: &[Chunk], _offset: Option<u64>) -> SysResult<usize> {
        Err(Errno::EISDIR)
    }

    fn write(&self, _mf: &MemoryFile, _src: &[Chunk], _offset: Option<u64>) -> SysResult<usize> {
        Err(Errno::EISDIR)
    }

    fn stat(&self) -> SysResult<FileAttr> {
        Ok(self.dentry.attr())
    }

    fn readdir(&self, pos: u64, emit: &mut dyn FnMut(&DirEntry, u64) -> bool) -> SysResult<()> {
        use abi::flags::mode::{dtype, DT_DIR};
        if self.dentry.is_dead() {
            return Err(Errno::ENOENT);
        }
        let ino = self.dentry.attr().ino;
        if pos == 0 && !emit(&DirEntry { name: b".".to_vec(), ino, dtype: DT_DIR }, 1) {
            return Ok(());
        }
        if pos <= 1 {
            let pino = self.dentry.parent().map_or(ino, |p| p.attr().ino);
            if !emit(&DirEntry { name: b"..".to_vec(), ino: pino, dtype: DT_DIR }, FIRST_POS) {
                return Ok(());
            }
        }
        let kids = self.dentry.children();
        for (&p, d) in kids.order.range(pos.max(FIRST_POS)..) {
            let Some(i) = d.inode() else { continue };
            let e = DirEntry { name: d.name(), ino: i.ino, dtype: dtype(d.file_type()) };
            if !emit(&e, p + 1) {
                break;
            }
        }
        Ok(())
    }

    fn seek(&self, _offset: i64, _whence: u32) -> SysResult<u64> {
        Err(Errno::EINVAL)
    }
}
