//! Thin wrappers over the host system calls the gofer needs.
//!
//! This is the only module of the crate that contains `unsafe`. Each wrapper
//! makes exactly one kind of system call, checks its result, and hands back
//! owned, typed values (`OwnedFd`, `libc::stat`, byte counts), so the rest of
//! the crate is safe code.

use std::ffi::CStr;
use std::io;
use std::mem;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::ptr;

/// `struct open_how` from `<linux/openat2.h>`. libc's version is
/// `#[non_exhaustive]`, so it cannot be built with a struct literal.
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// How many times `openat2` is retried when the kernel answers EAGAIN, which
/// it does for `RESOLVE_BENEATH` when a rename or mount raced with the lookup.
const OPENAT2_EAGAIN_RETRIES: usize = 16;

/// Converts a `-1 and errno` return into an `io::Error`.
fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Converts a `-1 and errno` size return into an `io::Error`.
fn check_size(ret: libc::ssize_t) -> io::Result<usize> {
    usize::try_from(ret).map_err(|_| io::Error::last_os_error())
}

/// `openat2(dir, name, {flags, 0, resolve})`. Retries on EINTR and (a bounded
/// number of times) on EAGAIN.
pub(crate) fn openat2(dir: BorrowedFd<'_>, name: &CStr, flags: libc::c_int, resolve: u64) -> io::Result<OwnedFd> {
    openat2_mode(dir, name, flags, 0, resolve)
}

/// [`openat2`] with a `mode` for a file that `O_CREAT` makes.
pub(crate) fn openat2_mode(
    dir: BorrowedFd<'_>,
    name: &CStr,
    flags: libc::c_int,
    mode: u32,
    resolve: u64,
) -> io::Result<OwnedFd> {
    // `flags` is a bit set; reinterpret its bits rather than sign-extend.
    let how = OpenHow { flags: u64::from(u32::from_ne_bytes(flags.to_ne_bytes())), mode: u64::from(mode), resolve };
    let mut eagain = 0;
    loop {
        // SAFETY: `dir` is a live fd borrowed for the call; `name` is a
        // NUL-terminated string that outlives the call; `how` is a properly
        // initialised `struct open_how` and we pass its exact size, so the
        // kernel reads only that many bytes. The call does not retain any of
        // the pointers.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dir.as_raw_fd(),
                name.as_ptr(),
                ptr::from_ref(&how),
                mem::size_of::<OpenHow>(),
            )
        };
        if ret >= 0 {
            let fd = RawFd::try_from(ret).map_err(|_| io::Error::other("openat2 returned an out-of-range fd"))?;
            // SAFETY: the kernel just returned this fd to us; nothing else
            // owns it, so `OwnedFd` may take ownership (and close it on drop).
            return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EAGAIN) if eagain < OPENAT2_EAGAIN_RETRIES => eagain += 1,
            _ => return Err(err),
        }
    }
}

/// `fstatat(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW)`: the attributes of
/// the file `fd` refers to (works on `O_PATH` fds, including symlinks).
pub(crate) fn fstat(fd: BorrowedFd<'_>) -> io::Result<libc::stat> {
    // SAFETY: `libc::stat` is plain old data; all-zero bytes is a valid value.
    let mut st: libc::stat = unsafe { mem::zeroed() };
    // SAFETY: `fd` is live for the call, the path is a static empty C string,
    // and `st` is a valid, writable `struct stat` the kernel fills in.
    let ret = unsafe {
        libc::fstatat(
            fd.as_raw_fd(),
            c"".as_ptr(),
            ptr::from_mut(&mut st),
            libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    check(ret)?;
    Ok(st)
}

/// `fstatat(dir, name, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT)`: the
/// attributes of `name` in `dir`, as a mount there shows them (used only to
/// learn a mount point's file type).
pub(crate) fn stat_at(dir: BorrowedFd<'_>, name: &CStr) -> io::Result<libc::stat> {
    // SAFETY: `libc::stat` is plain old data; all-zero bytes is a valid value.
    let mut st: libc::stat = unsafe { mem::zeroed() };
    // SAFETY: `dir` is live for the call, `name` is NUL-terminated and
    // outlives it, and `st` is a valid, writable `struct stat`.
    let ret = unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            name.as_ptr(),
            ptr::from_mut(&mut st),
            libc::AT_SYMLINK_NOFOLLOW | libc::AT_NO_AUTOMOUNT,
        )
    };
    check(ret)?;
    Ok(st)
}

