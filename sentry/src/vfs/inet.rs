//! Internet sockets (AF_INET, AF_INET6) on the sandbox's loopback
//! interface: TCP as connected streams and UDP as datagrams between the
//! sandbox's own sockets.
//!
//! The sandbox's only interface is its loopback (127.0.0.0/8 and ::1);
//! nothing leaves it, which is the default-deny egress the design asks for
//! (a connect elsewhere is ENETUNREACH). On the loopback there is no wire
//! to model, so a TCP connection is a pair of [`Endpoint`]s, as a Unix
//! stream is: bytes in order, no loss, the same readiness, shutdown and
//! reset rules. What is TCP's own is here: addresses and ports, the
//! bind rules (EADDRINUSE, SO_REUSEADDR, SO_REUSEPORT, wildcard and IPv6
//! dual-stack overlaps), ephemeral ports from Linux's range, and the
//! `sockaddr_in` and `sockaddr_in6` formats.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::sync::{Arc, Weak};

use abi::Errno;

use super::unix::{Endpoint, SockName, SOCK_STREAM};
use crate::mm::SysResult;

/// `AF_INET`.
pub const AF_INET: u32 = 2;
/// `AF_INET6`.
pub const AF_INET6: u32 = 10;
/// `IPPROTO_TCP` (also the `SOL_TCP` option level).
pub const IPPROTO_TCP: u32 = 6;
/// `IPPROTO_UDP`.
pub const IPPROTO_UDP: u32 = 17;
/// `sizeof(struct sockaddr_in)`.
const SOCKADDR_IN_LEN: usize = 16;
/// `sizeof(struct sockaddr_in6)`, and the oldest (RFC 2133) size Linux
/// still takes.
const SOCKADDR_IN6_LEN: usize = 28;
const SOCKADDR_IN6_MIN: usize = 24;
/// Linux's default `ip_local_port_range`.
const EPHEMERAL_FIRST: u16 = 32768;
const EPHEMERAL_LAST: u16 = 60999;
/// Ports below this need root (CAP_NET_BIND_SERVICE).
const PRIVILEGED_PORTS: u16 = 1024;
/// `SO_REUSEADDR` and `SO_REUSEPORT`, as kept on the endpoint.
const SO_REUSEADDR: i32 = 2;
const SO_REUSEPORT: i32 = 15;
/// The key an endpoint keeps IPV6_V6ONLY under (level 41, option 26).
pub const V6ONLY_KEY: i32 = option_key(SOL_IPV6, 26);
/// The IP and IPv6 option levels.
pub const SOL_IP: i32 = 0;
pub const SOL_IPV6: i32 = 41;
/// `IP_TOS` and `IP_TTL`: options, and the control messages that carry
/// a datagram's TOS and TTL.
pub const IP_TOS: i32 = 1;
pub const IP_TTL: i32 = 2;
/// `IPV6_UNICAST_HOPS` and `IPV6_TCLASS`.
pub const IPV6_UNICAST_HOPS: i32 = 16;
pub const IPV6_TCLASS: i32 = 67;
/// The TTL and hop limit of a socket that sets none (Linux's
/// `ip_default_ttl` and the loopback's `hop_limit`).
pub const DEFAULT_HOP_LIMIT: u8 = 64;
/// The loopback's interface index, which every datagram on the sandbox's
/// own addresses arrives on (as on Linux, where they go through `lo`).
pub const LOOPBACK_INDEX: i32 = 1;

/// Where an endpoint keeps the IP, IPv6 or TCP option `name` of `level`.
pub const fn option_key(level: i32, name: i32) -> i32 {
    (level << 16) | name
}

/// What an Internet datagram's IP header says that its receiver may ask
/// for in control messages (IP_RECVTTL, IPV6_RECVHOPLIMIT and the like).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpHeader {
    /// Sent as IPv4: by an AF_INET socket, or to a v4-mapped address.
    pub v4: bool,
    /// The TTL or hop limit.
    pub hop_limit: u8,
    /// The TOS or traffic class.
    pub tclass: u8,
    /// The destination address (as IPv4 when `v4`).
    pub dst: IpAddr,
}

