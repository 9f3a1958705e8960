//! Open files: the object an fd refers to, and the kinds of file behind it.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use abi::flags::mode::{dtype, DT_DIR};
use abi::Errno;
use gofer::{DirEntry, FileAttr};

use super::{gofer_errno, Dentry};
use crate::kernel::waiter::WaitQueue;
use crate::mm::{Chunk, MemoryFile, PageSource, SysResult};

/// What a kind of file can do. Reads and writes move bytes between the file
/// and memory-file chunks (the app's buffers), so no data is copied twice.
pub trait FileOps: Send + Sync {
    /// Whether the open file keeps a position that `read` and `lseek` use.
    /// Streams (pipes, terminals, inherited host fds) do not.
    fn seekable(&self) -> bool;

    /// Whether pread and pwrite work (ESPIPE otherwise). Devices take them
    /// without keeping a position.
    fn positional(&self) -> bool {
        self.seekable()
    }

    /// Reads into `dst` at `offset`, or from the stream's own position when
    /// `offset` is `None`.
    fn read(&self, _mf: &MemoryFile, _dst: &[Chunk], _offset: Option<u64>) -> SysResult<usize> {
        Err(Errno::EINVAL)
    }

    /// Writes `src` at `offset`, or at the stream's own position.
    fn write(&self, _mf: &MemoryFile, _src: &[Chunk], _offset: Option<u64>) -> SysResult<usize> {
        Err(Errno::EINVAL)
    }

    /// Writes `src` at the end of the file, atomically with finding the end
    /// (O_APPEND). Returns the bytes written and the new end.
    fn write_append(&self, mf: &MemoryFile, src: &[Chunk]) -> SysResult<(usize, u64)> {
        let end = self.stat()?.size;
        let n = self.write(mf, src, Some(end))?;
        Ok((n, end + n as u64))
    }

    /// The file's attributes.
    fn stat(&self) -> SysResult<FileAttr>;

    /// ftruncate; EINVAL for anything but a writable regular file.
    fn truncate(&self, _size: u64) -> SysResult<()> {
        Err(Errno::EINVAL)
    }

    /// fallocate: reserve (or, with `punch`, free) `[offset, offset + len)`;
    /// `keep_size` leaves the file's size alone.
    fn allocate(&self, _offset: u64, _len: u64, _keep_size: bool, _punch: bool) -> SysResult<()> {
        Err(Errno::ENODEV)
    }

    /// fsync (fdatasync with `data_only`): files whose data the host
    /// holds write it out; in-Sentry files have nowhere further to go.
    fn sync(&self, _data_only: bool) -> SysResult<()> {
        Ok(())
    }

    /// lseek for files that keep their own position.
    fn seek(&self, _offset: i64, _whence: u32) -> SysResult<u64> {
        Err(Errno::ESPIPE)
    }

    /// SEEK_DATA (`hole` false) or SEEK_HOLE from `offset` (below the
    /// size), for files that know their holes: where it lands, or ENXIO
    /// (no data after `offset`). None: the whole file is data, with one
    /// hole at its end, as Linux's generic_file_llseek has it.
    fn seek_data(&self, _offset: u64, _hole: bool) -> Option<SysResult<u64>> {
        None
    }

    /// How many of the pages `first..=last` of the file the Sentry holds
    /// in memory (cachestat's page cache): a tmpfs file's pages. Others
    /// are read from the host each time: none.
    fn cached_pages(&self, _first: u64, _last: u64) -> u64 {
        0
    }

    /// Directory entries, for getdents64, as one list.
    fn entries(&self) -> SysResult<&[DirEntry]> {
        Err(Errno::ENOTDIR)
    }

    /// Directory entries from position `pos` on: calls `emit` with each
    /// entry and the position after it until `emit` returns false.
    fn readdir(&self, pos: u64, emit: &mut dyn FnMut(&DirEntry, u64) -> bool) -> SysResult<()> {
        let entries = self.entries()?;
        let start = usize::try_from(pos).unwrap_or(usize::MAX);
        for (i, e) in entries.iter().enumerate().skip(start) {
            if !emit(e, i as u64 + 1) {
                break;
            }
        }
        Ok(())
    }

