//! Syscalls on open files: open, creat, close, read and write in their
//! variants, lseek, getdents64, the dup family, fcntl and ioctl.

use std::os::fd::OwnedFd;
use std::sync::Arc;

#[cfg(target_arch = "x86_64")]
use abi::flags::at::AT_FDCWD;
use abi::flags::fcntl::*;
use abi::flags::ioctl::{FIOCLEX, FIONBIO, FIONCLEX, FS_IOC_GETFLAGS, FS_IOC_SETFLAGS};
use abi::flags::mode::{S_IFCHR, S_IFIFO, S_IFMT, S_IFREG};
use abi::flags::open::*;
use abi::flags::seek::*;
use abi::types::Iovec;
use abi::Errno;
use zerocopy::IntoBytes;

use super::fs::{read_path, start_dir};
use super::Args;
use crate::kernel::process::Credentials;
use crate::kernel::task::Task;
use crate::mm::{Chunk, MemoryFile, PinnedIo, SysResult};
use crate::vfs::file::{DirFile, File, FileOps, HostFile, PathOnly, POLLERR, POLLHUP, POLLIN, POLLOUT};
use crate::vfs::ops::{self, MAY_READ, MAY_WRITE};
use crate::vfs::pipe::{FifoFile, Pipe};
use crate::vfs::synth::{SynthDirFile, SynthFile, SynthKind};
use crate::vfs::tmpfs::{self, InodeKind, NewKind};
use crate::vfs::{devfs, gofer_errno, Dentry, Follow, Last, Node, Restrict, Vfs};
use smallvec::SmallVec;

/// Linux caps one read or write at this many bytes.
const MAX_RW_COUNT: u64 = 0x7fff_f000;
/// Most iovecs one readv or writev takes.
const IOV_MAX: u64 = 1024;
/// fcntl: the pipe capacity.
const F_SETPIPE_SZ: u32 = 1031;
const F_GETPIPE_SZ: u32 = 1032;
const F_ADD_SEALS: u32 = 1033;
/// dnotify: signal the caller when the directory changes.
const F_NOTIFY: u32 = 1026;
/// File leases.
const F_SETLEASE: u32 = 1024;
const F_GETLEASE: u32 = 1025;
const F_GET_SEALS: u32 = 1034;
use crate::vfs::pipe::PIPE_MAX_SIZE;
/// Status flags F_SETFL may change.
const SETFL_MASK: u32 = O_APPEND | O_ASYNC | O_DIRECT | O_NOATIME | O_NONBLOCK;
/// Status flags an open file keeps.
const STATUS_MASK: u32 = O_ACCMODE | O_APPEND | O_ASYNC | O_DIRECT | O_NOATIME | O_NONBLOCK | O_SYNC | O_DSYNC | O_PATH;

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Dir {
    Read,
    Write,
}

/// Pins the memory-file runs behind a list of app buffers for one attempt
/// at a transfer (see [`crate::mm::MemoryManager::pin_buffers`]), cut at
/// the first buffer that is not accessible. EFAULT if nothing at all is.
pub(super) fn pin_buffers(t: &Task, bufs: &[(u64, u64)], dir: Dir) -> SysResult<PinnedIo> {
    let pin = t.mm().pin_buffers(bufs, dir == Dir::Read);
    if pin.is_empty() {
        return Err(Errno::EFAULT);
    }
    Ok(pin)
}

/// `bufs` without their first `skip` bytes.
pub(super) fn skip_bytes(bufs: &[(u64, u64)], mut skip: u64) -> SmallVec<[(u64, u64); 4]> {
    let mut out = SmallVec::new();
    for &(addr, len) in bufs {
        if skip >= len {
            skip -= len;
            continue;
        }
        out.push((addr + skip, len - skip));
        skip = 0;
    }
    out
}

/// The first `max` bytes of `bufs`.
pub(super) fn take_bytes(bufs: &[(u64, u64)], mut max: u64) -> SmallVec<[(u64, u64); 4]> {
    let mut out = SmallVec::new();
    for &(addr, len) in bufs {
        if max == 0 {
            break;
        }
        out.push((addr, len.min(max)));
        max -= len.min(max);
    }
    out
}

/// The most of a read's buffers pinned for one attempt. Pinning for a read
/// breaks copy-on-write over what it pins, so a read with a huge count into
/// a forked heap would otherwise copy the heap ahead of data that may never
/// come (Linux copies only the pages it fills).
/// - A seekable file is read a piece at a time, on to the next piece while
///   each comes back full: the same bytes as one read.
/// - A stream's read returns what is there, and no pipe or socket buffer
///   holds more than this, so one piece is what one read could return.
const READ_PIECE_SEEKABLE: u64 = 1 << 20;
const READ_PIECE_STREAM: u64 = 64 << 20;

pub(super) fn check_access(f: &File, dir: Dir) -> SysResult<()> {
    let mode = f.flags() & O_ACCMODE;
    let ok = match dir {
        Dir::Read => mode == O_RDONLY || mode == O_RDWR,
        Dir::Write => mode == O_WRONLY || mode == O_RDWR,
    };
    if f.flags() & O_PATH != 0 || !ok {
        return Err(Errno::EBADF);
    }
    Ok(())
}

/// The core of every read and write: `pos` is Some for pread/pwrite.
/// Streams that would block put the task to sleep (interruptibly) unless the
/// file is O_NONBLOCK; a blocking write keeps going until all is written.
pub(super) fn transfer(t: &mut Task, fd: i32, bufs: &[(u64, u64)], pos: Option<u64>, dir: Dir) -> SysResult<u64> {
    transfer_opts(t, fd, bufs, Way { pos, dir, nowait: false })
}

/// How a transfer goes: at `pos` (None: the file's offset), in `dir`, and
/// with `nowait` (RWF_NOWAIT) giving EAGAIN where it would wait, as
/// O_NONBLOCK does.
#[derive(Clone, Copy)]
struct Way {
    pos: Option<u64>,
    dir: Dir,
    nowait: bool,
}

/// [`transfer`], the way `way` says.
fn transfer_opts(t: &mut Task, fd: i32, bufs: &[(u64, u64)], way: Way) -> SysResult<u64> {
    let dir = way.dir;
    let r = transfer_data(t, fd, bufs, way);
    // /proc/PID/io counts every call, and the bytes it moved.
    let io = &t.handle.tg.io;
    let (bytes, calls) = if dir == Dir::Read { (&io.rchar, &io.syscr) } else { (&io.wchar, &io.syscw) };
    calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let n = r?;
    bytes.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
    // inotify: IN_ACCESS for data read, IN_MODIFY for data written.
    if n > 0 && crate::vfs::inotify::active() {
        if let Some(d) = t.fds().get(fd).ok().and_then(|f| f.dentry.clone()) {
            use crate::vfs::inotify::{notify_dentry, IN_ACCESS, IN_MODIFY};
            notify_dentry(&d, if dir == Dir::Read { IN_ACCESS } else { IN_MODIFY });
        }
    }
    Ok(n)
}