/// A sendmsg's own TTL or hop limit and TOS or traffic class, from its
/// control messages; `None` takes the socket's.
#[derive(Clone, Copy, Debug, Default)]
pub struct Given {
    pub hop_limit: Option<u8>,
    pub tclass: Option<u8>,
}

/// The header of a datagram `ep` sends to `dst`: IPv4 from an AF_INET
/// socket or to a v4-mapped address, else IPv6, with what `given` says or
/// else the socket's options (IP_TTL and IP_TOS for IPv4,
/// IPV6_UNICAST_HOPS and IPV6_TCLASS for IPv6), as Linux's udp_sendmsg
/// and udpv6_sendmsg choose them.
pub fn header(ep: &Endpoint, dst: IpAddr, given: Given) -> IpHeader {
    let dst = canonical(dst);
    let v4 = ep.family() == AF_INET || dst.is_ipv4();
    let (level, hops, class) = if v4 { (SOL_IP, IP_TTL, IP_TOS) } else { (SOL_IPV6, IPV6_UNICAST_HOPS, IPV6_TCLASS) };
    let kept = |name| ep.kept_option(option_key(level, name)).map(|v| v as u8);
    IpHeader {
        v4,
        hop_limit: given.hop_limit.or_else(|| kept(hops)).unwrap_or(DEFAULT_HOP_LIMIT),
        tclass: given.tclass.or_else(|| kept(class)).unwrap_or(0),
        // The any address is this host: the loopback.
        dst: if dst.is_unspecified() { canonical(loopback_for(ep.family(), dst)) } else { dst },
    }
}

/// An address as the app gave it, for a socket of `family`: EINVAL for a
/// short one, EAFNOSUPPORT for another family (AF_UNSPEC with the any
/// address is taken for AF_INET, as Linux's `inet_bind` does).
pub fn parse_sockaddr(family: u32, raw: &[u8]) -> SysResult<SocketAddr> {
    let sa_family =
        u32::from(u16::from_ne_bytes([raw.first().copied().unwrap_or(0), raw.get(1).copied().unwrap_or(0)]));
    let port = |r: &[u8]| u16::from_be_bytes([r[2], r[3]]);
    match family {
        AF_INET => {
            if raw.len() < SOCKADDR_IN_LEN {
                return Err(Errno::EINVAL);
            }
            let ip = Ipv4Addr::new(raw[4], raw[5], raw[6], raw[7]);
            if sa_family != AF_INET && !(sa_family == 0 && ip.is_unspecified()) {
                return Err(Errno::EAFNOSUPPORT);
            }
            Ok(SocketAddr::new(IpAddr::V4(ip), port(raw)))
        }
        _ => {
            if raw.len() < SOCKADDR_IN6_MIN {
                return Err(Errno::EINVAL);
            }
            if sa_family != AF_INET6 {
                return Err(Errno::EAFNOSUPPORT);
            }
            let mut octets = [0u8; 16];
            octets.copy_from_slice(&raw[8..24]);
            let scope = raw.get(24..28).map_or(0, |s| u32::from_ne_bytes([s[0], s[1], s[2], s[3]]));
            let flow = u32::from_be_bytes([raw[4], raw[5], raw[6], raw[7]]);
            Ok(SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::from(octets), port(raw), flow, scope)))
        }
    }
}

