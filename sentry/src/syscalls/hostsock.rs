//! The socket calls on `--network host`'s host sockets
//! (`vfs::hostinet`): each is carried to the host socket and answered
//! with the host's result and errno. The host socket never blocks; a call
//! that would waits on the socket's wait queue (armed through the
//! poller), so signals, SO_RCVTIMEO and SO_SNDTIMEO work as on the
//! Sentry's own sockets. Only options of a fixed list reach the host:
//! none carries a pointer (SO_ATTACH_FILTER's program, TCP zero-copy
//! receive's mapping) that the host would follow into the Sentry's memory.

use std::sync::Arc;
use std::time::{Duration, Instant};

use abi::flags::open::{O_CLOEXEC, O_NONBLOCK, O_RDWR};
use abi::Errno;

use super::file::{pin_buffers, sigpipe, skip_bytes, Dir};
use crate::kernel::task::Task;
use crate::kernel::timer::deadline_in;
use crate::mm::SysResult;
use crate::vfs::file::{File, POLLERR, POLLHUP, POLLIN, POLLOUT};
use crate::vfs::hostinet::{HostSocket, HostSocketFile};

const SOCK_STREAM: u32 = 1;
const MSG_DONTWAIT: u32 = 0x40;
const MSG_WAITALL: u32 = 0x100;
const MSG_PEEK: u32 = 0x2;
const MSG_NOSIGNAL: u32 = 0x4000;
/// What of the app's send and receive flags reach the host as they are:
/// MSG_OOB, MSG_PEEK, MSG_DONTROUTE, MSG_TRUNC, MSG_EOR, MSG_CONFIRM and
/// MSG_MORE (the Sentry does the waiting, MSG_WAITALL included).
const HOST_FLAGS: u32 = 0x1 | MSG_PEEK | 0x4 | 0x20 | 0x80 | 0x800 | 0x8000;
const SOL_SOCKET: i32 = 1;
const SO_RCVTIMEO_OLD: i32 = 20;
const SO_SNDTIMEO_OLD: i32 = 21;
/// The longest option value carried to the host.
const MAX_OPTION: usize = 256;

/// The host socket `fd` is, if it is one.
pub(super) fn of(t: &Task, fd: i32) -> Option<(Arc<File>, Arc<HostSocket>)> {
    let f = t.fds().get(fd).ok()?.clone();
    let h = f.ops.host_socket()?.clone();
    Some((f, h))
}

/// Whether new Internet sockets are the host's (`--network host`).
pub(super) fn enabled(t: &Task) -> bool {
    t.kernel.nat.get().is_some_and(|n| n.host_poller().is_some())
}

fn install(t: &mut Task, h: Arc<HostSocket>, flags: u32) -> SysResult<i32> {
    let limit = t.nofile_limit();
    let status = O_RDWR | (flags & O_NONBLOCK);
    t.fds().insert(File::new(Box::new(HostSocketFile(h)), status, None), flags & O_CLOEXEC != 0, 0, limit)
}

/// socket(2) of the Internet family `domain`, `kind` (STREAM or DGRAM)
/// and `protocol`, with the SOCK_* `flags`.
pub(super) fn socket(t: &mut Task, domain: u32, kind: u32, protocol: u32, flags: u32) -> SysResult<u64> {
    let poller = t.kernel.nat.get().and_then(|n| n.host_poller().cloned()).ok_or(Errno::EAFNOSUPPORT)?;
    let fd = crate::sys::socket(domain, kind, protocol)?;
    let h = HostSocket::new(fd, domain, kind, &poller)?;
    Ok(install(t, h, flags)? as u64)
}

/// The app's socket address at `addr` (`len` bytes, at most a
/// sockaddr_storage).
pub(super) fn read_addr(t: &Task, addr: u64, len: u32) -> SysResult<Vec<u8>> {
    if len as usize > crate::sys::SOCKADDR_MAX {
        return Err(Errno::EINVAL);
    }
    let mut raw = vec![0u8; len as usize];
    t.mm().copy_in(addr, &mut raw)?;
    Ok(raw)
}

/// Writes a socket address to the app's buffer at `addr`, truncated to
/// the length at `lenp`, the whole length reported there (Linux's
/// `move_addr_to_user`).
pub(super) fn write_addr(t: &Task, addr: u64, lenp: u64, bytes: &[u8]) -> SysResult<()> {
    let len: i32 = t.mm().read_val(lenp)?;
    if len < 0 {
        return Err(Errno::EINVAL);
    }
    let n = (len as usize).min(bytes.len());
    if n > 0 {
        t.mm().copy_out(addr, &bytes[..n])?;
    }
    t.mm().write_val(lenp, &(bytes.len() as u32))
}

