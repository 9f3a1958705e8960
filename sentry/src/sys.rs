//! Thin wrappers over the few host calls the Sentry makes for the app: on the
//! stdio fds `husk run` passes in (the terminal ioctls among them), for time
//! and randomness, and memfds for programs run from in-Sentry filesystems.
#![allow(unsafe_code)]

use std::os::fd::RawFd;

use abi::flags::ioctl::{
    FIONREAD, TCFLSH, TCGETS, TCGETS2, TCSETS, TCSETS2, TCSETSF, TCSETSF2, TCSETSW, TCSETSW2, TCXONC, TIOCGWINSZ,
    TIOCOUTQ, TIOCSWINSZ,
};
use abi::Errno;
use gofer::FileAttr;

use crate::mm::SysResult;

fn last_errno() -> Errno {
    Errno(std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO))
}

/// Whether `fd` is a terminal.
pub fn isatty(fd: RawFd) -> bool {
    // SAFETY: isatty takes a plain fd.
    unsafe { libc::isatty(fd) == 1 }
}

/// fstat of a host fd, as a FileAttr.
/// Space on the host filesystem holding `fd`: (block size, blocks, free
/// blocks, blocks free to unprivileged users, inodes, free inodes).
pub fn fstatfs(fd: RawFd) -> SysResult<(u64, u64, u64, u64, u64, u64)> {
    // SAFETY: all-zero is a valid `struct statfs`.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a valid out-pointer.
    if unsafe { libc::fstatfs(fd, &mut st) } != 0 {
        return Err(last_errno());
    }
    #[allow(clippy::unnecessary_cast)]
    Ok((
        st.f_bsize as u64,
        st.f_blocks as u64,
        st.f_bfree as u64,
        st.f_bavail as u64,
        st.f_files as u64,
        st.f_ffree as u64,
    ))
}

// `st_nlink` is a u64 on x86_64 and a u32 on arm64.
#[allow(clippy::useless_conversion)]
pub fn fstat(fd: RawFd) -> SysResult<FileAttr> {
    // SAFETY: all-zero is a valid `struct stat`.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a valid out-pointer.
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return Err(last_errno());
    }
    Ok(FileAttr {
        mode: st.st_mode,
        nlink: u64::from(st.st_nlink),
        uid: st.st_uid,
        gid: st.st_gid,
        size: st.st_size as u64,
        blksize: st.st_blksize as u64,
        blocks: st.st_blocks as u64,
        atime_sec: st.st_atime,
        atime_nsec: st.st_atime_nsec,
        mtime_sec: st.st_mtime,
        mtime_nsec: st.st_mtime_nsec,
        ctime_sec: st.st_ctime,
        ctime_nsec: st.st_ctime_nsec,
        ino: st.st_ino,
        dev: st.st_dev,
        rdev: st.st_rdev,
    })
}

/// lseek on a host fd.
pub fn lseek(fd: RawFd, offset: i64, whence: u32) -> SysResult<u64> {
    // SAFETY: lseek takes plain values.
    let r = unsafe { libc::lseek(fd, offset, whence as i32) };
    if r < 0 {
        Err(last_errno())
    } else {
        Ok(r as u64)
    }
}

/// The terminal ioctls the Sentry makes on a host terminal (the console's
/// fd) for the app, each with a buffer of exactly the structure the
/// request reads or writes: TCGETS and TCSETS/TCSETSW/TCSETSF (a kernel
/// `termios`, 36 bytes), TIOCGWINSZ and TIOCSWINSZ (a `winsize`, 8 bytes),
/// FIONREAD and TIOCOUTQ (an int). Anything else is refused with ENOTTY
/// before the host sees it.
pub fn tty_ioctl(fd: RawFd, cmd: u32, arg: &mut [u8]) -> SysResult<u64> {
    let need = match cmd {
        TCGETS | TCSETS | TCSETSW | TCSETSF => std::mem::size_of::<abi::types::Termios>(),
        TCGETS2 | TCSETS2 | TCSETSW2 | TCSETSF2 => std::mem::size_of::<abi::types::Termios2>(),
        TIOCGWINSZ | TIOCSWINSZ => std::mem::size_of::<abi::types::Winsize>(),
        FIONREAD | TIOCOUTQ => 4,
        _ => return Err(Errno::ENOTTY),
    };
    if arg.len() != need {
        return Err(Errno::EINVAL);
    }
    // SAFETY: `arg` is exactly as large as the structure the request reads
    // or writes, and lives across the call.
    let r = unsafe { libc::ioctl(fd, u64::from(cmd), arg.as_mut_ptr()) };
    if r < 0 {
        return Err(last_errno());
    }
    Ok(0)
}

