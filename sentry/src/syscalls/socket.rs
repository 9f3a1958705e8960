//! Socket calls: socket and socketpair; bind, listen, connect and accept;
//! send and receive in their variants; shutdown, socket options and names.
//! Unix-domain sockets (abstract and path names, SCM_RIGHTS and
//! SCM_CREDENTIALS), and Internet sockets on the sandbox's loopback
//! (`vfs::inet`: TCP streams and UDP datagrams over the same endpoints).

use std::sync::Arc;
use std::time::{Duration, Instant};

use abi::flags::open::{O_CLOEXEC, O_NONBLOCK, O_RDWR};
use abi::Errno;

use super::file::{iovecs, pin_buffers, sigpipe, skip_bytes, Dir};
use super::{hostsock, Args};
use crate::kernel::nat::PeerKind;
use crate::kernel::task::Task;
use crate::kernel::timer::deadline_in;
use crate::mm::SysResult;
use crate::vfs::file::File;
use crate::vfs::inet::{self, IpHeader, IPPROTO_TCP, IPPROTO_UDP, SOL_IP, SOL_IPV6};
use crate::vfs::netlink;
use crate::vfs::unix::{
    self, Control, Endpoint, Received, SockName, Ucred, UnixSocket, SOCK_DGRAM, SOCK_SEQPACKET, SOCK_STREAM,
};
use crate::vfs::Follow;

const AF_UNIX: u32 = 1;
use inet::{AF_INET, AF_INET6};
const SOCK_RAW: u32 = 3;
const SOCK_PACKET: u32 = 10;
/// `AF_PACKET`.
const AF_PACKET: u32 = 17;
/// One past the largest socket type (`SOCK_MAX`).
const SOCK_MAX: u32 = 11;
const SOCK_NONBLOCK: u32 = O_NONBLOCK;
const SOCK_CLOEXEC: u32 = O_CLOEXEC;

const MSG_OOB: u32 = 0x1;
/// send's flag: more data follows (corked).
const MSG_MORE: u32 = 0x8000;
/// recv's flag for the error queue.
const MSG_ERRQUEUE: u32 = 0x2000;
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

const SO_LINGER: i32 = 13;

/// Generic SOL_SOCKET options Linux takes on any socket, which change
/// nothing for a Unix socket but read back: (option, boolean, default).
/// SO_DEBUG, SO_REUSEADDR, SO_DONTROUTE, SO_BROADCAST, SO_KEEPALIVE,
/// SO_OOBINLINE, SO_PRIORITY, SO_REUSEPORT, SO_RCVLOWAT.
const KEPT_OPTIONS: &[(i32, bool, u32)] = &[
    (1, true, 0),
    (2, true, 0),
    (5, true, 0),
    (6, true, 0),
    (9, true, 0),
    (10, true, 0),
    (12, false, 0),
    (15, true, 0),
    (18, false, 1),
];

/// Options of the IP, IPv6 and TCP levels, which the loopback keeps for
/// getsockopt and otherwise needs nothing of: (level, option, boolean,
/// default). TCP_NODELAY, TCP_MAXSEG, TCP_CORK, TCP_KEEPIDLE,
/// TCP_KEEPINTVL, TCP_KEEPCNT, TCP_DEFER_ACCEPT, TCP_QUICKACK,
/// TCP_USER_TIMEOUT, TCP_FASTOPEN; IP_TOS, IP_TTL, IP_PKTINFO,
/// IP_MTU_DISCOVER, IP_RECVERR (glibc's resolver sets it), IP_RECVTTL,
/// IP_RECVTOS, IP_FREEBIND, IP_BIND_ADDRESS_NO_PORT, IP_MULTICAST_TTL,
/// IP_MULTICAST_LOOP; IPV6_UNICAST_HOPS, IPV6_MULTICAST_HOPS,
/// IPV6_MULTICAST_LOOP, IPV6_MTU_DISCOVER, IPV6_RECVERR, IPV6_V6ONLY,
/// IPV6_RECVPKTINFO, IPV6_RECVHOPLIMIT, IPV6_RECVTCLASS, IPV6_TCLASS;
/// UDPLITE_SEND_CSCOV, UDPLITE_RECV_CSCOV. A datagram's TTL, TOS, hop
/// limit and traffic class come from some of them, and IP_PKTINFO,
/// IP_RECVTTL, IP_RECVTOS and the IPV6_RECV* ones ask for control
/// messages (see `received_ip_control`).
const INET_OPTIONS: &[(i32, i32, bool, u32)] = &[
    (SOL_TCP, 1, true, 0),
    (SOL_TCP, 2, false, 536),
    (SOL_TCP, 3, true, 0),
    (SOL_TCP, 4, false, 7200),
    (SOL_TCP, 5, false, 75),
    (SOL_TCP, 6, false, 9),
    (SOL_TCP, 9, false, 0),
    (SOL_TCP, 12, true, 1),
    (SOL_TCP, 18, false, 0),
    (SOL_TCP, 23, false, 0),
    (SOL_IP, 1, false, 0),
    (SOL_IP, 2, false, 64),
    (SOL_IP, 8, true, 0),
    (SOL_IP, 10, false, 1),
    (SOL_IP, 11, true, 0),
    (SOL_IP, 12, true, 0),
    (SOL_IP, 13, true, 0),
    (SOL_IP, 15, true, 0),
    (SOL_IP, 24, true, 0),
    (SOL_IP, 33, false, 1),
    (SOL_IP, 34, true, 1),
    (SOL_IPV6, 16, false, 64),
    (SOL_IPV6, 18, false, 1),
    (SOL_IPV6, 19, true, 1),
    (SOL_IPV6, 23, false, 1),
    (SOL_IPV6, 25, true, 0),
    (SOL_IPV6, 26, true, 0),
    (SOL_IPV6, 49, true, 0),
    (SOL_IPV6, 51, true, 0),
    (SOL_IPV6, 66, true, 0),
    (SOL_IPV6, 67, false, 0),
    (SOL_UDPLITE, 10, false, 0),
    (SOL_UDPLITE, 11, false, 0),
];
const SOL_TCP: i32 = 6;
const SOL_UDP: i32 = 17;
const SOL_UDPLITE: i32 = IPPROTO_UDPLITE as i32;

/// The kept IP/IPv6/TCP option `name` at `level` for `ep`: (boolean,
/// default). A level the socket's protocols do not handle is passed down
/// to IP, which refuses it: `bad_level` (Linux's ip_getsockopt says
/// EOPNOTSUPP, ip_setsockopt ENOPROTOOPT); a name the level does not
/// have is ENOPROTOOPT.
fn inet_option(ep: &Endpoint, level: i32, name: i32, bad_level: Errno) -> SysResult<(bool, u32)> {
    let handled = match level {
        SOL_IP => true,
        SOL_TCP => ep.kind() == SOCK_STREAM,
        SOL_UDP => ep.kind() == SOCK_DGRAM,
        SOL_UDPLITE => is_udplite(ep),
        SOL_IPV6 => ep.family() == AF_INET6,
        _ => false,
    };
    if !handled {
        return Err(bad_level);
    }
    INET_OPTIONS
        .iter()
        .find(|(l, n, _, _)| *l == level && *n == name)
        .map(|&(_, _, boolean, default)| (boolean, default))
        .ok_or(Errno::ENOPROTOOPT)
}

/// Kept on a TCP socket whose non-blocking connect said EINPROGRESS and
/// was not asked about since (no option has this number).
const CONNECT_UNDER_WAY: i32 = -1;

/// The value Linux keeps for the IP/IPv6 option `name` set to `v` on
/// `ep`: the TTL and hop limits take -1 for their default and the
/// traffic class -1 for 0, with anything else out of their range EINVAL;
/// a TOS or traffic class is a byte, its ECN bits not the app's on TCP.
fn inet_value(ep: &Endpoint, level: i32, name: i32, v: u32) -> SysResult<u32> {
    const IP_MULTICAST_TTL: i32 = 33;
    const IPV6_MULTICAST_HOPS: i32 = 18;
    let ranged = |default: u8, low: i32| match v as i32 {
        -1 => Ok(u32::from(default)),
        i if (low..=255).contains(&i) => Ok(v),
        _ => Err(Errno::EINVAL),
    };
    let ecn = if ep.kind() == SOCK_STREAM { 0xfc } else { 0xff };
    match (level, name) {
        (SOL_IP, inet::IP_TTL) => ranged(inet::DEFAULT_HOP_LIMIT, 1),
        (SOL_IP, IP_MULTICAST_TTL) | (SOL_IPV6, IPV6_MULTICAST_HOPS) => ranged(1, 0),
        (SOL_IPV6, inet::IPV6_UNICAST_HOPS) => ranged(inet::DEFAULT_HOP_LIMIT, 0),
        (SOL_IPV6, inet::IPV6_TCLASS) => ranged(0, 0).map(|c| c & ecn),
        (SOL_IP, inet::IP_TOS) => Ok(v & ecn),
        _ => Ok(v),
    }
}

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
    // An O_PATH fd is no file to these calls (Linux's fdget skips it).
    if f.flags() & abi::flags::open::O_PATH != 0 {
        return Err(Errno::EBADF);
    }
    let ep = f.ops.unix_socket().ok_or(Errno::ENOTSOCK)?.endpoint().clone();
    Ok((f, ep))
}

fn sender_creds(t: &Task) -> Ucred {
    let c = t.creds();
    Ucred { pid: t.pid, uid: c.uid, gid: c.gid }
}

/// A deadline from SO_RCVTIMEO or SO_SNDTIMEO (zero: none).
fn deadline(timeo: Duration) -> Option<Instant> {
    (!timeo.is_zero()).then(|| deadline_in(timeo))
}

/// The kind and flags of a socket type argument, as Linux's
/// `__sys_socket` and `unix_create` check them (after the family).
fn socket_type(ty: u32, protocol: u32) -> SysResult<(u32, u32)> {
    let flags = ty & (SOCK_NONBLOCK | SOCK_CLOEXEC);
    let mut kind = ty & !(SOCK_NONBLOCK | SOCK_CLOEXEC);
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
    Ok((kind, flags))
}

/// Installs a socket file for `sock` with the SOCK_* `flags`.
fn install(t: &mut Task, sock: UnixSocket, flags: u32) -> SysResult<i32> {
    let sock = sock.in_kernel(Arc::downgrade(&t.kernel));
    let limit = t.nofile_limit();
    let status = O_RDWR | (flags & SOCK_NONBLOCK);
    t.fds().insert(File::new(Box::new(sock), status, None), flags & SOCK_CLOEXEC != 0, 0, limit)
}

