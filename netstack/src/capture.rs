//! Taking the network namespace's interface for the sandbox: run by the
//! runtime, in that namespace, before the Sentry confines itself (the
//! Sentry's filter makes no socket).
//!
//! As gVisor's runsc does, the interface's addresses are copied, then
//! removed from the host side (routes are read first: removing an
//! address removes the routes through it). The host kernel then drops
//! what arrives for those addresses instead of answering it, and the
//! sandbox's stack answers alone. [`Captured::restore`] gives them back.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::OwnedFd;

use crate::sys;

use crate::stack::Config;

/// Why the interface could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// A host call failed.
    #[error("network sandbox: {0}: {1}")]
    Host(&'static str, std::io::Error),
    /// This process is in the host's own network namespace (init's): its
    /// interfaces are the machine's, and are never taken.
    #[error(
        "network sandbox: this is the host's own network namespace; its interfaces are never taken \
         (run in a network namespace of the sandbox's, as CNI or `ip netns exec` gives one)"
    )]
    HostNamespace,
}

/// The interface, taken: its packet socket and what the stack needs.
pub struct Captured {
    /// An `AF_PACKET` socket bound to the interface, non-blocking.
    pub fd: OwnedFd,
    /// The interface as it was.
    pub config: Config,
    index: u32,
}

/// One interface as getifaddrs lists it.
#[derive(Default)]
struct Found {
    index: u32,
    mac: [u8; 6],
    up: bool,
    loopback: bool,
    addrs: Vec<(IpAddr, u8)>,
}

/// Takes the namespace's first interface (other than the loopback) that is
/// up and has an address; None if there is none (the sandbox then has its
/// loopback only).
pub fn capture() -> Result<Option<Captured>, CaptureError> {
    if in_host_namespace() {
        return Err(CaptureError::HostNamespace);
    }
    let Some((config, index)) = first_interface()? else { return Ok(None) };
    let fd = packet_socket(index)?;
    for (addr, prefix) in &config.addrs {
        rtnl_addr(libc::RTM_DELADDR, 0, index, *addr, *prefix)
            .map_err(|e| CaptureError::Host("removing the interface's address", e))?;
    }
    Ok(Some(Captured { fd, config, index }))
}

/// The namespace's first interface (other than the loopback) that is up
/// and has an address, as [`capture`] would take it, but only looked at:
/// `--network host` shows it to the sandbox as it is.
pub fn look() -> Result<Option<Config>, CaptureError> {
    Ok(first_interface()?.map(|(config, _)| config))
}

/// The first interface other than the loopback that is up and has an
/// address, and its index.
fn first_interface() -> Result<Option<(Config, u32)>, CaptureError> {
    let found = interfaces()?;
    let Some((name, iface)) = found.into_iter().find(|(_, f)| f.up && !f.loopback && !f.addrs.is_empty()) else {
        return Ok(None);
    };
    let mtu = mtu_of(&name)?;
    let (gateway4, gateway6) = gateways(&name);
    Ok(Some((Config { name, mac: iface.mac, mtu, addrs: iface.addrs, gateway4, gateway6 }, iface.index)))
}

impl Captured {
    /// Gives the interface its addresses and default routes back (when the
    /// sandbox is over); failures are logged.
    pub fn restore(&self) {
        for (addr, prefix) in &self.config.addrs {
            let flags = (libc::NLM_F_CREATE | libc::NLM_F_EXCL) as u16;
            if let Err(e) = rtnl_addr(libc::RTM_NEWADDR, flags, self.index, *addr, *prefix) {
                log::warn!("network sandbox: giving {addr} back to {}: {e}", self.config.name);
            }
        }
        let gateways = [self.config.gateway4.map(IpAddr::V4), self.config.gateway6.map(IpAddr::V6)];
        for gw in gateways.into_iter().flatten() {
            if let Err(e) = rtnl_default_route(self.index, gw) {
                log::warn!("network sandbox: giving the route via {gw} back: {e}");
            }
        }
    }
}

/// The inode number of the kernel's first network namespace (Linux's
/// `PROC_NET_INIT_INO`, fixed since 3.8).
const INIT_NET_INO: u64 = 0xEFFF_FFF9;