/// The terminal ioctls whose argument is a plain integer: TCFLSH and TCXONC
/// (the host checks the value). Anything else is refused with ENOTTY.
pub fn tty_ioctl_int(fd: RawFd, cmd: u32, arg: u64) -> SysResult<u64> {
    if cmd != TCFLSH && cmd != TCXONC {
        return Err(Errno::ENOTTY);
    }
    // SAFETY: these requests take their argument by value; no memory is
    // passed.
    let r = unsafe { libc::ioctl(fd, u64::from(cmd), arg as libc::c_ulong) };
    if r < 0 {
        return Err(last_errno());
    }
    Ok(0)
}

/// fcntl(F_GETFL) of a host fd: its access mode and status flags.
pub fn getfl(fd: RawFd) -> SysResult<u32> {
    // SAFETY: F_GETFL takes no argument and only queries the fd.
    let r = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if r < 0 {
        return Err(last_errno());
    }
    Ok(r as u32)
}

/// clock_gettime on the host clock `id`.
pub fn clock_gettime(id: u32) -> SysResult<(i64, i64)> {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid out-pointer.
    if unsafe { libc::clock_gettime(id as libc::clockid_t, &mut ts) } != 0 {
        return Err(last_errno());
    }
    Ok((ts.tv_sec, ts.tv_nsec))
}

/// The host clock id of a process's CPU time (Linux's
/// `MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED)`).
pub fn process_cpu_clock(pid: i32) -> u32 {
    ((!pid) << 3 | 2) as u32
}

/// The host clock id of the calling host thread's CPU time, which other
/// threads of the Sentry may read.
pub fn current_thread_cpu_clock() -> Option<u32> {
    let mut id: libc::clockid_t = 0;
    // SAFETY: pthread_self is this thread; `id` is a valid out-pointer.
    (unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), &mut id) } == 0).then_some(id as u32)
}

/// clock_getres on the host clock `id`.
pub fn clock_getres(id: u32) -> SysResult<(i64, i64)> {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid out-pointer.
    if unsafe { libc::clock_getres(id as libc::clockid_t, &mut ts) } != 0 {
        return Err(last_errno());
    }
    Ok((ts.tv_sec, ts.tv_nsec))
}

/// Fills `buf` from the host's CSPRNG.
pub fn getrandom(buf: &mut [u8]) -> SysResult<()> {
    let mut done = 0;
    while done < buf.len() {
        // SAFETY: writes at most the remaining length into `buf`.
        let r = unsafe { libc::getrandom(buf[done..].as_mut_ptr().cast(), buf.len() - done, 0) };
        if r < 0 {
            let e = last_errno();
            if e == Errno::EINTR {
                continue;
            }
            return Err(e);
        }
        done += r as usize;
    }
    Ok(())
}