pub(super) fn bind(t: &Task, h: &HostSocket, addr: u64, len: u32) -> SysResult<u64> {
    let raw = read_addr(t, addr, len)?;
    // The app's privilege, not the Sentry's, decides on the low ports.
    if let Ok(a) = crate::vfs::inet::parse_sockaddr(h.family, &raw) {
        if a.port() != 0 && a.port() < 1024 && t.creds().euid != 0 {
            return Err(Errno::EACCES);
        }
    }
    crate::sys::bind(h.fd(), &raw)?;
    Ok(0)
}

pub(super) fn listen(h: &HostSocket, backlog: i32) -> SysResult<u64> {
    crate::sys::listen(h.fd(), backlog.clamp(0, 4096))?;
    Ok(0)
}

/// A deadline from a timeout (zero: none).
fn deadline(d: Duration) -> Option<Instant> {
    (!d.is_zero()).then(|| deadline_in(d))
}

/// Waits until `h` has one of `events` (or an error, or a hang-up).
fn wait_for(t: &mut Task, h: &HostSocket, events: u32, until: Option<Instant>) -> SysResult<()> {
    t.block(&[h.queue()], until, |_| Ok((h.readiness() & (events | POLLERR | POLLHUP) != 0).then_some(())))
}

fn take_error(h: &HostSocket) -> i32 {
    let mut v = [0u8; 4];
    match crate::sys::getsockopt(h.fd(), SOL_SOCKET, libc::SO_ERROR, &mut v) {
        Ok(_) => i32::from_ne_bytes(v),
        Err(e) => e.0,
    }
}

pub(super) fn connect(t: &mut Task, f: &File, h: &HostSocket, addr: u64, len: u32) -> SysResult<u64> {
    let raw = read_addr(t, addr, len)?;
    match crate::sys::connect(h.fd(), &raw) {
        Ok(()) => return Ok(0),
        Err(Errno::EINPROGRESS) if f.flags() & O_NONBLOCK == 0 => {}
        Err(e) => return Err(e),
    }
    let until = deadline(h.timeouts.lock().unwrap_or_else(|e| e.into_inner()).1);
    match wait_for(t, h, POLLOUT, until) {
        Ok(()) => {}
        Err(Errno::ETIMEDOUT) => return Err(Errno::EINPROGRESS),
        Err(e) => return Err(e),
    }
    match take_error(h) {
        0 => Ok(0),
        e => Err(Errno(e)),
    }
}

pub(super) fn accept(t: &mut Task, f: &File, h: &HostSocket, addr: u64, lenp: u64, flags: u32) -> SysResult<u64> {
    if flags & !(O_NONBLOCK | O_CLOEXEC) != 0 {
        return Err(Errno::EINVAL);
    }
    let until = deadline(h.timeouts.lock().unwrap_or_else(|e| e.into_inner()).0);
    let (sock, peer) = loop {
        match crate::sys::accept(h.fd()) {
            Err(Errno::EAGAIN) if f.flags() & O_NONBLOCK == 0 => {
                h.arm(POLLIN);
                match wait_for(t, h, POLLIN, until) {
                    Ok(()) => {}
                    Err(Errno::ETIMEDOUT) => return Err(Errno::EAGAIN),
                    Err(e) => return Err(e),
                }
            }
            r => break r?,
        }
    };
    let poller = t.kernel.nat.get().and_then(|n| n.host_poller().cloned()).ok_or(Errno::EINVAL)?;
    let new = HostSocket::new(sock, h.family, h.kind, &poller)?;
    let fd = install(t, new, flags)?;
    if addr != 0 {
        if let Err(e) = write_addr(t, addr, lenp, &peer) {
            let _ = t.fds().remove(fd);
            return Err(e);
        }
    }
    Ok(fd as u64)
}