pub fn socket(t: &mut Task, a: &Args) -> SysResult<u64> {
    let (domain, ty, protocol) = (a.u32(0), a.u32(1), a.u32(2));
    let kind = ty & !(SOCK_NONBLOCK | SOCK_CLOEXEC);
    if kind >= SOCK_MAX || kind == 0 {
        return Err(Errno::EINVAL);
    }
    let (kind, flags) = match domain {
        AF_UNIX => socket_type(ty, protocol)?,
        // ICMP of the other family: not a protocol of this one.
        AF_INET | AF_INET6
            if matches!(protocol, IPPROTO_ICMP | IPPROTO_ICMPV6) && ping_protocol(domain) != Some(protocol) =>
        {
            return Err(Errno::EPROTONOSUPPORT)
        }
        AF_INET | AF_INET6 if protocol != IPPROTO_ICMP && protocol != IPPROTO_ICMPV6 && hostsock::enabled(t) => {
            let (kind, flags) = inet_socket_type(ty, protocol)?;
            return hostsock::socket(t, domain, kind, protocol, flags);
        }
        AF_INET | AF_INET6 => inet_socket_type(ty, protocol)?,
        netlink::AF_NETLINK => netlink_socket_type(ty, protocol)?,
        // Packet sockets (every frame of an interface): never, whatever
        // the app's capabilities.
        AF_PACKET => return Err(Errno::EPERM),
        _ => return Err(Errno::EAFNOSUPPORT),
    };
    let ep = Endpoint::new_in(domain, kind, sender_creds(t));
    if matches!(domain, AF_INET | AF_INET6) && protocol == IPPROTO_UDPLITE {
        ep.keep_option(UDPLITE_KEY, 1);
    }
    if kind == SOCK_DGRAM && ping_protocol(domain) == Some(protocol) {
        ep.keep_option(PING_KEY, 1);
    }
    Ok(install(t, UnixSocket::new(ep), flags)? as u64)
}

/// Unprivileged ICMP echo ("ping") sockets: `socket(AF_INET, SOCK_DGRAM,
/// IPPROTO_ICMP)` and `(AF_INET6, SOCK_DGRAM, IPPROTO_ICMPV6)`, open to
/// every group (`ping_group_range` 0 to 2147483647, Docker's setting).
/// A send is an echo request (type 8, or 128, code 0; else EINVAL) whose
/// identifier the socket sets; to the sandbox's own addresses the reply
/// is queued at once, as the kernel's own answer. Nothing else answers:
/// outside the sandbox is EHOSTUNREACH (an audit line where a policy
/// denies it).
const IPPROTO_ICMP: u32 = 1;
const IPPROTO_ICMPV6: u32 = 58;
/// Kept on a ping socket.
const PING_KEY: i32 = -3;
/// Kept on a ping socket: its echo identifier, once it has one.
const PING_IDENT_KEY: i32 = -4;

fn ping_protocol(domain: u32) -> Option<u32> {
    match domain {
        AF_INET => Some(IPPROTO_ICMP),
        AF_INET6 => Some(IPPROTO_ICMPV6),
        _ => None,
    }
}

fn is_ping(ep: &Endpoint) -> bool {
    ep.kept_option(PING_KEY) == Some(1)
}

static NEXT_PING_IDENT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);

/// One echo request from a ping socket to `dst`.
fn ping_send(t: &Task, ep: &Arc<Endpoint>, bufs: &[(u64, u64)], dst: Option<std::net::SocketAddr>) -> SysResult<u64> {
    let dst = dst.ok_or(Errno::EDESTADDRREQ)?;
    let total: u64 = bufs.iter().map(|&(_, l)| l).sum();
    if total > 65_507 {
        return Err(Errno::EMSGSIZE);
    }
    let mut msg = copy_in_all(t, bufs)?;
    let v6 = ep.family() == AF_INET6 && inet::canonical(dst.ip()).is_ipv6();
    let (request, reply) = if v6 { (128u8, 129u8) } else { (8, 0) };
    if msg.len() < 8 || msg[0] != request || msg[1] != 0 {
        return Err(Errno::EINVAL);
    }
    let ip = inet::canonical(dst.ip());
    let ident = match ep.kept_option(PING_IDENT_KEY) {
        Some(i) => i as u16,
        None => {
            let i = (NEXT_PING_IDENT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 65535 + 1) as u16;
            ep.keep_option(PING_IDENT_KEY, u64::from(i));
            i
        }
    };
    if !inet::is_local(ip) && !is_own(t, ip) {
        // Outside: by the relay's host ping socket to `dst` (its replies
        // queued on this socket as they come), where there is a way out.
        let Some(nat) = outside(t, dst) else {
            if let Some(nat) = t.kernel.nat.get() {
                nat.audit_denied("icmp", dst);
            }
            return Err(Errno::EHOSTUNREACH);
        };
        let peer = ep.outside_peer(dst, || nat.datagram_peer(ep, PeerKind::Echo { ident }, dst))?;
        peer.send(&msg)?;
        return Ok(total);
    }
    msg[0] = reply;
    msg[4..6].copy_from_slice(&ident.to_be_bytes());
    msg[2..4].copy_from_slice(&[0, 0]);
    // ICMPv6's checksum covers a pseudo-header; a ping socket's reader
    // gets it as the kernel left it, and checks none.
    let sum = inet::internet_checksum(&msg);
    msg[2..4].copy_from_slice(&sum.to_be_bytes());
    // The any address is this host: the reply comes from the loopback.
    let from = if ip.is_unspecified() { inet::loopback_for(ep.family(), ip) } else { dst.ip() };
    ep.deliver_from_kernel(msg, SockName::Inet(std::net::SocketAddr::new(from, 0)));
    Ok(total)
}

/// The bytes of the app's buffers `bufs`, one after another.
fn copy_in_all(t: &Task, bufs: &[(u64, u64)]) -> SysResult<Vec<u8>> {
    let total: u64 = bufs.iter().map(|&(_, l)| l).sum();
    let mut msg = Vec::with_capacity(total as usize);
    for &(addr, len) in bufs {
        let at = msg.len();
        msg.resize(at + len as usize, 0);
        t.mm().copy_in(addr, &mut msg[at..])?;
    }
    Ok(msg)
}

/// `IPPROTO_UDPLITE` (also the `SOL_UDPLITE` option level): UDP-Lite, on
/// the loopback the same datagrams as UDP, with its checksum-coverage
/// options kept.
const IPPROTO_UDPLITE: u32 = 136;
/// Kept on a UDP-Lite socket (no option has this number).
const UDPLITE_KEY: i32 = -2;

fn is_udplite(ep: &Endpoint) -> bool {
    ep.kept_option(UDPLITE_KEY) == Some(1)
}

/// The kind and flags of a netlink socket: raw or datagram (the same
/// thing in netlink), of NETLINK_ROUTE, the one protocol served.
fn netlink_socket_type(ty: u32, protocol: u32) -> SysResult<(u32, u32)> {
    let flags = ty & (SOCK_NONBLOCK | SOCK_CLOEXEC);
    let kind = ty & !(SOCK_NONBLOCK | SOCK_CLOEXEC);
    if kind != SOCK_RAW && kind != SOCK_DGRAM {
        return Err(Errno::ESOCKTNOSUPPORT);
    }
    if protocol != netlink::NETLINK_ROUTE {
        return Err(Errno::EPROTONOSUPPORT);
    }
    Ok((SOCK_DGRAM, flags))
}

/// The kind and flags of an Internet socket: TCP streams and UDP
/// datagrams (protocol 0 picks them); raw and other sockets are not
/// served (ESOCKTNOSUPPORT, EPROTONOSUPPORT).
fn inet_socket_type(ty: u32, protocol: u32) -> SysResult<(u32, u32)> {
    let flags = ty & (SOCK_NONBLOCK | SOCK_CLOEXEC);
    let kind = ty & !(SOCK_NONBLOCK | SOCK_CLOEXEC);
    match (kind, protocol) {
        (SOCK_STREAM, 0 | IPPROTO_TCP) | (SOCK_DGRAM, 0 | IPPROTO_UDP | IPPROTO_UDPLITE) => Ok((kind, flags)),
        // Ping sockets (the family's own ICMP is checked by the caller).
        (SOCK_DGRAM, IPPROTO_ICMP | IPPROTO_ICMPV6) => Ok((kind, flags)),
        // Raw IP names its protocol: IPPROTO_IP matches no raw entry of
        // Linux's inetsw, whatever the capabilities.
        (SOCK_RAW, 0) => Err(Errno::EPROTONOSUPPORT),
        // Raw IP (forged packets, sniffing) and the old SOCK_PACKET (a
        // packet socket): never, whatever the app's capabilities.
        (SOCK_RAW | SOCK_PACKET, _) => Err(Errno::EPERM),
        (SOCK_STREAM | SOCK_DGRAM, _) => Err(Errno::EPROTONOSUPPORT),
        _ => Err(Errno::ESOCKTNOSUPPORT),
    }
}

/// An Internet address from the app, for a socket of `family`.
fn read_inet(t: &Task, family: u32, addr: u64, len: u32) -> SysResult<std::net::SocketAddr> {
    if len > 128 {
        return Err(Errno::EINVAL);
    }
    let mut raw = vec![0u8; len as usize];
    t.mm().copy_in(addr, &mut raw)?;
    inet::parse_sockaddr(family, &raw)
}

/// Binds an Internet socket to `addr` (port 0: an ephemeral port).
fn bind_inet(t: &Task, ep: &Arc<Endpoint>, addr: std::net::SocketAddr) -> SysResult<()> {
    if ep.name().is_some() {
        return Err(Errno::EINVAL);
    }
    inet::check_bind(addr, t.creds().euid, is_own(t, addr.ip()))?;
    let bound = t.kernel.unix_names.inet.lock().unwrap_or_else(|e| e.into_inner()).bind(ep, addr)?;
    ep.set_name(SockName::Inet(bound))
}

/// Binds an unbound Internet socket to an ephemeral port of the address
/// it talks to `dst` from (connect, a first send), or of the any address
/// (listen).
fn autobind_inet(t: &Task, ep: &Arc<Endpoint>, dst: Option<std::net::IpAddr>) -> SysResult<()> {
    if ep.name().is_some() {
        return Ok(());
    }
    let ip = match dst {
        Some(d) => inet::loopback_for(ep.family(), d),
        None => inet::unbound(ep.family()).ip(),
    };
    bind_inet(t, ep, std::net::SocketAddr::new(ip, 0))
}

/// Whether `ip` is an address of the sandbox's interface outside its
/// loopback: it reaches the sandbox itself, as on Linux.
fn is_own(t: &Task, ip: std::net::IpAddr) -> bool {
    t.kernel.nat.get().is_some_and(|n| n.owns(inet::canonical(ip)))
}