/// A new, empty memfd (close-on-exec), for a copy of an in-Sentry file the
/// loader reads through a host fd.
pub fn memfd_create() -> SysResult<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: memfd_create with a static NUL-terminated name.
    let fd = unsafe { libc::memfd_create(c"husk-exec".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(last_errno());
    }
    // SAFETY: `fd` is a fresh fd that nothing else owns.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}

/// The host's memory totals, for sysinfo: (total, free) bytes.
pub fn host_memory() -> (u64, u64) {
    // SAFETY: all-zero is a valid `struct sysinfo`.
    let mut si: libc::sysinfo = unsafe { std::mem::zeroed() };
    // SAFETY: `si` is a valid out-pointer.
    if unsafe { libc::sysinfo(&mut si) } != 0 {
        return (0, 0);
    }
    let unit = u64::from(si.mem_unit.max(1));
    (si.totalram * unit, si.freeram * unit)
}

/// pread on a host fd, retried on EINTR. Made as preadv2 with one buffer,
/// the one read-at-an-offset call in the Sentry's seccomp filter.
pub fn pread(fd: RawFd, buf: &mut [u8], off: u64) -> SysResult<usize> {
    let iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
    loop {
        // SAFETY: one iovec over `buf`; the host writes at most its length.
        let r = unsafe { libc::preadv2(fd, &iov, 1, off as i64, 0) };
        if r >= 0 {
            return Ok(r as usize);
        }
        let e = last_errno();
        if e != Errno::EINTR {
            return Err(e);
        }
    }
}

/// poll(2) on one host fd: the events that are ready (POLLHUP and POLLERR
/// count as both readable and writable, as the app would then see EOF or an
/// error). `timeout_ms` 0 does not wait.
pub fn poll_one(fd: RawFd, events: u32, timeout_ms: i32) -> u32 {
    let mut p = libc::pollfd { fd, events: events as i16, revents: 0 };
    // SAFETY: one valid pollfd for the duration of the call.
    let r = unsafe { libc::poll(&mut p, 1, timeout_ms) };
    if r <= 0 {
        return 0;
    }
    let rev = p.revents as u32;
    if rev & (libc::POLLHUP | libc::POLLERR) as u32 != 0 {
        return rev | events;
    }
    rev
}

/// Retries a host call while it fails with EINTR; its errno otherwise.
fn retry_eintr(mut f: impl FnMut() -> libc::c_int) -> SysResult<()> {
    loop {
        if f() == 0 {
            return Ok(());
        }
        let e = last_errno();
        if e != Errno::EINTR {
            return Err(e);
        }
    }
}

/// `ftruncate(fd, len)` on a file the Gofer donated for writing.
pub fn ftruncate(fd: RawFd, len: u64) -> SysResult<()> {
    let len = i64::try_from(len).map_err(|_| Errno::EFBIG)?;
    // SAFETY: plain values, no pointers.
    retry_eintr(|| unsafe { libc::ftruncate(fd, len) })
}

/// `fallocate(fd, mode, offset, len)` on a host file the Sentry holds for
/// writing: `keep_size` (FALLOC_FL_KEEP_SIZE) leaves its size alone,
/// `punch` (FALLOC_FL_PUNCH_HOLE) frees the range.
pub fn fallocate(fd: RawFd, offset: u64, len: u64, keep_size: bool, punch: bool) -> SysResult<()> {
    let mut mode = 0;
    if keep_size {
        mode |= libc::FALLOC_FL_KEEP_SIZE;
    }
    if punch {
        mode |= libc::FALLOC_FL_PUNCH_HOLE;
    }
    let (offset, len) =
        (i64::try_from(offset).map_err(|_| Errno::EFBIG)?, i64::try_from(len).map_err(|_| Errno::EFBIG)?);
    // SAFETY: plain values, no pointers.
    retry_eintr(|| unsafe { libc::fallocate(fd, mode, offset, len) })
}

/// `fsync(fd)`, for the app's fsync and fdatasync (`data_only`) alike:
/// fsync does all that fdatasync does, and keeps fdatasync out of the
/// Sentry's seccomp filter.
pub fn fsync(fd: RawFd, _data_only: bool) -> SysResult<()> {
    // SAFETY: plain values, no pointers.
    retry_eintr(|| unsafe { libc::fsync(fd) })
}

/// Writes all of `buf` to `fd` at `off` (pwrite, retried on a short
/// write or EINTR); ENOSPC if the host writes nothing.
pub fn pwrite_all(fd: RawFd, buf: &[u8], off: u64) -> SysResult<()> {
    let mut done = 0usize;
    while done < buf.len() {
        let at = i64::try_from(off + done as u64).map_err(|_| Errno::EFBIG)?;
        let iov = libc::iovec { iov_base: buf[done..].as_ptr().cast_mut().cast(), iov_len: buf.len() - done };
        // SAFETY: one iovec over `buf[done..]`, which the host only reads.
        // (pwritev2: the one write-at-an-offset call in the Sentry's filter.)
        let w = unsafe { libc::pwritev2(fd, &iov, 1, at, 0) };
        match w {
            0 => return Err(Errno::ENOSPC),
            w if w < 0 => {
                let e = last_errno();
                if e != Errno::EINTR {
                    return Err(e);
                }
            }
            w => done += w as usize,
        }
    }
    Ok(())
}

/// Raises the soft RLIMIT_NOFILE to the hard limit: the Sentry holds a
/// host fd for each open host file (and each file of an overlay on disk).
/// Returns the limit.
pub fn raise_nofile() -> u64 {
    // SAFETY: `rlimit` is plain old data; valid pointers to a local.
    unsafe {
        let mut lim: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 1024;
        }
        if lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
        #[allow(clippy::useless_conversion)]
        u64::from(lim.rlim_max)
    }
}