fn transfer_data(t: &mut Task, fd: i32, bufs: &[(u64, u64)], way: Way) -> SysResult<u64> {
    let Way { pos, dir, nowait } = way;
    let f = t.fds().get(fd)?.clone();
    // pread and pwrite on what has no position: ESPIPE before the access
    // mode matters (Linux checks FMODE_PREAD/PWRITE first), but after
    // O_PATH's EBADF.
    if pos.is_some() && !f.ops.positional() && f.flags() & O_PATH == 0 {
        return Err(Errno::ESPIPE);
    }
    check_access(&f, dir)?;
    if bufs.iter().all(|&(_, l)| l == 0) {
        return Ok(0);
    }
    // A signalfd's read takes the reading task's signals.
    if dir == Dir::Read && f.ops.signalfd().is_some() && pos.is_none() {
        return super::event::signalfd_read(t, &f, bufs);
    }
    // An eventfd's write takes one value, and waits for room for it.
    if dir == Dir::Write && f.ops.eventfd().is_some() && pos.is_none() {
        return super::event::eventfd_write(t, &f, bufs);
    }
    if pos.is_some() && !f.ops.positional() {
        return Err(Errno::ESPIPE);
    }
    if let Some(tty) = f.ops.tty() {
        match dir {
            Dir::Read => crate::kernel::tty::check_read(t, tty)?,
            Dir::Write => crate::kernel::tty::check_write(t, tty)?,
        }
    }
    // O_APPEND writes go to the end, found atomically with the write (for
    // pwrite too, as in Linux).
    let append = dir == Dir::Write && f.flags() & O_APPEND != 0 && f.ops.seekable();
    // RLIMIT_FSIZE: a regular file's write stops at the limit (looked at
    // only when there is one: writes are a hot path).
    let capped;
    let fsize_limited = t.rlimits()[abi::flags::rlimit::RLIMIT_FSIZE as usize].cur != abi::flags::rlimit::RLIM_INFINITY;
    let bufs = if dir == Dir::Write && fsize_limited && f.ops.seekable() {
        let start = if append {
            None
        } else {
            Some(pos.unwrap_or_else(|| *f.offset.lock().unwrap_or_else(|e| e.into_inner())))
        };
        capped = take_bytes(bufs, room_under_fsize_limit(t, &f, start)?);
        &capped[..]
    } else {
        bufs
    };
    let mf = t.kernel.memfile.clone();
    let nonblock = nowait || f.flags() & O_NONBLOCK != 0;
    let total: u64 = bufs.iter().map(|&(_, l)| l).sum();
    let mut done = 0u64;
    let deadline = if dir == Dir::Read { f.ops.read_timeout().map(crate::kernel::timer::deadline_in) } else { None };
    let piece = match dir {
        Dir::Read if f.ops.seekable() => READ_PIECE_SEEKABLE,
        Dir::Read => READ_PIECE_STREAM,
        Dir::Write => u64::MAX,
    };
    loop {
        // The buffers are found afresh for each attempt, and pinned while
        // the data moves: after a wait, another thread may have forked,
        // unmapped or written them, which moves their pages.
        let want = take_bytes(&skip_bytes(bufs, done), piece);
        let asked: u64 = want.iter().map(|&(_, l)| l).sum();
        let pin = match pin_buffers(t, &want, dir) {
            Ok(pin) => pin,
            Err(e) => return if done > 0 { Ok(done) } else { Err(e) },
        };
        let rest = pin.chunks();
        let r = match pos {
            Some(_) if append => f.ops.write_append(&mf, rest).map(|(n, _)| n),
            Some(p) => io_once(&f, &mf, rest, Some(p + done), dir),
            None if append => {
                let mut off = f.offset.lock().unwrap_or_else(|e| e.into_inner());
                f.ops.write_append(&mf, rest).map(|(n, end)| {
                    *off = end;
                    n
                })
            }
            None if f.ops.seekable() => {
                let mut off = f.offset.lock().unwrap_or_else(|e| e.into_inner());
                let r = io_once(&f, &mf, rest, Some(*off), dir);
                if let Ok(n) = r {
                    *off += n as u64;
                }
                r
            }
            None => io_once(&f, &mf, rest, None, dir),
        };
        drop(pin);
        match r {
            Ok(n) => {
                done += n as u64;
                // A seekable file's read goes on to its next piece while
                // each comes back full.
                if dir == Dir::Read && f.ops.seekable() && n as u64 == asked && done < total {
                    continue;
                }
                // Reads return what there is; blocking stream writes go on.
                if dir == Dir::Read || n == 0 || done >= total || f.ops.seekable() || nonblock {
                    return Ok(done);
                }
            }
            // (A read that has data returns it rather than wait for more.)
            Err(Errno::EAGAIN) if !(nonblock || dir == Dir::Read && done > 0) => {
                match wait_ready(t, &f, dir, deadline) {
                    Ok(()) => {}
                    // A terminal's VTIME ran out: the read finds nothing.
                    Err(Errno::ETIMEDOUT) => return Ok(done),
                    Err(e) => return if done > 0 { Ok(done) } else { Err(e) },
                }
            }
            Err(Errno::EPIPE) if dir == Dir::Write => {
                sigpipe(t);
                return if done > 0 { Ok(done) } else { Err(Errno::EPIPE) };
            }
            Err(e) => return if done > 0 { Ok(done) } else { Err(e) },
        }
    }
}

/// How many bytes a write to the regular file `f` at `start` (None: its
/// end) may put in under RLIMIT_FSIZE: u64::MAX without a limit; at or
/// past the limit, SIGXFSZ and EFBIG (Linux's generic_write_check_limits).
pub(super) fn room_under_fsize_limit(t: &Task, f: &File, start: Option<u64>) -> SysResult<u64> {
    let limit = t.rlimits()[abi::flags::rlimit::RLIMIT_FSIZE as usize].cur;
    if limit == abi::flags::rlimit::RLIM_INFINITY {
        return Ok(u64::MAX);
    }
    let attr = f.ops.stat()?;
    if attr.mode & abi::flags::mode::S_IFMT != abi::flags::mode::S_IFREG {
        return Ok(u64::MAX);
    }
    let start = start.unwrap_or(attr.size);
    if start >= limit {
        signal_xfsz(t);
        return Err(Errno::EFBIG);
    }
    Ok(limit - start)
}

/// SIGXFSZ for a write or truncate past RLIMIT_FSIZE.
pub(super) fn signal_xfsz(t: &Task) {
    raise(t, abi::flags::signal::SIGXFSZ);
}

/// Sends the writer SIGPIPE, as a write to a pipe or socket with no
/// reader does.
pub(super) fn sigpipe(t: &Task) {
    raise(t, abi::flags::signal::SIGPIPE);
}

/// A signal to the calling thread from itself, as Linux's send_sig from
/// a write path.
fn raise(t: &Task, signo: u32) {
    t.handle.push_signal(crate::kernel::signal::SigInfo::from_sender(
        signo,
        crate::kernel::signal::code::SI_USER,
        t.pid,
        t.creds().uid,
    ));
}

fn io_once(f: &File, mf: &MemoryFile, chunks: &[Chunk], off: Option<u64>, dir: Dir) -> SysResult<usize> {
    match dir {
        Dir::Read => f.ops.read(mf, chunks, off),
        Dir::Write => f.ops.write(mf, chunks, off),
    }
}

/// How long one host poll waits before the task checks for signals again.
const HOST_POLL_SLICE_MS: i32 = 50;

/// Sleeps until `f` may be ready for `dir`, or a signal arrives, or
/// (ETIMEDOUT) `deadline` passes.
pub(super) fn wait_ready(t: &mut Task, f: &Arc<File>, dir: Dir, deadline: Option<std::time::Instant>) -> SysResult<()> {
    let want = if dir == Dir::Read { POLLIN | POLLHUP | POLLERR } else { POLLOUT | POLLERR };
    if let Some(q) = f.ops.wait_queue() {
        return t.block(&[q], deadline, |_| Ok((f.ops.readiness() & want != 0).then_some(())));
    }
    if let Some(fd) = f.ops.host_fd() {
        loop {
            if t.interrupted() {
                return Err(Errno::ERESTARTSYS);
            }
            if crate::sys::poll_one(fd, want, HOST_POLL_SLICE_MS) != 0 {
                return Ok(());
            }
        }
    }
    Err(Errno::EAGAIN)
}

/// An iovec array's (base, length) pairs as Linux's iovec_from_user reads
/// them: at most IOV_MAX (EINVAL), all readable (EFAULT), no negative
/// length (EINVAL).
pub(super) fn read_iovecs(t: &Task, addr: u64, count: u64) -> SysResult<Vec<(u64, u64)>> {
    if count > IOV_MAX {
        return Err(Errno::EINVAL);
    }
    let mut raw = vec![Iovec::default(); count as usize];
    t.mm().copy_in(addr, raw.as_mut_bytes())?;
    if raw.iter().any(|v| v.len > i64::MAX as u64) {
        return Err(Errno::EINVAL);
    }
    Ok(raw.iter().map(|v| (v.base, v.len)).collect())
}

/// The buffers of an iovec array, cut to MAX_RW_COUNT bytes in all, as
/// Linux's import_iovec (whose access_ok is left to the copies: a buffer
/// outside user space faults when it is used).
pub(super) fn iovecs(t: &Task, addr: u64, count: u64) -> SysResult<Vec<(u64, u64)>> {
    let mut bufs = read_iovecs(t, addr, count)?;
    cap_rw_count(&mut bufs);
    Ok(bufs)
}

/// The end of user space, as Linux's access_ok sees it (x86-64, 4-level
/// page tables: TASK_SIZE_MAX).
const USER_END: u64 = (1 << 47) - 4096;

/// Linux's access_ok: whether `[addr, addr + len)` lies in user space.
pub(super) fn access_ok(addr: u64, len: u64) -> bool {
    addr.checked_add(len).is_some_and(|end| end <= USER_END)
}

