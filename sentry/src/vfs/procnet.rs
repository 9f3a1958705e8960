//! /proc/net: the sandbox's own network, as Linux's net/ipv4/route.c,
//! net/core/net-procfs.c, net/ipv4/tcp_ipv4.c and net/unix/af_unix.c
//! print it. Interfaces and routes come from the sandbox's
//! [`NetView`](super::netlink::NetView); sockets from its port table.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

use super::netlink::NetView;
use super::unix::{Endpoint, SockName, AF_UNIX, SOCK_DGRAM, SOCK_STREAM};
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

/// Most sockets /proc/net/unix lists: one open of it never builds more
/// than a few megabytes, whatever the app made.
const MAX_UNIX_LINES: usize = 65536;

/// /proc/net/unix: the sandbox's Unix sockets, as Linux's `unix_seq_show`
/// prints them. Those open in some process's fd table, those bound to a
/// name (even if their only fd is in flight), and the connections waiting
/// on a listener; a socket whose only fd rides in an SCM_RIGHTS message,
/// unnamed, is not listed (nothing else holds it).
pub fn unix(k: &Kernel) -> Vec<u8> {
    let handles: Vec<_> = k.procs().procs.values().flat_map(|p| p.threads.iter().cloned()).collect();
    let mut tables: Vec<_> = handles.iter().filter_map(|h| h.view()).map(|v| v.fds).collect();
    tables.sort_by_key(|t| std::sync::Arc::as_ptr(t) as usize);
    tables.dedup_by_key(|t| std::sync::Arc::as_ptr(t) as usize);
    let mut eps = k.unix_names.named();
    for t in &tables {
        let fds = t.lock().unwrap_or_else(|e| e.into_inner());
        for fd in fds.fds() {
            if eps.len() >= MAX_UNIX_LINES {
                break;
            }
            if let Some(u) = fds.get(fd).ok().and_then(|f| f.ops.unix_socket()) {
                eps.push(u.endpoint().clone());
            }
        }
    }
    unix_table(eps)
}