/// `addr` as a `sockaddr_in` (an IPv4 address on an AF_INET socket) or a
/// `sockaddr_in6` (on an AF_INET6 socket, an IPv4 address as v4-mapped).
pub fn to_sockaddr(addr: &SocketAddr, family: u32) -> Vec<u8> {
    match (family, addr) {
        (AF_INET, SocketAddr::V4(a)) => {
            let mut out = vec![0u8; SOCKADDR_IN_LEN];
            out[..2].copy_from_slice(&(AF_INET as u16).to_ne_bytes());
            out[2..4].copy_from_slice(&a.port().to_be_bytes());
            out[4..8].copy_from_slice(&a.ip().octets());
            out
        }
        _ => {
            let (ip, port, flow, scope) = match addr {
                SocketAddr::V4(a) => (a.ip().to_ipv6_mapped(), a.port(), 0, 0),
                SocketAddr::V6(a) => (*a.ip(), a.port(), a.flowinfo(), a.scope_id()),
            };
            let mut out = vec![0u8; SOCKADDR_IN6_LEN];
            out[..2].copy_from_slice(&(AF_INET6 as u16).to_ne_bytes());
            out[2..4].copy_from_slice(&port.to_be_bytes());
            out[4..8].copy_from_slice(&flow.to_be_bytes());
            out[8..24].copy_from_slice(&ip.octets());
            out[24..28].copy_from_slice(&scope.to_ne_bytes());
            out
        }
    }
}

/// What getsockname shows for a socket of `family` bound to nothing.
pub fn unbound(family: u32) -> SocketAddr {
    if family == AF_INET {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0)
    } else {
        SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0)
    }
}

/// An IPv4-mapped IPv6 address as the IPv4 address it stands for; every
/// other address as it is.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Whether `ip` is an address of the sandbox (its loopback), or the any
/// address.
pub fn is_local(ip: IpAddr) -> bool {
    let ip = canonical(ip);
    ip.is_loopback() || ip.is_unspecified()
}

/// The loopback address of a socket of `family` talking to `dst`.
pub fn loopback_for(family: u32, dst: IpAddr) -> IpAddr {
    match (family, canonical(dst)) {
        (AF_INET, _) => IpAddr::V4(Ipv4Addr::LOCALHOST),
        (_, IpAddr::V4(_)) => IpAddr::V6(Ipv4Addr::LOCALHOST.to_ipv6_mapped()),
        _ => IpAddr::V6(Ipv6Addr::LOCALHOST),
    }
}

/// The address a connect to `dst` reaches: the any address means this
/// host, as on Linux.
pub fn reached(family: u32, dst: SocketAddr) -> SocketAddr {
    if canonical(dst.ip()).is_unspecified() {
        SocketAddr::new(loopback_for(family, dst.ip()), dst.port())
    } else {
        dst
    }
}

/// The bound address of an endpoint, if it is an Internet socket's.
fn bound_addr(ep: &Endpoint) -> Option<SocketAddr> {
    match ep.name() {
        Some(SockName::Inet(a)) => Some(a),
        _ => None,
    }
}

/// Whether two bound addresses of one port would take the same packets:
/// the same address, or either the any address (an IPv6 one covers IPv4
/// too unless IPV6_V6ONLY).
fn overlap(a: SocketAddr, a_v6only: bool, b: SocketAddr, b_v6only: bool) -> bool {
    let (x, y) = (canonical(a.ip()), canonical(b.ip()));
    let covers = |wild: IpAddr, wild_v6only: bool, other: IpAddr| match wild {
        IpAddr::V4(w) => w.is_unspecified() && other.is_ipv4(),
        IpAddr::V6(w) => w.is_unspecified() && (other.is_ipv6() || !wild_v6only),
    };
    x == y || covers(x, a_v6only, y) || covers(y, b_v6only, x)
}

/// The ports the sandbox's Internet sockets are bound to.
#[derive(Default)]
pub struct Ports {
    bound: HashMap<(u32, u16), Vec<Weak<Endpoint>>>,
    next_ephemeral: u16,
}

/// Most bindings one port keeps (SO_REUSEPORT groups and the like).
const MAX_PER_PORT: usize = 4096;

impl Ports {
    fn live(&mut self, kind: u32, port: u16) -> Vec<Arc<Endpoint>> {
        let list = self.bound.entry((kind, port)).or_default();
        list.retain(|w| w.upgrade().is_some_and(|e| !e.is_dead()));
        list.iter().filter_map(Weak::upgrade).collect()
    }