/// Whether this process's network namespace is the machine's own: the
/// kernel's first, or the one its init (pid 1 as this process sees it,
/// when it may look) is in. When that cannot be told, it is taken to be.
pub fn in_host_namespace() -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(me) = std::fs::metadata("/proc/self/ns/net") else { return true };
    if me.ino() == INIT_NET_INO {
        return true;
    }
    std::fs::metadata("/proc/1/ns/net").is_ok_and(|init| init.ino() == me.ino() && init.dev() == me.dev())
}

fn is_link_local(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
    }
}

/// The namespace's interfaces by name, as getifaddrs lists them (link-local
/// addresses left out: the host keeps those).
fn interfaces() -> Result<BTreeMap<String, Found>, CaptureError> {
    let entries = sys::getifaddrs().map_err(|e| CaptureError::Host("getifaddrs", e))?;
    let mut out: BTreeMap<String, Found> = BTreeMap::new();
    for e in entries {
        let f = out.entry(e.name).or_default();
        f.up = e.flags & libc::IFF_UP as u32 != 0;
        f.loopback = e.flags & libc::IFF_LOOPBACK as u32 != 0;
        match e.addr {
            sys::IfAddr::Link { index, mac } => {
                f.index = index;
                if let Some(mac) = mac {
                    f.mac = mac;
                }
            }
            sys::IfAddr::Ip(addr, prefix) if !is_link_local(&addr) && f.addrs.len() < 4 => {
                f.addrs.push((addr, prefix));
            }
            _ => {}
        }
    }
    Ok(out)
}

fn mtu_of(name: &str) -> Result<u32, CaptureError> {
    sys::if_mtu(name).map_err(|e| CaptureError::Host("SIOCGIFMTU", e))
}

/// The default gateways through `name`, from /proc/net (this namespace's).
fn gateways(name: &str) -> (Option<Ipv4Addr>, Option<Ipv6Addr>) {
    let v4 = std::fs::read_to_string("/proc/net/route").ok().and_then(|t| default_gateway4(&t, name));
    let v6 = std::fs::read_to_string("/proc/net/ipv6_route").ok().and_then(|t| default_gateway6(&t, name));
    (v4, v6)
}

fn default_gateway4(table: &str, name: &str) -> Option<Ipv4Addr> {
    table.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() < 8 || f[0] != name || f[1] != "00000000" || f[7] != "00000000" {
            return None;
        }
        let gw = u32::from_str_radix(f[2], 16).ok()?;
        (gw != 0).then(|| Ipv4Addr::from(gw.to_le_bytes()))
    })
}

fn default_gateway6(table: &str, name: &str) -> Option<Ipv6Addr> {
    table.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() < 10 || f[9] != name || f[0] != "0".repeat(32) || f[1] != "00" {
            return None;
        }
        let gw = Ipv6Addr::from(u128::from_str_radix(f[4], 16).ok()?);
        (!gw.is_unspecified()).then_some(gw)
    })
}

const PACKET_IGNORE_OUTGOING: i32 = 23;
const PACKET_VNET_HDR: i32 = 15;

fn packet_socket(index: u32) -> Result<OwnedFd, CaptureError> {
    let proto = (libc::ETH_P_ALL as u16).to_be();
    let fd = sys::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_NONBLOCK, i32::from(proto))
        .map_err(|e| CaptureError::Host("AF_PACKET socket", e))?;
    sys::bind_packet(&fd, index, proto).map_err(|e| CaptureError::Host("binding the packet socket", e))?;
    // Frames come and go after a virtio-net header (for GSO; see the
    // device).
    sys::setsockopt_int(&fd, libc::SOL_PACKET, PACKET_VNET_HDR, 1)
        .map_err(|e| CaptureError::Host("PACKET_VNET_HDR", e))?;
    // Its own frames would come back to it otherwise.
    sys::setsockopt_int(&fd, libc::SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
        .map_err(|e| CaptureError::Host("PACKET_IGNORE_OUTGOING", e))?;
    // Room for bursts while the driver is busy; best effort.
    let _ = sys::setsockopt_int(&fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, 4 << 20);
    let _ = sys::setsockopt_int(&fd, libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, 4 << 20);
    Ok(fd)
}