/// Installs the SIGSYS handler that reports a host syscall the Sentry's
/// seccomp filter refused: it writes the syscall's number to stderr, and the
/// Sentry then dies of SIGSYS, as the filter intends.
pub fn report_seccomp_traps() {
    // SAFETY: installs a handler that only formats into a stack buffer and
    // makes write, rt_sigaction and tgkill calls, all async-signal-safe; the
    // sigaction struct is a zeroed local filled before the call.
    unsafe {
        let mut act: libc::sigaction = std::mem::zeroed();
        let handler: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) = on_sigsys;
        act.sa_sigaction = handler as usize;
        act.sa_flags = libc::SA_SIGINFO;
        libc::sigemptyset(&mut act.sa_mask);
        libc::sigaction(libc::SIGSYS, &act, std::ptr::null_mut());
    }
}

/// The SIGSYS handler of [`report_seccomp_traps`].
extern "C" fn on_sigsys(_sig: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // `si_syscall` is the int at byte 24 of a SIGSYS siginfo (after
    // si_signo, si_errno, si_code, padding and si_call_addr).
    // SAFETY: the kernel passes a full siginfo_t for an SA_SIGINFO handler.
    let nr = unsafe { info.cast::<u8>().add(24).cast::<i32>().read_unaligned() };
    let mut msg = [0u8; 128];
    let mut len = 0;
    let mut put = |bytes: &[u8]| {
        let n = bytes.len().min(msg.len() - len);
        msg[len..len + n].copy_from_slice(&bytes[..n]);
        len += n;
    };
    put(b"husk: the Sentry made host syscall ");
    let mut digits = [0u8; 12];
    let mut at = digits.len();
    let mut n = i64::from(nr).unsigned_abs();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 || at == 0 {
            break;
        }
    }
    put(&digits[at..]);
    put(b", which its seccomp filter refuses (see husk debug seccomp)\n");
    // SAFETY: a write of a local buffer to stderr; then SIGSYS back to its
    // default action, and raised again: it is blocked in this handler and
    // ends the process as soon as the handler returns.
    unsafe {
        libc::write(2, msg.as_ptr().cast(), len);
        libc::signal(libc::SIGSYS, libc::SIG_DFL);
        libc::raise(libc::SIGSYS);
    }
}

/// A non-blocking, close-on-exec pipe: (read end, write end). Made at
/// boot (the Sentry's filter has no pipe2).
pub fn pipe_nonblock() -> SysResult<(std::os::fd::OwnedFd, std::os::fd::OwnedFd)> {
    use std::os::fd::FromRawFd;
    let mut fds = [-1; 2];
    // SAFETY: `fds` is a writable array of two ints.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) } != 0 {
        return Err(last_errno());
    }
    // SAFETY: pipe2 made both fds, which nothing else owns.
    Ok(unsafe { (std::os::fd::OwnedFd::from_raw_fd(fds[0]), std::os::fd::OwnedFd::from_raw_fd(fds[1])) })
}

/// poll(2) on many host fds, retried on EINTR; how many are ready.
pub fn poll_many(fds: &mut [libc::pollfd], timeout_ms: i32) -> usize {
    loop {
        // SAFETY: `fds` is a valid array of pollfds for the call.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
        if r >= 0 {
            return r as usize;
        }
        if last_errno() != Errno::EINTR {
            return 0;
        }
    }
}

/// read(2) of a few bytes, not retried; the count or the errno.
pub fn read_bytes(fd: RawFd, buf: &mut [u8]) -> SysResult<usize> {
    // SAFETY: `buf` is valid for writes of its length.
    let r = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    if r < 0 {
        Err(last_errno())
    } else {
        Ok(r as usize)
    }
}

/// write(2) of a few bytes, not retried.
pub fn write_bytes(fd: RawFd, buf: &[u8]) -> SysResult<usize> {
    // SAFETY: `buf` is valid for reads of its length.
    let r = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
    if r < 0 {
        Err(last_errno())
    } else {
        Ok(r as usize)
    }
}