    /// An ioctl; ENOTTY unless the file is a terminal.
    fn ioctl(&self, _cmd: u32, _arg: &mut [u8]) -> SysResult<u64> {
        Err(Errno::ENOTTY)
    }

    /// The terminal this file is, for the terminal ioctls and job control.
    fn tty(&self) -> Option<&Arc<crate::kernel::tty::Tty>> {
        None
    }

    /// Whether this is a terminal file that vhangup hung up: its ioctls
    /// fail with EIO (TIOCSPGRP with ENOTTY).
    fn hung_up(&self) -> bool {
        false
    }

    /// What backs a mapping of this file, for files that can be mapped.
    fn mappable(&self) -> Option<Mappable> {
        None
    }

    /// For a host file that may be written (a volume's): the pages a
    /// shared mapping maps, a cache written back to the host (`write`:
    /// the mapping may write; `name`: the file's, which the cache keeps for
    /// a checkpoint). `None` for other files.
    fn shared_pages(&self, _write: bool, _name: Option<&Arc<super::Dentry>>) -> Option<SysResult<Arc<dyn PageSource>>> {
        None
    }

    /// Readiness: the `POLL*` events that would not block now. Files that
    /// never block are always readable and writable.
    fn readiness(&self) -> u32 {
        POLLIN | POLLOUT
    }

    /// The pipe this file is an end of (a pipe or an open FIFO), for
    /// F_GETPIPE_SZ and F_SETPIPE_SZ.
    fn pipe(&self) -> Option<&Arc<super::pipe::Pipe>> {
        None
    }

    /// Whether this is a pipe (or FIFO).
    fn is_pipe(&self) -> bool {
        self.pipe().is_some()
    }

    /// The queue a task waits on when this file would block (read or write
    /// returned EAGAIN); notified when readiness changes.
    fn wait_queue(&self) -> Option<&WaitQueue> {
        None
    }

    /// Whether O_ASYNC works on this file (Linux's `fasync`): a signal to
    /// its owner at each event of its wait queue. Pipes, sockets,
    /// terminals and inotify have it; files without keep no O_ASYNC.
    fn fasync(&self) -> bool {
        false
    }

    /// A host fd whose readiness is this file's, for files that are host
    /// streams: the Sentry waits for them with the host's poll.
    fn host_fd(&self) -> Option<RawFd> {
        None
    }

    /// The host fd of a host tree's regular file (a checkpoint copies one
    /// deleted while open through it).
    fn host_file_fd(&self) -> Option<RawFd> {
        None
    }

    /// Whether poll and epoll can wait for this file: it has a wait queue,
    /// or is a host stream. Linux's regular files, directories and most
    /// devices cannot be added to an epoll set (EPERM).
    fn pollable(&self) -> bool {
        self.wait_queue().is_some() || self.host_fd().is_some()
    }

