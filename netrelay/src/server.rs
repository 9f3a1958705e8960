//! The relay process's loop: one request in, one reply out, until the
//! Sentry's end closes.

use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use gofer::fdpass;
use socket2::{Domain, Protocol, Socket, Type};

use crate::protocol::{
    encode_reply, Datagram, Incoming, Request, DATAGRAM_HEADER_LEN, ICMP, ICMPV6, MAX_DATAGRAM, REQUEST_LEN, TCP, UDP,
};
use crate::{in_sandbox_subnet, send_datagram, Policy, DNS_ADDR};

/// What the relay serves.
pub struct ServeConfig {
    /// The egress policy.
    pub policy: Policy,
    /// Where the DNS forwarder sends the sandbox's queries (the host's
    /// nameservers); empty: DNS is refused too.
    pub dns: Vec<SocketAddr>,
    /// Published ports (`-p`): host listeners, each with the sandbox port
    /// its connections go to.
    pub published: Vec<Published>,
}

/// A host port published into the sandbox.
pub struct Published {
    socket: PublishedSocket,
    /// The sandbox's port.
    pub port: u16,
}

/// A published port's host socket (non-blocking).
enum PublishedSocket {
    /// A listener.
    Tcp(Socket),
    /// A bound UDP socket, and the clients heard from, newest last: the
    /// sandbox may answer these only.
    Udp(std::net::UdpSocket, std::collections::VecDeque<SocketAddr>),
}

/// Most clients of one published UDP port that the sandbox may answer
/// (the oldest are forgotten beyond).
const MAX_UDP_CLIENTS: usize = 1024;

impl Published {
    /// A TCP port: `listener`'s connections go to the sandbox's `port`.
    pub fn tcp(listener: Socket, port: u16) -> Published {
        Published { socket: PublishedSocket::Tcp(listener), port }
    }

    /// A UDP port: datagrams to `socket` go to the sandbox's `port`, and
    /// the sandbox's answers to their senders leave by it.
    pub fn udp(socket: Socket, port: u16) -> Published {
        Published { socket: PublishedSocket::Udp(socket.into(), std::collections::VecDeque::new()), port }
    }

    /// Remembers `client` as one the sandbox may answer.
    fn heard_from(clients: &mut std::collections::VecDeque<SocketAddr>, client: SocketAddr) {
        if let Some(i) = clients.iter().position(|&c| c == client) {
            clients.remove(i);
        } else if clients.len() >= MAX_UDP_CLIENTS {
            clients.pop_front();
        }
        clients.push_back(client);
    }
}

/// A non-blocking TCP listener on `addr`, for a published port (made
/// before the relay's filter, which has no bind or listen).
pub fn listen_on(addr: SocketAddr) -> std::io::Result<Socket> {
    let s = Socket::new(Domain::for_address(addr), Type::STREAM.nonblocking().cloexec(), Some(Protocol::TCP))?;
    s.set_reuse_address(true)?;
    s.bind(&addr.into())?;
    s.listen(128)?;
    Ok(s)
}

/// A non-blocking UDP socket bound to `addr`, for a published UDP port.
pub fn bind_udp(addr: SocketAddr) -> std::io::Result<Socket> {
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM.nonblocking().cloexec(), Some(Protocol::UDP))?;
    s.bind(&addr.into())?;
    Ok(s)
}

