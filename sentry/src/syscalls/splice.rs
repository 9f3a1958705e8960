//! Moving data between two files without the app's buffers: sendfile,
//! splice, tee, vmsplice and copy_file_range; and the calls that advise
//! or sync (fadvise, readahead, sync_file_range), which check their
//! arguments.

use std::sync::Arc;

use abi::flags::open::{O_ACCMODE, O_NONBLOCK, O_RDONLY, O_WRONLY};
use abi::Errno;

use super::file::Dir;
use super::Args;
use crate::kernel::task::Task;
use crate::mm::{Chunk, MemoryFile, SysResult};
use crate::vfs::file::File;
use crate::vfs::pipe::Pipe;

/// Bytes sendfile moves per step, through a scratch run of the memory file.
const STEP: u64 = 64 * 1024;

pub fn sendfile(t: &mut Task, a: &Args) -> SysResult<u64> {
    let (out_fd, in_fd, off_addr, count) = (a.fd(0), a.fd(1), a.addr(2), a.u64(3));
    let (out, inp) = {
        let fds = t.fds();
        (fds.get(out_fd)?.clone(), fds.get(in_fd)?.clone())
    };
    if inp.flags() & O_ACCMODE == O_WRONLY || out.flags() & O_ACCMODE == O_RDONLY {
        return Err(Errno::EBADF);
    }
    if !inp.ops.seekable() || !spliceable(&out) {
        return Err(Errno::EINVAL);
    }
    let mut pos: u64 = if off_addr != 0 {
        let v: i64 = t.mm().read_val(off_addr)?;
        u64::try_from(v).map_err(|_| Errno::EINVAL)?
    } else {
        *inp.offset.lock().unwrap_or_else(|e| e.into_inner())
    };
    let count = count.min(0x7fff_f000);
    let mf = t.kernel.memfile.clone();
    let (done, result) = copy_through(&mf, &inp, Some(&mut pos), &out, None, count)?;
    if off_addr != 0 {
        t.mm().write_val(off_addr, &(pos as i64))?;
    } else {
        *inp.offset.lock().unwrap_or_else(|e| e.into_inner()) = pos;
    }
    match result {
        Err(e) if done == 0 => Err(e),
        _ => Ok(done),
    }
}

pub fn fadvise64(t: &mut Task, a: &Args) -> SysResult<u64> {
    let f = t.fds().get(a.fd(0))?.clone();
    if !f.ops.seekable() {
        return Err(Errno::ESPIPE);
    }
    if a.u32(3) > 5 {
        return Err(Errno::EINVAL);
    }
    Ok(0)
}

const SPLICE_F_MOVE: u32 = 1;
const SPLICE_F_NONBLOCK: u32 = 2;
const SPLICE_F_MORE: u32 = 4;
const SPLICE_F_GIFT: u32 = 8;
const SPLICE_FLAGS: u32 = SPLICE_F_MOVE | SPLICE_F_NONBLOCK | SPLICE_F_MORE | SPLICE_F_GIFT;

/// Whether data can be spliced into or out of `f`: not for the anonymous
/// files (eventfd, timerfd, signalfd, epoll, inotify, pidfd), which have no
/// splice_read or splice_write in Linux and so give EINVAL.
fn spliceable(f: &File) -> bool {
    // A directory has no splice_read or splice_write either (EINVAL).
    f.ops.anon_name().is_none() && !f.dentry.as_ref().is_some_and(|d| d.is_dir())
}

/// The pipe behind `f`, if it is one.
fn pipe_of(f: &File) -> Option<&Arc<Pipe>> {
    f.ops.pipe()
}

/// Waits until `f` is ready for `dir` (a pipe to read from or write to);
/// EAGAIN at once with `nonblock` (SPLICE_F_NONBLOCK or the file's
/// O_NONBLOCK).
fn wait(t: &mut Task, f: &Arc<File>, dir: Dir, nonblock: bool) -> SysResult<()> {
    if nonblock || f.flags() & O_NONBLOCK != 0 {
        return Err(Errno::EAGAIN);
    }
    super::file::wait_ready(t, f, dir, None)
}

/// Waits until the pipe `p` (the file `out`) has room, and says how much:
/// EPIPE (and SIGPIPE) once it has no reader, EAGAIN without waiting when
/// `nonblock`.
fn room_in(t: &mut Task, out: &Arc<File>, p: &Pipe, nonblock: bool) -> SysResult<u64> {
    loop {
        let room = p.room() as u64;
        if room > 0 {
            return Ok(room);
        }
        let ((readers, _), _) = p.ends();
        if readers == 0 {
            super::file::sigpipe(t);
            return Err(Errno::EPIPE);
        }
        wait(t, out, Dir::Write, nonblock)?;
    }
}