/// shutdown(2) of a host socket.
pub fn shutdown(fd: RawFd, how: u32) -> SysResult<()> {
    // SAFETY: shutdown takes plain values.
    retry_eintr(|| unsafe { libc::shutdown(fd, how as libc::c_int) })
}

/// FIONREAD on a host socket: its readable bytes.
pub fn fionread(fd: RawFd) -> SysResult<usize> {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int to `n`.
    if unsafe { libc::ioctl(fd, FIONREAD as _, &mut n) } < 0 {
        return Err(last_errno());
    }
    Ok(n.max(0) as usize)
}

/// SIOCOUTQ on a host socket: its bytes not yet sent (or acknowledged).
pub fn outq(fd: RawFd) -> SysResult<usize> {
    let mut n: libc::c_int = 0;
    // SAFETY: SIOCOUTQ (TIOCOUTQ's number) writes one int to `n`.
    if unsafe { libc::ioctl(fd, TIOCOUTQ as _, &mut n) } < 0 {
        return Err(last_errno());
    }
    Ok(n.max(0) as usize)
}

/// The pending error of a host socket, as a receive reports and clears it
/// (a one-byte peek that does not wait); `None` if there is none.
pub fn recv_peek_error(fd: RawFd) -> Option<Errno> {
    let mut b = [0u8; 1];
    let mut iov = libc::iovec { iov_base: b.as_mut_ptr().cast(), iov_len: 1 };
    // SAFETY: all-zero is a valid (empty) msghdr.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    // SAFETY: one iovec over `b`; recvmsg (not recv, which glibc makes as
    // recvfrom, outside the Sentry's filter) writes at most one byte.
    let r = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_PEEK | libc::MSG_DONTWAIT) };
    if r >= 0 {
        return None;
    }
    let e = last_errno();
    (e != Errno::EAGAIN).then_some(e)
}