    /// Every live socket of `kind` bound to a port, by port.
    pub fn sockets(&mut self, kind: u32) -> Vec<Arc<Endpoint>> {
        let mut ports: Vec<u16> = self.bound.keys().filter(|(k, _)| *k == kind).map(|&(_, p)| p).collect();
        ports.sort_unstable();
        ports.into_iter().flat_map(|p| self.live(kind, p)).collect()
    }

    /// Whether `ep` may bind `addr` beside the sockets already on its port.
    fn may_bind(&mut self, ep: &Endpoint, addr: SocketAddr) -> bool {
        let reuse = |e: &Endpoint, o: i32| e.kept_option(o).unwrap_or(0) != 0;
        let v6only = |e: &Endpoint| e.kept_option(V6ONLY_KEY).unwrap_or(0) != 0;
        self.live(ep.kind(), addr.port()).iter().all(|other| {
            let Some(theirs) = bound_addr(other) else { return true };
            if !overlap(addr, v6only(ep), theirs, v6only(other)) {
                return true;
            }
            let both = |o| reuse(ep, o) && reuse(other, o);
            // SO_REUSEPORT shares a port outright; SO_REUSEADDR lets a
            // socket bind beside one that does not listen.
            both(SO_REUSEPORT) || (both(SO_REUSEADDR) && !other.is_listening())
        })
    }

    /// Binds `ep` to `addr`, or, for port 0, to a free ephemeral port;
    /// returns the address bound. EADDRINUSE where it would take another
    /// socket's packets.
    pub fn bind(&mut self, ep: &Arc<Endpoint>, addr: SocketAddr) -> SysResult<SocketAddr> {
        let addr = if addr.port() != 0 {
            if !self.may_bind(ep, addr) {
                return Err(Errno::EADDRINUSE);
            }
            addr
        } else {
            let span = u32::from(EPHEMERAL_LAST - EPHEMERAL_FIRST) + 1;
            let mut found = None;
            for _ in 0..span {
                let port = EPHEMERAL_FIRST + (self.next_ephemeral % span as u16);
                self.next_ephemeral = self.next_ephemeral.wrapping_add(1) % span as u16;
                let candidate = SocketAddr::new(addr.ip(), port);
                if self.live(ep.kind(), port).is_empty() || self.may_bind(ep, candidate) {
                    found = Some(candidate);
                    break;
                }
            }
            found.ok_or(Errno::EADDRINUSE)?
        };
        let list = self.bound.entry((ep.kind(), addr.port())).or_default();
        if list.len() >= MAX_PER_PORT {
            return Err(Errno::EADDRINUSE);
        }
        list.push(Arc::downgrade(ep));
        Ok(addr)
    }

    /// Whether `ep` holds a port here (it was bound, or bound itself).
    pub fn holds(&mut self, ep: &Arc<Endpoint>) -> bool {
        let Some(SockName::Inet(a)) = ep.name() else { return false };
        self.live(ep.kind(), a.port()).iter().any(|e| Arc::ptr_eq(e, ep))
    }

    /// Gives `ep` its port back, as a checkpoint left it bound (a restore,
    /// which checks nothing the bind checked then). EADDRINUSE past the
    /// bound on one port.
    pub fn restore(&mut self, ep: &Arc<Endpoint>) -> SysResult<()> {
        let Some(SockName::Inet(a)) = ep.name() else { return Err(Errno::EINVAL) };
        let list = self.bound.entry((ep.kind(), a.port())).or_default();
        if list.len() >= MAX_PER_PORT {
            return Err(Errno::EADDRINUSE);
        }
        list.push(Arc::downgrade(ep));
        Ok(())
    }