    /// The name of an anonymous-inode file (`[eventfd]`, `[eventpoll]`), as
    /// /proc/PID/fd shows it after `anon_inode:`.
    fn anon_name(&self) -> Option<&'static str> {
        None
    }

    /// The epoll set this file is, for epoll_ctl and epoll_wait.
    fn epoll(&self) -> Option<&std::sync::Arc<super::epoll::Epoll>> {
        None
    }

    /// The signalfd this file is: its reads take the reading task's
    /// signals.
    fn signalfd(&self) -> Option<&super::signalfd::SignalFd> {
        None
    }

    /// The eventfd this file is: its writes wait for room for their value,
    /// not for the file to be writable.
    fn eventfd(&self) -> Option<&super::eventfd::EventFd> {
        None
    }

    /// The process this file stands for (a pidfd).
    fn pidfd(&self) -> Option<&super::pidfd::PidFd> {
        None
    }

    /// The timer this file is, for timerfd_settime and timerfd_gettime.
    fn timerfd(&self) -> Option<&std::sync::Arc<super::timerfd::TimerFd>> {
        None
    }

    /// The host socket this file is (`--network host`), for the socket
    /// calls.
    fn host_socket(&self) -> Option<&std::sync::Arc<super::hostinet::HostSocket>> {
        None
    }

    /// The Unix socket this file is, for the socket calls (ENOTSOCK
    /// otherwise).
    fn unix_socket(&self) -> Option<&super::unix::UnixSocket> {
        None
    }

    /// The inotify instance this file is, for inotify_add_watch and
    /// inotify_rm_watch.
    fn inotify(&self) -> Option<&Arc<super::inotify::Inotify>> {
        None
    }

    /// The namespace this file stands for (an open /proc/PID/ns link),
    /// for setns and the NS_GET_* ioctls.
    fn namespace(&self) -> Option<&crate::kernel::ns::NsRef> {
        None
    }

    /// The memfd this file is, for F_ADD_SEALS and F_GET_SEALS.
    fn memfd(&self) -> Option<&super::memfd::MemFd> {
        None
    }

    /// Whether seals forbid writes and new writable shared mappings.
    fn write_sealed(&self) -> bool {
        false
    }

    /// What /proc/PID/fd shows for a file with no path of its own (a
    /// memfd's `/memfd:NAME (deleted)`).
    fn fd_link(&self) -> Option<Vec<u8>> {
        None
    }

    /// For an open /proc/PID/maps: the process (and thread) whose
    /// mappings PROCMAP_QUERY describes.
    fn maps_of(&self) -> Option<(i32, Option<i32>)> {
        None
    }

    /// For a pseudo-terminal's master: the replica terminal of its pair.
    fn pty_master(&self) -> Option<&Arc<crate::kernel::tty::Tty>> {
        None
    }

    /// How long a blocking read waits for data before it returns 0 (a
    /// terminal in non-canonical mode with VMIN 0 and VTIME set); None:
    /// as long as it takes.
    fn read_timeout(&self) -> Option<std::time::Duration> {
        None
    }

    /// Which of the sandbox's stdio fds from the runtime this is (a
    /// restore gives the new sandbox's in its place).
    fn stdio_index(&self) -> Option<u8> {
        None
    }

    /// The terminal file this is (a console's or a pty replica's), hung
    /// up or not, for a checkpoint.
    fn tty_file(&self) -> Option<&crate::kernel::tty::TtyFile> {
        None
    }

    /// The pty master this is, for a checkpoint.
    fn pty_master_file(&self) -> Option<&crate::kernel::pty::PtyMaster> {
        None
    }

    /// The POSIX message queue this file is, for the mq_* calls (EBADF
    /// otherwise).
    fn mqueue(&self) -> Option<&Arc<crate::kernel::ipc::mqueue::Mq>> {
        None
    }
}

/// What mmap of a file maps.
pub enum Mappable {
    /// A rootfs file: private copies from this host fd (of this size).
    Host(Arc<OwnedFd>, u64),
    /// A file whose data is memory-file pages (tmpfs), of this size: shared
    /// mappings map the pages themselves.
    Pages(Arc<dyn PageSource>, u64),
    /// Anonymous memory (/dev/zero).
    Anon,
}

/// poll(2) event bits.
pub const POLLIN: u32 = 0x1;
/// Urgent data.
pub const POLLPRI: u32 = 0x2;
/// Writable.
pub const POLLOUT: u32 = 0x4;
/// Error.
pub const POLLERR: u32 = 0x8;
/// The other end closed.
pub const POLLHUP: u32 = 0x10;
/// Not an open fd.
pub const POLLNVAL: u32 = 0x20;
/// Readable (normal data).
pub const POLLRDNORM: u32 = 0x40;
/// Writable (normal data).
pub const POLLWRNORM: u32 = 0x100;

