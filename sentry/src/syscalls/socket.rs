//! Socket calls over Unix-domain socket pairs: socketpair, send and
//! receive in their variants (with SCM_RIGHTS and SCM_CREDENTIALS),
//! shutdown, socket options and names.

use std::sync::Arc;
use std::time::{Duration, Instant};

use abi::flags::open::{O_CLOEXEC, O_NONBLOCK, O_RDWR};
use abi::Errno;

use super::file::{iovecs, pin_buffers, sigpipe, skip_bytes, Dir};
use super::Args;
use crate::kernel::task::Task;
use crate::mm::SysResult;
use crate::vfs::file::File;
use crate::vfs::unix::{self, Control, Endpoint, Received, Ucred, SOCK_DGRAM, SOCK_SEQPACKET, SOCK_STREAM};

const AF_UNIX: u32 = 1;
const AF_INET: u32 = 2;
const AF_INET6: u32 = 10;
const SOCK_RAW: u32 = 3;
/// One past the largest socket type (`SOCK_MAX`).
const SOCK_MAX: u32 = 11;
const SOCK_NONBLOCK: u32 = O_NONBLOCK;
const SOCK_CLOEXEC: u32 = O_CLOEXEC;

const MSG_OOB: u32 = 0x1;
const MSG_PEEK: u32 = 0x2;
const MSG_CTRUNC: u32 = 0x8;
const MSG_TRUNC: u32 = 0x20;
const MSG_DONTWAIT: u32 = 0x40;
const MSG_WAITALL: u32 = 0x100;
const MSG_NOSIGNAL: u32 = 0x4000;
const MSG_CMSG_CLOEXEC: u32 = 0x4000_0000;

const SOL_SOCKET: i32 = 1;
const SO_TYPE: i32 = 3;
const SO_ERROR: i32 = 4;
const SO_SNDBUF: i32 = 7;
const SO_RCVBUF: i32 = 8;
const SO_PASSCRED: i32 = 16;
const SO_PEERCRED: i32 = 17;
const SO_RCVTIMEO_OLD: i32 = 20;
const SO_SNDTIMEO_OLD: i32 = 21;
const SO_ACCEPTCONN: i32 = 30;
const SO_SNDBUFFORCE: i32 = 32;
const SO_RCVBUFFORCE: i32 = 33;
const SO_PROTOCOL: i32 = 38;
const SO_DOMAIN: i32 = 39;

const SCM_RIGHTS: i32 = 1;
const SCM_CREDENTIALS: i32 = 2;

/// `sizeof(struct cmsghdr)`, and the alignment of control messages.
const CMSG_HDR: usize = 16;
const CMSG_ALIGN: usize = 8;
/// `sizeof(struct msghdr)`.
const MSGHDR_SIZE: usize = 56;
/// The most control data a sendmsg takes (Linux's `optmem_max`).
const MAX_CONTROL: u64 = 128 * 1024;

fn cmsg_align(n: usize) -> usize {
    n.div_ceil(CMSG_ALIGN) * CMSG_ALIGN
}

/// The socket behind `fd`: EBADF, or ENOTSOCK for another kind of file.
fn socket_of(t: &Task, fd: i32) -> SysResult<(Arc<File>, Arc<Endpoint>)> {
    let f = t.fds().get(fd)?.clone();
    let ep = f.ops.unix_socket().ok_or(Errno::ENOTSOCK)?.endpoint().clone();
    Ok((f, ep))
}

fn sender_creds(t: &Task) -> Ucred {
    let c = t.creds();
    Ucred { pid: t.pid, uid: c.uid, gid: c.gid }
}

/// A deadline from SO_RCVTIMEO or SO_SNDTIMEO (zero: none).
fn deadline(timeo: Duration) -> Option<Instant> {
    (!timeo.is_zero()).then(|| Instant::now() + timeo)
}

