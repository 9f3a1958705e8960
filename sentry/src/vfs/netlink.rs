//! NETLINK_ROUTE, read-only: what `getifaddrs`, `ip addr`, `ip link` and
//! `ip route` ask for the sandbox's interfaces, addresses and routes. The
//! sandbox's network cannot be changed from inside (requests to do so get
//! EPERM, as in a container without CAP_NET_ADMIN).
//!
//! A netlink socket is an [`Endpoint`](super::unix::Endpoint) of family
//! AF_NETLINK: a request sent to it is answered here, at once, with
//! datagrams queued on the same socket from the kernel (port id 0).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// `AF_NETLINK`.
pub const AF_NETLINK: u32 = 16;
/// `NETLINK_ROUTE`, the one netlink protocol served.
pub const NETLINK_ROUTE: u32 = 0;
/// `sizeof(struct sockaddr_nl)`.
pub const SOCKADDR_NL_LEN: usize = 12;

const NLMSG_HDRLEN: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const RTM_NEWADDR: u16 = 20;
const RTM_GETADDR: u16 = 22;
const RTM_NEWROUTE: u16 = 24;
const RTM_GETROUTE: u16 = 26;
const NLM_F_MULTI: u16 = 2;
const NLM_F_ACK: u16 = 4;
const NLM_F_DUMP: u16 = 0x300;

const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;

const IFLA_ADDRESS: u16 = 1;
const IFLA_BROADCAST: u16 = 2;
const IFLA_IFNAME: u16 = 3;
const IFLA_MTU: u16 = 4;
const IFLA_QDISC: u16 = 6;
const IFLA_TXQLEN: u16 = 13;
const IFLA_OPERSTATE: u16 = 16;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_LABEL: u16 = 3;
const IFA_BROADCAST: u16 = 4;
const IFA_FLAGS: u16 = 8;
const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RTA_PREFSRC: u16 = 7;
const RTA_TABLE: u16 = 15;

const IFF_UP: u32 = 0x1;
const IFF_BROADCAST: u32 = 0x2;
const IFF_LOOPBACK: u32 = 0x8;
const IFF_RUNNING: u32 = 0x40;
const IFF_MULTICAST: u32 = 0x1000;
const IFF_LOWER_UP: u32 = 0x1_0000;
const ARPHRD_ETHER: u16 = 1;
const ARPHRD_LOOPBACK: u16 = 772;
const IFA_F_PERMANENT: u8 = 0x80;
const RT_SCOPE_UNIVERSE: u8 = 0;
const RT_SCOPE_LINK: u8 = 253;
const RT_SCOPE_HOST: u8 = 254;
const RT_TABLE_MAIN: u8 = 254;
const RTPROT_KERNEL: u8 = 2;
const RTPROT_STATIC: u8 = 4;
const RTN_UNICAST: u8 = 1;

/// One interface of the sandbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    /// Its index (1 for the loopback).
    pub index: u32,
    /// `lo`, `eth0`.
    pub name: String,
    /// Whether it is the loopback.
    pub loopback: bool,
    /// Its hardware address.
    pub mac: [u8; 6],
    /// Its MTU.
    pub mtu: u32,
    /// Its addresses with their prefix lengths.
    pub addrs: Vec<(IpAddr, u8)>,
}

/// The sandbox's network as netlink, /proc/net and /sys/class/net show
/// it: the loopback, and under NAT `eth0` with a default route through
/// the gateway.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetView {
    /// The interfaces, by index.
    pub interfaces: Vec<Interface>,
    /// The default gateway (and the interface index it is reached on).
    pub gateway: Option<(Ipv4Addr, u32)>,
}

