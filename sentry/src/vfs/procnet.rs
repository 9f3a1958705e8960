//! /proc/net: the sandbox's own network, as Linux's net/ipv4/route.c,
//! net/core/net-procfs.c, net/ipv4/tcp_ipv4.c and net/unix/af_unix.c
//! print it. Interfaces and routes come from the sandbox's
//! [`NetView`](super::netlink::NetView); sockets from its port table.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

use super::netlink::NetView;
use super::unix::{Endpoint, SockName, SOCK_DGRAM, SOCK_STREAM};
use crate::kernel::Kernel;

/// The sandbox's view of its network.
pub fn view(k: &Kernel) -> NetView {
    k.nat.get().map_or_else(|| NetView::new(false), |n| n.view())
}

/// /proc/net/dev: every interface, with no traffic counted.
pub fn dev(view: &NetView) -> String {
    let mut s = String::from(
        "Inter-|   Receive                                                |  Transmit\n \
         face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n",
    );
    for i in &view.interfaces {
        let _ = writeln!(
            s,
            "{:>6}: {:>7} {:>7} {:>4} {:>4} {:>4} {:>5} {:>10} {:>9} {:>8} {:>7} {:>4} {:>4} {:>4} {:>5} {:>7} {:>10}",
            i.name, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
        );
    }
    s
}

/// /proc/net/route: the IPv4 main table, addresses in hex as the host
/// stores them (little-endian here).
pub fn route(view: &NetView) -> String {
    let mut s = String::from(
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT                                                       \n",
    );
    let hex = |ip: std::net::Ipv4Addr| format!("{:08X}", u32::from_le_bytes(ip.octets()));
    let line = |s: &mut String, name: &str, dst: std::net::Ipv4Addr, gw: std::net::Ipv4Addr, flags: u32, mask| {
        let _ = writeln!(
            s,
            "{name}\t{}\t{}\t{flags:04X}\t0\t0\t0\t{}\t0\t0\t0                                                                            ",
            hex(dst),
            hex(gw),
            hex(mask)
        );
    };
    const RTF_UP: u32 = 1;
    const RTF_GATEWAY: u32 = 2;
    let any = std::net::Ipv4Addr::UNSPECIFIED;
    if let Some((gw, oif)) = view.gateway {
        let name = view.interfaces.iter().find(|i| i.index == oif).map_or("?", |i| i.name.as_str());
        line(&mut s, name, any, gw, RTF_UP | RTF_GATEWAY, any);
    }
    for i in view.interfaces.iter().filter(|i| !i.loopback) {
        for &(ip, prefix) in &i.addrs {
            let IpAddr::V4(v4) = ip else { continue };
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            line(&mut s, &i.name, (u32::from(v4) & mask).into(), any, RTF_UP, mask.into());
        }
    }
    s
}

/// /proc/net/if_inet6: the IPv6 addresses.
pub fn if_inet6(view: &NetView) -> String {
    let mut s = String::new();
    for i in &view.interfaces {
        for (ip, prefix) in &i.addrs {
            let IpAddr::V6(v6) = ip else { continue };
            let hex: String = v6.octets().iter().map(|b| format!("{b:02x}")).collect();
            let scope = if v6.is_loopback() { 0x10 } else { 0 };
            let _ = writeln!(s, "{hex} {:02x} {prefix:02x} {scope:02x} 80 {:>8}", i.index, i.name);
        }
    }
    s
}

/// Linux's TCP states, as /proc/net/tcp numbers them.
const TCP_ESTABLISHED: u8 = 1;
const TCP_CLOSE: u8 = 7;
const TCP_LISTEN: u8 = 10;

fn hex_addr(a: &SocketAddr, v6: bool) -> String {
    match (a.ip(), v6) {
        (IpAddr::V4(ip), false) => format!("{:08X}:{:04X}", u32::from_le_bytes(ip.octets()), a.port()),
        (ip, _) => {
            let o = match ip {
                IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
                IpAddr::V6(v6) => v6.octets(),
            };
            let words: String =
                o.chunks(4).map(|c| format!("{:08X}", u32::from_le_bytes([c[0], c[1], c[2], c[3]]))).collect();
            format!("{words}:{:04X}", a.port())
        }
    }
}

/// /proc/net/tcp, tcp6, udp and udp6: the sandbox's bound Internet
/// sockets of `kind` and family (`v6`), with their state, peer and inode.
pub fn sockets(k: &Kernel, kind: u32, v6: bool) -> String {
    let family = if v6 { super::inet::AF_INET6 } else { super::inet::AF_INET };
    let mut s = String::from(if v6 {
        "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    } else {
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode                                                     \n"
    });
    let list: Vec<std::sync::Arc<Endpoint>> = k.unix_names.inet.lock().unwrap_or_else(|e| e.into_inner()).sockets(kind);
    let unspecified = super::inet::unbound(family);
    for (n, ep) in list.iter().filter(|e| e.family() == family).enumerate() {
        let local = match (ep.flow(), ep.name()) {
            (Some(f), _) => f.local,
            (None, Some(SockName::Inet(a))) => a,
            _ => unspecified,
        };
        let peer = match ep.peer_name() {
            Ok(Some(SockName::Inet(a))) => a,
            _ => unspecified,
        };
        let st = if ep.is_listening() {
            TCP_LISTEN
        } else if kind == SOCK_STREAM && ep.peer_name().is_ok() {
            TCP_ESTABLISHED
        } else {
            TCP_CLOSE
        };
        let queued = ep.pending_bytes();
        let _ = writeln!(
            s,
            "{n:>4}: {} {} {st:02X} {:08X}:{queued:08X} 00:00000000 00000000 {:>5} {:>8} {} 1 0000000000000000 100 0 0 10 0",
            hex_addr(&local, v6),
            hex_addr(&peer, v6),
            0,
            ep.creator_uid(),
            0,
            ep.inode_number()
        );
    }
    s
}

/// The kinds /proc/net lists.
pub const KINDS: [(&str, u32, bool); 4] =
    [("tcp", SOCK_STREAM, false), ("tcp6", SOCK_STREAM, true), ("udp", SOCK_DGRAM, false), ("udp6", SOCK_DGRAM, true)];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_and_devices_print_as_linux_does() {
        let nat = NetView::new(true);
        let r = route(&nat);
        let lines: Vec<&str> = r.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[1].starts_with("eth0\t00000000\t0202000A\t0003\t"), "{}", lines[1]);
        assert!(lines[2].starts_with("eth0\t0002000A\t00000000\t0001\t0\t0\t0\t00FFFFFF"), "{}", lines[2]);
        assert_eq!(route(&NetView::new(false)).lines().count(), 1);
        let d = dev(&nat);
        assert!(d.lines().nth(2).unwrap().trim_start().starts_with("lo:"));
        assert!(d.lines().nth(3).unwrap().trim_start().starts_with("eth0:"));
        assert_eq!(if_inet6(&nat), "00000000000000000000000000000001 01 80 10 80       lo\n");
        assert_eq!(hex_addr(&"127.0.0.1:8080".parse().unwrap(), false), "0100007F:1F90");
    }
}