/// An iovec array as Linux's import_iovec takes it: [`read_iovecs`], then
/// each buffer in user space (EFAULT), then cut to MAX_RW_COUNT bytes.
pub(super) fn import_iovecs(t: &Task, addr: u64, count: u64) -> SysResult<Vec<(u64, u64)>> {
    let mut bufs = read_iovecs(t, addr, count)?;
    if bufs.iter().any(|&(addr, len)| !access_ok(addr, len)) {
        return Err(Errno::EFAULT);
    }
    cap_rw_count(&mut bufs);
    Ok(bufs)
}

/// One buffer as Linux's import_ubuf takes it: cut to MAX_RW_COUNT, then
/// in user space (EFAULT).
pub(super) fn import_buf(addr: u64, len: u64) -> SysResult<(u64, u64)> {
    let len = len.min(MAX_RW_COUNT);
    if !access_ok(addr, len) {
        return Err(Errno::EFAULT);
    }
    Ok((addr, len))
}

/// Cuts buffers to MAX_RW_COUNT bytes in all, as import_iovec does.
fn cap_rw_count(bufs: &mut [(u64, u64)]) {
    let mut total = 0u64;
    for (_, len) in bufs {
        *len = (*len).min(MAX_RW_COUNT - total);
        total += *len;
    }
}

pub fn read(t: &mut Task, a: &Args) -> SysResult<u64> {
    transfer(t, a.fd(0), &[(a.addr(1), a.u64(2).min(MAX_RW_COUNT))], None, Dir::Read)
}

pub fn write(t: &mut Task, a: &Args) -> SysResult<u64> {
    transfer(t, a.fd(0), &[(a.addr(1), a.u64(2).min(MAX_RW_COUNT))], None, Dir::Write)
}

fn position(v: i64) -> SysResult<u64> {
    u64::try_from(v).map_err(|_| Errno::EINVAL)
}

pub fn pread64(t: &mut Task, a: &Args) -> SysResult<u64> {
    let pos = position(a.i64(3))?;
    transfer(t, a.fd(0), &[(a.addr(1), a.u64(2).min(MAX_RW_COUNT))], Some(pos), Dir::Read)
}

pub fn pwrite64(t: &mut Task, a: &Args) -> SysResult<u64> {
    let pos = position(a.i64(3))?;
    transfer(t, a.fd(0), &[(a.addr(1), a.u64(2).min(MAX_RW_COUNT))], Some(pos), Dir::Write)
}

pub fn readv(t: &mut Task, a: &Args) -> SysResult<u64> {
    t.fds().get(a.fd(0))?;
    let bufs = iovecs(t, a.addr(1), a.u64(2))?;
    transfer(t, a.fd(0), &bufs, None, Dir::Read)
}

pub fn writev(t: &mut Task, a: &Args) -> SysResult<u64> {
    t.fds().get(a.fd(0))?;
    let bufs = iovecs(t, a.addr(1), a.u64(2))?;
    transfer(t, a.fd(0), &bufs, None, Dir::Write)
}

/// preadv2/pwritev2's flags that change nothing here: RWF_HIPRI (polling
/// I/O), RWF_DSYNC and RWF_SYNC (writes are in memory or donated fds).
const RWF_HIPRI: u32 = 0x1;
const RWF_DSYNC: u32 = 0x2;
const RWF_SYNC: u32 = 0x4;
const RWF_NOWAIT: u32 = 0x8;
const RWF_APPEND: u32 = 0x10;
/// The RWF_* flags Husk takes (others are EOPNOTSUPP).
pub(super) const RWF_KNOWN: u32 = RWF_HIPRI | RWF_DSYNC | RWF_SYNC | RWF_NOWAIT | RWF_APPEND;

/// A read or write with preadv2's RWF_* `flags` (already checked against
/// [`RWF_KNOWN`]), at `pos` or, without one, at the file's offset:
/// RWF_APPEND writes at the end, whatever the position says; RWF_NOWAIT
/// gives EAGAIN where it would wait.
pub(super) fn transfer_rwf(
    t: &mut Task,
    fd: i32,
    bufs: &[(u64, u64)],
    pos: Option<u64>,
    dir: Dir,
    flags: u32,
) -> SysResult<u64> {
    let pos = match pos {
        Some(_) if dir == Dir::Write && flags & RWF_APPEND != 0 => Some(t.fds().get(fd)?.ops.stat()?.size),
        pos => pos,
    };
    transfer_opts(t, fd, bufs, Way { pos, dir, nowait: flags & RWF_NOWAIT != 0 })
}

/// preadv, pwritev, preadv2 and pwritev2 (with their `flags`): the
/// iovecs at `iov`, at `pos` (for the v2 calls, -1 is the file offset, as
/// readv and writev).
fn vectored_at(t: &mut Task, a: &Args, dir: Dir, flags: Option<u32>) -> SysResult<u64> {
    let v2 = flags.unwrap_or(0);
    if v2 & !RWF_KNOWN != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    t.fds().get(a.fd(0))?;
    let bufs = iovecs(t, a.addr(1), a.u64(2))?;
    let pos = match a.i64(3) {
        -1 if flags.is_some() => None,
        pos => Some(position(pos)?),
    };
    transfer_rwf(t, a.fd(0), &bufs, pos, dir, v2)
}

pub fn preadv(t: &mut Task, a: &Args) -> SysResult<u64> {
    vectored_at(t, a, Dir::Read, None)
}

pub fn pwritev(t: &mut Task, a: &Args) -> SysResult<u64> {
    vectored_at(t, a, Dir::Write, None)
}

pub fn preadv2(t: &mut Task, a: &Args) -> SysResult<u64> {
    vectored_at(t, a, Dir::Read, Some(a.u32(5)))
}

pub fn pwritev2(t: &mut Task, a: &Args) -> SysResult<u64> {
    vectored_at(t, a, Dir::Write, Some(a.u32(5)))
}

/// Follows at most this many symlinks while creating through them.
const MAX_CREATE_LINKS: usize = 40;

/// The file `open` with O_CREAT opens: the existing one (following a
/// symlink in the last component unless O_EXCL or O_NOFOLLOW), or a new
/// regular file with permission bits `perm`. Returns it and whether it was
/// created.
#[allow(clippy::too_many_arguments)]
fn open_create(
    vfs: &Vfs,
    root: &Arc<Dentry>,
    start: &Arc<Dentry>,
    path: &[u8],
    flags: u32,
    perm: u32,
    creds: &Credentials,
    r: Restrict,
) -> SysResult<(Arc<Dentry>, bool, Option<std::os::fd::OwnedFd>)> {
    let mut start = start.clone();
    let mut path = path.to_vec();
    for _ in 0..=MAX_CREATE_LINKS {
        let pp = vfs.resolve_parent_restricted(root, &start, &path, creds, r)?;
        let Last::Name(name) = &pp.last else { return Err(Errno::EISDIR) };
        if pp.trailing_slash {
            return Err(Errno::EISDIR);
        }
        match vfs.lookup_child(&pp.dir, name)? {
            Some(_) if flags & O_EXCL != 0 => return Err(Errno::EEXIST),
            // A /proc/PID/fd link leads to its open file itself, never to a
            // new file named as its text (a memfd's "/memfd:NAME
            // (deleted)"): the caller reopens the file (see `reopen`).
            Some(d) if d.synth().is_some_and(|n| n.file.is_some()) && flags & O_NOFOLLOW == 0 => {
                r.may_follow(&d)?;
                return Err(Errno::ENOENT);
            }
            Some(d) if d.is_symlink() && flags & O_NOFOLLOW == 0 => {
                r.may_follow(&d)?;
                let target = vfs.readlink(&d)?;
                if target.is_empty() {
                    return Err(Errno::ENOENT);
                }
                start = pp.dir.clone();
                path = target;
            }
            Some(d) => return Ok((vfs.cross(d), false, None)),
            // In a writable host tree, the Gofer makes and opens the file
            // in one call.
            None if pp.dir.host().is_some() => {
                ops::check_writable(&pp.dir)?;
                match crate::vfs::hostfs::create_file(&pp.dir, name, flags, perm, creds) {
                    Ok((d, fd)) => {
                        crate::vfs::inotify::notify_entry(&pp.dir, name, crate::vfs::inotify::IN_CREATE, 0);
                        return Ok((d, true, Some(fd)));
                    }
                    Err(Errno::EEXIST) if flags & O_EXCL == 0 => {}
                    Err(e) => return Err(e),
                }
            }
            None => match ops::make_node(vfs, &pp, NewKind::Regular, perm, creds) {
                Ok(d) => return Ok((d, true, None)),
                // Someone else made it meanwhile: open theirs.
                Err(Errno::EEXIST) if flags & O_EXCL == 0 => {}
                Err(e) => return Err(e),
            },
        }
    }
    Err(Errno::ELOOP)
}