impl NetView {
    /// The view of a sandbox with (`nat`) or without a way out.
    pub fn new(nat: bool) -> NetView {
        let mut interfaces = vec![Interface {
            index: 1,
            name: "lo".into(),
            loopback: true,
            mac: [0; 6],
            mtu: 65536,
            addrs: vec![(IpAddr::V4(Ipv4Addr::LOCALHOST), 8), (IpAddr::V6(Ipv6Addr::LOCALHOST), 128)],
        }];
        let mut gateway = None;
        if nat {
            interfaces.push(Interface {
                index: 2,
                name: "eth0".into(),
                loopback: false,
                // A locally administered address, as slirp's guests have.
                mac: [0x52, 0x54, 0x00, 0x12, 0x34, 0x56],
                mtu: 1500,
                addrs: vec![(IpAddr::V4(netrelay::SANDBOX_ADDR), netrelay::PREFIX_LEN)],
            });
            gateway = Some((netrelay::GATEWAY_ADDR, 2));
        }
        NetView { interfaces, gateway }
    }

    /// The view of a sandbox on the namespace's interface `cfg`
    /// (`--network sandbox`): the loopback, and that interface as it was.
    pub fn of_interface(cfg: &netstack::Config) -> NetView {
        let mut view = NetView::new(false);
        view.interfaces.push(Interface {
            index: 2,
            name: cfg.name.clone(),
            loopback: false,
            mac: cfg.mac,
            mtu: cfg.mtu,
            addrs: cfg.addrs.clone(),
        });
        view.gateway = cfg.gateway4.map(|g| (g, 2));
        view
    }
}

/// Appends one attribute (type, payload), padded to 4 bytes.
fn attr(out: &mut Vec<u8>, ty: u16, data: &[u8]) {
    out.extend_from_slice(&((4 + data.len()) as u16).to_ne_bytes());
    out.extend_from_slice(&ty.to_ne_bytes());
    out.extend_from_slice(data);
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

/// One netlink message: header then `body`.
fn message(ty: u16, flags: u16, seq: u32, pid: u32, body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(NLMSG_HDRLEN + body.len());
    m.extend_from_slice(&((NLMSG_HDRLEN + body.len()) as u32).to_ne_bytes());
    m.extend_from_slice(&ty.to_ne_bytes());
    m.extend_from_slice(&flags.to_ne_bytes());
    m.extend_from_slice(&seq.to_ne_bytes());
    m.extend_from_slice(&pid.to_ne_bytes());
    m.extend_from_slice(body);
    m
}

fn ip_bytes(ip: &IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    }
}

fn family_of(ip: &IpAddr) -> u8 {
    if ip.is_ipv4() {
        AF_INET
    } else {
        AF_INET6
    }
}

fn link_body(i: &Interface) -> Vec<u8> {
    let mut b = Vec::new();
    b.push(0); // ifi_family: AF_UNSPEC
    b.push(0);
    b.extend_from_slice(&(if i.loopback { ARPHRD_LOOPBACK } else { ARPHRD_ETHER }).to_ne_bytes());
    b.extend_from_slice(&(i.index as i32).to_ne_bytes());
    let flags = if i.loopback {
        IFF_UP | IFF_LOOPBACK | IFF_RUNNING | IFF_LOWER_UP
    } else {
        IFF_UP | IFF_BROADCAST | IFF_RUNNING | IFF_MULTICAST | IFF_LOWER_UP
    };
    b.extend_from_slice(&flags.to_ne_bytes());
    b.extend_from_slice(&0u32.to_ne_bytes());
    let mut name = i.name.as_bytes().to_vec();
    name.push(0);
    attr(&mut b, IFLA_IFNAME, &name);
    attr(&mut b, IFLA_MTU, &i.mtu.to_ne_bytes());
    attr(&mut b, IFLA_TXQLEN, &1000u32.to_ne_bytes());
    // IF_OPER_UNKNOWN for the loopback, IF_OPER_UP otherwise, as Linux.
    attr(&mut b, IFLA_OPERSTATE, &[if i.loopback { 0 } else { 6 }]);
    attr(&mut b, IFLA_QDISC, b"noqueue\0");
    attr(&mut b, IFLA_ADDRESS, &i.mac);
    attr(&mut b, IFLA_BROADCAST, &(if i.loopback { [0; 6] } else { [0xff; 6] }));
    b
}