/// The text of /proc/net/unix for `sockets` (in any order, repeats
/// allowed) and the connections waiting on those that listen, ordered by
/// inode. Pointers print as zeros, as with `kptr_restrict`.
fn unix_table(sockets: Vec<std::sync::Arc<Endpoint>>) -> Vec<u8> {
    /// `__SO_ACCEPTCON`: the socket listens.
    const SO_ACCEPTCON: u32 = 1 << 16;
    /// `SS_UNCONNECTED`, `SS_CONNECTING`, `SS_CONNECTED`.
    const SS_UNCONNECTED: u8 = 1;
    const SS_CONNECTING: u8 = 2;
    const SS_CONNECTED: u8 = 3;
    let mut list: Vec<(std::sync::Arc<Endpoint>, bool)> = Vec::new();
    for ep in sockets.into_iter().filter(|e| e.family() == AF_UNIX && !e.is_dead()) {
        if list.len() >= MAX_UNIX_LINES {
            break;
        }
        // Connections not yet accepted have no socket (no inode) yet.
        let waiting = ep.pending();
        list.push((ep, false));
        list.extend(waiting.into_iter().map(|e| (e, true)));
    }
    list.sort_by_key(|(e, _)| e.inode_number());
    list.dedup_by_key(|(e, _)| e.inode_number());
    list.truncate(MAX_UNIX_LINES);
    // Linux's reference counts: the socket's own two, and one for each
    // socket whose peer it is. A datagram socket another connected to is
    // TCP_ESTABLISHED too (`unix_dgram_connect` sets both).
    let mut peered: std::collections::HashMap<u64, (u32, bool)> = std::collections::HashMap::new();
    for (ep, _) in &list {
        if let Some(p) = ep.peer() {
            let e = peered.entry(p.inode_number()).or_default();
            e.0 += 1;
            e.1 |= ep.kind() == SOCK_DGRAM;
        }
    }
    let mut out = b"Num       RefCount Protocol Flags    Type St Inode Path\n".to_vec();
    for (ep, embryo) in list {
        let (peers, dgram_peer) = peered.get(&ep.inode_number()).copied().unwrap_or_default();
        let connected = ep.is_connected() || dgram_peer;
        let (st, ino) = match (embryo, connected) {
            (true, _) => (SS_CONNECTING, 0),
            (false, true) => (SS_CONNECTED, ep.inode_number()),
            (false, false) => (SS_UNCONNECTED, ep.inode_number()),
        };
        let refs = 2 + peers;
        let flags = if ep.is_listening() { SO_ACCEPTCON } else { 0 };
        let line = format!("0000000000000000: {refs:08X} {:08X} {flags:08X} {:04X} {st:02X} {ino:5}", 0, ep.kind());
        out.extend_from_slice(line.as_bytes());
        match ep.name() {
            Some(SockName::Path(p)) => {
                out.push(b' ');
                out.extend_from_slice(&p);
            }
            // Abstract names start with '@', and show their NULs as '@'.
            Some(SockName::Abstract(n)) => {
                out.extend_from_slice(b" @");
                out.extend(n.iter().map(|&b| if b == 0 { b'@' } else { b }));
            }
            _ => {}
        }
        out.push(b'\n');
    }
    out
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

    #[test]
    fn unix_sockets_print_as_linux_does() {
        use super::super::unix::{Namespace, Ucred, SOCK_SEQPACKET};
        let names = Namespace::default();
        let creds = Ucred::default();
        let listener = Endpoint::new(SOCK_STREAM, creds);
        listener.set_name(SockName::Path(b"/tmp/x.sock".to_vec())).unwrap();
        names.bind_path((1, 2), &listener).unwrap();
        listener.listen(5).unwrap();
        let client = Endpoint::new(SOCK_STREAM, creds);
        client.connect_to(&listener, None).unwrap();
        let dgram = Endpoint::new(SOCK_DGRAM, creds);
        dgram.set_name(SockName::Abstract(b"a\0b".to_vec())).unwrap();
        names.bind_abstract(b"a\0b", &dgram).unwrap();
        let seq = Endpoint::new(SOCK_SEQPACKET, creds);
        seq.set_name(SockName::Abstract(b"seq".to_vec())).unwrap();
        names.bind_abstract(b"seq", &seq).unwrap();
        seq.listen(1).unwrap();
        let tcp = Endpoint::new_in(super::super::inet::AF_INET, SOCK_STREAM, creds);
        // Repeats (a socket both named and open) are listed once.
        let mut all = names.named();
        all.extend([client.clone(), listener.clone(), tcp]);
        let text = String::from_utf8(unix_table(all)).unwrap();
        let embryo = listener.pending().pop().unwrap();
        let ino = |e: &Endpoint| e.inode_number();
        let want = [
            "Num       RefCount Protocol Flags    Type St Inode Path".to_string(),
            format!("0000000000000000: 00000002 00000000 00010000 0001 01 {:5} /tmp/x.sock", ino(&listener)),
            format!("0000000000000000: 00000003 00000000 00000000 0001 03 {:5}", ino(&client)),
            "0000000000000000: 00000003 00000000 00000000 0001 02     0 /tmp/x.sock".to_string(),
            format!("0000000000000000: 00000002 00000000 00000000 0002 01 {:5} @a@b", ino(&dgram)),
            format!("0000000000000000: 00000002 00000000 00010000 0005 01 {:5} @seq", ino(&seq)),
        ];
        let mut order: Vec<(u64, &String)> =
            [0, ino(&listener), ino(&client), ino(&embryo), ino(&dgram), ino(&seq)].into_iter().zip(&want).collect();
        order.sort();
        let want: Vec<&str> = order.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(text.lines().collect::<Vec<_>>(), want);
    }
}