/// `fstatfs(fd)`: the filesystem `fd` is on (works on `O_PATH` fds).
pub(crate) fn fstatfs(fd: BorrowedFd<'_>) -> io::Result<libc::statfs> {
    // SAFETY: `libc::statfs` is plain old data; all-zero bytes is valid.
    let mut st: libc::statfs = unsafe { mem::zeroed() };
    // SAFETY: `fd` is live for the call and `st` a writable `struct statfs`.
    check(unsafe { libc::fstatfs(fd.as_raw_fd(), ptr::from_mut(&mut st)) })?;
    Ok(st)
}

/// An empty, sealed memfd (nothing can grow or write it): the contents of
/// a file that is only a mount point seen from below.
pub(crate) fn empty_sealed_memfd() -> io::Result<OwnedFd> {
    // SAFETY: a static NUL-terminated name and plain flags.
    let raw =
        check(unsafe { libc::memfd_create(c"husk-covered".as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) })?;
    // SAFETY: the kernel just returned this fd; nothing else owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let seals = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    // SAFETY: plain fcntl on our own fd.
    check(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, seals) })?;
    Ok(fd)
}

/// `readlinkat(fd, "", buf)`: the target of the symlink `fd` (an `O_PATH |
/// O_NOFOLLOW` fd) refers to. Returns the number of bytes written to `buf`;
/// a result equal to `buf.len()` may mean the target was truncated.
pub(crate) fn readlink(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `fd` is live; the path is a static empty C string; the kernel
    // writes at most `buf.len()` bytes into `buf`, which is valid for writes.
    let ret = unsafe { libc::readlinkat(fd.as_raw_fd(), c"".as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    check_size(ret)
}

/// `getdents64(fd, buf)`: reads raw `linux_dirent64` records into `buf`.
/// Returns the number of bytes filled; 0 means end of directory.
pub(crate) fn getdents64(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        // SAFETY: `fd` is live; the kernel writes at most `buf.len()` bytes
        // into `buf`, which is valid for writes for that length.
        let ret = unsafe { libc::syscall(libc::SYS_getdents64, fd.as_raw_fd(), buf.as_mut_ptr(), buf.len()) };
        match usize::try_from(ret) {
            Ok(n) => return Ok(n),
            Err(_) => {
                let err = io::Error::last_os_error();
                if err.raw_os_error() != Some(libc::EINTR) {
                    return Err(err);
                }
            }
        }
    }
}

/// `lseek(fd, offset, SEEK_SET)`; for a directory `offset` is a `d_off`
/// cookie previously returned by `getdents64`.
pub(crate) fn seek_set(fd: BorrowedFd<'_>, offset: i64) -> io::Result<()> {
    // SAFETY: `fd` is live; lseek takes no pointers.
    let ret = unsafe { libc::lseek(fd.as_raw_fd(), offset, libc::SEEK_SET) };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Clears `O_NONBLOCK` from the file status flags of `fd`.
pub(crate) fn clear_nonblock(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: `fd` is live; F_GETFL takes no argument and no pointers.
    let flags = check(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) })?;
    if flags & libc::O_NONBLOCK != 0 {
        // SAFETY: `fd` is live; F_SETFL takes an int argument, no pointers.
        check(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags & !libc::O_NONBLOCK) })?;
    }
    Ok(())
}

/// Creates a connected `AF_UNIX` `SOCK_SEQPACKET` pair, both ends close-on-exec.
pub fn seqpacket_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds: [libc::c_int; 2] = [-1; 2];
    // SAFETY: `fds` is a writable array of two ints, as socketpair requires.
    check(unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0, fds.as_mut_ptr()) })?;
    // SAFETY: socketpair succeeded, so both fds are new, open and owned by no
    // one else; each `OwnedFd` takes sole ownership of one of them.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Control buffer big enough for an `SCM_RIGHTS` message carrying up to two