fn addr_body(i: &Interface, ip: &IpAddr, prefix: u8) -> Vec<u8> {
    let mut b =
        vec![family_of(ip), prefix, IFA_F_PERMANENT, if i.loopback { RT_SCOPE_HOST } else { RT_SCOPE_UNIVERSE }];
    b.extend_from_slice(&i.index.to_ne_bytes());
    let bytes = ip_bytes(ip);
    attr(&mut b, IFA_ADDRESS, &bytes);
    if let IpAddr::V4(v4) = ip {
        attr(&mut b, IFA_LOCAL, &bytes);
        if !i.loopback {
            let host_bits = 32 - u32::from(prefix);
            let bcast = u32::from(*v4) | ((1u64 << host_bits) - 1) as u32;
            attr(&mut b, IFA_BROADCAST, &bcast.to_be_bytes());
        }
        let mut label = i.name.as_bytes().to_vec();
        label.push(0);
        attr(&mut b, IFA_LABEL, &label);
    }
    attr(&mut b, IFA_FLAGS, &u32::from(IFA_F_PERMANENT).to_ne_bytes());
    b
}

/// A route: (family, destination and prefix, gateway, interface, scope,
/// protocol, preferred source).
type Route = (u8, Option<(IpAddr, u8)>, Option<IpAddr>, u32, u8, u8, Option<IpAddr>);

fn routes(view: &NetView) -> Vec<Route> {
    let mut out = Vec::new();
    if let Some((gw, oif)) = view.gateway {
        out.push((AF_INET, None, Some(IpAddr::V4(gw)), oif, RT_SCOPE_UNIVERSE, RTPROT_STATIC, None));
    }
    for i in view.interfaces.iter().filter(|i| !i.loopback) {
        for &(ip, prefix) in i.addrs.iter().filter(|(ip, _)| ip.is_ipv4()) {
            let IpAddr::V4(v4) = ip else { continue };
            let net = u32::from(v4) & (u32::MAX << (32 - u32::from(prefix)));
            let dst = Some((IpAddr::V4(Ipv4Addr::from(net)), prefix));
            out.push((AF_INET, dst, None, i.index, RT_SCOPE_LINK, RTPROT_KERNEL, Some(ip)));
        }
    }
    // (The loopback's own routes are in the local table, as Linux keeps
    // them, which is not dumped here.)
    out
}

fn route_body(r: &Route) -> Vec<u8> {
    let (family, dst, gw, oif, scope, proto, src) = r;
    let dst_len = dst.map_or(0, |d| d.1);
    let mut b = vec![*family, dst_len, 0, 0, RT_TABLE_MAIN, *proto, *scope, RTN_UNICAST];
    b.extend_from_slice(&0u32.to_ne_bytes());
    attr(&mut b, RTA_TABLE, &u32::from(RT_TABLE_MAIN).to_ne_bytes());
    if let Some((d, _)) = dst {
        attr(&mut b, RTA_DST, &ip_bytes(d));
    }
    if let Some(s) = src {
        attr(&mut b, RTA_PREFSRC, &ip_bytes(s));
    }
    if let Some(g) = gw {
        attr(&mut b, RTA_GATEWAY, &ip_bytes(g));
    }
    attr(&mut b, RTA_OIF, &oif.to_ne_bytes());
    b
}

/// An NLMSG_ERROR message answering `request` (its header echoed) with
/// `errno` (0: an acknowledgement).
fn error(request: &[u8], errno: i32, seq: u32, pid: u32) -> Vec<u8> {
    let mut body = (-errno).to_ne_bytes().to_vec();
    body.extend_from_slice(&request[..NLMSG_HDRLEN]);
    message(NLMSG_ERROR, 0, seq, pid, &body)
}

/// The value of attribute `want` among the attributes in `attrs`.
fn find_attr(mut attrs: &[u8], want: u16) -> Option<&[u8]> {
    while attrs.len() >= 4 {
        let len = usize::from(u16::from_ne_bytes([attrs[0], attrs[1]]));
        let ty = u16::from_ne_bytes([attrs[2], attrs[3]]);
        if len < 4 || len > attrs.len() {
            return None;
        }
        if ty & 0x3fff == want {
            return Some(&attrs[4..len]);
        }
        attrs = attrs.get(len.div_ceil(4) * 4..).unwrap_or(&[]);
    }
    None
}