pub fn socketpair(t: &mut Task, a: &Args) -> SysResult<u64> {
    let (domain, ty, protocol, addr) = (a.u32(0), a.u32(1), a.u32(2), a.addr(3));
    let flags = ty & (SOCK_NONBLOCK | SOCK_CLOEXEC);
    let mut kind = ty & !(SOCK_NONBLOCK | SOCK_CLOEXEC);
    if kind >= SOCK_MAX || kind == 0 {
        return Err(Errno::EINVAL);
    }
    match domain {
        AF_UNIX => {}
        AF_INET | AF_INET6 => return Err(Errno::EOPNOTSUPP),
        _ => return Err(Errno::EAFNOSUPPORT),
    }
    if protocol != 0 && protocol != AF_UNIX {
        return Err(Errno::EPROTONOSUPPORT);
    }
    // Linux's unix_create serves SOCK_RAW as a datagram socket.
    if kind == SOCK_RAW {
        kind = SOCK_DGRAM;
    }
    if !matches!(kind, SOCK_STREAM | SOCK_DGRAM | SOCK_SEQPACKET) {
        return Err(Errno::ESOCKTNOSUPPORT);
    }
    let (x, y) = unix::pair(kind, sender_creds(t));
    let status = O_RDWR | (flags & SOCK_NONBLOCK);
    let cloexec = flags & SOCK_CLOEXEC != 0;
    let limit = t.nofile_limit();
    let fx = t.fds().insert(File::new(Box::new(x), status, None), cloexec, 0, limit)?;
    let fy = match t.fds().insert(File::new(Box::new(y), status, None), cloexec, 0, limit) {
        Ok(fd) => fd,
        Err(e) => {
            let _ = t.fds().remove(fx);
            return Err(e);
        }
    };
    if let Err(e) = t.mm().write_val(addr, &[fx, fy]) {
        let _ = t.fds().remove(fx);
        let _ = t.fds().remove(fy);
        return Err(e);
    }
    Ok(0)
}

/// A destination address given to a send: these sockets are connected,
/// and there is no namespace of named sockets to send to yet.
fn check_destination(t: &Task, ep: &Endpoint, addr: u64, len: u32) -> SysResult<()> {
    if addr == 0 || len == 0 {
        return Ok(());
    }
    if ep.kind() == SOCK_STREAM {
        return Err(Errno::EISCONN);
    }
    if ep.kind() == SOCK_SEQPACKET {
        // unix_seqpacket_sendmsg ignores the name.
        return Ok(());
    }
    if !(2..=110).contains(&len) {
        return Err(Errno::EINVAL);
    }
    let mut raw = vec![0u8; len as usize];
    t.mm().copy_in(addr, &mut raw)?;
    if u16::from_ne_bytes([raw[0], raw[1]]) != AF_UNIX as u16 {
        return Err(Errno::EINVAL);
    }
    // An abstract name (leading NUL) or a path: neither is bound.
    Err(if raw.get(2) == Some(&0) { Errno::ECONNREFUSED } else { Errno::ENOENT })
}