/// Blocks every signal in the calling thread: for the Sentry's own
/// service threads, started at boot before the runtime blocks the signals
/// it forwards, so that none of them takes a signal meant for the sandbox.
pub fn block_all_signals_in_this_thread() {
    // SAFETY: a full set built in a local, installed as this thread's mask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut set);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// Room for any socket address (`sizeof(struct sockaddr_storage)`).
pub const SOCKADDR_MAX: usize = 128;

/// A new host socket (`--network host`), non-blocking and close-on-exec.
pub fn socket(domain: u32, kind: u32, protocol: u32) -> SysResult<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    let ty = kind as libc::c_int | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
    // SAFETY: socket takes plain values.
    let fd = unsafe { libc::socket(domain as libc::c_int, ty, protocol as libc::c_int) };
    if fd < 0 {
        return Err(last_errno());
    }
    // SAFETY: `fd` was just made and is owned by nobody else.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}

/// bind(2) of a host socket to the raw address `addr`.
pub fn bind(fd: RawFd, addr: &[u8]) -> SysResult<()> {
    // SAFETY: `addr` is valid for reads of its length, which is passed.
    retry_eintr(|| unsafe { libc::bind(fd, addr.as_ptr().cast(), addr.len() as libc::socklen_t) })
}

/// connect(2) of a non-blocking host socket to the raw address `addr`.
pub fn connect(fd: RawFd, addr: &[u8]) -> SysResult<()> {
    // SAFETY: as in `bind`.
    let r = unsafe { libc::connect(fd, addr.as_ptr().cast(), addr.len() as libc::socklen_t) };
    if r < 0 {
        return Err(last_errno());
    }
    Ok(())
}

/// listen(2) on a host socket.
pub fn listen(fd: RawFd, backlog: i32) -> SysResult<()> {
    // SAFETY: listen takes plain values.
    retry_eintr(|| unsafe { libc::listen(fd, backlog) })
}

/// accept4(2) on a non-blocking host listener: the new socket
/// (non-blocking, close-on-exec) and its peer's raw address.
pub fn accept(fd: RawFd) -> SysResult<(std::os::fd::OwnedFd, Vec<u8>)> {
    use std::os::fd::FromRawFd;
    let mut addr = [0u8; SOCKADDR_MAX];
    let mut len = SOCKADDR_MAX as libc::socklen_t;
    // SAFETY: `addr` has room for `len` bytes, and `len` is a valid
    // socklen_t the host updates.
    let r = unsafe { libc::accept4(fd, addr.as_mut_ptr().cast(), &mut len, libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC) };
    if r < 0 {
        return Err(last_errno());
    }
    // SAFETY: `r` was just made and is owned by nobody else.
    let sock = unsafe { std::os::fd::OwnedFd::from_raw_fd(r) };
    Ok((sock, addr[..(len as usize).min(SOCKADDR_MAX)].to_vec()))
}

/// getsockname(2) (`peer`: getpeername(2)) of a host socket: its raw
/// address.
pub fn socket_name(fd: RawFd, peer: bool) -> SysResult<Vec<u8>> {
    let mut addr = [0u8; SOCKADDR_MAX];
    let mut len = SOCKADDR_MAX as libc::socklen_t;
    // SAFETY: `addr` has room for `len` bytes, and `len` is a valid
    // socklen_t the host updates.
    let r = unsafe {
        if peer {
            libc::getpeername(fd, addr.as_mut_ptr().cast(), &mut len)
        } else {
            libc::getsockname(fd, addr.as_mut_ptr().cast(), &mut len)
        }
    };
    if r < 0 {
        return Err(last_errno());
    }
    Ok(addr[..(len as usize).min(SOCKADDR_MAX)].to_vec())
}

/// getsockopt(2) of a host socket into `val`; the length the host gave.
pub fn getsockopt(fd: RawFd, level: i32, name: i32, val: &mut [u8]) -> SysResult<usize> {
    let mut len = val.len() as libc::socklen_t;
    // SAFETY: `val` has room for `len` bytes, and `len` is a valid
    // socklen_t the host updates.
    if unsafe { libc::getsockopt(fd, level, name, val.as_mut_ptr().cast(), &mut len) } < 0 {
        return Err(last_errno());
    }
    Ok((len as usize).min(val.len()))
}

/// setsockopt(2) of a host socket.
pub fn setsockopt(fd: RawFd, level: i32, name: i32, val: &[u8]) -> SysResult<()> {
    // SAFETY: `val` is valid for reads of its length, which is passed.
    if unsafe { libc::setsockopt(fd, level, name, val.as_ptr().cast(), val.len() as libc::socklen_t) } < 0 {
        return Err(last_errno());
    }
    Ok(())
}

/// The time-stamp counter, not read before the loads ahead of it (as
/// Linux's `rdtsc_ordered`); for the vDSO's timekeeper.
#[cfg(target_arch = "x86_64")]
pub fn rdtsc() -> u64 {
    // SAFETY: lfence and rdtsc read no memory and exist on every x86_64
    // CPU this runs on (the TSC is checked usable before it is relied on).
    unsafe {
        std::arch::x86_64::_mm_lfence();
        std::arch::x86_64::_rdtsc()
    }
}

/// The generic timer's virtual count, not read before the instructions
/// ahead of it (an `isb` first, as Linux's `__arch_get_hw_counter`); for
/// the vDSO's timekeeper.
#[cfg(target_arch = "aarch64")]
pub fn cntvct() -> u64 {
    let v: u64;
    // SAFETY: reading cntvct_el0 touches no memory; EL0 access to it is
    // enabled by Linux on every arm64 system (the vDSO relies on it).
    unsafe { std::arch::asm!("isb", "mrs {v}, cntvct_el0", v = out(reg) v, options(nomem, nostack)) };
    v
}

/// The host's AT_HWCAP and AT_HWCAP2, from which the app's are made.
#[cfg(target_arch = "aarch64")]
pub fn host_hwcaps() -> (u64, u64) {
    // SAFETY: getauxval reads the process's auxv and returns 0 for an
    // entry it lacks.
    unsafe { (libc::getauxval(libc::AT_HWCAP), libc::getauxval(libc::AT_HWCAP2)) }
}

/// Ends the whole Sentry process at once with `code`: every thread, no
/// handlers, no destructors. (A pid namespace's init, which the Sentry
/// usually is, cannot kill itself with a signal: the host drops its own
/// SIGABRT or SIGKILL to it.)
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit takes a plain int and never returns; nothing of this
    // process runs after it.
    unsafe { libc::_exit(code) }
}