/// Most bytes of requests one send takes.
pub const MAX_REQUEST: usize = 64 * 1024;

/// A netlink socket's name: as bound, or, not bound, the port id Linux
/// gives it at its first use (its creator's pid).
pub fn name_of(ep: &super::unix::Endpoint) -> super::unix::SockName {
    ep.name().unwrap_or(super::unix::SockName::Netlink { pid: ep.creds_of_creator().pid as u32, groups: 0 })
}

/// Serves one send of `req` on the netlink socket `ep` (of a sandbox whose
/// network is `view`): the answers are queued on it, from the kernel.
pub fn respond(ep: &super::unix::Endpoint, req: &[u8], view: &NetView) {
    use super::unix::SockName;
    let SockName::Netlink { pid, .. } = name_of(ep) else { return };
    for a in answer(req, view, pid) {
        ep.deliver_from_kernel(a, SockName::Netlink { pid: 0, groups: 0 });
    }
}

/// Answers the messages in one datagram `req` sent by port `pid`:
/// returns the datagrams to queue back (one per request, a dump's
/// messages and its NLMSG_DONE together).
pub fn answer(req: &[u8], view: &NetView, pid: u32) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = req;
    while rest.len() >= NLMSG_HDRLEN {
        let len = u32::from_ne_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        if len < NLMSG_HDRLEN || len > rest.len() {
            break;
        }
        let msg = &rest[..len];
        let ty = u16::from_ne_bytes([msg[4], msg[5]]);
        let flags = u16::from_ne_bytes([msg[6], msg[7]]);
        let seq = u32::from_ne_bytes([msg[8], msg[9], msg[10], msg[11]]);
        out.push(answer_one(msg, ty, flags, seq, view, pid));
        rest = rest.get(len.div_ceil(4) * 4..).unwrap_or(&[]);
    }
    out
}