/// Opens a named pipe: a reader waits for a writer and a writer for a
/// reader (ENXIO with O_NONBLOCK), unless both ends are opened at once.
fn open_fifo(t: &mut Task, d: &Arc<Dentry>, pipe: &Arc<Pipe>, flags: u32) -> SysResult<Box<dyn FileOps>> {
    let nonblock = flags & O_NONBLOCK != 0;
    match flags & O_ACCMODE {
        O_RDONLY => {
            let (reader, writers, opened) = pipe.open_reader();
            if writers == 0 && !nonblock {
                t.block(&[pipe.queue()], None, |_| {
                    let ((_, w), (_, o)) = pipe.ends();
                    Ok((w > 0 || o != opened).then_some(()))
                })?;
            }
            Ok(Box::new(FifoFile::new(Some(reader), None, d.clone())))
        }
        O_WRONLY => {
            if nonblock && pipe.ends().0 .0 == 0 {
                return Err(Errno::ENXIO);
            }
            let (writer, readers, opened) = pipe.open_writer();
            if readers == 0 {
                t.block(&[pipe.queue()], None, |_| {
                    let ((r, _), (o, _)) = pipe.ends();
                    Ok((r > 0 || o != opened).then_some(()))
                })?;
            }
            Ok(Box::new(FifoFile::new(None, Some(writer), d.clone())))
        }
        _ => Ok(Box::new(FifoFile::new(Some(pipe.open_reader().0), Some(pipe.open_writer().0), d.clone()))),
    }
}

/// Opens a device node: one of the Sentry's devices, for `/dev/tty` the
/// caller's controlling terminal, for `/dev/console` the sandbox's console,
/// for `/dev/ptmx` a new pseudo-terminal, for `/dev/pts/N` its replica
/// (which becomes the caller's controlling terminal, unless O_NOCTTY, if
/// the caller leads a session without one).
fn open_device(t: &Task, d: &Arc<Dentry>, flags: u32) -> SysResult<Box<dyn FileOps>> {
    // A device node on a nodev mount does not open (Linux's may_open).
    if d.on_nodev_mount() {
        return Err(Errno::EACCES);
    }
    match devfs::device_of(d) {
        Some(devfs::Device::Tty) => crate::kernel::tty::open_ctty(t, d),
        Some(devfs::Device::Console) => crate::kernel::tty::open_console(t, d),
        Some(devfs::Device::Ptmx) => crate::kernel::pty::open_master(t, d),
        Some(devfs::Device::Pts(index)) => {
            let (ops, tty) = crate::kernel::pty::open_replica(t, index, d)?;
            crate::kernel::tty::open_may_take_ctty(t, &tty, flags & O_NOCTTY != 0);
            Ok(ops)
        }
        _ => devfs::open(d),
    }
}

/// O_TMPFILE: an unnamed regular file in the directory `path`.
fn open_tmpfile(t: &mut Task, dirfd: i32, path: &[u8], flags: u32, mode: u32) -> SysResult<u64> {
    let acc = flags & O_ACCMODE;
    if flags & O_CREAT != 0 || (acc != O_WRONLY && acc != O_RDWR) {
        return Err(Errno::EINVAL);
    }
    let dir = super::fs::resolve_at(t, dirfd, path, Follow::Yes)?;
    if !dir.is_dir() {
        return Err(Errno::ENOTDIR);
    }
    ops::check_writable(&dir)?;
    // As a host filesystem without O_TMPFILE support answers.
    if dir.host().is_some() {
        return Err(Errno::EOPNOTSUPP);
    }
    let perm = mode & 0o7777 & !t.fs().umask;
    let d = tmpfs::tmpfile(&dir, perm, flags & O_EXCL == 0, &t.creds())?;
    let inode = d.inode().ok_or(Errno::EIO)?.clone();
    let status = (flags & STATUS_MASK & !O_DIRECTORY) | O_LARGEFILE;
    let file = File::new(Box::new(tmpfs::RegFile::new(inode)), status, Some(d));
    let limit = t.nofile_limit();
    t.fds().insert(file, flags & O_CLOEXEC != 0, 0, limit).map(|fd| fd as u64)
}

/// How many symlinks a lookup for a magic link follows at most.
const MAX_MAGIC_LINKS: usize = 40;

/// The open file a path names through a /proc/PID/fd/N link at its end
/// (directly, or through symlinks such as /dev/stdin), or None for any
/// other path. Asked only when the path's ordinary resolution found
/// nothing, so other opens pay nothing.
pub(super) fn magic_link_target(
    vfs: &Vfs,
    root: &Arc<Dentry>,
    start: &Arc<Dentry>,
    path: &[u8],
    creds: &Credentials,
) -> SysResult<Option<Arc<File>>> {
    let (mut start, mut path) = (start.clone(), path.to_vec());
    for _ in 0..MAX_MAGIC_LINKS {
        let d = match vfs.resolve_as(root, &start, &path, Follow::No, creds) {
            Ok(d) => d,
            Err(_) => return Ok(None),
        };
        if let Some(file) = d.synth().and_then(|n| n.file.as_ref()) {
            return file.upgrade().map(Some).ok_or(Errno::ENOENT);
        }
        if let Some(open) = d.synth().and_then(|n| n.opens.as_ref()) {
            return Ok(Some(File::new(open()?, O_RDONLY, None)));
        }
        if !d.is_symlink() {
            return Ok(None);
        }
        path = vfs.readlink(&d)?;
        start = d.parent().unwrap_or_else(|| root.clone());
    }
    Ok(None)
}

/// What opening a /proc/PID/fd/N link gives.
enum Reopened {
    /// A file with a name: opened as any file of that name.
    Name(Arc<Dentry>),
    /// A new open file of the same object (a pipe's other end, say).
    File(Arc<File>),
}

/// Opens `target` again, as Linux's magic links do: a named file by its
/// dentry (deleted or not), a memfd as another open of it, a pipe as a
/// new end of that pipe; sockets and other nameless files give ENXIO.
fn reopen(target: &Arc<File>, flags: u32) -> SysResult<Reopened> {
    if let Some(d) = &target.dentry {
        return Ok(Reopened::Name(d.clone()));
    }
    let status = (flags & STATUS_MASK) | O_LARGEFILE;
    if let Some(memfd) = target.ops.memfd() {
        let again = memfd.reopen();
        // O_TRUNC empties it, as an open of a tmpfs file would, the seals
        // permitting (F_SEAL_SHRINK: EPERM).
        if flags & O_TRUNC != 0 && flags & O_ACCMODE != O_RDONLY && again.stat()?.size != 0 {
            again.truncate(0)?;
        }
        return Ok(Reopened::File(File::new(Box::new(again), status, None)));
    }
    if let Some(ns) = target.ops.namespace() {
        return Ok(Reopened::File(File::new(Box::new(crate::vfs::nsfs::NsFile(ns.clone())), status, None)));
    }
    let pipe = target.ops.pipe().ok_or(Errno::ENXIO)?;
    let ops: Box<dyn FileOps> = match flags & O_ACCMODE {
        O_RDONLY => Box::new(pipe.open_reader().0),
        O_WRONLY => Box::new(pipe.open_writer().0),
        _ => return Err(Errno::ENXIO),
    };
    Ok(Reopened::File(File::new(ops, status, None)))
}

/// Whether any address space of the sandbox has a shared mapping of
/// `inode` that may write its pages (MAP_SHARED of a file open for
/// writing: Linux's VM_SHARED | VM_MAYWRITE, what i_mmap_writable counts).
fn mapped_writable(kernel: &crate::kernel::Kernel, inode: &Arc<crate::vfs::tmpfs::Inode>) -> bool {
    use crate::mm::Backing;
    let target = Arc::as_ptr(inode) as *const () as usize;
    // The address spaces first, then each one's lock alone.
    let mut mms: Vec<Arc<std::sync::Mutex<crate::mm::MemoryManager>>> = Vec::new();
    for h in kernel.procs().threads.values() {
        if let Some(v) = h.view() {
            if !mms.iter().any(|m| Arc::ptr_eq(m, &v.mm)) {
                mms.push(v.mm.clone());
            }
        }
    }
    mms.iter().any(|mm| {
        let mm = mm.lock().unwrap_or_else(|e| e.into_inner());
        let found = mm.vmas().any(|(_, v)| {
            v.shared
                && v.may_write
                && matches!(&v.backing, Backing::Pages { source, .. } if Arc::as_ptr(source) as *const () as usize == target)
        });
        found
    })
}