fn rtattr(out: &mut Vec<u8>, ty: u16, data: &[u8]) {
    out.extend_from_slice(&((4 + data.len()) as u16).to_ne_bytes());
    out.extend_from_slice(&ty.to_ne_bytes());
    out.extend_from_slice(data);
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

fn ip_bytes(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

fn family(ip: IpAddr) -> u8 {
    if ip.is_ipv4() {
        libc::AF_INET as u8
    } else {
        libc::AF_INET6 as u8
    }
}

fn rtnl_addr(ty: u16, flags: u16, index: u32, addr: IpAddr, prefix: u8) -> std::io::Result<()> {
    let mut body = vec![family(addr), prefix, 0, 0];
    body.extend_from_slice(&index.to_ne_bytes());
    rtattr(&mut body, libc::IFA_LOCAL, &ip_bytes(addr));
    rtattr(&mut body, libc::IFA_ADDRESS, &ip_bytes(addr));
    rtnl(ty, flags, &body)
}

fn rtnl_default_route(index: u32, gw: IpAddr) -> std::io::Result<()> {
    // rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type;
    // then flags.
    let mut body =
        vec![family(gw), 0, 0, 0, libc::RT_TABLE_MAIN, libc::RTPROT_BOOT, libc::RT_SCOPE_UNIVERSE, libc::RTN_UNICAST];
    body.extend_from_slice(&0u32.to_ne_bytes());
    rtattr(&mut body, libc::RTA_GATEWAY, &ip_bytes(gw));
    rtattr(&mut body, libc::RTA_OIF, &index.to_ne_bytes());
    rtnl(libc::RTM_NEWROUTE, (libc::NLM_F_CREATE | libc::NLM_F_EXCL) as u16, &body)
}

/// Sends one rtnetlink request and reads its acknowledgement.
fn rtnl(ty: u16, flags: u16, body: &[u8]) -> std::io::Result<()> {
    let s = sys::socket(libc::AF_NETLINK, libc::SOCK_RAW, libc::NETLINK_ROUTE)?;
    let mut msg = Vec::with_capacity(16 + body.len());
    msg.extend_from_slice(&((16 + body.len()) as u32).to_ne_bytes());
    msg.extend_from_slice(&ty.to_ne_bytes());
    msg.extend_from_slice(&((libc::NLM_F_REQUEST | libc::NLM_F_ACK) as u16 | flags).to_ne_bytes());
    msg.extend_from_slice(&1u32.to_ne_bytes());
    msg.extend_from_slice(&0u32.to_ne_bytes());
    msg.extend_from_slice(body);
    sys::send(&s, &msg)?;
    let mut reply = [0u8; 1024];
    if sys::recv(&s, &mut reply)? < 20 {
        return Err(std::io::Error::from_raw_os_error(libc::EPROTO));
    }
    // An NLMSG_ERROR message; its error field is 0 for an acknowledgement.
    let err = i32::from_ne_bytes([reply[16], reply[17], reply[18], reply[19]]);
    if err != 0 {
        return Err(std::io::Error::from_raw_os_error(-err));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_namespace_is_never_taken() {
        // The tests run in the machine's own namespace (or one where init
        // is): capture refuses before it looks at an interface.
        if in_host_namespace() {
            assert!(matches!(capture(), Err(CaptureError::HostNamespace)));
        }
    }

    #[test]
    fn default_gateways_are_read_from_proc_net() {
        let v4 = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                  eth0\t00000000\t0100000A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
                  eth0\t0000000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";
        assert_eq!(default_gateway4(v4, "eth0"), Some(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(default_gateway4(v4, "eth1"), None);
        let v6 = "00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000001 00000000 00000003 eth0\n";
        assert_eq!(default_gateway6(v6, "eth0"), Some("fe80::1".parse().unwrap()));
        assert_eq!(default_gateway6("garbage\n", "eth0"), None);
    }
}