fn answer_one(msg: &[u8], ty: u16, flags: u16, seq: u32, view: &NetView, pid: u32) -> Vec<u8> {
    let body = &msg[NLMSG_HDRLEN..];
    let dump = flags & NLM_F_DUMP == NLM_F_DUMP;
    // The family a request asks for (its first byte), AF_UNSPEC for all.
    let family = body.first().copied().unwrap_or(0);
    let wants = |f: u8| family == 0 || family == f;
    let mut parts: Vec<Vec<u8>> = Vec::new();
    match ty {
        RTM_GETLINK if dump => {
            for i in &view.interfaces {
                parts.push(message(RTM_NEWLINK, NLM_F_MULTI, seq, pid, &link_body(i)));
            }
        }
        RTM_GETLINK => {
            let index = body.get(4..8).map_or(0, |b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
            let name = body.get(16..).and_then(|a| find_attr(a, IFLA_IFNAME));
            let name = name.map(|n| n.split(|&c| c == 0).next().unwrap_or(&[]));
            let found = view
                .interfaces
                .iter()
                .find(|i| (index > 0 && i.index as i32 == index) || (index <= 0 && name == Some(i.name.as_bytes())));
            let Some(i) = found else { return error(msg, libc::ENODEV, seq, pid) };
            let mut reply = message(RTM_NEWLINK, 0, seq, pid, &link_body(i));
            if flags & NLM_F_ACK != 0 {
                reply.extend(error(msg, 0, seq, pid));
            }
            return reply;
        }
        RTM_GETADDR if dump => {
            for i in &view.interfaces {
                for (ip, prefix) in i.addrs.iter().filter(|(ip, _)| wants(family_of(ip))) {
                    parts.push(message(RTM_NEWADDR, NLM_F_MULTI, seq, pid, &addr_body(i, ip, *prefix)));
                }
            }
        }
        RTM_GETROUTE if dump => {
            for r in routes(view).iter().filter(|r| wants(r.0)) {
                parts.push(message(RTM_NEWROUTE, NLM_F_MULTI, seq, pid, &route_body(r)));
            }
        }
        // A single address or route: what `ip route get` asks; not served.
        RTM_GETADDR | RTM_GETROUTE => return error(msg, libc::EOPNOTSUPP, seq, pid),
        // Every change (new, delete, set): the sandbox's network is fixed.
        t if (RTM_NEWLINK..=0x7f).contains(&t) => return error(msg, libc::EPERM, seq, pid),
        _ => return error(msg, libc::EOPNOTSUPP, seq, pid),
    }
    let mut reply: Vec<u8> = parts.concat();
    reply.extend(message(NLMSG_DONE, NLM_F_MULTI, seq, pid, &0i32.to_ne_bytes()));
    reply
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(ty: u16, flags: u16, family: u8) -> Vec<u8> {
        message(ty, 1 | flags, 7, 0, &[family, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    }

    /// (type, flags) of each message in a datagram.
    fn types(d: &[u8]) -> Vec<(u16, u16)> {
        let mut out = Vec::new();
        let mut rest = d;
        while rest.len() >= NLMSG_HDRLEN {
            let len = u32::from_ne_bytes(rest[..4].try_into().unwrap()) as usize;
            assert!(len >= NLMSG_HDRLEN && len <= rest.len() && len.is_multiple_of(4), "a well-formed message");
            out.push((u16::from_ne_bytes([rest[4], rest[5]]), u16::from_ne_bytes([rest[6], rest[7]])));
            rest = &rest[len..];
        }
        assert!(rest.is_empty());
        out
    }

    #[test]
    fn dumps_list_the_interfaces_addresses_and_routes() {
        let nat = NetView::new(true);
        let links = answer(&request(RTM_GETLINK, NLM_F_DUMP, 0), &nat, 42);
        assert_eq!(links.len(), 1);
        assert_eq!(types(&links[0]), [(RTM_NEWLINK, 2), (RTM_NEWLINK, 2), (NLMSG_DONE, 2)]);
        let addrs = answer(&request(RTM_GETADDR, NLM_F_DUMP, AF_INET), &nat, 42);
        assert_eq!(types(&addrs[0]).len(), 3, "127.0.0.1 and 10.0.2.15, then done");
        let all = answer(&request(RTM_GETADDR, NLM_F_DUMP, 0), &nat, 42);
        assert_eq!(types(&all[0]).len(), 4, "and ::1");
        let routes = answer(&request(RTM_GETROUTE, NLM_F_DUMP, AF_INET), &nat, 42);
        assert_eq!(types(&routes[0]).len(), 3, "the default route, the subnet's, done");
        let none = NetView::new(false);
        assert_eq!(types(&answer(&request(RTM_GETLINK, NLM_F_DUMP, 0), &none, 1)[0]).len(), 2);
        assert_eq!(types(&answer(&request(RTM_GETROUTE, NLM_F_DUMP, AF_INET), &none, 1)[0]).len(), 1);
    }

    #[test]
    fn changes_are_refused_and_junk_is_harmless() {
        let view = NetView::new(true);
        let r = answer(&request(RTM_NEWADDR, NLM_F_ACK, AF_INET), &view, 9);
        assert_eq!(types(&r[0]), [(NLMSG_ERROR, 0)]);
        assert_eq!(i32::from_ne_bytes(r[0][16..20].try_into().unwrap()), -libc::EPERM);
        // A link asked for by index.
        let mut one = request(RTM_GETLINK, NLM_F_ACK, 0);
        one[20..24].copy_from_slice(&2i32.to_ne_bytes());
        assert_eq!(types(&answer(&one, &view, 9)[0]), [(RTM_NEWLINK, 0), (NLMSG_ERROR, 0)]);
        one[20..24].copy_from_slice(&9i32.to_ne_bytes());
        assert_eq!(types(&answer(&one, &view, 9)[0]), [(NLMSG_ERROR, 0)]);
        for junk in [&[][..], &[1, 2, 3], &[255; 40], &[16, 0, 0, 0, 18, 0, 1, 3, 0, 0, 0, 0, 0, 0, 0, 0]] {
            let _ = answer(junk, &view, 1);
        }
        assert!(find_attr(&[200, 0, 3, 0, 1], IFLA_IFNAME).is_none());
    }
}