/// O_NOATIME is for the file's owner (or CAP_FOWNER) only: EPERM
/// otherwise, as Linux's may_open and F_SETFL check.
fn may_noatime(creds: &Credentials, d: &Dentry, flags: u32) -> SysResult<()> {
    if flags & O_NOATIME != 0 && creds.fsuid != d.attr().uid && !creds.has_cap(abi::flags::capability::CAP_FOWNER) {
        return Err(Errno::EPERM);
    }
    Ok(())
}

/// Opens `d`, found already, with openat's `flags` on behalf of `creds`:
/// what openat does once it has the file (`created`: it made it; `made_fd`:
/// the host fd that making it in a host tree gave). A restore reopens the
/// checkpoint's named files through it.
pub(crate) fn open_resolved(
    t: &mut Task,
    d: Arc<Dentry>,
    flags: u32,
    creds: &Credentials,
    created: bool,
    mut made_fd: Option<OwnedFd>,
) -> SysResult<Arc<File>> {
    let kernel = t.kernel.clone();
    let vfs = &kernel.vfs;
    let acc = flags & O_ACCMODE;
    let writes = acc != O_RDONLY || flags & O_TRUNC != 0;
    let status = (flags & STATUS_MASK) | O_LARGEFILE;
    let file = if flags & O_PATH != 0 {
        if flags & O_DIRECTORY != 0 && !d.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        File::new(Box::new(PathOnly::new(d.attr())), O_PATH, Some(d))
    } else if d.is_symlink() {
        return Err(Errno::ELOOP);
    } else if flags & O_DIRECTORY != 0 && !d.is_dir() {
        return Err(Errno::ENOTDIR);
    } else if d.is_dir() {
        if writes || flags & O_CREAT != 0 {
            return Err(Errno::EISDIR);
        }
        ops::check_perm(creds, &d.attr(), MAY_READ)?;
        may_noatime(creds, &d, flags)?;
        if d.inode().is_some() && d.lower_fid().is_none() {
            File::new(Box::new(tmpfs::DirFile::new(d.clone())), status, Some(d))
        } else if let Some(n) = d.synth() {
            File::new(Box::new(SynthDirFile::open(&d, n)?), status, Some(d))
        } else {
            let gofer = vfs.gofer().ok_or(Errno::EIO)?.clone();
            File::new(Box::new(DirFile::new(gofer, d.clone())), status, Some(d))
        }
    } else {
        if !created {
            let mut want = 0;
            if acc == O_RDONLY || acc == O_RDWR {
                want |= MAY_READ;
            }
            if writes {
                want |= MAY_WRITE;
            }
            // Writing to a read-only mount fails before permissions matter;
            // synthetic files refuse it (EACCES) whoever asks.
            if writes && d.synth().is_some_and(|n| !n.is_object()) {
                return Err(Errno::EACCES);
            }
            if writes && d.is_readonly() && d.is_regular() {
                return Err(Errno::EROFS);
            }
            ops::inode_permission(creds, &d.attr(), d.fsflags(), want)?;
            // Linux's may_open: an append-only file is written in append
            // mode only, and never truncated.
            if d.is_append_only() && ((acc != O_RDONLY && flags & O_APPEND == 0) || flags & O_TRUNC != 0) {
                return Err(Errno::EPERM);
            }
            may_noatime(creds, &d, flags)?;
            if d.is_regular() {
                super::locks::break_leases(t, &d, flags)?;
            }
        }
        // A change to a lower file of an overlay root goes to its copy.
        if writes && d.is_regular() && d.is_rootfs() && d.overlay().is_some() {
            crate::vfs::overlay::copy_up(&d)?;
        }
        let ops: Box<dyn FileOps> = match d.node() {
            Node::Gofer { fid, attr, reader, .. } => match attr.mode & S_IFMT {
                S_IFREG => {
                    if writes {
                        return Err(Errno::EROFS);
                    }
                    let host_flags = flags & !(O_CLOEXEC | O_CREAT | O_EXCL);
                    // Flags that change how the host fd reads need an open
                    // of their own; a plain read-only open shares the kept one.
                    let plain = host_flags & (O_DIRECT | O_NOATIME | O_NONBLOCK | O_DSYNC | O_ASYNC) == 0;
                    let host = match reader.get().filter(|_| plain) {
                        Some(fd) => fd,
                        None => {
                            let gofer = vfs.gofer().ok_or(Errno::EIO)?;
                            let fd = Arc::new(gofer.open(*fid, host_flags).map_err(gofer_errno)?);
                            if plain {
                                reader.offer(&fd);
                            }
                            fd
                        }
                    };
                    if d.overlay().is_some() {
                        Box::new(HostFile::new_lower(host, *attr, d.clone()))
                    } else {
                        Box::new(HostFile::new(host, *attr))
                    }
                }
                // Device nodes of the rootfs open the Sentry's device of
                // that number, never the host's.
                S_IFCHR => open_device(t, &d, flags)?,
                _ => return Err(Errno::ENXIO),
            },
            Node::Host(_) => match d.file_type() {
                S_IFREG => {
                    let fd = match made_fd.take() {
                        Some(fd) => fd,
                        None => crate::vfs::hostfs::open(&d, flags)?,
                    };
                    Box::new(HostFile::new_live(fd, flags, t.kernel.memfile.clone())?)
                }
                S_IFCHR => open_device(t, &d, flags)?,
                S_IFIFO => {
                    let pipe = crate::vfs::pipe::fifo_of(&d).ok_or(Errno::ENXIO)?;
                    open_fifo(t, &d, &pipe, flags)?
                }
                _ => return Err(Errno::ENXIO),
            },
            Node::Mem(inode) => match &inode.kind {
                InodeKind::Regular(_) | InodeKind::Disk(_) => {
                    if flags & O_TRUNC != 0 && !created {
                        inode.truncate(0)?;
                    }
                    Box::new(tmpfs::RegFile::new(inode.clone()))
                }
                InodeKind::Device => open_device(t, &d, flags)?,
                InodeKind::Fifo(_) => {
                    let pipe = crate::vfs::pipe::fifo_of(&d).ok_or(Errno::ENXIO)?;
                    open_fifo(t, &d, &pipe, flags)?
                }
                _ => return Err(Errno::ENXIO),
            },
            Node::Synth(n) => match &n.kind {
                SynthKind::Object(open) => open()?,
                SynthKind::Device => open_device(t, &d, flags)?,
                _ => Box::new(SynthFile::open(n)?),
            },
        };
        File::new(ops, status, Some(d))
    };
    Ok(file)
}

pub(super) fn do_open(t: &mut Task, dirfd: i32, path_addr: u64, flags: u32, mode: u32) -> SysResult<u64> {
    open_within(t, dirfd, path_addr, flags, mode, Restrict::default())
}

/// open(2) within the limits `r` (openat2's resolve flags): a scoped walk
/// (`r.scoped`) has the starting directory as its root.
fn open_within(t: &mut Task, dirfd: i32, path_addr: u64, flags: u32, mode: u32, r: Restrict) -> SysResult<u64> {
    let path = read_path(t, path_addr)?;
    if flags & O_TMPFILE == O_TMPFILE {
        return open_tmpfile(t, dirfd, &path, flags, mode);
    }
    let start = if r.scoped && path.first() == Some(&b'/') {
        // (The dirfd still names the root of an absolute path.)
        start_dir(t, dirfd, b".")?
    } else {
        start_dir(t, dirfd, &path)?
    };
    let (root, umask) = {
        let fs = t.fs();
        (if r.scoped { start.clone() } else { fs.root.clone() }, fs.umask)
    };
    let creds = t.creds();
    let kernel = t.kernel.clone();
    let vfs = &kernel.vfs;
    let follow = if flags & O_NOFOLLOW != 0 { Follow::No } else { Follow::Yes };
    let resolved = if flags & O_CREAT != 0 && flags & O_PATH == 0 {
        open_create(vfs, &root, &start, &path, flags, mode & 0o7777 & !umask, &creds, r)
    } else {
        vfs.resolve_restricted(&root, &start, &path, follow, &creds, r).map(|d| (d, false, None))
    };
    let (d, created, made_fd) = match resolved {
        // A /proc/PID/fd link whose text names nothing (a pipe, a deleted
        // file) still opens its file (a walk with limits has checked it).
        Err(Errno::ENOENT) if follow == Follow::Yes && r == Restrict::default() => {
            let target = magic_link_target(vfs, &root, &start, &path, &creds)?.ok_or(Errno::ENOENT)?;
            match reopen(&target, flags)? {
                Reopened::File(file) => {
                    let limit = t.nofile_limit();
                    return t.fds().insert(file, flags & O_CLOEXEC != 0, 0, limit).map(|fd| fd as u64);
                }
                Reopened::Name(d) => (d, false, None),
            }
        }
        r => r?,
    };
    let cloexec = flags & O_CLOEXEC != 0;
    let file = open_resolved(t, d, flags, &creds, created, made_fd)?;
    if flags & O_PATH == 0 {
        if let Some(d) = &file.dentry {
            crate::vfs::inotify::notify_dentry(d, crate::vfs::inotify::IN_OPEN);
        }
    }
    let limit = t.nofile_limit();
    t.fds().insert(file, cloexec, 0, limit).map(|fd| fd as u64)
}