/// A send of `bufs` to the raw address `to` (none if empty).
pub(super) fn send(
    t: &mut Task,
    f: &File,
    h: &HostSocket,
    bufs: &[(u64, u64)],
    flags: u32,
    to: &[u8],
) -> SysResult<u64> {
    let nonblock = f.flags() & O_NONBLOCK != 0 || flags & MSG_DONTWAIT != 0;
    let total: u64 = bufs.iter().map(|&(_, l)| l).sum();
    let mf = t.kernel.memfile.clone();
    let until = deadline(h.timeouts.lock().unwrap_or_else(|e| e.into_inner()).1);
    let mut done = 0u64;
    loop {
        let r = {
            let pin = match pin_buffers(t, &skip_bytes(bufs, done), Dir::Write) {
                Ok(pin) => pin,
                Err(e) => return if done > 0 { Ok(done) } else { Err(e) },
            };
            h.send(&mf, pin.chunks(), (flags & HOST_FLAGS) as i32, to)
        };
        match r {
            Ok(n) => {
                done += n as u64;
                if h.kind != SOCK_STREAM || done >= total || nonblock {
                    return Ok(done);
                }
            }
            Err(Errno::EAGAIN) if !nonblock => match wait_for(t, h, POLLOUT, until) {
                Ok(()) => {}
                Err(Errno::ETIMEDOUT) => return if done > 0 { Ok(done) } else { Err(Errno::EAGAIN) },
                Err(e) => return if done > 0 { Ok(done) } else { Err(e) },
            },
            Err(Errno::EPIPE) => {
                if flags & MSG_NOSIGNAL == 0 {
                    sigpipe(t);
                }
                return if done > 0 { Ok(done) } else { Err(Errno::EPIPE) };
            }
            Err(e) => return if done > 0 { Ok(done) } else { Err(e) },
        }
    }
}

/// What a receive got: recv's result, msg_flags, and the sender's raw
/// address (if `named`).
pub(super) struct Got {
    pub n: u64,
    pub msg_flags: u32,
    pub from: Vec<u8>,
}

/// A receive into `bufs`; MSG_WAITALL on a stream goes on until they are
/// full, EOF, or a signal.
pub(super) fn recv(
    t: &mut Task,
    f: &File,
    h: &HostSocket,
    bufs: &[(u64, u64)],
    flags: u32,
    named: bool,
) -> SysResult<Got> {
    let nonblock = f.flags() & O_NONBLOCK != 0 || flags & MSG_DONTWAIT != 0;
    let total: u64 = bufs.iter().map(|&(_, l)| l).sum();
    let mf = t.kernel.memfile.clone();
    let until = deadline(h.timeouts.lock().unwrap_or_else(|e| e.into_inner()).0);
    let mut name = if named { vec![0u8; crate::sys::SOCKADDR_MAX] } else { Vec::new() };
    let mut got = Got { n: 0, msg_flags: 0, from: Vec::new() };
    let mut any = false;
    loop {
        let r = {
            let pin = pin_buffers(t, &skip_bytes(bufs, got.n), Dir::Read)?;
            h.recv(&mf, pin.chunks(), (flags & HOST_FLAGS) as i32, &mut name)
        };
        match r {
            Ok((n, msg_flags, namelen)) => {
                any = true;
                got.n += n as u64;
                got.msg_flags = msg_flags as u32;
                if named && got.from.is_empty() {
                    got.from = name[..namelen.min(name.len())].to_vec();
                }
                let more = flags & MSG_WAITALL != 0
                    && flags & MSG_PEEK == 0
                    && h.kind == SOCK_STREAM
                    && n > 0
                    && got.n < total;
                if !more {
                    return Ok(got);
                }
            }
            Err(Errno::EAGAIN) if !nonblock => match wait_for(t, h, POLLIN, until) {
                Ok(()) => {}
                Err(_) if any => return Ok(got),
                Err(Errno::ETIMEDOUT) => return Err(Errno::EAGAIN),
                Err(e) => return Err(e),
            },
            Err(_) if any => return Ok(got),
            Err(e) => return Err(e),
        }
    }
}

pub(super) fn shutdown(h: &HostSocket, how: u32) -> SysResult<u64> {
    crate::sys::shutdown(h.fd(), how)?;
    Ok(0)
}

/// getsockname (or, `peer`, getpeername).
pub(super) fn name(t: &Task, h: &HostSocket, addr: u64, lenp: u64, peer: bool) -> SysResult<u64> {
    let bytes = crate::sys::socket_name(h.fd(), peer)?;
    write_addr(t, addr, lenp, &bytes)?;
    Ok(0)
}