/// poll(2), retried on EINTR.
#[allow(unsafe_code)]
fn poll_all(fds: &mut [libc::pollfd]) -> std::io::Result<()> {
    loop {
        // SAFETY: `fds` is a valid array of pollfds for the call.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
        if r >= 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// One decision, for the audit log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Audit {
    /// `tcp`, `udp` or `icmp`.
    pub proto: &'static str,
    /// Where the app asked to go.
    pub dst: SocketAddr,
    /// Whether it may.
    pub allowed: bool,
}

/// Why a destination is refused before the policy is asked: never a
/// destination the host would route back into itself or nowhere (nor
/// port 0, but for an echo, which has no port).
fn never_relayed(proto: u8, dst: SocketAddr) -> bool {
    let ip = crate::policy::canonical(dst.ip());
    (dst.port() == 0 && is_tcp_or_udp(proto))
        || ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || in_sandbox_subnet(ip)
        || matches!(ip, IpAddr::V4(v4) if v4.is_broadcast())
}

/// Serves requests on `sock` until the Sentry's end closes; `audit` hears
/// of every decision the policy made.
///
/// Connections to published ports go to the Sentry on `ingress`, each as
/// an [`Incoming`] with its socket attached.
pub fn serve(
    sock: OwnedFd,
    ingress: Option<OwnedFd>,
    mut cfg: ServeConfig,
    mut audit: impl FnMut(Audit),
) -> std::io::Result<()> {
    let mut buf = [0u8; REQUEST_LEN + 1];
    let mut datagram = vec![0u8; DATAGRAM_HEADER_LEN + MAX_DATAGRAM];
    // The Sentry's replies to published UDP ports come back on `ingress`.
    let any_udp = cfg.published.iter().any(|p| matches!(p.socket, PublishedSocket::Udp(..)));
    let mut replies = ingress.as_ref().map(|fd| fd.as_raw_fd()).filter(|_| any_udp);
    loop {
        let mut fds = vec![
            libc::pollfd { fd: sock.as_raw_fd(), events: libc::POLLIN, revents: 0 },
            libc::pollfd { fd: replies.unwrap_or(-1), events: libc::POLLIN, revents: 0 },
        ];
        fds.extend(cfg.published.iter().map(|p| libc::pollfd {
            fd: match &p.socket {
                PublishedSocket::Tcp(s) => s.as_raw_fd(),
                PublishedSocket::Udp(s, _) => s.as_raw_fd(),
            },
            events: libc::POLLIN,
            revents: 0,
        }));
        poll_all(&mut fds)?;
        for (p, fd) in cfg.published.iter_mut().zip(&fds[2..]) {
            if fd.revents == 0 {
                continue;
            }
            match &mut p.socket {
                PublishedSocket::Tcp(listener) => {
                    while let Ok((conn, from)) = listener.accept() {
                        let (Some(to), Some(from)) = (ingress.as_ref(), from.as_socket()) else { continue };
                        let msg = Incoming { port: p.port, from }.encode();
                        fdpass::send(to.as_fd(), &msg, Some(conn.as_fd()))?;
                    }
                }
                PublishedSocket::Udp(socket, clients) => {
                    let room = &mut datagram[DATAGRAM_HEADER_LEN..];
                    while let Ok((n, from)) = socket.recv_from(room) {
                        let Some(to) = ingress.as_ref() else { continue };
                        Published::heard_from(clients, from);
                        send_datagram(to, Datagram { port: p.port, peer: from }, &room[..n])?;
                    }
                }
            }
        }
        if fds[1].revents != 0 {
            match ingress.as_ref().map(|fd| fdpass::recv(fd.as_fd(), &mut datagram, false)) {
                Some(Ok(got)) if got.len > 0 && !got.truncated => send_reply(&cfg, &datagram[..got.len]),
                Some(Ok(got)) if got.len > 0 => log::warn!("relay: an oversized datagram from the Sentry"),
                _ => replies = None,
            }
        }
        if fds[0].revents == 0 {
            continue;
        }
        let got = fdpass::recv(sock.as_fd(), &mut buf, false)?;
        if got.len == 0 {
            return Ok(());
        }
        let Some(req) = Request::decode(&buf[..got.len]).filter(|_| !got.truncated) else {
            log::error!("relay: malformed request; closing the connection");
            return Ok(());
        };
        cfg.policy.refresh_with(&cfg.dns);
        let reply = decide(&req, &cfg, &mut audit).and_then(|to| open(req.proto, to));
        match reply {
            Ok(fd) => fdpass::send(sock.as_fd(), &encode_reply(0), Some(fd.as_fd()))?,
            Err(e) => fdpass::send(sock.as_fd(), &encode_reply(e), None)?,
        }
    }
}

/// Sends the sandbox's reply to a published UDP port's client, if the
/// message names a client that port has heard from (a compromised
/// Sentry reaches nobody else this way); otherwise it is dropped.
fn send_reply(cfg: &ServeConfig, msg: &[u8]) {
    let Some((d, payload)) = Datagram::decode(msg) else {
        log::warn!("relay: a malformed datagram from the Sentry");
        return;
    };
    let socket = cfg.published.iter().find_map(|p| match &p.socket {
        PublishedSocket::Udp(s, clients) if p.port == d.port && clients.contains(&d.peer) => Some(s),
        _ => None,
    });
    match socket {
        Some(s) => {
            let _ = s.send_to(payload, d.peer);
        }
        None => log::info!("relay: a datagram to {} that port {} never heard from; dropped", d.peer, d.port),
    }
}

/// Where the request may go (the DNS forwarder's address becomes the
/// host's nameserver), or the errno it gets.
///
/// A denied echo is EHOSTUNREACH (as a firewall's ICMP "administratively
/// prohibited" makes it on Linux); a denied connection ECONNREFUSED. An
/// echo is allowed by the rules that name no port.
fn decide(req: &Request, cfg: &ServeConfig, audit: &mut impl FnMut(Audit)) -> Result<SocketAddr, i32> {
    let (proto, denied) = match req.proto {
        TCP => ("tcp", libc::ECONNREFUSED),
        UDP => ("udp", libc::ECONNREFUSED),
        _ => ("icmp", libc::EHOSTUNREACH),
    };
    if req.dst == SocketAddr::new(DNS_ADDR.into(), 53) && is_tcp_or_udp(req.proto) {
        return cfg.dns.first().copied().ok_or(libc::ECONNREFUSED);
    }
    if never_relayed(req.proto, req.dst) {
        return Err(libc::ENETUNREACH);
    }
    let dst = if is_tcp_or_udp(req.proto) { req.dst } else { SocketAddr::new(req.dst.ip(), 0) };
    let allowed = cfg.policy.allows(dst);
    audit(Audit { proto, dst, allowed });
    if allowed {
        Ok(dst)
    } else {
        Err(denied)
    }
}

fn is_tcp_or_udp(proto: u8) -> bool {
    proto == TCP || proto == UDP
}

/// A host socket connected (or, for TCP, connecting) to `dst`. An echo
/// socket is the host's unprivileged ping socket: the host's
/// `net.ipv4.ping_group_range` must name the relay's group (EACCES if
/// not).
fn open(proto: u8, dst: SocketAddr) -> Result<OwnedFd, i32> {
    let errno = |e: std::io::Error| e.raw_os_error().unwrap_or(libc::EIO);
    let (ty, p) = match proto {
        TCP => (Type::STREAM, Protocol::TCP),
        UDP => (Type::DGRAM, Protocol::UDP),
        ICMP if dst.is_ipv4() => (Type::DGRAM, Protocol::ICMPV4),
        ICMPV6 if dst.is_ipv6() => (Type::DGRAM, Protocol::ICMPV6),
        _ => return Err(libc::EAFNOSUPPORT),
    };
    let s = Socket::new(Domain::for_address(dst), ty.nonblocking().cloexec(), Some(p)).map_err(errno)?;
    match s.connect(&dst.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(errno(e)),
    }
    Ok(s.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decide_one(dst: &str, policy: Policy) -> (Result<SocketAddr, i32>, Vec<Audit>) {
        let cfg = ServeConfig { policy, dns: vec!["192.0.2.53:53".parse().unwrap()], published: Vec::new() };
        let mut seen = Vec::new();
        let r = decide(&Request { proto: TCP, dst: dst.parse().unwrap() }, &cfg, &mut |a| seen.push(a));
        (r, seen)
    }

    #[test]
    fn denied_destinations_are_refused_and_audited() {
        let (r, seen) = decide_one("203.0.113.9:80", Policy::deny_all());
        assert_eq!(r, Err(libc::ECONNREFUSED));
        assert_eq!(seen, vec![Audit { proto: "tcp", dst: "203.0.113.9:80".parse().unwrap(), allowed: false }]);
        let allow = Policy::parse(&["203.0.113.0/24".into()], &[]).unwrap();
        let (r, seen) = decide_one("203.0.113.9:80", allow);
        assert_eq!(r, Ok("203.0.113.9:80".parse().unwrap()));
        assert!(seen[0].allowed);
    }

    #[test]
    fn echoes_need_a_rule_without_a_port_and_are_unreachable_when_denied() {
        let ask = |dst: &str, rules: &[&str]| {
            let rules: Vec<String> = rules.iter().map(|r| r.to_string()).collect();
            let cfg =
                ServeConfig { policy: Policy::parse(&rules, &[]).unwrap(), dns: Vec::new(), published: Vec::new() };
            let mut seen = Vec::new();
            let r = decide(&Request { proto: ICMP, dst: dst.parse().unwrap() }, &cfg, &mut |a| seen.push(a));
            (r, seen)
        };
        let (r, seen) = ask("203.0.113.9:0", &[]);
        assert_eq!(r, Err(libc::EHOSTUNREACH));
        assert_eq!(seen, vec![Audit { proto: "icmp", dst: "203.0.113.9:0".parse().unwrap(), allowed: false }]);
        assert_eq!(ask("203.0.113.9:0", &["203.0.113.9:443"]).0, Err(libc::EHOSTUNREACH));
        assert_eq!(ask("203.0.113.9:0", &["203.0.113.0/24"]).0, Ok("203.0.113.9:0".parse().unwrap()));
        assert_eq!(ask("203.0.113.9:0", &["all"]).0, Ok("203.0.113.9:0".parse().unwrap()));
        // Never the host, even for an echo, nor the DNS forwarder's host.
        assert_eq!(ask("127.0.0.1:0", &["all"]).0, Err(libc::ENETUNREACH));
        assert_eq!(ask("10.0.2.3:0", &["all"]).0, Err(libc::ENETUNREACH));
    }

    #[test]
    fn udp_replies_reach_only_clients_the_port_heard_from() {
        let port = bind_udp("127.0.0.1:0".parse().unwrap()).unwrap();
        let mut cfg =
            ServeConfig { policy: Policy::deny_all(), dns: Vec::new(), published: vec![Published::udp(port, 53)] };
        let client = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        client.set_read_timeout(Some(std::time::Duration::from_millis(300))).unwrap();
        let peer = client.local_addr().unwrap();
        let mut buf = [0u8; 16];
        // Never heard from: the Sentry's datagram goes nowhere.
        send_reply(&cfg, &Datagram { port: 53, peer }.encode(b"no"));
        assert!(client.recv_from(&mut buf).is_err());
        let PublishedSocket::Udp(_, clients) = &mut cfg.published[0].socket else { unreachable!() };
        Published::heard_from(clients, peer);
        // Not by another published port's number, either.
        send_reply(&cfg, &Datagram { port: 54, peer }.encode(b"no"));
        send_reply(&cfg, &Datagram { port: 53, peer }.encode(b"yes"));
        let (n, _) = client.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"yes");
    }

    #[test]
    fn the_host_and_the_sandbox_subnet_are_never_reached_even_with_all() {
        let all = || Policy::parse(&["all".into()], &[]).unwrap();
        for dst in ["127.0.0.1:22", "[::1]:22", "10.0.2.2:22", "10.0.2.15:80", "0.0.0.0:80", "224.0.0.1:5", "1.2.3.4:0"]
        {
            assert_eq!(decide_one(dst, all()).0, Err(libc::ENETUNREACH), "{dst}");
        }
        // The DNS forwarder goes to the host's nameserver, policy or not.
        let dns = Request { proto: UDP, dst: "10.0.2.3:53".parse().unwrap() };
        let cfg = ServeConfig {
            policy: Policy::deny_all(),
            dns: vec!["192.0.2.53:53".parse().unwrap()],
            published: Vec::new(),
        };
        assert_eq!(decide(&dns, &cfg, &mut |_| {}), Ok("192.0.2.53:53".parse().unwrap()));
    }
}