#[cfg(target_arch = "x86_64")]
pub fn open(t: &mut Task, a: &Args) -> SysResult<u64> {
    do_open(t, AT_FDCWD, a.addr(0), a.u32(1), a.u32(2))
}

pub fn openat(t: &mut Task, a: &Args) -> SysResult<u64> {
    do_open(t, a.fd(0), a.addr(1), a.u32(2), a.u32(3))
}

/// openat2's `struct open_how`: flags, mode, resolve.
const OPEN_HOW_SIZE: u64 = 24;
const RESOLVE_NO_XDEV: u64 = 0x01;
const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
const RESOLVE_NO_SYMLINKS: u64 = 0x04;
const RESOLVE_BENEATH: u64 = 0x08;
const RESOLVE_IN_ROOT: u64 = 0x10;
const RESOLVE_CACHED: u64 = 0x20;
/// Every flag open(2) knows (Linux's VALID_OPEN_FLAGS).
const VALID_OPEN_FLAGS: u64 = (O_ACCMODE
    | O_CREAT
    | O_EXCL
    | O_NOCTTY
    | O_TRUNC
    | O_APPEND
    | O_NONBLOCK
    | O_DSYNC
    | O_ASYNC
    | O_DIRECT
    | O_LARGEFILE
    | O_DIRECTORY
    | O_NOFOLLOW
    | O_NOATIME
    | O_CLOEXEC
    | O_SYNC
    | O_PATH
    | O_TMPFILE) as u64;

/// openat2(2): openat with a versioned `struct open_how`, strict about
/// its flags, and the resolve flags that limit the walk.
pub fn openat2(t: &mut Task, a: &Args) -> SysResult<u64> {
    let (dirfd, path_addr, how_addr, size) = (a.fd(0), a.addr(1), a.addr(2), a.u64(3));
    if size < OPEN_HOW_SIZE {
        return Err(Errno::EINVAL);
    }
    // As copy_struct_from_user: a larger struct of a later ABI is fine if
    // what this one does not know is zero.
    if size > 4096 {
        return Err(Errno::E2BIG);
    }
    let mut how = vec![0u8; size as usize];
    t.mm().copy_in(how_addr, &mut how)?;
    if how[OPEN_HOW_SIZE as usize..].iter().any(|&b| b != 0) {
        return Err(Errno::E2BIG);
    }
    let word = |i: usize| u64::from_le_bytes(how[8 * i..8 * i + 8].try_into().unwrap_or([0; 8]));
    let (flags, mode, resolve) = (word(0), word(1), word(2));
    if flags & !VALID_OPEN_FLAGS != 0 {
        return Err(Errno::EINVAL);
    }
    let flags = flags as u32;
    // A mode only where a file may be made, and only permission bits.
    if mode & !0o7777 != 0 {
        return Err(Errno::EINVAL);
    }
    if mode != 0 && flags & O_CREAT == 0 && flags & O_TMPFILE != O_TMPFILE {
        return Err(Errno::EINVAL);
    }
    if flags & O_PATH != 0 && flags & !(O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) != 0 {
        return Err(Errno::EINVAL);
    }
    let known = RESOLVE_NO_XDEV
        | RESOLVE_NO_MAGICLINKS
        | RESOLVE_NO_SYMLINKS
        | RESOLVE_BENEATH
        | RESOLVE_IN_ROOT
        | RESOLVE_CACHED;
    if resolve & !known != 0 || resolve & (RESOLVE_BENEATH | RESOLVE_IN_ROOT) == RESOLVE_BENEATH | RESOLVE_IN_ROOT {
        return Err(Errno::EINVAL);
    }
    // A walk from the cache alone cannot make or truncate a file. (Every
    // other walk is served from the Sentry's own dentries and the Gofer,
    // without blocking on a disk: it is as cached as it gets.)
    if resolve & RESOLVE_CACHED != 0 && (flags & (O_CREAT | O_TRUNC) != 0 || flags & O_TMPFILE == O_TMPFILE) {
        return Err(Errno::EAGAIN);
    }
    let r = Restrict {
        no_xdev: resolve & RESOLVE_NO_XDEV != 0,
        no_symlinks: resolve & RESOLVE_NO_SYMLINKS != 0,
        no_magiclinks: resolve & RESOLVE_NO_MAGICLINKS != 0,
        beneath: resolve & RESOLVE_BENEATH != 0,
        scoped: resolve & (RESOLVE_BENEATH | RESOLVE_IN_ROOT) != 0,
    };
    open_within(t, dirfd, path_addr, flags, mode as u32, r)
}

#[cfg(target_arch = "x86_64")]
pub fn creat(t: &mut Task, a: &Args) -> SysResult<u64> {
    do_open(t, AT_FDCWD, a.addr(0), O_CREAT | O_WRONLY | O_TRUNC, a.u32(1))
}

pub fn close(t: &mut Task, a: &Args) -> SysResult<u64> {
    let f = t.fds().remove(a.fd(0))?;
    super::locks::closed(t, &f);
    Ok(0)
}

pub fn lseek(t: &mut Task, a: &Args) -> SysResult<u64> {
    let f = t.fds().get(a.fd(0))?.clone();
    let (offset, whence) = (a.i64(1), a.u32(2));
    if !f.ops.seekable() {
        return f.ops.seek(offset, whence);
    }
    let mut pos = f.offset.lock().unwrap_or_else(|e| e.into_inner());
    let size = || f.ops.stat().map(|s| s.size as i64);
    let new = match whence {
        SEEK_SET => offset,
        SEEK_CUR => (*pos as i64).checked_add(offset).ok_or(Errno::EOVERFLOW)?,
        SEEK_END => size()?.checked_add(offset).ok_or(Errno::EOVERFLOW)?,
        SEEK_DATA | SEEK_HOLE => {
            let s = size()?;
            if offset < 0 || offset >= s {
                return Err(Errno::ENXIO);
            }
            let hole = whence == SEEK_HOLE;
            match f.ops.seek_data(offset as u64, hole) {
                Some(at) => at? as i64,
                None if hole => s,
                None => offset,
            }
        }
        _ => return Err(Errno::EINVAL),
    };
    if new < 0 {
        return Err(Errno::EINVAL);
    }
    *pos = new as u64;
    Ok(new as u64)
}

pub fn getdents64(t: &mut Task, a: &Args) -> SysResult<u64> {
    read_dirents(t, a, DirentFormat::Dirent64)
}

/// The legacy getdents(2) (x86_64's syscall 78), still used by old
/// binaries and test suites.
#[cfg(target_arch = "x86_64")]
pub fn getdents(t: &mut Task, a: &Args) -> SysResult<u64> {
    read_dirents(t, a, DirentFormat::Legacy)
}

/// The record formats of getdents64 and the legacy getdents.
#[derive(Clone, Copy, PartialEq)]
enum DirentFormat {
    /// `struct linux_dirent64`: ino, off, reclen, type, name.
    Dirent64,
    /// `struct linux_dirent`: ino, off, reclen, name, and the type in the
    /// record's last byte.
    Legacy,
}

/// Where `struct linux_dirent`'s name starts.
const LEGACY_DIRENT_NAME_OFFSET: usize = 18;