/// The send of every send call: the buffers `bufs` with `control`.
fn do_send(t: &mut Task, fd: i32, bufs: &[(u64, u64)], flags: u32, control: Option<Control>) -> SysResult<u64> {
    let (file, ep) = socket_of(t, fd)?;
    if flags & MSG_OOB != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    let nonblock = file.flags() & O_NONBLOCK != 0 || flags & MSG_DONTWAIT != 0;
    let total: u64 = bufs.iter().map(|&(_, l)| l).sum();
    let mf = t.kernel.memfile.clone();
    let sender = sender_creds(t);
    let mut control = control;
    let until = deadline(ep.opts().sndtimeo);
    let mut done = 0u64;
    loop {
        let result = if total == 0 {
            ep.send(&mf, &[], &mut control, sender)
        } else {
            let pin = match pin_buffers(t, &skip_bytes(bufs, done), Dir::Write) {
                Ok(pin) => pin,
                Err(e) => return if done > 0 { Ok(done) } else { Err(e) },
            };
            ep.send(&mf, pin.chunks(), &mut control, sender)
        };
        match result {
            Ok(n) => {
                done += n as u64;
                if ep.kind() != SOCK_STREAM || done >= total {
                    return Ok(done);
                }
            }
            Err(Errno::EAGAIN) if !nonblock => {
                let need = if ep.kind() == SOCK_STREAM { 1 } else { (total - done) as usize };
                let waited = t.block(&[ep.queue()], until, |_| Ok(ep.send_may_go_on(need).then_some(())));
                match waited {
                    Ok(()) => {}
                    Err(Errno::ETIMEDOUT) => return if done > 0 { Ok(done) } else { Err(Errno::EAGAIN) },
                    Err(e) => return if done > 0 { Ok(done) } else { Err(e) },
                }
            }
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

/// The receive of every receive call into `bufs`; returns what was
/// received and msg_flags. MSG_WAITALL on a stream reads until the
/// buffers are full, EOF, files, or a signal.
fn do_recv(t: &mut Task, fd: i32, bufs: &[(u64, u64)], flags: u32) -> SysResult<(Received, u32)> {
    let (file, ep) = socket_of(t, fd)?;
    if flags & MSG_OOB != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    let nonblock = file.flags() & O_NONBLOCK != 0 || flags & MSG_DONTWAIT != 0;
    let peek = flags & MSG_PEEK != 0;
    let total: u64 = bufs.iter().map(|&(_, l)| l).sum();
    let mf = t.kernel.memfile.clone();
    let until = deadline(ep.opts().rcvtimeo);
    let mut got: Option<Received> = None;
    loop {
        let done = got.as_ref().map_or(0, |g| g.copied as u64);
        let result = if total == 0 {
            ep.recv(&mf, &[], peek)
        } else {
            let pin = pin_buffers(t, &skip_bytes(bufs, done), Dir::Read)?;
            ep.recv(&mf, pin.chunks(), peek)
        };
        match result {
            Ok(r) => {
                let eof_or_files = r.copied == 0 || !r.control.files.is_empty();
                let acc = match got.take() {
                    None => r,
                    Some(mut g) => {
                        g.copied += r.copied;
                        g.full += r.full;
                        g.control.files.extend(r.control.files);
                        g
                    }
                };
                let want_more = flags & MSG_WAITALL != 0
                    && !peek
                    && ep.kind() == SOCK_STREAM
                    && (acc.copied as u64) < total
                    && !eof_or_files;
                if !want_more {
                    let mut msg_flags = 0;
                    if ep.kind() != SOCK_STREAM && acc.full > acc.copied {
                        msg_flags |= MSG_TRUNC;
                    }
                    return Ok((acc, msg_flags));
                }
                got = Some(acc);
            }
            Err(Errno::EAGAIN) if !nonblock => {
                let waited = t.block(&[ep.queue()], until, |_| Ok(ep.recv_may_go_on().then_some(())));
                match (waited, got.take()) {
                    (Ok(()), g) => got = g,
                    (Err(_), Some(g)) => return Ok((g, 0)),
                    (Err(Errno::ETIMEDOUT), None) => return Err(Errno::EAGAIN),
                    (Err(e), None) => return Err(e),
                }
            }
            Err(e) => {
                return match got {
                    Some(g) => Ok((g, 0)),
                    None => Err(e),
                }
            }
        }
    }
}

/// The value recv and recvfrom return: the bytes copied, or with
/// MSG_TRUNC on a datagram socket the message's real length.
fn recv_result(r: &Received, flags: u32, kind: u32) -> u64 {
    if flags & MSG_TRUNC != 0 && kind != SOCK_STREAM {
        r.full as u64
    } else {
        r.copied as u64
    }
}

/// Writes 0 to the address length of a receive that asked for the
/// sender's name: socketpair's ends have none.
fn no_name(t: &Task, addrlen_ptr: u64) -> SysResult<()> {
    if addrlen_ptr != 0 {
        t.mm().write_val(addrlen_ptr, &0u32)?;
    }
    Ok(())
}

pub fn sendto(t: &mut Task, a: &Args) -> SysResult<u64> {
    let (fd, buf, len, flags) = (a.fd(0), a.addr(1), a.u64(2), a.u32(3));
    let (_, ep) = socket_of(t, fd)?;
    check_destination(t, &ep, a.addr(4), a.u32(5))?;
    do_send(t, fd, &[(buf, len.min(i32::MAX as u64))], flags, None)
}

pub fn recvfrom(t: &mut Task, a: &Args) -> SysResult<u64> {
    let (fd, buf, len, flags) = (a.fd(0), a.addr(1), a.u64(2), a.u32(3));
    let (r, _) = do_recv(t, fd, &[(buf, len.min(i32::MAX as u64))], flags)?;
    let (_, ep) = socket_of(t, fd)?;
    let n = recv_result(&r, flags, ep.kind());
    // The files of a plain receive are closed with their message.
    drop(r);
    if a.addr(4) != 0 {
        no_name(t, a.addr(5))?;
    }
    Ok(n)
}

/// The fields of a `struct msghdr` that sendmsg and recvmsg use.
struct MsgHdr {
    name: u64,
    iov: u64,
    iovlen: u64,
    control: u64,
    controllen: u64,
}

fn read_msghdr(t: &Task, addr: u64) -> SysResult<(MsgHdr, u32)> {
    let mut raw = [0u8; MSGHDR_SIZE];
    t.mm().copy_in(addr, &mut raw)?;
    let word = |at: usize| u64::from_ne_bytes(raw[at..at + 8].try_into().unwrap_or([0; 8]));
    let namelen = u32::from_ne_bytes(raw[8..12].try_into().unwrap_or([0; 4]));
    Ok((MsgHdr { name: word(0), iov: word(16), iovlen: word(24), control: word(32), controllen: word(40) }, namelen))
}

/// Parses sendmsg's control messages: SCM_RIGHTS files (EBADF for a bad
/// fd, EINVAL past SCM_MAX_FD) and SCM_CREDENTIALS, which must be the
/// sender's own unless it is root.
fn parse_control(t: &Task, h: &MsgHdr) -> SysResult<Option<Control>> {
    if h.controllen == 0 {
        return Ok(None);
    }
    if h.controllen > MAX_CONTROL {
        return Err(Errno::ENOBUFS);
    }
    if h.controllen < CMSG_HDR as u64 {
        return Err(Errno::EINVAL);
    }
    let mut raw = vec![0u8; h.controllen as usize];
    t.mm().copy_in(h.control, &mut raw)?;
    let mut control = Control::default();
    let mut at = 0usize;
    while at + CMSG_HDR <= raw.len() {
        let len = u64::from_ne_bytes(raw[at..at + 8].try_into().unwrap_or([0; 8])) as usize;
        let level = i32::from_ne_bytes(raw[at + 8..at + 12].try_into().unwrap_or([0; 4]));
        let ty = i32::from_ne_bytes(raw[at + 12..at + 16].try_into().unwrap_or([0; 4]));
        if len < CMSG_HDR || len > raw.len() - at {
            return Err(Errno::EINVAL);
        }
        let data = &raw[at + CMSG_HDR..at + len];
        if level == SOL_SOCKET {
            match ty {
                SCM_RIGHTS => {
                    let fds = data.len() / 4;
                    if control.files.len() + fds > unix::SCM_MAX_FD {
                        return Err(Errno::EINVAL);
                    }
                    let table = t.fds();
                    for chunk in data.chunks_exact(4) {
                        let fd = i32::from_ne_bytes(chunk.try_into().unwrap_or([0; 4]));
                        control.files.push(table.get(fd)?.clone());
                    }
                }
                SCM_CREDENTIALS => {
                    if data.len() != 12 {
                        return Err(Errno::EINVAL);
                    }
                    let word = |i: usize| u32::from_ne_bytes(data[i..i + 4].try_into().unwrap_or([0; 4]));
                    let given = Ucred { pid: word(0) as i32, uid: word(4), gid: word(8) };
                    let c = t.creds();
                    let own = given.pid == t.pid
                        && [c.uid, c.euid, c.suid].contains(&given.uid)
                        && [c.gid, c.egid, c.sgid].contains(&given.gid);
                    if !own && c.euid != 0 {
                        return Err(Errno::EPERM);
                    }
                    control.creds = Some(given);
                }
                _ => return Err(Errno::EINVAL),
            }
        }
        at += cmsg_align(len);
    }
    Ok(Some(control))
}

pub fn sendmsg(t: &mut Task, a: &Args) -> SysResult<u64> {
    let (fd, addr, flags) = (a.fd(0), a.addr(1), a.u32(2));
    let (h, namelen) = read_msghdr(t, addr)?;
    let (_, ep) = socket_of(t, fd)?;
    let bufs = iovecs(t, h.iov, h.iovlen)?;
    check_destination(t, &ep, h.name, namelen)?;
    let control = parse_control(t, &h)?;
    do_send(t, fd, &bufs, flags, control)
}

/// Writes recvmsg's control messages (credentials, then files) into the
/// app's control buffer, as far as they fit: files that do not are
/// closed, and MSG_CTRUNC tells. Returns the bytes written and the flags.
fn write_control(t: &mut Task, h: &MsgHdr, r: Received, cloexec: bool) -> SysResult<(u64, u32)> {
    let room = h.controllen.min(MAX_CONTROL) as usize;
    let mut out = Vec::new();
    let mut flags = 0;
    let cmsg = |out: &mut Vec<u8>, ty: i32, data: &[u8]| {
        let len = CMSG_HDR + data.len();
        out.extend_from_slice(&(len as u64).to_ne_bytes());
        out.extend_from_slice(&SOL_SOCKET.to_ne_bytes());
        out.extend_from_slice(&ty.to_ne_bytes());
        out.extend_from_slice(data);
        // The padding counts when another message follows; it is written
        // only where there is room.
        out.resize(cmsg_align(out.len()).min(room.max(out.len())), 0);
    };
    if let Some(c) = r.creds {
        if room >= CMSG_HDR + 12 {
            let mut data = Vec::with_capacity(12);
            data.extend_from_slice(&c.pid.to_ne_bytes());
            data.extend_from_slice(&c.uid.to_ne_bytes());
            data.extend_from_slice(&c.gid.to_ne_bytes());
            cmsg(&mut out, SCM_CREDENTIALS, &data);
        } else {
            flags |= MSG_CTRUNC;
        }
    }
    if !r.control.files.is_empty() {
        let space = room.saturating_sub(out.len());
        let fit = if space > CMSG_HDR { ((space - CMSG_HDR) / 4).min(r.control.files.len()) } else { 0 };
        if fit < r.control.files.len() {
            flags |= MSG_CTRUNC;
        }
        let mut data = Vec::with_capacity(fit * 4);
        let limit = t.nofile_limit();
        for f in r.control.files.into_iter().take(fit) {
            match t.fds().insert(f, cloexec, 0, limit) {
                Ok(fd) => data.extend_from_slice(&fd.to_ne_bytes()),
                Err(_) => {
                    flags |= MSG_CTRUNC;
                    break;
                }
            }
        }
        if !data.is_empty() {
            cmsg(&mut out, SCM_RIGHTS, &data);
        }
    }
    if !out.is_empty() {
        t.mm().copy_out(h.control, &out)?;
    }
    Ok((out.len() as u64, flags))
}

pub fn recvmsg(t: &mut Task, a: &Args) -> SysResult<u64> {
    let (fd, addr, flags) = (a.fd(0), a.addr(1), a.u32(2));
    let (h, _) = read_msghdr(t, addr)?;
    let (_, ep) = socket_of(t, fd)?;
    let bufs = iovecs(t, h.iov, h.iovlen)?;
    let (r, mut msg_flags) = do_recv(t, fd, &bufs, flags)?;
    let n = recv_result(&r, flags, ep.kind());
    let (controllen, ctrl_flags) = write_control(t, &h, r, flags & MSG_CMSG_CLOEXEC != 0)?;
    msg_flags |= ctrl_flags | (flags & MSG_CMSG_CLOEXEC);
    // msg_namelen (0: no name), msg_controllen and msg_flags.
    if h.name != 0 {
        t.mm().write_val(addr + 8, &0u32)?;
    }
    t.mm().write_val(addr + 40, &controllen)?;
    t.mm().write_val(addr + 48, &msg_flags)?;
    Ok(n)
}

pub fn shutdown(t: &mut Task, a: &Args) -> SysResult<u64> {
    let (_, ep) = socket_of(t, a.fd(0))?;
    ep.shutdown(a.u32(1))?;
    Ok(0)
}

/// getsockname and getpeername: the ends of a pair have no names, so
/// both report a bare `sa_family`.
fn unnamed(t: &mut Task, a: &Args) -> SysResult<u64> {
    socket_of(t, a.fd(0))?;
    let (addr, lenp) = (a.addr(1), a.addr(2));
    let len: i32 = t.mm().read_val(lenp)?;
    if len < 0 {
        return Err(Errno::EINVAL);
    }
    let family = (AF_UNIX as u16).to_ne_bytes();
    let n = (len as usize).min(2);
    if n > 0 {
        t.mm().copy_out(addr, &family[..n])?;
    }
    t.mm().write_val(lenp, &2u32)?;
    Ok(0)
}

pub fn getsockname(t: &mut Task, a: &Args) -> SysResult<u64> {
    unnamed(t, a)
}

pub fn getpeername(t: &mut Task, a: &Args) -> SysResult<u64> {
    unnamed(t, a)
}

fn timeval_bytes(d: Duration) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&(d.as_secs() as i64).to_ne_bytes());
    b[8..].copy_from_slice(&i64::from(d.subsec_micros()).to_ne_bytes());
    b
}

pub fn getsockopt(t: &mut Task, a: &Args) -> SysResult<u64> {
    let (fd, level, name, val, lenp) = (a.fd(0), a.i32(1), a.i32(2), a.addr(3), a.addr(4));
    let (_, ep) = socket_of(t, fd)?;
    if level != SOL_SOCKET {
        return Err(Errno::EOPNOTSUPP);
    }
    let len: i32 = t.mm().read_val(lenp)?;
    if len < 0 {
        return Err(Errno::EINVAL);
    }
    let int = |v: u32| v.to_ne_bytes().to_vec();
    let opts = *ep.opts();
    let value: Vec<u8> = match name {
        SO_TYPE => int(ep.kind()),
        SO_ERROR => int(ep.take_error() as u32),
        SO_SNDBUF => int(opts.sndbuf),
        SO_RCVBUF => int(opts.rcvbuf),
        SO_PASSCRED => int(u32::from(opts.passcred)),
        SO_ACCEPTCONN => int(0),
        SO_PROTOCOL => int(0),
        SO_DOMAIN => int(AF_UNIX),
        SO_PEERCRED => {
            let c = ep.peer_creds().unwrap_or(Ucred { pid: 0, uid: u32::MAX, gid: u32::MAX });
            let mut b = c.pid.to_ne_bytes().to_vec();
            b.extend_from_slice(&c.uid.to_ne_bytes());
            b.extend_from_slice(&c.gid.to_ne_bytes());
            b
        }
        SO_RCVTIMEO_OLD => timeval_bytes(opts.rcvtimeo).to_vec(),
        SO_SNDTIMEO_OLD => timeval_bytes(opts.sndtimeo).to_vec(),
        _ => return Err(Errno::ENOPROTOOPT),
    };
    let n = (len as usize).min(value.len());
    t.mm().copy_out(val, &value[..n])?;
    t.mm().write_val(lenp, &(n as u32))?;
    Ok(0)
}

pub fn setsockopt(t: &mut Task, a: &Args) -> SysResult<u64> {
    let (fd, level, name, val, len) = (a.fd(0), a.i32(1), a.i32(2), a.addr(3), a.u32(4));
    let (_, ep) = socket_of(t, fd)?;
    if level != SOL_SOCKET {
        return Err(Errno::EOPNOTSUPP);
    }
    let read_int = |t: &Task| -> SysResult<u32> {
        if len < 4 {
            return Err(Errno::EINVAL);
        }
        t.mm().read_val::<u32>(val)
    };
    let read_timeval = |t: &Task| -> SysResult<Duration> {
        if len < 16 {
            return Err(Errno::EINVAL);
        }
        let tv: [i64; 2] = t.mm().read_val(val)?;
        if !(0..1_000_000).contains(&tv[1]) {
            return Err(Errno::EDOM);
        }
        // A negative time is no timeout, as Linux takes it.
        Ok(if tv[0] < 0 { Duration::ZERO } else { Duration::new(tv[0] as u64, tv[1] as u32 * 1000) })
    };
    match name {
        SO_SNDBUF | SO_SNDBUFFORCE => {
            let v = read_int(t)?.min(unix::DEFAULT_BUF);
            ep.opts().sndbuf = (v.saturating_mul(2)).max(unix::MIN_SNDBUF);
        }
        SO_RCVBUF | SO_RCVBUFFORCE => {
            let v = read_int(t)?.min(unix::DEFAULT_BUF);
            ep.opts().rcvbuf = (v.saturating_mul(2)).max(unix::MIN_RCVBUF);
        }
        SO_PASSCRED => ep.opts().passcred = read_int(t)? != 0,
        SO_RCVTIMEO_OLD => ep.opts().rcvtimeo = read_timeval(t)?,
        SO_SNDTIMEO_OLD => ep.opts().sndtimeo = read_timeval(t)?,
        SO_TYPE | SO_ERROR | SO_PEERCRED | SO_ACCEPTCONN | SO_PROTOCOL | SO_DOMAIN => return Err(Errno::ENOPROTOOPT),
        _ => return Err(Errno::ENOPROTOOPT),
    }
    // A bigger buffer may let a waiting sender go on.
    ep.queue().notify();
    Ok(0)
}