/// An offset argument of splice or copy_file_range: the value at `addr`
/// (EINVAL if negative), or None for a null pointer.
fn offset_arg(t: &Task, addr: u64) -> SysResult<Option<u64>> {
    if addr == 0 {
        return Ok(None);
    }
    let v: i64 = t.mm().read_val(addr)?;
    u64::try_from(v).map(Some).map_err(|_| Errno::EINVAL)
}

/// Reads from `f` at `at` (a given offset), or at its file offset for a
/// seekable file (moving it), or as a stream.
fn read_from(f: &File, mf: &MemoryFile, chunk: Chunk, at: Option<&mut u64>) -> SysResult<usize> {
    match at {
        Some(pos) => f.ops.read(mf, &[chunk], Some(*pos)).inspect(|&n| *pos += n as u64),
        None if f.ops.seekable() => {
            let mut off = f.offset.lock().unwrap_or_else(|e| e.into_inner());
            f.ops.read(mf, &[chunk], Some(*off)).inspect(|&n| *off += n as u64)
        }
        None => f.ops.read(mf, &[chunk], None),
    }
}

/// Writes all of `chunk` to `f`, as [`read_from`] reads.
fn write_to(f: &File, mf: &MemoryFile, chunk: Chunk, at: Option<&mut u64>) -> SysResult<usize> {
    let append = f.flags() & abi::flags::open::O_APPEND != 0;
    match at {
        Some(pos) => f.ops.write(mf, &[chunk], Some(*pos)).inspect(|&n| *pos += n as u64),
        None if append && f.ops.seekable() => f.ops.write_append(mf, &[chunk]).map(|(n, _)| n),
        None if f.ops.seekable() => {
            let mut off = f.offset.lock().unwrap_or_else(|e| e.into_inner());
            f.ops.write(mf, &[chunk], Some(*off)).inspect(|&n| *off += n as u64)
        }
        None => f.ops.write(mf, &[chunk], None),
    }
}