    /// The socket of type `kind` that takes what is sent to `dst`: one
    /// bound to exactly its address before one bound to the any address;
    /// for a stream, a listening one.
    pub fn find(&mut self, kind: u32, dst: SocketAddr) -> Option<Arc<Endpoint>> {
        let want = canonical(dst.ip());
        let v6only = |e: &Endpoint| e.kept_option(V6ONLY_KEY).unwrap_or(0) != 0;
        let candidates: Vec<Arc<Endpoint>> = self
            .live(kind, dst.port())
            .into_iter()
            .filter(|e| kind != SOCK_STREAM || e.is_listening())
            .filter(|e| bound_addr(e).is_some_and(|a| overlap(a, v6only(e), dst, false)))
            .collect();
        let exact = candidates.iter().find(|e| bound_addr(e).is_some_and(|a| canonical(a.ip()) == want));
        exact.or(candidates.first()).cloned()
    }
}

/// The Internet checksum (RFC 1071) of `data`: the one's complement of
/// the one's-complement sum of its 16-bit big-endian words.
pub fn internet_checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data.chunks(2).map(|w| u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)]))).sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Checks a bind of `addr` by a caller with effective uid `euid`:
/// EADDRNOTAVAIL for an address that is not the sandbox's (`own` says
/// whether it is one of its interface's), EACCES for a privileged port
/// without root.
pub fn check_bind(addr: SocketAddr, euid: u32, own: bool) -> SysResult<()> {
    if !is_local(addr.ip()) && !own {
        return Err(Errno::EADDRNOTAVAIL);
    }
    if addr.port() != 0 && addr.port() < PRIVILEGED_PORTS && euid != 0 {
        return Err(Errno::EACCES);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_are_rfc_1071s() {
        // RFC 1071's example words, and a message that sums to zero.
        assert_eq!(internet_checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]), !0xddf2);
        let mut m = vec![8, 0, 0, 0, 0, 1, 0, 1, b'h'];
        let c = internet_checksum(&m);
        m[2..4].copy_from_slice(&c.to_be_bytes());
        assert_eq!(internet_checksum(&m), 0);
    }

    #[test]
    fn sockaddr_round_trips() {
        let a: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let raw = to_sockaddr(&a, AF_INET);
        assert_eq!(raw.len(), 16);
        assert_eq!(parse_sockaddr(AF_INET, &raw), Ok(a));
        let mapped = to_sockaddr(&a, AF_INET6);
        assert_eq!(mapped.len(), 28);
        let back = parse_sockaddr(AF_INET6, &mapped).unwrap();
        assert_eq!(canonical(back.ip()), a.ip(), "an IPv4 address shows as v4-mapped on an IPv6 socket");
        assert_eq!(parse_sockaddr(AF_INET, &raw[..8]), Err(Errno::EINVAL));
        assert_eq!(parse_sockaddr(AF_INET6, &raw), Err(Errno::EINVAL), "too short for sockaddr_in6");
    }

    #[test]
    fn overlaps() {
        let p = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert!(overlap(p("0.0.0.0:1"), false, p("127.0.0.1:1"), false));
        assert!(!overlap(p("127.0.0.1:1"), false, p("127.0.0.2:1"), false));
        assert!(overlap(p("[::]:1"), false, p("127.0.0.1:1"), false), "dual stack");
        assert!(!overlap(p("[::]:1"), true, p("127.0.0.1:1"), false), "IPV6_V6ONLY");
        assert!(overlap(p("[::ffff:127.0.0.1]:1"), false, p("127.0.0.1:1"), false));
    }

    #[test]
    fn only_loopback_is_local() {
        assert!(is_local("127.0.0.53".parse().unwrap()));
        assert!(is_local("::1".parse().unwrap()));
        assert!(is_local("0.0.0.0".parse().unwrap()));
        assert!(!is_local("10.0.0.1".parse().unwrap()));
        assert_eq!(check_bind("10.0.0.1:80".parse().unwrap(), 0, false), Err(Errno::EADDRNOTAVAIL));
        assert_eq!(check_bind("127.0.0.1:80".parse().unwrap(), 1000, false), Err(Errno::EACCES));
    }
}