/// fds (we only ever send one; room for a second lets us see and close an
/// extra one rather than rely on the kernel's truncation). `u64` elements
/// give the alignment `cmsghdr` needs.
const CMSG_BUF_WORDS: usize = 8;

/// Sends one message (`bytes`) on the seqpacket socket `sock`, with `fd`
/// attached as `SCM_RIGHTS` if given. Uses `MSG_NOSIGNAL` so a closed peer
/// gives EPIPE rather than SIGPIPE. Retries on EINTR.
pub fn send(sock: BorrowedFd<'_>, bytes: &[u8], fd: Option<BorrowedFd<'_>>) -> io::Result<()> {
    let mut iov = libc::iovec { iov_base: bytes.as_ptr().cast_mut().cast(), iov_len: bytes.len() };
    let mut cmsg_buf = [0u64; CMSG_BUF_WORDS];
    // SAFETY: `msghdr` is plain old data; all-zero is a valid (empty) value.
    let mut msg: libc::msghdr = unsafe { mem::zeroed() };
    msg.msg_iov = ptr::from_mut(&mut iov);
    msg.msg_iovlen = 1;
    if let Some(fd) = fd {
        let raw: RawFd = fd.as_raw_fd();
        let payload = u32::try_from(mem::size_of::<RawFd>()).map_err(io::Error::other)?;
        // SAFETY: CMSG_SPACE only computes a size from its argument.
        let space = unsafe { libc::CMSG_SPACE(payload) } as usize;
        if space > mem::size_of_val(&cmsg_buf) {
            return Err(io::Error::other("control buffer too small"));
        }
        msg.msg_control = cmsg_buf.as_mut_ptr().cast();
        msg.msg_controllen = space;
        // SAFETY: `msg.msg_control` points to `cmsg_buf`, which is aligned for
        // `cmsghdr` and at least `msg_controllen` bytes long, so
        // CMSG_FIRSTHDR returns a valid pointer to its start (non-null as the
        // length is at least one header).
        let cmsg = unsafe { libc::CMSG_FIRSTHDR(ptr::from_ref(&msg)) };
        if cmsg.is_null() {
            return Err(io::Error::other("control buffer too small"));
        }
        // SAFETY: `cmsg` points into `cmsg_buf` (checked non-null above) with
        // room for a header and one fd (`space` bytes were checked to fit);
        // CMSG_DATA points just past the header inside the same buffer, and
        // `write_unaligned` copes with any alignment.
        unsafe {
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(payload) as usize;
            ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>(), raw);
        }
    }
    loop {
        // SAFETY: `sock` is live; `msg` points to `iov` (describing `bytes`,
        // valid for reads) and, if set, to `cmsg_buf` holding a well-formed
        // SCM_RIGHTS message; all of them outlive the call.
        let ret = unsafe { libc::sendmsg(sock.as_raw_fd(), ptr::from_ref(&msg), libc::MSG_NOSIGNAL) };
        match check_size(ret) {
            Ok(n) if n == bytes.len() => return Ok(()),
            Ok(_) => return Err(io::Error::other("short sendmsg on a seqpacket socket")),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

/// One message received by [`recv`].
#[derive(Debug)]
pub struct Received {
    /// Bytes of payload placed in the buffer.
    pub len: usize,
    /// Fds that arrived with the message (now owned by us, close-on-exec).
    pub fds: Vec<OwnedFd>,
    /// The message was longer than the buffer (`MSG_TRUNC`).
    pub truncated: bool,
    /// Ancillary data did not fit or was refused (`MSG_CTRUNC`); the kernel
    /// has closed whatever fds did not fit.
    pub control_truncated: bool,
}

/// Receives one message from the seqpacket socket `sock` into `buf`. When
/// `accept_fds` is false no control buffer is supplied, so any fds the peer
/// attached are closed by the kernel and reported as `control_truncated`.
/// A `len` of 0 means the peer closed the connection. Retries on EINTR.
pub fn recv(sock: BorrowedFd<'_>, buf: &mut [u8], accept_fds: bool) -> io::Result<Received> {
    let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
    let mut cmsg_buf = [0u64; CMSG_BUF_WORDS];
    // SAFETY: `msghdr` is plain old data; all-zero is a valid (empty) value.
    let mut msg: libc::msghdr = unsafe { mem::zeroed() };
    msg.msg_iov = ptr::from_mut(&mut iov);
    msg.msg_iovlen = 1;
    if accept_fds {
        msg.msg_control = cmsg_buf.as_mut_ptr().cast();
        msg.msg_controllen = mem::size_of_val(&cmsg_buf);
    }
    let len = loop {
        // SAFETY: `sock` is live; `msg` points to `iov` (describing `buf`,
        // valid for writes of its length) and optionally to `cmsg_buf`
        // (valid for writes of `msg_controllen` bytes); all outlive the call.
        let ret = unsafe { libc::recvmsg(sock.as_raw_fd(), ptr::from_mut(&mut msg), libc::MSG_CMSG_CLOEXEC) };
        match check_size(ret) {
            Ok(n) => break n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    };
    let mut fds = Vec::new();
    if accept_fds {
        // SAFETY: `msg` was filled in by a successful recvmsg; its control
        // fields describe (a prefix of) `cmsg_buf`, so CMSG_FIRSTHDR returns
        // null or a pointer to a header inside that buffer.
        let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(ptr::from_ref(&msg)) };
        while !cmsg.is_null() {
            // SAFETY: `cmsg` is non-null and was produced by CMSG_FIRSTHDR /
            // CMSG_NXTHDR, which only return headers lying inside the
            // control buffer the kernel filled.
            let hdr = unsafe { ptr::read_unaligned(cmsg) };
            if hdr.cmsg_level == libc::SOL_SOCKET && hdr.cmsg_type == libc::SCM_RIGHTS {
                // SAFETY: CMSG_LEN only computes a size from its argument.
                let header_len = unsafe { libc::CMSG_LEN(0) } as usize;
                let count = hdr.cmsg_len.saturating_sub(header_len) / mem::size_of::<RawFd>();
                // SAFETY: CMSG_DATA points just past the header of `cmsg`,
                // which is inside the control buffer.
                let data = unsafe { libc::CMSG_DATA(cmsg) }.cast::<RawFd>();
                for i in 0..count {
                    // SAFETY: the kernel wrote `count` fds after the header
                    // (cmsg_len covers them, and it never exceeds the buffer
                    // we supplied); `read_unaligned` copes with alignment.
                    let raw = unsafe { ptr::read_unaligned(data.add(i)) };
                    // SAFETY: SCM_RIGHTS installed this fd in our table for
                    // us alone; `OwnedFd` takes ownership so it is closed
                    // even if we end up rejecting the message.
                    fds.push(unsafe { OwnedFd::from_raw_fd(raw) });
                }
            }
            // SAFETY: `msg` and `cmsg` are as above; CMSG_NXTHDR returns the
            // next header inside the control buffer or null.
            cmsg = unsafe { libc::CMSG_NXTHDR(ptr::from_ref(&msg), cmsg) };
        }
    }
    Ok(Received {
        len,
        fds,
        truncated: msg.msg_flags & libc::MSG_TRUNC != 0,
        control_truncated: msg.msg_flags & libc::MSG_CTRUNC != 0,
    })
}

/// Retries `f` while it fails with EINTR.
fn retry(mut f: impl FnMut() -> libc::c_int) -> io::Result<()> {
    loop {
        match check(f()) {
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
            r => return r.map(drop),
        }
    }
}

/// `mkdirat(dir, name, mode)`.
pub(crate) fn mkdirat(dir: BorrowedFd<'_>, name: &CStr, mode: u32) -> io::Result<()> {
    // SAFETY: `dir` is live and `name` NUL-terminated for the call.
    retry(|| unsafe { libc::mkdirat(dir.as_raw_fd(), name.as_ptr(), mode) })
}

/// `mknodat(dir, name, mode, 0)`: a FIFO, socket or regular file (never a
/// device: the caller checks the type).
pub(crate) fn mknodat(dir: BorrowedFd<'_>, name: &CStr, mode: u32) -> io::Result<()> {
    // SAFETY: `dir` is live and `name` NUL-terminated for the call.
    retry(|| unsafe { libc::mknodat(dir.as_raw_fd(), name.as_ptr(), mode, 0) })
}

/// `symlinkat(target, dir, name)`.
pub(crate) fn symlinkat(target: &CStr, dir: BorrowedFd<'_>, name: &CStr) -> io::Result<()> {
    // SAFETY: both strings are NUL-terminated and `dir` live for the call.
    retry(|| unsafe { libc::symlinkat(target.as_ptr(), dir.as_raw_fd(), name.as_ptr()) })
}

/// `linkat(file, "", dir, name, AT_EMPTY_PATH)`: another name for the very
/// file `file` (an `O_PATH` fd) refers to, whatever its names are now.
pub(crate) fn link_fd(file: BorrowedFd<'_>, dir: BorrowedFd<'_>, name: &CStr) -> io::Result<()> {
    // SAFETY: both fds are live and both strings NUL-terminated.
    retry(|| unsafe {
        libc::linkat(file.as_raw_fd(), c"".as_ptr(), dir.as_raw_fd(), name.as_ptr(), libc::AT_EMPTY_PATH)
    })
}

/// `unlinkat(dir, name, flags)` (`AT_REMOVEDIR` for a directory).
pub(crate) fn unlinkat(dir: BorrowedFd<'_>, name: &CStr, flags: libc::c_int) -> io::Result<()> {
    // SAFETY: `dir` is live and `name` NUL-terminated for the call.
    retry(|| unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), flags) })
}

