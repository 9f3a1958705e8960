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
use std::os::fd::{FromRawFd, OwnedFd};

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

fn last(what: &'static str) -> CaptureError {
    CaptureError::Host(what, std::io::Error::last_os_error())
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
    let found = interfaces()?;
    let Some((name, iface)) = found.into_iter().find(|(_, f)| f.up && !f.loopback && !f.addrs.is_empty()) else {
        return Ok(None);
    };
    let mtu = mtu_of(&name)?;
    let (gateway4, gateway6) = gateways(&name);
    let fd = packet_socket(iface.index)?;
    let config = Config { name, mac: iface.mac, mtu, addrs: iface.addrs, gateway4, gateway6 };
    for (addr, prefix) in &config.addrs {
        rtnl_addr(libc::RTM_DELADDR, 0, iface.index, *addr, *prefix)
            .map_err(|e| CaptureError::Host("removing the interface's address", e))?;
    }
    Ok(Some(Captured { fd, config, index: iface.index }))
}

impl Captured {
    /// Another handle on the same interface (the packet socket
    /// duplicated).
    pub fn try_clone(&self) -> std::io::Result<Captured> {
        Ok(Captured { fd: self.fd.try_clone()?, config: self.config.clone(), index: self.index })
    }

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

fn prefix_of(mask: *const libc::sockaddr) -> u8 {
    if mask.is_null() {
        return 0;
    }
    // SAFETY: getifaddrs gives netmasks as sockaddrs of the entry's family,
    // which is checked before reading the longer IPv6 form.
    unsafe {
        match i32::from((*mask).sa_family) {
            libc::AF_INET => u32::from_be((*mask.cast::<libc::sockaddr_in>()).sin_addr.s_addr).count_ones() as u8,
            libc::AF_INET6 => {
                (*mask.cast::<libc::sockaddr_in6>()).sin6_addr.s6_addr.iter().map(|b| b.count_ones() as u8).sum()
            }
            _ => 0,
        }
    }
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
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `list`, freed below.
    if unsafe { libc::getifaddrs(&mut list) } != 0 {
        return Err(last("getifaddrs"));
    }
    let mut out: BTreeMap<String, Found> = BTreeMap::new();
    let mut cur = list;
    while !cur.is_null() {
        // SAFETY: `cur` is a live entry of the list getifaddrs made; its
        // name is a C string and its address (if any) a sockaddr of the
        // family it names.
        unsafe {
            let e = &*cur;
            cur = e.ifa_next;
            let name = std::ffi::CStr::from_ptr(e.ifa_name).to_string_lossy().into_owned();
            let f = out.entry(name).or_default();
            f.up = e.ifa_flags & libc::IFF_UP as u32 != 0;
            f.loopback = e.ifa_flags & libc::IFF_LOOPBACK as u32 != 0;
            if e.ifa_addr.is_null() {
                continue;
            }
            let addr = match i32::from((*e.ifa_addr).sa_family) {
                libc::AF_PACKET => {
                    let ll = &*e.ifa_addr.cast::<libc::sockaddr_ll>();
                    f.index = ll.sll_ifindex as u32;
                    if ll.sll_halen == 6 {
                        f.mac.copy_from_slice(&ll.sll_addr[..6]);
                    }
                    continue;
                }
                libc::AF_INET => {
                    IpAddr::V4(Ipv4Addr::from(u32::from_be((*e.ifa_addr.cast::<libc::sockaddr_in>()).sin_addr.s_addr)))
                }
                libc::AF_INET6 => {
                    IpAddr::V6(Ipv6Addr::from((*e.ifa_addr.cast::<libc::sockaddr_in6>()).sin6_addr.s6_addr))
                }
                _ => continue,
            };
            if !is_link_local(&addr) && f.addrs.len() < 4 {
                f.addrs.push((addr, prefix_of(e.ifa_netmask)));
            }
        }
    }
    // SAFETY: `list` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(list) };
    Ok(out)
}

fn socket(domain: i32, ty: i32, proto: i32) -> std::io::Result<OwnedFd> {
    // SAFETY: plain socket(2); the fd is owned at once.
    let fd = unsafe { libc::socket(domain, ty | libc::SOCK_CLOEXEC, proto) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a new fd nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn mtu_of(name: &str) -> Result<u32, CaptureError> {
    use std::os::fd::AsRawFd;
    let s = socket(libc::AF_INET, libc::SOCK_DGRAM, 0).map_err(|e| CaptureError::Host("socket", e))?;
    // SAFETY: an all-zero ifreq is valid.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, b) in req.ifr_name.iter_mut().zip(name.bytes().take(libc::IFNAMSIZ - 1)) {
        *d = b as libc::c_char;
    }
    // SAFETY: SIOCGIFMTU reads the name and writes the MTU into `req`.
    if unsafe { libc::ioctl(s.as_raw_fd(), libc::SIOCGIFMTU, &mut req) } != 0 {
        return Err(last("SIOCGIFMTU"));
    }
    // SAFETY: SIOCGIFMTU filled the union's MTU member.
    Ok(unsafe { req.ifr_ifru.ifru_mtu } as u32)
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

fn setsockopt_int(fd: &OwnedFd, level: i32, opt: i32, value: i32) -> i32 {
    use std::os::fd::AsRawFd;
    // SAFETY: the option value is an int that lives across the call.
    unsafe {
        libc::setsockopt(fd.as_raw_fd(), level, opt, (&value as *const i32).cast(), std::mem::size_of::<i32>() as u32)
    }
}

fn packet_socket(index: u32) -> Result<OwnedFd, CaptureError> {
    use std::os::fd::AsRawFd;
    let proto = (libc::ETH_P_ALL as u16).to_be();
    let fd = socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_NONBLOCK, i32::from(proto))
        .map_err(|e| CaptureError::Host("AF_PACKET socket", e))?;
    // SAFETY: an all-zero sockaddr_ll is valid; the fields are set below.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = proto;
    sll.sll_ifindex = index as i32;
    // SAFETY: `sll` is a sockaddr_ll of the size given.
    let r = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&sll as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as u32,
        )
    };
    if r != 0 {
        return Err(last("binding the packet socket"));
    }
    // Frames come and go after a virtio-net header (for GSO; see the
    // device).
    if setsockopt_int(&fd, libc::SOL_PACKET, PACKET_VNET_HDR, 1) != 0 {
        return Err(last("PACKET_VNET_HDR"));
    }
    // Its own frames would come back to it otherwise.
    if setsockopt_int(&fd, libc::SOL_PACKET, PACKET_IGNORE_OUTGOING, 1) != 0 {
        return Err(last("PACKET_IGNORE_OUTGOING"));
    }
    // Room for bursts while the driver is busy; best effort.
    setsockopt_int(&fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, 4 << 20);
    setsockopt_int(&fd, libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, 4 << 20);
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
    use std::os::fd::AsRawFd;
    let s = socket(libc::AF_NETLINK, libc::SOCK_RAW, libc::NETLINK_ROUTE)?;
    let mut msg = Vec::with_capacity(16 + body.len());
    msg.extend_from_slice(&((16 + body.len()) as u32).to_ne_bytes());
    msg.extend_from_slice(&ty.to_ne_bytes());
    msg.extend_from_slice(&((libc::NLM_F_REQUEST | libc::NLM_F_ACK) as u16 | flags).to_ne_bytes());
    msg.extend_from_slice(&1u32.to_ne_bytes());
    msg.extend_from_slice(&0u32.to_ne_bytes());
    msg.extend_from_slice(body);
    // SAFETY: `msg` is readable for its length.
    if unsafe { libc::send(s.as_raw_fd(), msg.as_ptr().cast(), msg.len(), 0) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut reply = [0u8; 1024];
    // SAFETY: `reply` is writable for its length.
    let n = unsafe { libc::recv(s.as_raw_fd(), reply.as_mut_ptr().cast(), reply.len(), 0) };
    if n < 20 {
        return Err(std::io::Error::last_os_error());
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