/// Copies up to `len` bytes from `inp` at `in_at` (or, without one, where
/// the file itself is: a host fd that keeps its own position) to `out` (at
/// `out_at`, or as [`write_to`] writes), through a scratch run of the
/// memory file, until the input ends or a write falls short. Returns the
/// bytes copied and the error that stopped the copy, if one did.
fn copy_through(
    mf: &MemoryFile,
    inp: &File,
    mut in_at: Option<&mut u64>,
    out: &File,
    mut out_at: Option<&mut u64>,
    len: u64,
) -> SysResult<(u64, SysResult<()>)> {
    let scratch = mf.allocate(STEP)?;
    let mut done = 0u64;
    let mut result = Ok(());
    'copy: while done < len {
        let want = (len - done).min(STEP);
        let got = match inp.ops.read(mf, &[Chunk { off: scratch, len: want }], in_at.as_deref().copied()) {
            Ok(0) => break,
            Ok(n) => n as u64,
            Err(e) => {
                result = Err(e);
                break;
            }
        };
        let mut written = 0;
        while written < got {
            let chunk = Chunk { off: scratch + written, len: got - written };
            match write_to(out, mf, chunk, out_at.as_deref_mut()) {
                Ok(0) => break,
                Ok(n) => written += n as u64,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        if let Some(p) = in_at.as_deref_mut() {
            *p += written;
        }
        done += written;
        if result.is_err() || written < got {
            break 'copy;
        }
    }
    mf.release(scratch, STEP);
    Ok((done, result))
}

/// splice(2): moves up to `len` bytes between two files, one of them a
/// pipe, through a scratch run of the memory file. Waits for data in (or
/// room in) a pipe unless SPLICE_F_NONBLOCK; moves what fits at once, as
/// Linux moves the pipe buffers it has.
pub fn splice(t: &mut Task, a: &Args) -> SysResult<u64> {
    let (in_fd, in_off_addr, out_fd, out_off_addr, len, flags) =
        (a.fd(0), a.addr(1), a.fd(2), a.addr(3), a.u64(4), a.u32(5));
    let (inp, out) = {
        let fds = t.fds();
        (fds.get(in_fd)?.clone(), fds.get(out_fd)?.clone())
    };
    if inp.flags() & O_ACCMODE == O_WRONLY || out.flags() & O_ACCMODE == O_RDONLY {
        return Err(Errno::EBADF);
    }
    if flags & !SPLICE_FLAGS != 0 {
        return Err(Errno::EINVAL);
    }
    let (in_pipe, out_pipe) = (pipe_of(&inp).cloned(), pipe_of(&out).cloned());
    if (in_pipe.is_none() && out_pipe.is_none()) || !spliceable(&inp) || !spliceable(&out) {
        return Err(Errno::EINVAL);
    }
    if (in_pipe.is_some() && in_off_addr != 0) || (out_pipe.is_some() && out_off_addr != 0) {
        return Err(Errno::ESPIPE);
    }
    if let (Some(a), Some(b)) = (&in_pipe, &out_pipe) {
        if Arc::ptr_eq(a, b) {
            return Err(Errno::EINVAL);
        }
    }
    if out.flags() & abi::flags::open::O_APPEND != 0 && out_pipe.is_none() {
        return Err(Errno::EINVAL);
    }
    let mut in_off = offset_arg(t, in_off_addr)?;
    let mut out_off = offset_arg(t, out_off_addr)?;
    if len == 0 {
        return Ok(0);
    }
    let nonblock = flags & SPLICE_F_NONBLOCK != 0;
    let mf = t.kernel.memfile.clone();
    // Room in the output pipe first, so that nothing read is left over.
    let mut want = len.min(STEP);
    if let Some(p) = &out_pipe {
        want = want.min(room_in(t, &out, p, nonblock)?);
    }
    let scratch = mf.allocate(STEP)?;
    let r = (|| {
        let got = loop {
            match read_from(&inp, &mf, Chunk { off: scratch, len: want }, in_off.as_mut()) {
                Err(Errno::EAGAIN) if in_pipe.is_some() => wait(t, &inp, Dir::Read, nonblock)?,
                r => break r?,
            }
        };
        let mut done = 0u64;
        while done < got as u64 {
            let chunk = Chunk { off: scratch + done, len: got as u64 - done };
            match write_to(&out, &mf, chunk, out_off.as_mut()) {
                Ok(n) => done += n as u64,
                Err(Errno::EPIPE) => {
                    super::file::sigpipe(t);
                    return if done > 0 { Ok(done) } else { Err(Errno::EPIPE) };
                }
                Err(e) => return if done > 0 { Ok(done) } else { Err(e) },
            }
        }
        Ok(done)
    })();
    mf.release(scratch, STEP);
    let moved = r?;
    if let Some(o) = in_off {
        t.mm().write_val(in_off_addr, &(o as i64))?;
    }
    if let Some(o) = out_off {
        t.mm().write_val(out_off_addr, &(o as i64))?;
    }
    Ok(moved)
}

/// tee(2): copies up to `len` bytes from one pipe to another without
/// taking them from the first.
pub fn tee(t: &mut Task, a: &Args) -> SysResult<u64> {
    let (in_fd, out_fd, len, flags) = (a.fd(0), a.fd(1), a.u64(2), a.u32(3));
    let (inp, out) = {
        let fds = t.fds();
        (fds.get(in_fd)?.clone(), fds.get(out_fd)?.clone())
    };
    if flags & !SPLICE_FLAGS != 0 {
        return Err(Errno::EINVAL);
    }
    if inp.flags() & O_ACCMODE == O_WRONLY || out.flags() & O_ACCMODE == O_RDONLY {
        return Err(Errno::EBADF);
    }
    let (Some(in_pipe), Some(out_pipe)) = (pipe_of(&inp).cloned(), pipe_of(&out).cloned()) else {
        return Err(Errno::EINVAL);
    };
    if Arc::ptr_eq(&in_pipe, &out_pipe) {
        return Err(Errno::EINVAL);
    }
    if len == 0 {
        return Ok(0);
    }
    let nonblock = flags & SPLICE_F_NONBLOCK != 0;
    let mf = t.kernel.memfile.clone();
    let want = len.min(STEP).min(room_in(t, &out, &out_pipe, nonblock)?);
    let scratch = mf.allocate(STEP)?;
    let r = (|| {
        let got = loop {
            match in_pipe.peek(&mf, &[Chunk { off: scratch, len: want }]) {
                Err(Errno::EAGAIN) => wait(t, &inp, Dir::Read, nonblock)?,
                r => break r?,
            }
        };
        if got == 0 {
            return Ok(0);
        }
        out.ops.write(&mf, &[Chunk { off: scratch, len: got as u64 }], None).map(|n| n as u64)
    })();
    mf.release(scratch, STEP);
    r
}

/// vmsplice(2): the app's buffers into a pipe's writing end, or out of its
/// reading end, as writev and readv (SPLICE_F_NONBLOCK does not wait).
pub fn vmsplice(t: &mut Task, a: &Args) -> SysResult<u64> {
    let (fd, flags) = (a.fd(0), a.u32(3));
    let f = t.fds().get(fd)?.clone();
    if flags & !SPLICE_FLAGS != 0 {
        return Err(Errno::EINVAL);
    }
    let Some(pipe) = pipe_of(&f).cloned() else {
        return Err(Errno::EBADF);
    };
    let bufs = super::file::iovecs(t, a.addr(1), a.u64(2))?;
    let dir = match f.flags() & O_ACCMODE {
        O_RDONLY => Dir::Read,
        O_WRONLY => Dir::Write,
        _ => return Err(Errno::EBADF),
    };
    if dir == Dir::Write && bufs.iter().any(|&(_, len)| len > 0) {
        // Into a pipe, as Linux's vmsplice_to_pipe: once there is room
        // (EAGAIN without waiting for it under SPLICE_F_NONBLOCK), as much
        // as fits, not all (which could wait on a reader that is the
        // caller itself).
        let room = room_in(t, &f, &pipe, flags & SPLICE_F_NONBLOCK != 0)?;
        let bufs = super::file::take_bytes(&bufs, room);
        return super::file::transfer(t, fd, &bufs, None, dir);
    }
    if flags & SPLICE_F_NONBLOCK != 0 && f.flags() & O_NONBLOCK == 0 {
        // One attempt, without waiting.
        let ready = f.ops.readiness();
        let want = if dir == Dir::Read { crate::vfs::file::POLLIN } else { crate::vfs::file::POLLOUT };
        if ready & want == 0 {
            return Err(Errno::EAGAIN);
        }
    }
    super::file::transfer(t, fd, &bufs, None, dir)
}

/// copy_file_range(2): copies between two regular files, at given offsets
/// or their file offsets, within the Sentry.
pub fn copy_file_range(t: &mut Task, a: &Args) -> SysResult<u64> {
    let (in_fd, in_off_addr, out_fd, out_off_addr, len, flags) =
        (a.fd(0), a.addr(1), a.fd(2), a.addr(3), a.u64(4), a.u32(5));
    if flags != 0 {
        return Err(Errno::EINVAL);
    }
    let (inp, out) = {
        let fds = t.fds();
        (fds.get(in_fd)?.clone(), fds.get(out_fd)?.clone())
    };
    if inp.flags() & O_ACCMODE == O_WRONLY || out.flags() & O_ACCMODE == O_RDONLY {
        return Err(Errno::EBADF);
    }
    if out.flags() & abi::flags::open::O_APPEND != 0 {
        return Err(Errno::EBADF);
    }
    let (ia, oa) = (inp.ops.stat()?, out.ops.stat()?);
    use abi::flags::mode::{S_IFDIR, S_IFMT, S_IFREG};
    if ia.mode & S_IFMT == S_IFDIR || oa.mode & S_IFMT == S_IFDIR {
        return Err(Errno::EISDIR);
    }
    if ia.mode & S_IFMT != S_IFREG || oa.mode & S_IFMT != S_IFREG {
        return Err(Errno::EINVAL);
    }
    let in_off = offset_arg(t, in_off_addr)?;
    let out_off = offset_arg(t, out_off_addr)?;
    let mut in_pos = in_off.unwrap_or_else(|| *inp.offset.lock().unwrap_or_else(|e| e.into_inner()));
    let mut out_pos = out_off.unwrap_or_else(|| *out.offset.lock().unwrap_or_else(|e| e.into_inner()));
    let len = len.min(0x7fff_f000);
    // The same file, overlapping ranges: EINVAL, as Linux.
    if (ia.dev, ia.ino) == (oa.dev, oa.ino)
        && in_pos < out_pos.saturating_add(len)
        && out_pos < in_pos.saturating_add(len)
    {
        return Err(Errno::EINVAL);
    }
    let mf = t.kernel.memfile.clone();
    // A file whose position the Sentry does not keep (the app's stdio when
    // it is a host file) is read and written where the host fd is, unless
    // an offset is given.
    let in_at = (in_off.is_some() || inp.ops.seekable()).then_some(&mut in_pos);
    let out_at = (out_off.is_some() || out.ops.seekable()).then_some(&mut out_pos);
    let (done, result) = copy_through(&mf, &inp, in_at, &out, out_at, len)?;
    if let Err(e) = result {
        if done == 0 {
            return Err(e);
        }
    }
    match in_off {
        Some(_) => t.mm().write_val(in_off_addr, &(in_pos as i64))?,
        None if inp.ops.seekable() => *inp.offset.lock().unwrap_or_else(|e| e.into_inner()) = in_pos,
        None => {}
    }
    match out_off {
        Some(_) => t.mm().write_val(out_off_addr, &(out_pos as i64))?,
        None if out.ops.seekable() => *out.offset.lock().unwrap_or_else(|e| e.into_inner()) = out_pos,
        None => {}
    }
    Ok(done)
}

/// readahead(2): nothing to read ahead of (the rootfs's pages are the
/// host's, the rest are memory); checks its arguments as Linux does.
pub fn readahead(t: &mut Task, a: &Args) -> SysResult<u64> {
    let f = t.fds().get(a.fd(0))?.clone();
    if f.flags() & O_ACCMODE == O_WRONLY || f.flags() & abi::flags::open::O_PATH != 0 {
        return Err(Errno::EBADF);
    }
    let fmt = f.ops.stat()?.mode & abi::flags::mode::S_IFMT;
    if fmt != abi::flags::mode::S_IFREG && fmt != abi::flags::mode::S_IFBLK {
        return Err(Errno::EINVAL);
    }
    Ok(0)
}

/// sync_file_range(2): data is in memory or on donated host fds that the
/// host writes back; checks its arguments as Linux does.
pub fn sync_file_range(t: &mut Task, a: &Args) -> SysResult<u64> {
    let f = t.fds().get(a.fd(0))?.clone();
    let (offset, nbytes, flags) = (a.i64(1), a.i64(2), a.u32(3));
    if flags & !7 != 0 || offset < 0 || nbytes < 0 || offset.checked_add(nbytes).is_none() {
        return Err(Errno::EINVAL);
    }
    let fmt = f.ops.stat()?.mode & abi::flags::mode::S_IFMT;
    if fmt != abi::flags::mode::S_IFREG && fmt != abi::flags::mode::S_IFDIR && fmt != abi::flags::mode::S_IFBLK {
        return Err(Errno::ESPIPE);
    }
    Ok(0)
}

/// cachestat(2) (Linux 6.5): how many pages of a file's range are in the
/// page cache. The Sentry's page cache is its tmpfs files' pages (the
/// rest are read from the host each time: none cached); nothing is ever
/// dirty, written back or evicted. The checks are Linux 6.18's, in its
/// order: the fd (EBADF), the range (EFAULT), the caller's right to
/// write the file (EPERM, as can_do_cachestat), the flags (EINVAL).
pub fn cachestat(t: &mut Task, a: &Args) -> SysResult<u64> {
    #[derive(zerocopy::FromBytes, zerocopy::IntoBytes, zerocopy::Immutable, Default)]
    #[repr(C)]
    struct CachestatRange {
        off: u64,
        len: u64,
    }
    #[derive(zerocopy::IntoBytes, zerocopy::FromBytes, zerocopy::Immutable, Default)]
    #[repr(C)]
    struct Cachestat {
        nr_cache: u64,
        nr_dirty: u64,
        nr_writeback: u64,
        nr_evicted: u64,
        nr_recently_evicted: u64,
    }
    let f = t.fds().get(a.fd(0))?.clone();
    if f.flags() & abi::flags::open::O_PATH != 0 {
        return Err(Errno::EBADF);
    }
    let range: CachestatRange = t.mm().read_val(a.addr(1))?;
    if f.flags() & O_ACCMODE == O_RDONLY {
        let attr = f.ops.stat()?;
        let creds = t.creds();
        let owner = creds.fsuid == attr.uid || creds.has_cap(abi::flags::capability::CAP_FOWNER);
        if !owner && !crate::vfs::ops::permits(&creds, &attr, crate::vfs::ops::MAY_WRITE) {
            return Err(Errno::EPERM);
        }
    }
    if a.u32(3) != 0 {
        return Err(Errno::EINVAL);
    }
    let first = range.off / abi::PAGE_SIZE;
    let last = if range.len == 0 {
        u64::MAX
    } else {
        // As Linux computes it, wrapping.
        range.off.wrapping_add(range.len).wrapping_sub(1) / abi::PAGE_SIZE
    };
    let out = Cachestat { nr_cache: f.ops.cached_pages(first, last), ..Cachestat::default() };
    t.mm().write_val(a.addr(2), &out)?;
    Ok(0)
}