/// `renameat2(odir, oname, ndir, nname, flags)`.
pub(crate) fn renameat2(
    odir: BorrowedFd<'_>,
    oname: &CStr,
    ndir: BorrowedFd<'_>,
    nname: &CStr,
    flags: u32,
) -> io::Result<()> {
    // SAFETY: both fds are live and both names NUL-terminated for the call.
    retry(|| unsafe {
        libc::syscall(libc::SYS_renameat2, odir.as_raw_fd(), oname.as_ptr(), ndir.as_raw_fd(), nname.as_ptr(), flags)
            as libc::c_int
    })
}

/// `fchownat(fd, "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW)` on the
/// file an `O_PATH` fd refers to; `u32::MAX` leaves an id alone.
pub(crate) fn chown_fd(fd: BorrowedFd<'_>, uid: u32, gid: u32) -> io::Result<()> {
    // SAFETY: `fd` is live; the path is a static empty C string.
    retry(|| unsafe {
        libc::fchownat(fd.as_raw_fd(), c"".as_ptr(), uid, gid, libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW)
    })
}

/// `fchmodat2(fd, "", mode, AT_EMPTY_PATH)` on the file an `O_PATH` fd
/// refers to (Linux 6.6 and later).
pub(crate) fn chmod_fd(fd: BorrowedFd<'_>, mode: u32) -> io::Result<()> {
    const SYS_FCHMODAT2: libc::c_long = 452;
    // SAFETY: `fd` is live; the path is a static empty C string.
    retry(|| unsafe {
        libc::syscall(SYS_FCHMODAT2, fd.as_raw_fd(), c"".as_ptr(), mode, libc::AT_EMPTY_PATH) as libc::c_int
    })
}