/// An open file description.
pub struct File {
    /// The kind of file.
    pub ops: Box<dyn FileOps>,
    /// Status flags (O_APPEND, O_NONBLOCK, the access mode...).
    flags: AtomicU32,
    /// The position, for seekable files.
    pub offset: Mutex<u64>,
    /// Where the file sits in the tree, if it has a name.
    pub dentry: Option<Arc<Dentry>>,
    /// It took a flock or OFD lock once: its last reference lets its locks
    /// go.
    locked: std::sync::atomic::AtomicBool,
    /// Who hears of its events (F_SETOWN, F_SETSIG, O_ASYNC).
    pub owner: crate::kernel::fasync::FileOwner,
}

/// inotify's IN_CLOSE_WRITE or IN_CLOSE_NOWRITE when the last reference
/// to an open file with a name goes, and its locks go.
impl Drop for File {
    fn drop(&mut self) {
        use abi::flags::open::{O_ACCMODE, O_PATH, O_RDONLY};
        if self.locked.load(Ordering::Relaxed) {
            crate::kernel::locks::LOCKS.release_file(self as *const File as usize);
        }
        super::inotify::dnotify_release(self as *const File as usize, None);
        self.owner.release(self);
        crate::kernel::lease::LEASES.release_file(self as *const File as usize);
        let Some(d) = &self.dentry else { return };
        let flags = self.flags();
        if flags & O_PATH == 0 && super::inotify::active() {
            let mask = if flags & O_ACCMODE == O_RDONLY {
                super::inotify::IN_CLOSE_NOWRITE
            } else {
                super::inotify::IN_CLOSE_WRITE
            };
            super::inotify::notify_dentry(d, mask);
        }
    }
}

impl File {
    /// A new open file.
    pub fn new(ops: Box<dyn FileOps>, flags: u32, dentry: Option<Arc<Dentry>>) -> Arc<File> {
        Arc::new(File {
            ops,
            flags: AtomicU32::new(flags),
            offset: Mutex::new(0),
            dentry,
            locked: std::sync::atomic::AtomicBool::new(false),
            owner: crate::kernel::fasync::FileOwner::default(),
        })
    }

    /// Notes that this open file description holds (or held) a flock or
    /// OFD lock, to let go of when it closes.
    pub fn note_locks(&self) {
        self.locked.store(true, Ordering::Relaxed);
    }

    /// The status flags.
    pub fn flags(&self) -> u32 {
        self.flags.load(Ordering::Relaxed)
    }

    /// Replaces the status flags.
    pub fn set_flags(&self, f: u32) {
        self.flags.store(f, Ordering::Relaxed);
    }
}

/// A regular file served by the Gofer, read (and in a writable host tree,
/// written) through the host fd it donated.
pub struct HostFile {
    /// The donated fd; shared with mappings of the file.
    pub fd: Arc<OwnedFd>,
    /// The attributes of a read-only tree's file, which never change;
    /// `None`: the host's, asked at each stat (a writable tree's file).
    attr: Option<FileAttr>,
    /// A writable tree's file: its identity (the key of its cache while
    /// shared mappings of it live, `super::hostcache`), whether the fd
    /// may write, and the memory file a cache would live in.
    live: Option<LiveHost>,
    /// A lower file of an overlay: its dentry, whose copy (once the file is
    /// copied up) this open file reads from then on, as overlayfs does.
    lower_of: Option<Arc<Dentry>>,
}

struct LiveHost {
    key: (u64, u64),
    writable: bool,
    mf: Arc<MemoryFile>,
}

/// Appends to host files one at a time: finding the end and writing there
/// is one step for the sandbox's writers (the host fd is never opened
/// O_APPEND, whose writes would ignore pwrite's offset).
static HOST_APPEND: Mutex<()> = Mutex::new(());

impl HostFile {
    /// Wraps a donated fd of a read-only tree's file (which other opens of
    /// it may share: it is only read at offsets).
    pub fn new(fd: Arc<OwnedFd>, attr: FileAttr) -> HostFile {
        HostFile { fd, attr: Some(attr), live: None, lower_of: None }
    }

    /// Wraps a donated fd of an overlay's lower file `d` (shared as in
    /// [`HostFile::new`]).
    pub fn new_lower(fd: Arc<OwnedFd>, attr: FileAttr, d: Arc<Dentry>) -> HostFile {
        HostFile { fd, attr: Some(attr), live: None, lower_of: Some(d) }
    }