/// Whether (`level`, `name`) may reach the host. At the socket level,
/// only options of plain values (not SO_ATTACH_FILTER's program, whose
/// pointer the host would follow into the Sentry's memory, nor
/// SO_PEERCRED's host identities); TCP zero-copy receive (a mapping into
/// the caller) never. Other levels of the Internet protocols reach the
/// host whole, which answers for options of the wrong protocol as Linux
/// does; none of their options holds a pointer.
fn host_option(level: i32, name: i32) -> bool {
    const TCP_ZEROCOPY_RECEIVE: i32 = 35;
    match level {
        SOL_SOCKET => matches!(
            name,
            libc::SO_REUSEADDR
                | libc::SO_TYPE
                | libc::SO_ERROR
                | libc::SO_DONTROUTE
                | libc::SO_BROADCAST
                | libc::SO_SNDBUF
                | libc::SO_RCVBUF
                | libc::SO_KEEPALIVE
                | libc::SO_OOBINLINE
                | libc::SO_PRIORITY
                | libc::SO_LINGER
                | libc::SO_REUSEPORT
                | libc::SO_RCVLOWAT
                | libc::SO_SNDLOWAT
                | libc::SO_ACCEPTCONN
                | libc::SO_PROTOCOL
                | libc::SO_DOMAIN
                | libc::SO_TIMESTAMP
        ),
        libc::IPPROTO_TCP => name != TCP_ZEROCOPY_RECEIVE,
        libc::IPPROTO_IP | libc::IPPROTO_IPV6 | libc::IPPROTO_UDP | IPPROTO_UDPLITE => true,
        _ => false,
    }
}

/// `IPPROTO_UDPLITE`.
const IPPROTO_UDPLITE: i32 = 136;

fn timeval_of(d: Duration) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&(d.as_secs() as i64).to_ne_bytes());
    b[8..].copy_from_slice(&i64::from(d.subsec_micros()).to_ne_bytes());
    b
}

pub(super) fn getsockopt(t: &Task, h: &HostSocket, level: i32, name: i32, val: u64, lenp: u64) -> SysResult<u64> {
    let len: i32 = t.mm().read_val(lenp)?;
    if len < 0 {
        return Err(Errno::EINVAL);
    }
    let value = match (level, name) {
        (SOL_SOCKET, SO_RCVTIMEO_OLD | SO_SNDTIMEO_OLD) => {
            let (r, s) = *h.timeouts.lock().unwrap_or_else(|e| e.into_inner());
            timeval_of(if name == SO_RCVTIMEO_OLD { r } else { s }).to_vec()
        }
        _ if host_option(level, name) => {
            let mut v = vec![0u8; (len as usize).min(MAX_OPTION)];
            let n = crate::sys::getsockopt(h.fd(), level, name, &mut v)?;
            v.truncate(n);
            v
        }
        // A level no Internet socket has, as Linux answers it.
        _ if level != SOL_SOCKET => return Err(Errno::EOPNOTSUPP),
        _ => return Err(Errno::ENOPROTOOPT),
    };
    let n = (len as usize).min(value.len());
    t.mm().copy_out(val, &value[..n])?;
    t.mm().write_val(lenp, &(n as u32))?;
    Ok(0)
}

pub(super) fn setsockopt(t: &Task, h: &HostSocket, level: i32, name: i32, val: u64, len: u32) -> SysResult<u64> {
    if level == SOL_SOCKET && matches!(name, SO_RCVTIMEO_OLD | SO_SNDTIMEO_OLD) {
        if len < 16 {
            return Err(Errno::EINVAL);
        }
        let tv: [i64; 2] = t.mm().read_val(val)?;
        if !(0..1_000_000).contains(&tv[1]) {
            return Err(Errno::EDOM);
        }
        let d = if tv[0] < 0 { Duration::ZERO } else { Duration::new(tv[0] as u64, tv[1] as u32 * 1000) };
        let mut timeouts = h.timeouts.lock().unwrap_or_else(|e| e.into_inner());
        if name == SO_RCVTIMEO_OLD {
            timeouts.0 = d;
        } else {
            timeouts.1 = d;
        }
        return Ok(0);
    }
    if !host_option(level, name) {
        return Err(Errno::ENOPROTOOPT);
    }
    if len as usize > MAX_OPTION {
        return Err(Errno::EINVAL);
    }
    let mut v = vec![0u8; len as usize];
    t.mm().copy_in(val, &mut v)?;
    crate::sys::setsockopt(h.fd(), level, name, &v)?;
    Ok(0)
}