/// The socket a send or connect to `dst` reaches: ENETUNREACH off the
/// sandbox (default-deny egress); None where nothing is bound.
fn find_inet(t: &Task, ep: &Endpoint, dst: std::net::SocketAddr) -> SysResult<Option<Arc<Endpoint>>> {
    if !inet::is_local(dst.ip()) && !is_own(t, dst.ip()) {
        return Err(Errno::ENETUNREACH);
    }
    let dst = inet::reached(ep.family(), dst);
    Ok(t.kernel.unix_names.inet.lock().unwrap_or_else(|e| e.into_inner()).find(ep.kind(), dst))
}

pub fn socketpair(t: &mut Task, a: &Args) -> SysResult<u64> {
    let (domain, ty, protocol, addr) = (a.u32(0), a.u32(1), a.u32(2), a.addr(3));
    let kind = ty & !(SOCK_NONBLOCK | SOCK_CLOEXEC);
    if kind >= SOCK_MAX || kind == 0 {
        return Err(Errno::EINVAL);
    }
    match domain {
        AF_UNIX => {}
        // Linux makes the socket first (its errors come first), then the
        // protocol has no pairs.
        AF_INET | AF_INET6 => {
            if matches!(protocol, IPPROTO_ICMP | IPPROTO_ICMPV6) && ping_protocol(domain) != Some(protocol) {
                return Err(Errno::EPROTONOSUPPORT);
            }
            inet_socket_type(ty, protocol)?;
            return Err(Errno::EOPNOTSUPP);
        }
        _ => return Err(Errno::EAFNOSUPPORT),
    }
    let (kind, flags) = socket_type(ty, protocol)?;
    let (x, y) = unix::pair(kind, sender_creds(t));
    let fx = install(t, x, flags)?;
    let fy = match install(t, y, flags) {
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

/// A `struct sockaddr_un` from the app: `None` for a bare family (bind's
/// autobind), else the name. EINVAL for a bad length or family.
fn read_sockaddr(t: &Task, addr: u64, len: u32) -> SysResult<Option<SockName>> {
    if !(2..=110).contains(&len) {
        return Err(Errno::EINVAL);
    }
    let mut raw = vec![0u8; len as usize];
    t.mm().copy_in(addr, &mut raw)?;
    if u16::from_ne_bytes([raw[0], raw[1]]) != AF_UNIX as u16 {
        return Err(Errno::EINVAL);
    }
    Ok(match raw.get(2) {
        None => None,
        Some(0) => Some(SockName::Abstract(raw[3..].to_vec())),
        Some(_) => {
            let path = &raw[2..];
            let end = path.iter().position(|&b| b == 0).unwrap_or(path.len());
            Some(SockName::Path(path[..end].to_vec()))
        }
    })
}

/// The socket of type `kind` bound to `name`: ECONNREFUSED where nothing
/// is bound, ENOENT for a missing path, EACCES without write permission
/// on the file. A socket of another type is ECONNREFUSED for an abstract
/// name (Linux keys those by type) and EPROTOTYPE for a path.
fn lookup(t: &Task, name: &SockName, kind: u32) -> SysResult<Arc<Endpoint>> {
    match name {
        SockName::Abstract(n) => {
            t.kernel.unix_names.find_abstract(n).filter(|e| e.kind() == kind).ok_or(Errno::ECONNREFUSED)
        }
        SockName::Path(p) => {
            let d = super::fs::resolve_at(t, abi::flags::at::AT_FDCWD, p, Follow::Yes)?;
            let attr = d.attr();
            if attr.mode & abi::flags::mode::S_IFMT != abi::flags::mode::S_IFSOCK {
                return Err(Errno::ECONNREFUSED);
            }
            crate::vfs::ops::check_perm(&t.creds(), &attr, crate::vfs::ops::MAY_WRITE)?;
            let ep = t.kernel.unix_names.find_path((attr.dev, attr.ino)).ok_or(Errno::ECONNREFUSED)?;
            if ep.kind() != kind {
                return Err(Errno::EPROTOTYPE);
            }
            Ok(ep)
        }
        // read_sockaddr makes Unix names only.
        SockName::Inet(_) | SockName::Netlink { .. } => Err(Errno::EINVAL),
    }
}

/// Where a send goes.
enum Dest {
    /// The connected peer (no address given, or one that is ignored).
    Peer,
    /// The socket at the address given.
    To(Arc<Endpoint>),
    /// A UDP address nothing is bound to: the datagram is lost, as on a
    /// network.
    Nowhere,
    /// A ping socket's echo request to this address.
    Echo(std::net::SocketAddr),
    /// An outside client of a published UDP port (`-p .../udp`), as the
    /// sandbox sees it: the gateway, and a port standing for the client.
    UdpClient(std::net::SocketAddr),
    /// An outside address, by the socket's own peer for it.
    Outside(Arc<crate::kernel::nat::DatagramPeer>),
}

/// Where a send with a destination address goes: the named socket for a
/// datagram socket; a Unix stream socket refuses an address (EISCONN, or
/// EOPNOTSUPP unconnected), and a seqpacket one or a TCP one ignores it.
fn destination(t: &Task, ep: &Arc<Endpoint>, addr: u64, len: u32) -> SysResult<Dest> {
    if addr == 0 || len == 0 || ep.family() == netlink::AF_NETLINK {
        return Ok(Dest::Peer);
    }
    if ep.family() != AF_UNIX {
        if ep.kind() == SOCK_STREAM {
            return Ok(Dest::Peer);
        }
        if is_ping(ep) {
            return Ok(Dest::Echo(read_inet(t, ep.family(), addr, len)?));
        }
        let dst = read_inet(t, ep.family(), addr, len)?;
        // The gateway: a published UDP port's client, or (being the host,
        // which the relay never reaches) nobody.
        match t.kernel.nat.get().and_then(|n| n.udp_to_gateway(dst)) {
            Some(true) => return Ok(Dest::UdpClient(dst)),
            Some(false) => return Ok(Dest::Nowhere),
            None => {}
        }
        if let Some(nat) = outside(t, dst) {
            if ep.flow().is_some_and(|f| f.peer == dst) {
                return Ok(Dest::Peer);
            }
            return match ep.outside_peer(dst, || nat.datagram_peer(ep, PeerKind::Udp, dst)) {
                Ok(p) => Ok(Dest::Outside(p)),
                // Denied by the egress policy: dropped, as a firewall
                // drops it (and audited).
                Err(Errno::ECONNREFUSED) => Ok(Dest::Nowhere),
                Err(e) => Err(e),
            };
        }
        let to = find_inet(t, ep, dst)?;
        autobind_inet(t, ep, Some(dst.ip()))?;
        return Ok(to.map_or(Dest::Nowhere, Dest::To));
    }
    match ep.kind() {
        SOCK_STREAM => Err(if ep.peer_name().is_ok() { Errno::EISCONN } else { Errno::EOPNOTSUPP }),
        SOCK_SEQPACKET => Ok(Dest::Peer),
        _ => {
            let name = read_sockaddr(t, addr, len)?.ok_or(Errno::EINVAL)?;
            Ok(Dest::To(lookup(t, &name, ep.kind())?))
        }
    }
}

/// Where an Internet datagram sent with the address at `addr` goes, as
/// its IP header says: that address, else the connected peer's (None for
/// another socket, or where neither is known).
fn datagram_dst(t: &Task, ep: &Endpoint, addr: u64, len: u32) -> Option<std::net::IpAddr> {
    if !matches!(ep.family(), AF_INET | AF_INET6) || ep.kind() != SOCK_DGRAM {
        return None;
    }
    if addr != 0 && len != 0 {
        return read_inet(t, ep.family(), addr, len).ok().map(|a| a.ip());
    }
    match ep.peer_name() {
        Ok(Some(SockName::Inet(a))) => Some(a.ip()),
        _ => None,
    }
}

/// The outside network, when `dst` is outside the sandbox and the sandbox
/// has one (`--network nat`, IPv4). Otherwise the loopback's rules hold
/// (ENETUNREACH off it).
fn outside(t: &Task, dst: std::net::SocketAddr) -> Option<Arc<crate::kernel::nat::Nat>> {
    let ip = inet::canonical(dst.ip());
    if inet::is_local(ip) || is_own(t, ip) {
        return None;
    }
    t.kernel.nat.get().filter(|n| n.reaches(ip)).cloned()
}

/// connect(2) to an address outside the sandbox, through the relay.
fn connect_outside(
    t: &mut Task,
    file: &Arc<File>,
    ep: &Arc<Endpoint>,
    nat: &crate::kernel::nat::Nat,
    dst: std::net::SocketAddr,
) -> SysResult<u64> {
    use crate::kernel::nat::ConnectState;
    if ep.kind() == SOCK_STREAM && (ep.is_listening() || ep.peer_name().is_ok()) {
        return Err(if ep.is_listening() { Errno::EINVAL } else { Errno::EISCONN });
    }
    // A connect that was refused without waiting says so to the next one.
    if ep.kind() == SOCK_STREAM {
        let e = ep.take_error();
        if e != 0 {
            return Err(Errno(e));
        }
    }
    let nonblock = file.flags() & O_NONBLOCK != 0;
    let flow = match nat.connect(ep, ep.kind(), dst) {
        Ok(f) => f,
        // A refusal comes back as a refused TCP connect does on Linux:
        // later, for a connect that does not wait.
        Err(Errno::ECONNREFUSED) if nonblock && ep.kind() == SOCK_STREAM => {
            ep.set_error(Errno::ECONNREFUSED);
            return Err(Errno::EINPROGRESS);
        }
        Err(e) => return Err(e),
    };
    ep.set_flow(Some(flow.clone()));
    if ep.kind() == SOCK_DGRAM {
        return Ok(0);
    }
    if nonblock {
        return Err(Errno::EINPROGRESS);
    }
    let until = deadline(ep.opts().sndtimeo);
    let state = t.block(&[ep.queue()], until, |_| {
        let s = flow.connect_state();
        Ok((s != ConnectState::Pending).then_some(s))
    });
    match state {
        Ok(ConnectState::Failed(e)) => {
            ep.set_flow(None);
            Err(e)
        }
        Ok(_) => {
            flow.report_connected();
            Ok(0)
        }
        Err(Errno::ETIMEDOUT) => Err(Errno::EINPROGRESS),
        Err(e) => Err(e),
    }
}

/// connect(2) again on a socket whose connection outside the sandbox is
/// made or under way: Linux's answers for a TCP socket in each state.
fn connect_again(ep: &Endpoint, flow: &crate::kernel::nat::Flow) -> SysResult<u64> {
    use crate::kernel::nat::ConnectState;
    match flow.connect_state() {
        ConnectState::Pending => Err(Errno::EALREADY),
        ConnectState::Done if flow.report_connected() => Err(Errno::EISCONN),
        ConnectState::Done => Ok(0),
        ConnectState::Failed(e) => {
            ep.set_flow(None);
            Err(e)
        }
    }
}

static NEXT_AUTOBIND: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

pub fn bind(t: &mut Task, a: &Args) -> SysResult<u64> {
    if let Some((_, h)) = hostsock::of(t, a.fd(0)) {
        return hostsock::bind(t, &h, a.addr(1), a.u32(2));
    }
    let (_, ep) = socket_of(t, a.fd(0))?;
    if ep.family() == netlink::AF_NETLINK {
        let len = a.u32(2) as usize;
        if len < netlink::SOCKADDR_NL_LEN {
            return Err(Errno::EINVAL);
        }
        let mut raw = [0u8; netlink::SOCKADDR_NL_LEN];
        t.mm().copy_in(a.addr(1), &mut raw)?;
        if u32::from(u16::from_ne_bytes([raw[0], raw[1]])) != netlink::AF_NETLINK {
            return Err(Errno::EINVAL);
        }
        let pid = u32::from_ne_bytes([raw[4], raw[5], raw[6], raw[7]]);
        let groups = u32::from_ne_bytes([raw[8], raw[9], raw[10], raw[11]]);
        let pid = if pid == 0 { t.pid as u32 } else { pid };
        // (Multicast groups are taken; no event is ever sent to them.)
        ep.set_name(SockName::Netlink { pid, groups })?;
        return Ok(0);
    }
    if ep.family() != AF_UNIX {
        let addr = read_inet(t, ep.family(), a.addr(1), a.u32(2))?;
        return bind_inet(t, &ep, addr).map(|_| 0);
    }
    let name = read_sockaddr(t, a.addr(1), a.u32(2))?;
    if ep.name().is_some() {
        return Err(Errno::EINVAL);
    }
    let names = &t.kernel.unix_names;
    match name {
        // Autobind: five hex digits in the abstract namespace, as Linux.
        None => loop {
            let n = NEXT_AUTOBIND.fetch_add(1, std::sync::atomic::Ordering::Relaxed) & 0xfffff;
            let name = format!("{n:05x}").into_bytes();
            match names.bind_abstract(&name, &ep) {
                Ok(()) => {
                    ep.set_name(SockName::Abstract(name))?;
                    return Ok(0);
                }
                Err(Errno::EADDRINUSE) => continue,
                Err(e) => return Err(e),
            }
        },
        Some(SockName::Abstract(n)) => {
            names.bind_abstract(&n, &ep)?;
            ep.set_name(SockName::Abstract(n))?;
        }
        Some(SockName::Path(p)) => {
            if p.is_empty() {
                return Err(Errno::ENOENT);
            }
            let pp = super::fs_write::parent_at(t, abi::flags::at::AT_FDCWD, &p)?;
            let perm = 0o777 & !super::fs_write::umask(t);
            let d =
                crate::vfs::ops::make_node(&t.kernel.vfs, &pp, crate::vfs::tmpfs::NewKind::Socket, perm, &t.creds())
                    .map_err(|e| if e == Errno::EEXIST { Errno::EADDRINUSE } else { e })?;
            let attr = d.attr();
            names.bind_path((attr.dev, attr.ino), &ep)?;
            ep.set_name(SockName::Path(p))?;
            ep.set_bound_file(d);
        }
        Some(SockName::Inet(_) | SockName::Netlink { .. }) => return Err(Errno::EINVAL),
    }
    Ok(0)
}

pub fn listen(t: &mut Task, a: &Args) -> SysResult<u64> {
    if let Some((_, h)) = hostsock::of(t, a.fd(0)) {
        return hostsock::listen(&h, a.i32(1));
    }
    let (_, ep) = socket_of(t, a.fd(0))?;
    // An unbound TCP socket listens on an ephemeral port of every address.
    if ep.family() != AF_UNIX && ep.kind() == SOCK_STREAM {
        autobind_inet(t, &ep, None)?;
    }
    ep.listen(a.i32(1))?;
    Ok(0)
}

pub fn connect(t: &mut Task, a: &Args) -> SysResult<u64> {
    if let Some((f, h)) = hostsock::of(t, a.fd(0)) {
        return hostsock::connect(t, &f, &h, a.addr(1), a.u32(2));
    }
    let (file, ep) = socket_of(t, a.fd(0))?;
    let (addr, len) = (a.addr(1), a.u32(2));
    // A netlink socket talks to the kernel whatever it connects to.
    if ep.family() == netlink::AF_NETLINK {
        return if (len as usize) < netlink::SOCKADDR_NL_LEN { Err(Errno::EINVAL) } else { Ok(0) };
    }
    // A datagram socket disconnects with AF_UNSPEC.
    if ep.kind() == SOCK_DGRAM && len >= 2 {
        let family: u16 = t.mm().read_val(addr)?;
        if family == 0 {
            ep.set_flow(None);
            ep.set_default_peer(None)?;
            return Ok(0);
        }
    }
    if let Some(f) = ep.flow() {
        if ep.kind() == SOCK_STREAM {
            return connect_again(&ep, &f);
        }
        // A UDP socket connects anew.
        ep.set_flow(None);
    }
    // The first connect after a non-blocking one finished reports its
    // success (Linux's socket is still SS_CONNECTING); later ones EISCONN.
    if ep.family() != AF_UNIX && ep.kept_option(CONNECT_UNDER_WAY) == Some(1) {
        ep.keep_option(CONNECT_UNDER_WAY, 0);
        return Ok(0);
    }
    let (target, local) = if ep.family() == AF_UNIX {
        let name = read_sockaddr(t, addr, len)?.ok_or(Errno::EINVAL)?;
        (lookup(t, &name, ep.kind())?, None)
    } else {
        let dst = read_inet(t, ep.family(), addr, len)?;
        if let Some(nat) = outside(t, dst) {
            return connect_outside(t, &file, &ep, &nat, dst);
        }
        let found = find_inet(t, &ep, dst)?;
        autobind_inet(t, &ep, Some(dst.ip()))?;
        let Some(target) = found else {
            if ep.kind() == SOCK_DGRAM {
                ep.connect_nowhere();
                return Ok(0);
            }
            return Err(Errno::ECONNREFUSED);
        };
        // The accepted end is named by the address connected to, in the
        // listener's family.
        (target, Some(SockName::Inet(inet::reached(ep.family(), dst))))
    };
    if ep.kind() == SOCK_DGRAM {
        ep.set_default_peer(Some(&target))?;
        return Ok(0);
    }
    let nonblock = file.flags() & O_NONBLOCK != 0;
    loop {
        match ep.connect_to(&target, local.clone()) {
            Err(Errno::EAGAIN) if !nonblock => {
                t.block(&[target.queue()], None, |_| Ok(target.accepts_more().then_some(())))?;
            }
            // A non-blocking TCP connect says it is under way, as Linux's
            // does even on the loopback; it is done at once, so the socket
            // is writable and SO_ERROR 0 when the app looks.
            Ok(()) if nonblock && ep.family() != AF_UNIX => {
                ep.keep_option(CONNECT_UNDER_WAY, 1);
                return Err(Errno::EINPROGRESS);
            }
            r => return r.map(|()| 0),
        }
    }
}

/// Writes a name to an address buffer with its length: truncated to the
/// buffer, with the whole length reported, as Linux's `move_addr_to_user`.
fn write_name(t: &Task, addr: u64, lenp: u64, name: Option<&SockName>, family: u32) -> SysResult<()> {
    let bytes = match name {
        Some(n) => n.to_sockaddr(family),
        None if family == AF_UNIX => (AF_UNIX as u16).to_ne_bytes().to_vec(),
        None => inet::to_sockaddr(&inet::unbound(family), family),
    };
    hostsock::write_addr(t, addr, lenp, &bytes)
}

fn do_accept(t: &mut Task, fd: i32, addr: u64, lenp: u64, flags: u32) -> SysResult<u64> {
    if let Some((f, h)) = hostsock::of(t, fd) {
        return hostsock::accept(t, &f, &h, addr, lenp, flags);
    }
    if flags & !(SOCK_NONBLOCK | SOCK_CLOEXEC) != 0 {
        return Err(Errno::EINVAL);
    }
    let (file, ep) = socket_of(t, fd)?;
    // Datagram sockets have no connections to take (sock_no_accept).
    if ep.kind() == SOCK_DGRAM {
        return Err(Errno::EOPNOTSUPP);
    }
    let nonblock = file.flags() & O_NONBLOCK != 0;
    let sock = loop {
        match ep.accept() {
            Err(Errno::EAGAIN) if !nonblock => {
                t.block(&[ep.queue()], None, |_| {
                    Ok((!ep.is_listening() || ep.readiness() & crate::vfs::file::POLLIN != 0).then_some(()))
                })?;
            }
            r => break r?,
        }
    };
    let peer = sock.endpoint().peer_name().ok().flatten();
    let newfd = install(t, sock, flags)?;
    if addr != 0 {
        if let Err(e) = write_name(t, addr, lenp, peer.as_ref(), ep.family()) {
            let _ = t.fds().remove(newfd);
            return Err(e);
        }
    }
    Ok(newfd as u64)
}

pub fn accept(t: &mut Task, a: &Args) -> SysResult<u64> {
    do_accept(t, a.fd(0), a.addr(1), a.addr(2), 0)
}

pub fn accept4(t: &mut Task, a: &Args) -> SysResult<u64> {
    do_accept(t, a.fd(0), a.addr(1), a.addr(2), a.u32(3))
}

/// The send of every send call: the buffers `bufs` with `control`.
fn do_send(
    t: &mut Task,
    fd: i32,
    bufs: &[(u64, u64)],
    flags: u32,
    control: Option<Control>,
    dest: Dest,
) -> SysResult<u64> {
    let (file, ep) = socket_of(t, fd)?;
    if flags & MSG_OOB != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    if ep.family() == netlink::AF_NETLINK {
        return netlink_send(t, &ep, bufs);
    }
    if is_ping(&ep) {
        return ping_send(t, &ep, bufs, if let Dest::Echo(to) = dest { Some(to) } else { None });
    }
    let inet_dgram = ep.family() != AF_UNIX && ep.kind() == SOCK_DGRAM;
    // A UDP datagram is at most what an IP packet holds (EMSGSIZE).
    if inet_dgram {
        let max: u64 = if ep.family() == AF_INET6 { 65_527 } else { 65_507 };
        if bufs.iter().map(|&(_, l)| l).sum::<u64>() > max {
            return Err(Errno::EMSGSIZE);
        }
    }
    // A datagram that goes nowhere is still copied in first: a bad buffer
    // is EFAULT even then.
    let lost = |t: &Task| -> SysResult<u64> {
        if bufs.iter().any(|&(_, l)| l > 0) {
            pin_buffers(t, bufs, Dir::Write)?;
        }
        Ok(bufs.iter().map(|&(_, l)| l).sum())
    };
    let to = match dest {
        // A UDP socket connected to a port nobody has: the datagram is
        // lost, and the port unreachable that comes back is the next
        // call's error, as on Linux.
        Dest::Peer if inet_dgram && ep.flow().is_none() && ep.peer_name().is_ok() && !ep.has_live_peer() => {
            let sent = lost(t)?;
            ep.set_error(Errno::ECONNREFUSED);
            return Ok(sent);
        }
        Dest::Peer => None,
        Dest::To(ep) => Some(ep),
        Dest::Nowhere | Dest::Echo(_) => return lost(t),
        Dest::UdpClient(dst) => {
            let payload = copy_in_all(t, bufs)?;
            if let Some(nat) = t.kernel.nat.get() {
                nat.send_to_udp_client(dst, &payload)?;
            }
            return Ok(payload.len() as u64);
        }
        Dest::Outside(peer) => {
            let payload = copy_in_all(t, bufs)?;
            autobind_inet(t, &ep, None)?;
            peer.send(&payload)?;
            return Ok(payload.len() as u64);
        }
    };
    if inet_dgram && to.is_none() && ep.name().is_none() && ep.flow().is_none() {
        autobind_inet(t, &ep, None)?;
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
            ep.send(&mf, &[], &mut control, sender, to.as_ref(), flags & MSG_MORE != 0)
        } else {
            let pin = match pin_buffers(t, &skip_bytes(bufs, done), Dir::Write) {
                Ok(pin) => pin,
                Err(e) => return if done > 0 { Ok(done) } else { Err(e) },
            };
            ep.send(&mf, pin.chunks(), &mut control, sender, to.as_ref(), flags & MSG_MORE != 0)
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

/// A netlink request: answered at once, the answers queued on the socket.
fn netlink_send(t: &Task, ep: &Endpoint, bufs: &[(u64, u64)]) -> SysResult<u64> {
    let total: u64 = bufs.iter().map(|&(_, l)| l).sum();
    if total > netlink::MAX_REQUEST as u64 {
        return Err(Errno::EMSGSIZE);
    }
    let mut req = Vec::with_capacity(total as usize);
    for &(addr, len) in bufs {
        let mut part = vec![0u8; len as usize];
        t.mm().copy_in(addr, &mut part)?;
        req.extend(part);
    }
    netlink::respond(ep, &req, &crate::vfs::procnet::view(&t.kernel));
    Ok(total)
}

/// The receive of every receive call into `bufs`; returns what was
/// received and msg_flags. MSG_WAITALL on a stream reads until the
/// buffers are full, EOF, files, or a signal.
fn do_recv(t: &mut Task, fd: i32, bufs: &[(u64, u64)], flags: u32) -> SysResult<(Received, u32)> {
    let (file, ep) = socket_of(t, fd)?;
    // Urgent data: TCP has the notion (and here never any such data, so
    // EINVAL, as Linux's tcp_recv_urg with none); other sockets have not.
    if flags & MSG_OOB != 0 {
        let tcp = ep.family() != AF_UNIX && ep.kind() == SOCK_STREAM;
        return Err(if tcp { Errno::EINVAL } else { Errno::EOPNOTSUPP });
    }
    // An Internet socket's error queue (IP_RECVERR, timestamps): never
    // anything on it here, so EAGAIN, as Linux's ip_recv_error with none.
    if flags & MSG_ERRQUEUE != 0 && ep.family() != AF_UNIX {
        return Err(Errno::EAGAIN);
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
                let mut acc = match got.take() {
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
                    // TCP names no sender (tcp_recvmsg leaves msg_name
                    // alone: the length comes back 0).
                    if ep.family() != AF_UNIX && ep.kind() == SOCK_STREAM {
                        acc.from = None;
                    }
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

/// The sender's name for a receive that asked for it: a length of 0
/// for an unnamed sender, as Linux's `unix_copy_addr`.
fn sender_name(t: &Task, addr: u64, lenp: u64, from: Option<&SockName>, family: u32) -> SysResult<()> {
    match from {
        Some(name) => write_name(t, addr, lenp, Some(name), family),
        // The caller's length is still read and checked (a negative one
        // is EINVAL), as Linux's move_addr_to_user does.
        None if lenp != 0 => {
            let len: i32 = t.mm().read_val(lenp)?;
            if len < 0 {
                return Err(Errno::EINVAL);
            }
            t.mm().write_val(lenp, &0u32)
        }
        None => Ok(()),
    }
}

pub fn sendto(t: &mut Task, a: &Args) -> SysResult<u64> {
    let (fd, buf, len, flags) = (a.fd(0), a.addr(1), a.u64(2), a.u32(3));
    if let Some((f, h)) = hostsock::of(t, fd) {
        let to = if a.addr(4) == 0 { Vec::new() } else { hostsock::read_addr(t, a.addr(4), a.u32(5))? };
        return hostsock::send(t, &f, &h, &[(buf, len.min(i32::MAX as u64))], flags, &to);
    }
    let (_, ep) = socket_of(t, fd)?;
    let to = destination(t, &ep, a.addr(4), a.u32(5))?;
    let control = parse_control(t, 0, 0, &ep, datagram_dst(t, &ep, a.addr(4), a.u32(5)))?;
    do_send(t, fd, &[(buf, len.min(i32::MAX as u64))], flags, control, to)
}

pub fn recvfrom(t: &mut Task, a: &Args) -> SysResult<u64> {
    let (fd, buf, len, flags) = (a.fd(0), a.addr(1), a.u64(2), a.u32(3));
    if let Some((f, h)) = hostsock::of(t, fd) {
        let got = hostsock::recv(t, &f, &h, &[(buf, len.min(i32::MAX as u64))], flags, a.addr(4) != 0)?;
        if a.addr(4) != 0 {
            hostsock::write_addr(t, a.addr(4), a.addr(5), &got.from)?;
        }
        return Ok(got.n);
    }
    let (r, _) = do_recv(t, fd, &[(buf, len.min(i32::MAX as u64))], flags)?;
    let (_, ep) = socket_of(t, fd)?;
    let n = recv_result(&r, flags, ep.kind());
    if a.addr(4) != 0 {
        sender_name(t, a.addr(4), a.addr(5), r.from.as_ref(), ep.family())?;
    }
    // The files of a plain receive are closed with their message.
    drop(r);
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
    // Linux's __copy_msghdr: more than UIO_MAXIOV pieces is EMSGSIZE
    // (readv's EINVAL is not for messages).
    if word(24) > u64::from(MAX_MMSG) {
        return Err(Errno::EMSGSIZE);
    }
    Ok((MsgHdr { name: word(0), iov: word(16), iovlen: word(24), control: word(32), controllen: word(40) }, namelen))
}

/// The control messages of a sendmsg's control data, as Linux's
/// `for_each_cmsghdr` walks them: (level, type, data), or EINVAL for one
/// whose length is out of bounds (`CMSG_OK`), which ends the walk.
fn cmsgs(raw: &[u8]) -> impl Iterator<Item = SysResult<(i32, i32, &[u8])>> + '_ {
    let mut at = 0usize;
    std::iter::from_fn(move || {
        if at + CMSG_HDR > raw.len() {
            return None;
        }
        let len = u64::from_ne_bytes(raw[at..at + 8].try_into().unwrap_or([0; 8])) as usize;
        let level = i32::from_ne_bytes(raw[at + 8..at + 12].try_into().unwrap_or([0; 4]));
        let ty = i32::from_ne_bytes(raw[at + 12..at + 16].try_into().unwrap_or([0; 4]));
        if len < CMSG_HDR || len > raw.len() - at {
            at = raw.len();
            return Some(Err(Errno::EINVAL));
        }
        let data = &raw[at + CMSG_HDR..at + len];
        at += cmsg_align(len);
        Some(Ok((level, ty, data)))
    })
}

/// Parses the control data a send gives (`control`, `controllen`; none for
/// send and sendto). A Unix socket takes SCM_RIGHTS files (EBADF for a
/// bad fd, EINVAL past SCM_MAX_FD) and SCM_CREDENTIALS, which must be the
/// sender's own unless it has the capabilities to say otherwise. An
/// Internet datagram to `dst` gets its IP header (see `ip_control`).
fn parse_control(
    t: &Task,
    control: u64,
    controllen: u64,
    ep: &Endpoint,
    dst: Option<std::net::IpAddr>,
) -> SysResult<Option<Control>> {
    let family = ep.family();
    if controllen > MAX_CONTROL {
        return Err(Errno::ENOBUFS);
    }
    if family == AF_UNIX && controllen > 0 && controllen < CMSG_HDR as u64 {
        return Err(Errno::EINVAL);
    }
    let mut raw = vec![0u8; controllen as usize];
    if controllen > 0 {
        t.mm().copy_in(control, &mut raw)?;
    }
    if matches!(family, AF_INET | AF_INET6) && ep.kind() == SOCK_DGRAM {
        let dst = dst.unwrap_or_else(|| inet::unbound(family).ip());
        let v4 = family == AF_INET || inet::canonical(dst).is_ipv4();
        let given = ip_control(t, &raw, family, v4)?;
        return Ok(Some(Control { ip: Some(inet::header(ep, dst, given)), ..Control::default() }));
    }
    if controllen == 0 {
        return Ok(None);
    }
    let mut control = Control::default();
    for c in cmsgs(&raw) {
        let (level, ty, data) = c?;
        if level == SOL_SOCKET && family != AF_UNIX {
            socket_level_cmsg(t, ty, data)?;
        } else if level == SOL_SOCKET {
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
                    // scm_check_creds: each may be the sender's own, or
                    // another with CAP_SYS_ADMIN (the pid), CAP_SETUID
                    // (the uid) or CAP_SETGID (the gid).
                    use abi::flags::capability::{CAP_SETGID, CAP_SETUID, CAP_SYS_ADMIN};
                    let c = t.creds();
                    let pid_ok = given.pid == t.pid || c.has_cap(CAP_SYS_ADMIN);
                    let uid_ok = [c.uid, c.euid, c.suid].contains(&given.uid) || c.has_cap(CAP_SETUID);
                    let gid_ok = [c.gid, c.egid, c.sgid].contains(&given.gid) || c.has_cap(CAP_SETGID);
                    if !(pid_ok && uid_ok && gid_ok) {
                        return Err(Errno::EPERM);
                    }
                    control.creds = Some(given);
                }
                _ => return Err(Errno::EINVAL),
            }
        }
    }
    Ok(Some(control))
}

/// A SOL_SOCKET control message to a socket other than a Unix one, as
/// Linux's __sock_cmsg_send: files and credentials travel only between
/// Unix sockets and are ignored; SO_MARK (a routing mark, nothing on the
/// loopback) needs CAP_NET_RAW or CAP_NET_ADMIN; the others (timestamping
/// and the like) are not modelled, EINVAL.
fn socket_level_cmsg(t: &Task, ty: i32, data: &[u8]) -> SysResult<()> {
    const SO_MARK: i32 = 36;
    use abi::flags::capability::{CAP_NET_ADMIN, CAP_NET_RAW};
    match ty {
        SCM_RIGHTS | SCM_CREDENTIALS => Ok(()),
        SO_MARK if !(t.creds().has_cap(CAP_NET_RAW) || t.creds().has_cap(CAP_NET_ADMIN)) => Err(Errno::EPERM),
        SO_MARK if data.len() == 4 => Ok(()),
        _ => Err(Errno::EINVAL),
    }
}

const IP_PKTINFO: i32 = 8;
const IP_RECVTTL: i32 = 12;
const IP_RECVTOS: i32 = 13;
const IP_PROTOCOL: i32 = 52;
const IPV6_2292PKTINFO: i32 = 2;
const IPV6_2292HOPLIMIT: i32 = 8;
const IPV6_FLOWINFO: i32 = 11;
const IPV6_RECVPKTINFO: i32 = 49;
const IPV6_PKTINFO: i32 = 50;
const IPV6_RECVHOPLIMIT: i32 = 51;
const IPV6_HOPLIMIT: i32 = 52;
const IPV6_DONTFRAG: i32 = 62;
const IPV6_RECVTCLASS: i32 = 66;
/// `sizeof(struct in_pktinfo)` and `sizeof(struct in6_pktinfo)`.
const IN_PKTINFO_LEN: usize = 12;
const IN6_PKTINFO_LEN: usize = 20;

/// The TTL or hop limit and TOS or traffic class a sendmsg's control
/// messages give an Internet datagram (`v4`: one that goes as IPv4), as
/// Linux takes them: for IPv4 (ip_cmsg_send) the SOL_IP level, and an
/// IPv6 socket's IPV6_PKTINFO with a v4-mapped address; for IPv6
/// (ip6_datagram_send_ctl) the SOL_IPV6 level. Other levels are ignored;
/// a bad length, value or type of the level is EINVAL, a packet info of
/// an interface the sandbox has not ENODEV. (A packet info's source
/// address is checked, not used: the datagram is from the socket's.)
fn ip_control(t: &Task, raw: &[u8], family: u32, v4: bool) -> SysResult<inet::Given> {
    let int = |d: &[u8]| -> SysResult<i32> { Ok(i32::from_ne_bytes(d.try_into().map_err(|_| Errno::EINVAL)?)) };
    // A hop limit, TTL, TOS or traffic class: -1 (where `low` is) for
    // the socket's own, else within range.
    let byte = |v: i32, low: i32| -> SysResult<Option<u8>> {
        match v {
            -1 if low == -1 => Ok(None),
            v if (low.max(0)..=255).contains(&v) => Ok(Some(v as u8)),
            _ => Err(Errno::EINVAL),
        }
    };
    let pktinfo = |index: i32, src: std::net::IpAddr| -> SysResult<()> {
        let view = crate::vfs::procnet::view(&t.kernel);
        if index != 0 && !view.interfaces.iter().any(|i| i.index as i32 == index) {
            return Err(Errno::ENODEV);
        }
        // (The any address, no source asked for, is local too.)
        if !(inet::is_local(src) || is_own(t, src)) {
            return Err(Errno::EINVAL);
        }
        Ok(())
    };
    let mut given = inet::Given::default();
    for c in cmsgs(raw) {
        let (level, ty, data) = c?;
        let word = |i: usize| data.get(i..i + 4).map_or(0, |b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
        match (level, ty) {
            (SOL_SOCKET, _) => socket_level_cmsg(t, ty, data)?,
            // UDP_SEGMENT (segmentation offload): not modelled.
            (SOL_UDP, _) => return Err(Errno::EINVAL),
            (SOL_IPV6, IPV6_PKTINFO) if v4 && family == AF_INET6 => {
                if data.len() < IN6_PKTINFO_LEN {
                    return Err(Errno::EINVAL);
                }
                let mut a = [0u8; 16];
                a.copy_from_slice(&data[..16]);
                let mapped = std::net::Ipv6Addr::from(a).to_ipv4_mapped().ok_or(Errno::EINVAL)?;
                pktinfo(word(16), std::net::IpAddr::V4(mapped))?;
            }
            (SOL_IP, _) if v4 => match ty {
                IP_PKTINFO if data.len() == IN_PKTINFO_LEN => {
                    let spec = std::net::Ipv4Addr::new(data[4], data[5], data[6], data[7]);
                    pktinfo(word(0), std::net::IpAddr::V4(spec))?;
                }
                inet::IP_TTL => given.hop_limit = byte(int(data)?, 1)?,
                inet::IP_TOS if data.len() == 1 => given.tclass = Some(data[0]),
                inet::IP_TOS => given.tclass = byte(int(data)?, 0)?,
                IP_PROTOCOL => {
                    byte(int(data)?, 1)?;
                }
                // IP options (IP_RETOPTS): not modelled.
                _ => return Err(Errno::EINVAL),
            },
            (SOL_IPV6, _) if !v4 => match ty {
                IPV6_PKTINFO | IPV6_2292PKTINFO => {
                    if data.len() < IN6_PKTINFO_LEN {
                        return Err(Errno::EINVAL);
                    }
                    let mut a = [0u8; 16];
                    a.copy_from_slice(&data[..16]);
                    let src = std::net::Ipv6Addr::from(a);
                    // A v4-mapped source is no address of an IPv6 interface.
                    if src.to_ipv4_mapped().is_some() {
                        return Err(Errno::EINVAL);
                    }
                    pktinfo(word(16), std::net::IpAddr::V6(src))?;
                }
                IPV6_HOPLIMIT | IPV6_2292HOPLIMIT => given.hop_limit = byte(int(data)?, -1)?,
                // -1 is not the socket's traffic class, as the man page
                // says, but 255: Linux keeps the -1 and sends its low byte.
                inet::IPV6_TCLASS => given.tclass = Some(byte(int(data)?, -1)?.unwrap_or(0xff)),
                IPV6_DONTFRAG => {
                    if !(0..=1).contains(&int(data)?) {
                        return Err(Errno::EINVAL);
                    }
                }
                // A flow label needs a lease (IPV6_FLOWLABEL_MGR), which
                // the loopback does not give; the traffic class bits of
                // the flow information are not the app's to set here.
                IPV6_FLOWINFO if data.len() >= 4 && word(0) & 0x000f_ffff_u32.to_be() as i32 == 0 => {}
                // Extension headers (IPV6_HOPOPTS and the like): not
                // modelled.
                _ => return Err(Errno::EINVAL),
            },
            _ => {}
        }
    }
    Ok(given)
}

pub fn sendmsg(t: &mut Task, a: &Args) -> SysResult<u64> {
    send_one(t, a.fd(0), a.addr(1), a.u32(2))
}

/// sendmsg of the `struct msghdr` at `addr`.
fn send_one(t: &mut Task, fd: i32, addr: u64, flags: u32) -> SysResult<u64> {
    let (h, namelen) = read_msghdr(t, addr)?;
    if let Some((f, host)) = hostsock::of(t, fd) {
        // (Control messages are not carried to host sockets.)
        let bufs = iovecs(t, h.iov, h.iovlen)?;
        let to = if h.name == 0 { Vec::new() } else { hostsock::read_addr(t, h.name, namelen)? };
        return hostsock::send(t, &f, &host, &bufs, flags, &to);
    }
    let (_, ep) = socket_of(t, fd)?;
    let bufs = iovecs(t, h.iov, h.iovlen)?;
    let to = destination(t, &ep, h.name, namelen)?;
    let dst = datagram_dst(t, &ep, h.name, namelen);
    let control = parse_control(t, h.control, h.controllen, &ep, dst)?;
    do_send(t, fd, &bufs, flags, control, to)
}

/// Appends a control message to `out`, in a control buffer of `room`
/// bytes, as Linux's put_cmsg: one that does not fit whole is cut short,
/// its cmsg_len saying how much is there; one whose header does not fit
/// is left out. Returns MSG_CTRUNC for either, else 0.
fn put_cmsg(out: &mut Vec<u8>, room: usize, level: i32, ty: i32, data: &[u8]) -> u32 {
    let start = out.len();
    let left = room.saturating_sub(start);
    if left < CMSG_HDR {
        return MSG_CTRUNC;
    }
    let full = CMSG_HDR + data.len();
    let len = full.min(left);
    out.extend_from_slice(&(len as u64).to_ne_bytes());
    out.extend_from_slice(&level.to_ne_bytes());
    out.extend_from_slice(&ty.to_ne_bytes());
    out.extend_from_slice(&data[..len - CMSG_HDR]);
    // The padding counts when another message follows; it is written
    // only where there is room.
    out.resize(start + cmsg_align(full).min(left), 0);
    if len < full {
        MSG_CTRUNC
    } else {
        0
    }
}

/// The control messages a datagram with the header `hdr` brings a
/// receiver `ep` that asked for them, in the order of Linux's
/// udpv6_recvmsg and ip_cmsg_recv_offset: an IPv6 socket's IPV6_PKTINFO
/// (for either header), then an IPv6 header's hop limit and traffic
/// class, or an IPv4 one's IP_PKTINFO, TTL and TOS.
fn received_ip_control(ep: &Endpoint, hdr: &IpHeader) -> Vec<(i32, i32, Vec<u8>)> {
    let on = |level, name| ep.kept_option(inet::option_key(level, name)).unwrap_or(0) != 0;
    let int = |v: u8| i32::from(v).to_ne_bytes().to_vec();
    let mut out = Vec::new();
    if ep.family() == AF_INET6 {
        if on(SOL_IPV6, IPV6_RECVPKTINFO) {
            let addr = match hdr.dst {
                std::net::IpAddr::V4(a) => a.to_ipv6_mapped(),
                std::net::IpAddr::V6(a) => a,
            };
            let mut info = addr.octets().to_vec();
            info.extend_from_slice(&inet::LOOPBACK_INDEX.to_ne_bytes());
            out.push((SOL_IPV6, IPV6_PKTINFO, info));
        }
        if !hdr.v4 {
            if on(SOL_IPV6, IPV6_RECVHOPLIMIT) {
                out.push((SOL_IPV6, IPV6_HOPLIMIT, int(hdr.hop_limit)));
            }
            if on(SOL_IPV6, IPV6_RECVTCLASS) {
                out.push((SOL_IPV6, inet::IPV6_TCLASS, int(hdr.tclass)));
            }
            return out;
        }
    }
    if on(SOL_IP, IP_PKTINFO) {
        // The interface, the local address the datagram was for, and its
        // destination: on the loopback the same.
        let dst = match inet::canonical(hdr.dst) {
            std::net::IpAddr::V4(a) => a,
            std::net::IpAddr::V6(_) => std::net::Ipv4Addr::UNSPECIFIED,
        };
        let mut info = inet::LOOPBACK_INDEX.to_ne_bytes().to_vec();
        info.extend_from_slice(&dst.octets());
        info.extend_from_slice(&dst.octets());
        out.push((SOL_IP, IP_PKTINFO, info));
    }
    if on(SOL_IP, IP_RECVTTL) {
        out.push((SOL_IP, inet::IP_TTL, int(hdr.hop_limit)));
    }
    // The TOS is a byte here, where the other values are ints.
    if on(SOL_IP, IP_RECVTOS) {
        out.push((SOL_IP, inet::IP_TOS, vec![hdr.tclass]));
    }
    out
}

/// Writes recvmsg's control messages (an Internet datagram's IP ones, or
/// credentials, then files) into the app's control buffer, as far as they
/// fit: files that do not are closed, and MSG_CTRUNC tells. Returns the
/// bytes written and the flags.
fn write_control(t: &mut Task, h: &MsgHdr, ep: &Endpoint, r: Received, cloexec: bool) -> SysResult<(u64, u32)> {
    // No buffer is no room, whatever its length says.
    let room = if h.control == 0 { 0 } else { h.controllen.min(MAX_CONTROL) as usize };
    let mut out = Vec::new();
    let mut flags = 0;
    if let Some(hdr) = r.control.ip {
        for (level, ty, data) in received_ip_control(ep, &hdr) {
            flags |= put_cmsg(&mut out, room, level, ty, &data);
        }
    }
    if let Some(c) = r.creds {
        let mut data = Vec::with_capacity(12);
        data.extend_from_slice(&c.pid.to_ne_bytes());
        data.extend_from_slice(&c.uid.to_ne_bytes());
        data.extend_from_slice(&c.gid.to_ne_bytes());
        flags |= put_cmsg(&mut out, room, SOL_SOCKET, SCM_CREDENTIALS, &data);
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
            flags |= put_cmsg(&mut out, room, SOL_SOCKET, SCM_RIGHTS, &data);
        }
    }
    if !out.is_empty() {
        t.mm().copy_out(h.control, &out)?;
    }
    Ok((out.len() as u64, flags))
}

pub fn recvmsg(t: &mut Task, a: &Args) -> SysResult<u64> {
    recv_one(t, a.fd(0), a.addr(1), a.u32(2))
}

/// recvmsg into the `struct msghdr` at `addr`.
fn recv_one(t: &mut Task, fd: i32, addr: u64, flags: u32) -> SysResult<u64> {
    let (h, namelen) = read_msghdr(t, addr)?;
    if let Some((f, host)) = hostsock::of(t, fd) {
        let bufs = iovecs(t, h.iov, h.iovlen)?;
        let got = hostsock::recv(t, &f, &host, &bufs, flags, h.name != 0)?;
        if h.name != 0 {
            let n = (namelen as usize).min(got.from.len());
            t.mm().copy_out(h.name, &got.from[..n])?;
            t.mm().write_val(addr + 8, &(got.from.len() as u32))?;
        }
        // msg_controllen (no control messages) and msg_flags.
        t.mm().write_val(addr + 40, &0u64)?;
        t.mm().write_val(addr + 48, &got.msg_flags)?;
        return Ok(got.n);
    }
    let (_, ep) = socket_of(t, fd)?;
    let bufs = iovecs(t, h.iov, h.iovlen)?;
    let (r, mut msg_flags) = do_recv(t, fd, &bufs, flags)?;
    let n = recv_result(&r, flags, ep.kind());
    let from = r.from.clone();
    let (controllen, ctrl_flags) = write_control(t, &h, &ep, r, flags & MSG_CMSG_CLOEXEC != 0)?;
    msg_flags |= ctrl_flags | (flags & MSG_CMSG_CLOEXEC);
    // msg_name and msg_namelen (0: no name), msg_controllen and msg_flags.
    if h.name != 0 {
        match &from {
            Some(name) => {
                let bytes = name.to_sockaddr(ep.family());
                let n = (namelen as usize).min(bytes.len());
                t.mm().copy_out(h.name, &bytes[..n])?;
                t.mm().write_val(addr + 8, &(bytes.len() as u32))?;
            }
            None => t.mm().write_val(addr + 8, &0u32)?,
        }
    }
    t.mm().write_val(addr + 40, &controllen)?;
    t.mm().write_val(addr + 48, &msg_flags)?;
    Ok(n)
}

/// `sizeof(struct mmsghdr)`: a msghdr, then `msg_len`.
const MMSGHDR_SIZE: u64 = 64;
/// Most messages one sendmmsg or recvmmsg takes (`UIO_MAXIOV`).
const MAX_MMSG: u32 = 1024;
/// recvmmsg: wait for the first message only.
const MSG_WAITFORONE: u32 = 0x10000;

/// sendmmsg: sendmsg of each `struct mmsghdr` in turn, each one's byte
/// count in its `msg_len`. Returns how many were sent; an error fails the
/// call only if it came first.
pub fn sendmmsg(t: &mut Task, a: &Args) -> SysResult<u64> {
    let (fd, vec, vlen, flags) = (a.fd(0), a.addr(1), a.u32(2).min(MAX_MMSG), a.u32(3));
    if hostsock::of(t, fd).is_none() {
        socket_of(t, fd)?;
    }
    let mut sent = 0u32;
    while sent < vlen {
        let at = vec + u64::from(sent) * MMSGHDR_SIZE;
        match send_one(t, fd, at, flags) {
            Ok(n) => t.mm().write_val(at + 56, &(n as u32))?,
            Err(e) if sent == 0 => return Err(e),
            Err(_) => break,
        }
        sent += 1;
    }
    Ok(u64::from(sent))
}

/// recvmmsg: recvmsg into each `struct mmsghdr` in turn. With
/// MSG_WAITFORONE only the first waits; a timeout is looked at after each
/// message, as Linux does (it does not cut a wait short).
pub fn recvmmsg(t: &mut Task, a: &Args) -> SysResult<u64> {
    let (fd, vec, vlen, mut flags, tsp) = (a.fd(0), a.addr(1), a.u32(2).min(MAX_MMSG), a.u32(3), a.addr(4));
    if hostsock::of(t, fd).is_none() {
        socket_of(t, fd)?;
    }
    let deadline = if tsp == 0 {
        None
    } else {
        let ts: abi::types::Timespec = t.mm().read_val(tsp)?;
        if ts.tv_sec < 0 || !(0..1_000_000_000).contains(&ts.tv_nsec) {
            return Err(Errno::EINVAL);
        }
        Some(deadline_in(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)))
    };
    let mut got = 0u32;
    while got < vlen {
        let at = vec + u64::from(got) * MMSGHDR_SIZE;
        match recv_one(t, fd, at, flags & !MSG_WAITFORONE) {
            Ok(n) => t.mm().write_val(at + 56, &(n as u32))?,
            Err(e) if got == 0 => return Err(e),
            Err(_) => break,
        }
        got += 1;
        if flags & MSG_WAITFORONE != 0 {
            flags |= MSG_DONTWAIT;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
    }
    Ok(u64::from(got))
}

pub fn shutdown(t: &mut Task, a: &Args) -> SysResult<u64> {
    if let Some((_, h)) = hostsock::of(t, a.fd(0)) {
        return hostsock::shutdown(&h, a.u32(1));
    }
    let (_, ep) = socket_of(t, a.fd(0))?;
    ep.shutdown(a.u32(1))?;
    Ok(0)
}

pub fn getsockname(t: &mut Task, a: &Args) -> SysResult<u64> {
    if let Some((_, h)) = hostsock::of(t, a.fd(0)) {
        return hostsock::name(t, &h, a.addr(1), a.addr(2), false);
    }
    let (_, ep) = socket_of(t, a.fd(0))?;
    // A connection outside the sandbox is from the sandbox's address.
    let name = match ep.flow() {
        Some(f) => Some(SockName::Inet(f.local)),
        None if ep.family() == netlink::AF_NETLINK => Some(netlink::name_of(&ep)),
        None => ep.name(),
    };
    write_name(t, a.addr(1), a.addr(2), name.as_ref(), ep.family())?;
    Ok(0)
}

pub fn getpeername(t: &mut Task, a: &Args) -> SysResult<u64> {
    if let Some((_, h)) = hostsock::of(t, a.fd(0)) {
        return hostsock::name(t, &h, a.addr(1), a.addr(2), true);
    }
    let (_, ep) = socket_of(t, a.fd(0))?;
    let name = ep.peer_name()?;
    write_name(t, a.addr(1), a.addr(2), name.as_ref(), ep.family())?;
    Ok(0)
}

fn timeval_bytes(d: Duration) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&(d.as_secs() as i64).to_ne_bytes());
    b[8..].copy_from_slice(&i64::from(d.subsec_micros()).to_ne_bytes());
    b
}

pub fn getsockopt(t: &mut Task, a: &Args) -> SysResult<u64> {
    let (fd, level, name, val, lenp) = (a.fd(0), a.i32(1), a.i32(2), a.addr(3), a.addr(4));
    if let Some((_, h)) = hostsock::of(t, fd) {
        return hostsock::getsockopt(t, &h, level, name, val, lenp);
    }
    let (_, ep) = socket_of(t, fd)?;
    let int = |v: u32| v.to_ne_bytes().to_vec();
    let value: Vec<u8> = if level == SOL_SOCKET {
        socket_level_option(&ep, name)?
    } else if ep.family() == AF_UNIX {
        return Err(Errno::EOPNOTSUPP);
    } else {
        let (_, default) = inet_option(&ep, level, name, Errno::EOPNOTSUPP)?;
        int(ep.kept_option(inet::option_key(level, name)).map_or(default, |v| v as u32))
    };
    let len: i32 = t.mm().read_val(lenp)?;
    if len < 0 {
        return Err(Errno::EINVAL);
    }
    let n = (len as usize).min(value.len());
    t.mm().copy_out(val, &value[..n])?;
    t.mm().write_val(lenp, &(n as u32))?;
    Ok(0)
}

/// The value of the SOL_SOCKET option `name`.
fn socket_level_option(ep: &Endpoint, name: i32) -> SysResult<Vec<u8>> {
    let int = |v: u32| v.to_ne_bytes().to_vec();
    let opts = *ep.opts();
    let protocol = match (ep.family(), ep.kind()) {
        (AF_UNIX, _) => 0,
        (_, SOCK_STREAM) => IPPROTO_TCP,
        _ if is_udplite(ep) => IPPROTO_UDPLITE,
        _ if is_ping(ep) => ping_protocol(ep.family()).unwrap_or(IPPROTO_ICMP),
        _ => IPPROTO_UDP,
    };
    Ok(match name {
        SO_TYPE => int(ep.kind()),
        SO_ERROR => int(ep.take_error() as u32),
        SO_SNDBUF => int(opts.sndbuf),
        SO_RCVBUF => int(opts.rcvbuf),
        SO_PASSCRED => int(u32::from(opts.passcred)),
        SO_ACCEPTCONN => int(u32::from(ep.is_listening())),
        SO_PROTOCOL => int(protocol),
        SO_DOMAIN => int(ep.family()),
        SO_PEERCRED => {
            let c = ep.peer_creds().unwrap_or(Ucred { pid: 0, uid: u32::MAX, gid: u32::MAX });
            let mut b = c.pid.to_ne_bytes().to_vec();
            b.extend_from_slice(&c.uid.to_ne_bytes());
            b.extend_from_slice(&c.gid.to_ne_bytes());
            b
        }
        SO_RCVTIMEO_OLD => timeval_bytes(opts.rcvtimeo).to_vec(),
        SO_SNDTIMEO_OLD => timeval_bytes(opts.sndtimeo).to_vec(),
        SO_LINGER => ep.kept_option(SO_LINGER).unwrap_or(0).to_ne_bytes().to_vec(),
        _ => match KEPT_OPTIONS.iter().find(|(o, _, _)| *o == name) {
            Some(&(_, _, default)) => int(ep.kept_option(name).map_or(default, |v| v as u32)),
            None => return Err(Errno::ENOPROTOOPT),
        },
    })
}

pub fn setsockopt(t: &mut Task, a: &Args) -> SysResult<u64> {
    let (fd, level, name, val, len) = (a.fd(0), a.i32(1), a.i32(2), a.addr(3), a.u32(4));
    if let Some((_, h)) = hostsock::of(t, fd) {
        return hostsock::setsockopt(t, &h, level, name, val, len);
    }
    let (_, ep) = socket_of(t, fd)?;
    let read_int = |t: &Task| -> SysResult<u32> {
        if len < 4 {
            return Err(Errno::EINVAL);
        }
        t.mm().read_val::<u32>(val)
    };
    if level != SOL_SOCKET {
        if ep.family() == AF_UNIX {
            return Err(Errno::EOPNOTSUPP);
        }
        let (boolean, _) = inet_option(&ep, level, name, Errno::ENOPROTOOPT)?;
        let v = read_int(t)?;
        let v = if boolean { u32::from(v != 0) } else { inet_value(&ep, level, name, v)? };
        ep.keep_option(inet::option_key(level, name), u64::from(v));
        return Ok(0);
    }
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
        SO_LINGER => {
            if len < 8 {
                return Err(Errno::EINVAL);
            }
            let l: [i32; 2] = t.mm().read_val(val)?;
            let onoff = u64::from(l[0] != 0);
            ep.keep_option(SO_LINGER, onoff | (u64::from(l[1].max(0) as u32) << 32));
        }
        _ => match KEPT_OPTIONS.iter().find(|(o, _, _)| *o == name) {
            Some(&(_, boolean, _)) => {
                let v = read_int(t)?;
                let v = if boolean {
                    u32::from(v != 0)
                } else if name == 18 {
                    // SO_RCVLOWAT: negative is INT_MAX, 0 is 1.
                    if (v as i32) < 0 {
                        i32::MAX as u32
                    } else {
                        v.max(1)
                    }
                } else {
                    v
                };
                ep.keep_option(name, u64::from(v));
            }
            None => return Err(Errno::ENOPROTOOPT),
        },
    }
    // A bigger buffer may let a waiting sender go on.
    ep.queue().notify();
    Ok(0)
}

/// SIOCATMARK: whether the stream's next byte is at the urgent mark.
/// Husk's streams never carry urgent data, so the answer is 0 (a
/// listener's too); a datagram socket has no such ioctl (ENOTTY), as on
/// Linux.
pub fn atmark(t: &Task, file: &File, arg: u64) -> SysResult<u64> {
    let ep = file.ops.unix_socket().ok_or(Errno::ENOTTY)?.endpoint().clone();
    if ep.kind() != SOCK_STREAM {
        return Err(Errno::ENOTTY);
    }
    t.mm().write_val(arg, &0i32)?;
    Ok(0)
}

/// `sizeof(struct ifreq)`.
const IFREQ_LEN: usize = 40;

/// The interface ioctls (SIOCGIF*) on any socket, as ifconfig, busybox ip
/// and if_nametoindex use them: the sandbox's interfaces, read-only (a
/// change is EPERM; an unknown name ENODEV).
pub fn interface_ioctl(t: &Task, cmd: u32, arg: u64) -> SysResult<u64> {
    const SIOCGIFNAME: u32 = 0x8910;
    const SIOCGIFCONF: u32 = 0x8912;
    const SIOCGIFFLAGS: u32 = 0x8913;
    const SIOCGIFADDR: u32 = 0x8915;
    const SIOCGIFBRDADDR: u32 = 0x8919;
    const SIOCGIFNETMASK: u32 = 0x891b;
    const SIOCGIFMETRIC: u32 = 0x891d;
    const SIOCGIFMTU: u32 = 0x8921;
    const SIOCGIFHWADDR: u32 = 0x8927;
    const SIOCGIFINDEX: u32 = 0x8933;
    const SIOCGIFTXQLEN: u32 = 0x8942;
    const GETS: [u32; 10] = [
        SIOCGIFNAME,
        SIOCGIFFLAGS,
        SIOCGIFADDR,
        SIOCGIFBRDADDR,
        SIOCGIFNETMASK,
        SIOCGIFMETRIC,
        SIOCGIFMTU,
        SIOCGIFHWADDR,
        SIOCGIFINDEX,
        SIOCGIFTXQLEN,
    ];
    match cmd {
        SIOCGIFCONF => {}
        c if GETS.contains(&c) => {}
        // The SIOCS* calls, SIOCADDRT and SIOCDELRT: the sandbox's network
        // is fixed.
        0x890b | 0x890c => return Err(Errno::EPERM),
        // The ifreq is read first (EFAULT), as Linux's get_user_ifreq.
        0x8914 | 0x8916..=0x891a | 0x891c | 0x891e..=0x8920 | 0x8922..=0x8926 => {
            let mut req = [0u8; IFREQ_LEN];
            t.mm().copy_in(arg, &mut req)?;
            return Err(Errno::EPERM);
        }
        _ => return Err(Errno::ENOTTY),
    }
    let view = crate::vfs::procnet::view(&t.kernel);
    if cmd == SIOCGIFCONF {
        return interface_conf(t, &view, arg);
    }
    let mut req = [0u8; IFREQ_LEN];
    t.mm().copy_in(arg, &mut req)?;
    let iface = if cmd == SIOCGIFNAME {
        let index = i32::from_ne_bytes([req[16], req[17], req[18], req[19]]);
        view.interfaces.iter().find(|i| i.index as i32 == index).ok_or(Errno::ENODEV)?
    } else {
        let name = req[..16].split(|&c| c == 0).next().unwrap_or(&[]);
        view.interfaces.iter().find(|i| i.name.as_bytes() == name).ok_or(Errno::ENODEV)?
    };
    let v4 = iface.addrs.iter().find_map(|&(ip, prefix)| match ip {
        std::net::IpAddr::V4(v4) => Some((v4, prefix)),
        _ => None,
    });
    let sockaddr_in = |ip: std::net::Ipv4Addr| {
        let mut b = [0u8; 16];
        b[..2].copy_from_slice(&(AF_INET as u16).to_ne_bytes());
        b[4..8].copy_from_slice(&ip.octets());
        b
    };
    let out = &mut req[16..];
    match cmd {
        SIOCGIFNAME => {
            req[..16].fill(0);
            req[..iface.name.len()].copy_from_slice(iface.name.as_bytes());
        }
        SIOCGIFFLAGS => {
            // IFF_UP | IFF_RUNNING, and IFF_LOOPBACK or IFF_BROADCAST | IFF_MULTICAST.
            let flags: u16 = if iface.loopback { 0x1 | 0x8 | 0x40 } else { 0x1 | 0x2 | 0x40 | 0x1000 };
            out[..2].copy_from_slice(&flags.to_ne_bytes());
        }
        SIOCGIFADDR | SIOCGIFNETMASK | SIOCGIFBRDADDR => {
            let (ip, prefix) = v4.ok_or(Errno::EADDRNOTAVAIL)?;
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            let value = match cmd {
                SIOCGIFADDR => ip,
                SIOCGIFNETMASK => mask.into(),
                _ if iface.loopback => std::net::Ipv4Addr::UNSPECIFIED,
                _ => (u32::from(ip) | !mask).into(),
            };
            out[..16].copy_from_slice(&sockaddr_in(value));
        }
        SIOCGIFMETRIC => out[..4].copy_from_slice(&0i32.to_ne_bytes()),
        SIOCGIFMTU => out[..4].copy_from_slice(&(iface.mtu as i32).to_ne_bytes()),
        SIOCGIFTXQLEN => out[..4].copy_from_slice(&1000i32.to_ne_bytes()),
        SIOCGIFINDEX => out[..4].copy_from_slice(&(iface.index as i32).to_ne_bytes()),
        SIOCGIFHWADDR => {
            // ARPHRD_LOOPBACK or ARPHRD_ETHER, then the address.
            let ty: u16 = if iface.loopback { 772 } else { 1 };
            out[..2].copy_from_slice(&ty.to_ne_bytes());
            out[2..8].copy_from_slice(&iface.mac);
        }
        _ => return Err(Errno::ENOTTY),
    }
    t.mm().copy_out(arg, &req)?;
    Ok(0)
}

/// SIOCGIFCONF: an ifreq per interface with an IPv4 address, into the
/// caller's buffer (or, with none, the length it needs).
fn interface_conf(t: &Task, view: &netlink::NetView, arg: u64) -> SysResult<u64> {
    let mut conf = [0u8; 16];
    t.mm().copy_in(arg, &mut conf)?;
    let room = i32::from_ne_bytes([conf[0], conf[1], conf[2], conf[3]]).max(0) as usize;
    let buf = u64::from_ne_bytes(conf[8..16].try_into().unwrap_or([0; 8]));
    let mut entries = Vec::new();
    for i in &view.interfaces {
        for &(ip, _) in &i.addrs {
            let std::net::IpAddr::V4(v4) = ip else { continue };
            let mut r = [0u8; IFREQ_LEN];
            r[..i.name.len()].copy_from_slice(i.name.as_bytes());
            r[16..18].copy_from_slice(&(AF_INET as u16).to_ne_bytes());
            r[20..24].copy_from_slice(&v4.octets());
            entries.push(r);
        }
    }
    let len = if buf == 0 {
        entries.len() * IFREQ_LEN
    } else {
        let fit = (room / IFREQ_LEN).min(entries.len());
        t.mm().copy_out(buf, &entries[..fit].concat())?;
        fit * IFREQ_LEN
    };
    t.mm().copy_out(arg, &(len as i32).to_ne_bytes())?;
    Ok(0)
}