    /// The copy of the overlay's lower file this opened, once there is one.
    fn copy(&self) -> Option<super::tmpfs::RegFile> {
        let inode = self.lower_of.as_ref()?.inode()?;
        Some(super::tmpfs::RegFile::new(inode.clone()))
    }

    /// Wraps a donated fd of a writable host tree's file, open with the
    /// app's `flags`.
    pub fn new_live(fd: OwnedFd, flags: u32, mf: Arc<MemoryFile>) -> SysResult<HostFile> {
        use abi::flags::open::{O_ACCMODE, O_RDONLY};
        let a = crate::sys::fstat(fd.as_raw_fd())?;
        let live = LiveHost { key: (a.dev, a.ino), writable: flags & O_ACCMODE != O_RDONLY, mf };
        Ok(HostFile { fd: Arc::new(fd), attr: None, live: Some(live), lower_of: None })
    }

    /// The cache of the file, while shared mappings of it live.
    fn cache(&self) -> Option<Arc<super::hostcache::HostCache>> {
        super::hostcache::lookup(self.live.as_ref()?.key)
    }
}

fn host_io(r: std::io::Result<usize>) -> SysResult<usize> {
    r.map_err(|e| Errno(e.raw_os_error().unwrap_or(libc::EIO)))
}

impl FileOps for HostFile {
    fn host_file_fd(&self) -> Option<RawFd> {
        Some(self.fd.as_raw_fd())
    }

    fn seekable(&self) -> bool {
        true
    }

    fn read(&self, mf: &MemoryFile, dst: &[Chunk], offset: Option<u64>) -> SysResult<usize> {
        if let Some(copy) = self.copy() {
            return copy.read(mf, dst, offset);
        }
        // While shared mappings of it live, the file is its cache.
        if let (Some(cache), Some(off)) = (self.cache(), offset) {
            return Ok(cache.read(mf, dst, off));
        }
        host_io(mf.read_from_fd(self.fd.as_raw_fd(), dst, offset))
    }

    fn write(&self, mf: &MemoryFile, src: &[Chunk], offset: Option<u64>) -> SysResult<usize> {
        // A read-only tree's fd is read-only (EBADF from the host too).
        if self.attr.is_some() {
            return Err(Errno::EBADF);
        }
        let n = host_io(mf.write_to_fd(self.fd.as_raw_fd(), src, offset))?;
        if let (Some(cache), Some(off)) = (self.cache(), offset) {
            let mut left = n as u64;
            let done: Vec<Chunk> = src
                .iter()
                .map_while(|c| {
                    let take = c.len.min(left);
                    left -= take;
                    (take > 0).then_some(Chunk { off: c.off, len: take })
                })
                .collect();
            cache.wrote(&done, off)?;
        }
        Ok(n)
    }

    fn write_append(&self, mf: &MemoryFile, src: &[Chunk]) -> SysResult<(usize, u64)> {
        let _one = HOST_APPEND.lock().unwrap_or_else(|e| e.into_inner());
        let end = self.stat()?.size;
        let n = self.write(mf, src, Some(end))?;
        Ok((n, end + n as u64))
    }

    fn stat(&self) -> SysResult<FileAttr> {
        if let Some(copy) = self.copy() {
            return copy.stat();
        }
        match self.attr {
            Some(a) => Ok(a),
            None => crate::sys::fstat(self.fd.as_raw_fd()),
        }
    }

    fn truncate(&self, size: u64) -> SysResult<()> {
        crate::sys::ftruncate(self.fd.as_raw_fd(), size)?;
        if let Some(cache) = self.cache() {
            cache.truncated(size);
        }
        Ok(())
    }

    fn allocate(&self, offset: u64, len: u64, keep_size: bool, punch: bool) -> SysResult<()> {
        crate::sys::fallocate(self.fd.as_raw_fd(), offset, len, keep_size, punch)?;
        if let Some(cache) = self.cache() {
            cache.allocated(offset, len, punch, crate::sys::fstat(self.fd.as_raw_fd())?.size);
        }
        Ok(())
    }