fn read_dirents(t: &mut Task, a: &Args, format: DirentFormat) -> SysResult<u64> {
    let f = t.fds().get(a.fd(0))?.clone();
    if f.flags() & O_PATH != 0 {
        return Err(Errno::EBADF);
    }
    let count = a.u32(2) as usize;
    let mut pos = f.offset.lock().unwrap_or_else(|e| e.into_inner());
    let mut buf = Vec::new();
    let mut next = *pos;
    let mut too_small = false;
    f.ops.readdir(*pos, &mut |e, after| {
        let reclen = match format {
            DirentFormat::Dirent64 => abi::types::DIRENT64_NAME_OFFSET + e.name.len() + 1,
            // The name's NUL and the type byte after it.
            DirentFormat::Legacy => LEGACY_DIRENT_NAME_OFFSET + e.name.len() + 2,
        }
        .next_multiple_of(8);
        if buf.len() + reclen > count {
            too_small = buf.is_empty();
            return false;
        }
        let start = buf.len();
        buf.extend_from_slice(&e.ino.to_le_bytes());
        buf.extend_from_slice(&(after as i64).to_le_bytes());
        buf.extend_from_slice(&(reclen as u16).to_le_bytes());
        if format == DirentFormat::Dirent64 {
            buf.push(e.dtype);
        }
        buf.extend_from_slice(&e.name);
        buf.resize(start + reclen, 0);
        if format == DirentFormat::Legacy {
            buf[start + reclen - 1] = e.dtype;
        }
        next = after;
        true
    })?;
    if too_small {
        return Err(Errno::EINVAL);
    }
    t.mm().copy_out(a.addr(1), &buf)?;
    *pos = next;
    Ok(buf.len() as u64)
}

pub fn dup(t: &mut Task, a: &Args) -> SysResult<u64> {
    let f = t.fds().get(a.fd(0))?.clone();
    let limit = t.nofile_limit();
    t.fds().insert(f, false, 0, limit).map(|fd| fd as u64)
}

fn do_dup3(t: &mut Task, old: i32, new: i32, cloexec: bool) -> SysResult<u64> {
    let f = t.fds().get(old)?.clone();
    let limit = t.nofile_limit();
    let replaced = t.fds().insert_at(new, f, cloexec, limit)?;
    if let Some(r) = replaced {
        super::locks::closed(t, &r);
    }
    Ok(new as u64)
}

#[cfg(target_arch = "x86_64")]
pub fn dup2(t: &mut Task, a: &Args) -> SysResult<u64> {
    let (old, new) = (a.fd(0), a.fd(1));
    if old == new {
        t.fds().get(old)?;
        return Ok(new as u64);
    }
    do_dup3(t, old, new, false)
}

pub fn dup3(t: &mut Task, a: &Args) -> SysResult<u64> {
    let (old, new, flags) = (a.fd(0), a.fd(1), a.u32(2));
    if old == new || flags & !O_CLOEXEC != 0 {
        return Err(Errno::EINVAL);
    }
    do_dup3(t, old, new, flags & O_CLOEXEC != 0)
}

pub fn fcntl(t: &mut Task, a: &Args) -> SysResult<u64> {
    let fd = a.fd(0);
    let f: Arc<File> = t.fds().get(fd)?.clone();
    match a.u32(1) {
        F_DUPFD | F_DUPFD_CLOEXEC => {
            let min = a.i32(2);
            let limit = t.nofile_limit();
            if min < 0 || min as u64 >= limit {
                return Err(Errno::EINVAL);
            }
            t.fds().insert(f, a.u32(1) == F_DUPFD_CLOEXEC, min, limit).map(|fd| fd as u64)
        }
        F_GETFD => Ok(if t.fds().cloexec(fd)? { u64::from(FD_CLOEXEC) } else { 0 }),
        F_SETFD => {
            t.fds().set_cloexec(fd, a.u32(2) & FD_CLOEXEC != 0)?;
            Ok(0)
        }
        F_GETFL => Ok(u64::from(f.flags())),
        F_GETPIPE_SZ => Ok(f.ops.pipe().ok_or(Errno::EBADF)?.capacity() as u64),
        F_ADD_SEALS => {
            let memfd = f.ops.memfd().ok_or(Errno::EINVAL)?;
            if f.flags() & O_ACCMODE == O_RDONLY {
                return Err(Errno::EPERM);
            }
            let add = a.u32(2);
            // F_SEAL_WRITE while a shared mapping may write the pages:
            // EBUSY (Linux's mapping_deny_writable).
            let sealing_write =
                add & crate::vfs::memfd::F_SEAL_WRITE != 0 && memfd.seals() & crate::vfs::memfd::F_SEAL_WRITE == 0;
            if sealing_write && mapped_writable(&t.kernel, memfd.parts().0) {
                return Err(Errno::EBUSY);
            }
            memfd.add_seals(add).map(|_| 0)
        }
        F_GET_SEALS => Ok(u64::from(f.ops.memfd().ok_or(Errno::EINVAL)?.seals())),
        F_NOTIFY => {
            let attr = f.ops.stat()?;
            if attr.mode & S_IFMT != abi::flags::mode::S_IFDIR {
                return Err(Errno::ENOTDIR);
            }
            // The caller hears of the events: the file's owner, unless one
            // is set already.
            let kind = crate::kernel::fasync::OwnerKind::Process;
            f.owner.set(kind, t.pid, &t.creds(), &t.kernel, false);
            crate::vfs::inotify::dnotify_set(&attr, &f, fd, a.u32(2), t.pid);
            Ok(0)
        }
        cmd @ (super::locks::F_GETLK
        | super::locks::F_SETLK
        | super::locks::F_SETLKW
        | super::locks::F_OFD_GETLK
        | super::locks::F_OFD_SETLK
        | super::locks::F_OFD_SETLKW) => super::locks::fcntl_lock(t, &f, cmd, a.u64(2)),
        F_SETPIPE_SZ => {
            let pipe = f.ops.pipe().ok_or(Errno::EBADF)?;
            // Past 2^31 there is no such size; past /proc/sys/fs/pipe-max-size
            // only CAP_SYS_RESOURCE may go.
            let size = usize::try_from(a.u64(2)).ok().filter(|&s| s <= 1 << 31).ok_or(Errno::EINVAL)?;
            if size > PIPE_MAX_SIZE && !t.creds().has_cap(abi::flags::capability::CAP_SYS_RESOURCE) {
                return Err(Errno::EPERM);
            }
            pipe.set_capacity(size).map(|c| c as u64)
        }
        F_SETFL => {
            if f.flags() & O_PATH != 0 {
                return Err(Errno::EBADF);
            }
            let mut new = (f.flags() & !SETFL_MASK) | (a.u32(2) & SETFL_MASK);
            if new & O_NOATIME != 0 && f.flags() & O_NOATIME == 0 {
                if let Some(d) = &f.dentry {
                    may_noatime(&t.creds(), d, O_NOATIME)?;
                }
            }
            // O_APPEND stays on an append-only file.
            if (new ^ f.flags()) & O_APPEND != 0 && f.dentry.as_ref().is_some_and(|d| d.is_append_only()) {
                return Err(Errno::EPERM);
            }
            // O_ASYNC is the file's fasync's to set.
            if (new ^ f.flags()) & O_ASYNC != 0 && !super::fasync::set_async(&f, fd, new & O_ASYNC != 0) {
                new = (new & !O_ASYNC) | (f.flags() & O_ASYNC);
            }
            f.set_flags(new);
            Ok(0)
        }
        cmd @ (super::fasync::F_SETOWN
        | super::fasync::F_GETOWN
        | super::fasync::F_SETOWN_EX
        | super::fasync::F_GETOWN_EX
        | super::fasync::F_SETSIG
        | super::fasync::F_GETSIG) => {
            if f.flags() & O_PATH != 0 {
                return Err(Errno::EBADF);
            }
            super::fasync::fcntl(t, &f, cmd, a.u64(2))
        }
        F_SETLEASE | F_GETLEASE if f.flags() & O_PATH != 0 => Err(Errno::EBADF),
        F_SETLEASE => super::locks::set_lease(t, &f, fd, a.u64(2)),
        F_GETLEASE => Ok(super::locks::get_lease(&f)),
        _ => Err(Errno::EINVAL),
    }
}

/// memfd_create's flags.
const MFD_CLOEXEC: u32 = 0x1;
const MFD_ALLOW_SEALING: u32 = 0x2;
const MFD_NOEXEC_SEAL: u32 = 0x8;
const MFD_EXEC: u32 = 0x10;
/// The longest memfd name (NAME_MAX less "memfd:").
const MFD_NAME_MAX: usize = 249;