/// `utimensat(fd, "", times, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW)` on the
/// file an `O_PATH` fd refers to.
pub(crate) fn utimens_fd(fd: BorrowedFd<'_>, times: &[libc::timespec; 2]) -> io::Result<()> {
    // SAFETY: `fd` is live; the path is a static empty C string; `times`
    // points to two initialised timespecs the kernel only reads.
    retry(|| unsafe {
        libc::utimensat(fd.as_raw_fd(), c"".as_ptr(), times.as_ptr(), libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW)
    })
}

/// `fgetxattr(fd, name, buf)`; an empty `buf` asks for the size.
pub(crate) fn fgetxattr(fd: BorrowedFd<'_>, name: &CStr, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `fd` is live, `name` NUL-terminated, and the kernel writes at
    // most `buf.len()` bytes into `buf`.
    check_size(unsafe { libc::fgetxattr(fd.as_raw_fd(), name.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) })
}

/// `fsetxattr(fd, name, value, flags)`.
pub(crate) fn fsetxattr(fd: BorrowedFd<'_>, name: &CStr, value: &[u8], flags: libc::c_int) -> io::Result<()> {
    // SAFETY: `fd` is live, `name` NUL-terminated, `value` readable for its
    // length.
    check(unsafe { libc::fsetxattr(fd.as_raw_fd(), name.as_ptr(), value.as_ptr().cast(), value.len(), flags) })
        .map(drop)
}