    fn sync(&self, data_only: bool) -> SysResult<()> {
        crate::sys::fsync(self.fd.as_raw_fd(), data_only)
    }

    fn mappable(&self) -> Option<Mappable> {
        if let Some(copy) = self.copy() {
            return copy.mappable();
        }
        let size = self.stat().map_or(0, |a| a.size);
        // A private mapping copies the file, from its cache if it has one.
        match self.cache() {
            Some(cache) => Some(Mappable::Pages(cache, size)),
            None => Some(Mappable::Host(self.fd.clone(), size)),
        }
    }

    fn shared_pages(&self, write: bool, name: Option<&Arc<super::Dentry>>) -> Option<SysResult<Arc<dyn PageSource>>> {
        let live = self.live.as_ref()?;
        let cache = super::hostcache::get_or_create(live.key, &self.fd, write && live.writable, name, &live.mf);
        Some(cache.map(|c| c as Arc<dyn PageSource>))
    }
}

/// The attributes of an anonymous-inode file (eventfd, epoll, timerfd):
/// mode 0600 with no file type, as Linux's anon_inodefs shows them.
pub fn anon_inode_attr(ino: u64) -> FileAttr {
    FileAttr { mode: 0o600, nlink: 1, blksize: 4096, ino, dev: 0xd, ..FileAttr::default() }
}

/// Copies `bytes` into the memory-file runs `dst`, as far as they reach;
/// returns how many were copied.
pub fn put_bytes(mf: &MemoryFile, dst: &[Chunk], mut bytes: &[u8]) -> usize {
    let mut done = 0;
    for c in dst {
        if bytes.is_empty() {
            break;
        }
        let n = bytes.len().min(c.len as usize);
        mf.write(c.off, &bytes[..n]);
        bytes = &bytes[n..];
        done += n;
    }
    done
}

/// Fills `out` from the memory-file runs `src`, as far as they reach;
/// returns how many bytes were copied.
pub fn get_bytes(mf: &MemoryFile, src: &[Chunk], out: &mut [u8]) -> usize {
    let mut done = 0;
    for c in src {
        if done == out.len() {
            break;
        }
        let n = (out.len() - done).min(c.len as usize);
        mf.read(c.off, &mut out[done..done + n]);
        done += n;
    }
    done
}

/// A file opened with O_PATH: it names a file but reads and writes nothing.
pub struct PathOnly {
    attr: FileAttr,
}

impl PathOnly {
    /// An O_PATH file for a dentry's attributes.
    pub fn new(attr: FileAttr) -> PathOnly {
        PathOnly { attr }
    }
}

impl FileOps for PathOnly {
    fn seekable(&self) -> bool {
        false
    }

    fn read(&self, _mf: &MemoryFile, _dst: &[Chunk], _offset: Option<u64>) -> SysResult<usize> {
        Err(Errno::EBADF)
    }

    fn write(&self, _mf: &MemoryFile, _src: &[Chunk], _offset: Option<u64>) -> SysResult<usize> {
        Err(Errno::EBADF)
    }

    fn stat(&self) -> SysResult<FileAttr> {
        Ok(self.attr)
    }

    fn seek(&self, _offset: i64, _whence: u32) -> SysResult<u64> {
        Err(Errno::EBADF)
    }

    fn entries(&self) -> SysResult<&[DirEntry]> {
        Err(Errno::EBADF)
    }

    fn ioctl(&self, _cmd: u32, _arg: &mut [u8]) -> SysResult<u64> {
        Err(Errno::EBADF)
    }
}

/// A directory of the rootfs. Its entries are fetched from the Gofer once,
/// on the first getdents64, plus any mount point synthesised in it.
pub struct DirFile {
    vfs_gofer: Arc<gofer::GoferClient>,
    dentry: Arc<Dentry>,
    entries: OnceLock<Vec<DirEntry>>,
}