/// memfd_create: an anonymous tmpfs file, named `memfd:NAME` in
/// /proc/PID/fd. MFD_HUGETLB is refused (EINVAL: no huge pages here).
pub fn memfd_create(t: &mut Task, a: &Args) -> SysResult<u64> {
    let flags = a.u32(1);
    if flags & !(MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_NOEXEC_SEAL | MFD_EXEC) != 0 {
        return Err(Errno::EINVAL);
    }
    if flags & MFD_EXEC != 0 && flags & MFD_NOEXEC_SEAL != 0 {
        return Err(Errno::EINVAL);
    }
    let name = t.mm().read_cstr(a.addr(0), MFD_NAME_MAX + 1).map_err(|e| {
        if e == Errno::ENAMETOOLONG {
            Errno::EINVAL
        } else {
            e
        }
    })?;
    let noexec = flags & MFD_NOEXEC_SEAL != 0;
    let dentry = t.kernel.memfd_fs.new_file(if noexec { 0o666 } else { 0o777 });
    let inode = dentry.inode().cloned().ok_or(Errno::ENOMEM)?;
    let creds = t.creds();
    inode.set_owner(Some(creds.fsuid), Some(creds.fsgid));
    inode.orphan();
    let memfd = crate::vfs::memfd::MemFd::new(inode, &name, flags & (MFD_ALLOW_SEALING | MFD_NOEXEC_SEAL) != 0);
    if noexec {
        memfd.add_seals(crate::vfs::memfd::F_SEAL_EXEC)?;
    }
    let file = File::new(Box::new(memfd), O_RDWR | O_LARGEFILE, None);
    let limit = t.nofile_limit();
    t.fds().insert(file, flags & MFD_CLOEXEC != 0, 0, limit).map(|fd| fd as u64)
}

/// The random devices' ioctls (drivers/char/random.c), if `f` is
/// /dev/random or /dev/urandom: RNDGETENTCNT gives the entropy count Linux
/// 5.18 and later always report once the pool is ready (256 bits). The
/// pool-changing ones (RNDADDENTROPY and the rest) stay ENOTTY: the
/// sandbox's randomness is the host's, which the app may never feed or
/// drain (the escape suite checks it). None for any other file.
fn random_ioctl(t: &mut Task, f: &File, cmd: u32, arg: u64) -> Option<SysResult<u64>> {
    const RNDGETENTCNT: u32 = 0x8004_5200;
    if cmd != RNDGETENTCNT {
        return None;
    }
    let a = f.ops.stat().ok()?;
    let random = a.mode & S_IFMT == S_IFCHR
        && crate::vfs::devfs::major(a.rdev) == 1
        && matches!(crate::vfs::devfs::minor(a.rdev), 8 | 9);
    random.then(|| t.mm().write_val(arg, &256i32).map(|_| 0))
}

pub fn ioctl(t: &mut Task, a: &Args) -> SysResult<u64> {
    let fd = a.fd(0);
    let f = t.fds().get(fd)?.clone();
    // An O_PATH fd takes no ioctl at all (Linux's fdget leaves it out).
    if f.flags() & O_PATH != 0 {
        return Err(Errno::EBADF);
    }
    let cmd = a.u32(1);
    if let Some(r) = super::fasync::ioctl(t, &f, fd, cmd, a.addr(2)) {
        return r;
    }
    match cmd {
        FIOCLEX => return t.fds().set_cloexec(fd, true).map(|_| 0),
        FIONCLEX => return t.fds().set_cloexec(fd, false).map(|_| 0),
        FIONBIO => {}
        _ => {
            if f.ops.hung_up() {
                // Linux's hung_up_tty_ioctl.
                return Err(if cmd == abi::flags::ioctl::TIOCSPGRP { Errno::ENOTTY } else { Errno::EIO });
            }
            if let Some(tty) = f.ops.tty() {
                return crate::kernel::tty::ioctl(t, &f, tty, cmd, a.u64(2), false);
            }
            if let Some(tty) = f.ops.pty_master() {
                return crate::kernel::pty::master_ioctl(t, &f, tty, cmd, a.u64(2));
            }
        }
    }
    if let Some(r) = random_ioctl(t, &f, cmd, a.addr(2)) {
        return r;
    }
    if let Some(p) = f.ops.pidfd() {
        if let Some(r) = super::pidfd::info_ioctl(t, p, cmd, a.addr(2)) {
            return r;
        }
    }
    if let Some(ns) = f.ops.namespace() {
        match crate::vfs::nsfs::ioctl(ns, cmd) {
            Some(Ok(Some(other))) => {
                let file = File::new(Box::new(crate::vfs::nsfs::NsFile(other)), O_RDONLY, None);
                let limit = t.nofile_limit();
                return t.fds().insert(file, true, 0, limit).map(|fd| fd as u64);
            }
            Some(Ok(None)) if cmd == crate::vfs::nsfs::NS_GET_OWNER_UID => {
                t.mm().write_val(a.addr(2), &0u32)?;
                return Ok(0);
            }
            Some(Ok(None)) => return Ok(ns.kind().clone_flag()),
            Some(Err(e)) => return Err(e),
            None => {}
        }
    }
    if cmd == abi::flags::ioctl::PROCMAP_QUERY {
        if let Some(of) = f.ops.maps_of() {
            return super::procmap::query(t, of, a.addr(2));
        }
    }
    const SIOCATMARK: u32 = 0x8905;
    if cmd == SIOCATMARK && f.ops.unix_socket().is_some() {
        return super::socket::atmark(t, &f, a.addr(2));
    }
    if (0x8900..0x8a00).contains(&cmd) && (f.ops.unix_socket().is_some() || f.ops.host_socket().is_some()) {
        return super::socket::interface_ioctl(t, cmd, a.addr(2));
    }
    match cmd {
        abi::flags::ioctl::FIONREAD => {
            let mut buf = [0u8; 4];
            f.ops.ioctl(abi::flags::ioctl::FIONREAD, &mut buf)?;
            t.mm().copy_out(a.addr(2), &buf)?;
            Ok(0)
        }
        FS_IOC_GETFLAGS => {
            let flags = ops::get_fsflags(f.dentry.as_ref().ok_or(Errno::ENOTTY)?)?;
            t.mm().write_val(a.addr(2), &(flags as i32))?;
            Ok(0)
        }
        FS_IOC_SETFLAGS => {
            let d = f.dentry.as_ref().ok_or(Errno::ENOTTY)?;
            let flags: i32 = t.mm().read_val(a.addr(2))?;
            ops::set_fsflags(d, flags as u32, &t.creds())?;
            Ok(0)
        }
        FIONBIO => {
            let on: i32 = t.mm().read_val(a.addr(2))?;
            let flags = f.flags();
            f.set_flags(if on != 0 { flags | O_NONBLOCK } else { flags & !O_NONBLOCK });
            Ok(0)
        }
        _ => Err(Errno::ENOTTY),
    }
}

fn do_pipe(t: &mut Task, addr: u64, flags: u32) -> SysResult<u64> {
    if flags & !(O_CLOEXEC | O_NONBLOCK | O_DIRECT) != 0 {
        return Err(Errno::EINVAL);
    }
    let (r, w) = Pipe::create();
    let status = flags & O_NONBLOCK;
    let rf = File::new(Box::new(r), O_RDONLY | status, None);
    let wf = File::new(Box::new(w), O_WRONLY | status, None);
    let limit = t.nofile_limit();
    let cloexec = flags & O_CLOEXEC != 0;
    let rfd = t.fds().insert(rf, cloexec, 0, limit)?;
    let inserted = t.fds().insert(wf, cloexec, 0, limit);
    let wfd = match inserted {
        Ok(fd) => fd,
        Err(e) => {
            let _ = t.fds().remove(rfd);
            return Err(e);
        }
    };
    let written = t.mm().write_val(addr, &[rfd, wfd]);
    if let Err(e) = written {
        let _ = t.fds().remove(rfd);
        let _ = t.fds().remove(wfd);
        return Err(e);
    }
    Ok(0)
}

#[cfg(target_arch = "x86_64")]
pub fn pipe(t: &mut Task, a: &Args) -> SysResult<u64> {
    do_pipe(t, a.addr(0), 0)
}

pub fn pipe2(t: &mut Task, a: &Args) -> SysResult<u64> {
    do_pipe(t, a.addr(0), a.u32(1))
}