/// `flistxattr(fd, buf)`; an empty `buf` asks for the size.
pub(crate) fn flistxattr(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `fd` is live; the kernel writes at most `buf.len()` bytes.
    check_size(unsafe { libc::flistxattr(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) })
}

/// `fremovexattr(fd, name)`.
pub(crate) fn fremovexattr(fd: BorrowedFd<'_>, name: &CStr) -> io::Result<()> {
    // SAFETY: `fd` is live and `name` NUL-terminated.
    check(unsafe { libc::fremovexattr(fd.as_raw_fd(), name.as_ptr()) }).map(drop)
}

/// Raises the soft RLIMIT_NOFILE towards `want` (as far as the hard limit
/// allows): every live fid holds an fd, and a shell's usual soft limit of
/// 1024 would fail walks of a big tree with EMFILE.
pub(crate) fn raise_nofile(want: u64) -> io::Result<()> {
    // SAFETY: `rlimit` is plain old data; all-zero is valid.
    let mut lim: libc::rlimit = unsafe { mem::zeroed() };
    // SAFETY: a valid out-pointer to our own struct.
    check(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, ptr::from_mut(&mut lim)) })?;
    #[allow(clippy::useless_conversion)] // rlim_t's width differs by architecture
    let target = want.min(u64::from(lim.rlim_max)).max(u64::from(lim.rlim_cur));
    #[allow(clippy::useless_conversion, clippy::unnecessary_cast)]
    {
        lim.rlim_cur = target as libc::rlim_t;
    }
    // SAFETY: a valid pointer to our own struct, read only.
    check(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, ptr::from_ref(&lim)) }).map(drop)
}

/// `fchmod(fd, mode)` on a file opened for reading or writing (not
/// `O_PATH`): the exact mode, on every kernel.
pub(crate) fn fchmod(fd: BorrowedFd<'_>, mode: u32) -> io::Result<()> {
    // SAFETY: `fd` is live; plain values.
    retry(|| unsafe { libc::fchmod(fd.as_raw_fd(), mode) })
}

/// Clears this process's umask: the modes the Sentry asks for are exact.
pub(crate) fn clear_umask() {
    // SAFETY: umask takes and returns plain values.
    unsafe { libc::umask(0) };
}

/// Moves this process into a mount namespace of its own whose root is an
/// empty, read-only tmpfs (over /tmp, which every host has), with the host's
/// tree detached from it: from then on the Gofer reaches no host path but
/// through the root fds it already holds, which keep their mounts alive.
/// Needs CAP_SYS_ADMIN (root's, or a user namespace's).
pub(crate) fn enter_empty_mount_namespace() -> io::Result<()> {
    let none: *const libc::c_char = ptr::null();
    let locked = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
    // SAFETY: unshare, mount, chdir, pivot_root and umount2 with plain
    // flags and pointers to static C strings (or null where the kernel
    // takes none).
    unsafe {
        check(libc::unshare(libc::CLONE_NEWNS))?;
        check(libc::mount(none, c"/".as_ptr(), none, libc::MS_REC | libc::MS_PRIVATE, ptr::null()))?;
        check(libc::mount(
            c"husk-gofer".as_ptr(),
            c"/tmp".as_ptr(),
            c"tmpfs".as_ptr(),
            locked,
            c"mode=0555,size=4k".as_ptr().cast(),
        ))?;
        check(libc::chdir(c"/tmp".as_ptr()))?;
        check(libc::syscall(libc::SYS_pivot_root, c".".as_ptr(), c".".as_ptr()) as libc::c_int)?;
        check(libc::umount2(c".".as_ptr(), libc::MNT_DETACH))?;
        check(libc::chdir(c"/".as_ptr()))?;
        let ro = libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY | locked;
        check(libc::mount(none, c"/".as_ptr(), none, ro, ptr::null()))?;
    }
    Ok(())
}