impl DirFile {
    /// A directory file for `dentry`.
    pub fn new(gofer: Arc<gofer::GoferClient>, dentry: Arc<Dentry>) -> DirFile {
        DirFile { vfs_gofer: gofer, dentry, entries: OnceLock::new() }
    }
}

impl FileOps for DirFile {
    fn seekable(&self) -> bool {
        true
    }

    fn read(&self, _mf: &MemoryFile, _dst: &[Chunk], _offset: Option<u64>) -> SysResult<usize> {
        Err(Errno::EISDIR)
    }

    fn stat(&self) -> SysResult<FileAttr> {
        self.dentry.fresh_attr()
    }

    fn entries(&self) -> SysResult<&[DirEntry]> {
        if let Some(e) = self.entries.get() {
            return Ok(e);
        }
        let fid = self.dentry.lower_fid().ok_or(Errno::ENOTDIR)?;
        let ino = self.dentry.attr().ino;
        let mut list = vec![
            DirEntry { name: b".".to_vec(), ino, dtype: DT_DIR },
            DirEntry { name: b"..".to_vec(), ino: self.dentry.parent().map_or(ino, |p| p.attr().ino), dtype: DT_DIR },
        ];
        // The lower directory's entries, as the child map changes them:
        // whiteouts, copies, new names (for a read-only root, only mount
        // points the rootfs lacks, synthesised in the map).
        let lower = self.vfs_gofer.getdents(fid).map_err(gofer_errno)?;
        list.extend(super::overlay::merged_entries(&self.dentry, lower));
        Ok(self.entries.get_or_init(|| list))
    }

    fn seek(&self, _offset: i64, _whence: u32) -> SysResult<u64> {
        Err(Errno::EINVAL)
    }
}

/// One of the host fds `husk run` hands the app as its stdin, stdout or
/// stderr, when it is not a terminal (see `kernel::tty` for those): a pipe
/// or a file of the caller's choosing.
pub struct HostStdio {
    fd: OwnedFd,
    /// Which of the runtime's stdio fds it is (0, 1 or 2), for a restore
    /// to give the new sandbox's.
    index: u8,
}

impl HostStdio {
    /// Wraps the inherited host fd that is the sandbox's stdio fd `index`.
    pub fn new(fd: OwnedFd, index: u8) -> HostStdio {
        HostStdio { fd, index }
    }
}

impl FileOps for HostStdio {
    fn seekable(&self) -> bool {
        false
    }

    fn stdio_index(&self) -> Option<u8> {
        Some(self.index)
    }

    fn read(&self, mf: &MemoryFile, dst: &[Chunk], offset: Option<u64>) -> SysResult<usize> {
        // Never sleep in the host: the caller waits (interruptibly) instead.
        if crate::sys::poll_one(self.fd.as_raw_fd(), POLLIN, 0) == 0 {
            return Err(Errno::EAGAIN);
        }
        loop {
            match mf.read_from_fd(self.fd.as_raw_fd(), dst, offset) {
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
                r => return host_io(r),
            }
        }
    }

    fn write(&self, mf: &MemoryFile, src: &[Chunk], offset: Option<u64>) -> SysResult<usize> {
        if crate::sys::poll_one(self.fd.as_raw_fd(), POLLOUT, 0) == 0 {
            return Err(Errno::EAGAIN);
        }
        loop {
            match mf.write_to_fd(self.fd.as_raw_fd(), src, offset) {
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
                r => return host_io(r),
            }
        }
    }

    fn readiness(&self) -> u32 {
        crate::sys::poll_one(self.fd.as_raw_fd(), POLLIN | POLLOUT, 0)
    }

    fn host_fd(&self) -> Option<RawFd> {
        Some(self.fd.as_raw_fd())
    }

    fn stat(&self) -> SysResult<FileAttr> {
        crate::sys::fstat(self.fd.as_raw_fd())
    }

    fn seek(&self, offset: i64, whence: u32) -> SysResult<u64> {
        crate::sys::lseek(self.fd.as_raw_fd(), offset, whence)
    }
}

/// `d_type` for an attribute's mode.
pub fn attr_dtype(a: &FileAttr) -> u8 {
    dtype(a.mode)
}
