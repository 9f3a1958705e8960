//! The relay process's loop: one request in, one reply out, until the
//! Sentry's end closes.

use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use gofer::fdpass;
use socket2::{Domain, Protocol, Socket, Type};

use crate::protocol::{encode_reply, Incoming, Request, REQUEST_LEN, TCP};
use crate::{in_sandbox_subnet, Policy, DNS_ADDR};

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
    /// The host's listening socket (non-blocking).
    pub listener: Socket,
    /// The sandbox's port.
    pub port: u16,
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
    /// `tcp` or `udp`.
    pub proto: &'static str,
    /// Where the app asked to go.
    pub dst: SocketAddr,
    /// Whether it may.
    pub allowed: bool,
}

/// Why a destination is refused before the policy is asked: never a
/// destination the host would route back into itself or nowhere.
fn never_relayed(dst: SocketAddr) -> bool {
    let ip = crate::policy::canonical(dst.ip());
    dst.port() == 0
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
    loop {
        let mut fds = vec![libc::pollfd { fd: sock.as_raw_fd(), events: libc::POLLIN, revents: 0 }];
        fds.extend(cfg.published.iter().map(|p| libc::pollfd {
            fd: p.listener.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }));
        poll_all(&mut fds)?;
        for (p, fd) in cfg.published.iter().zip(&fds[1..]) {
            if fd.revents == 0 {
                continue;
            }
            while let Ok((conn, from)) = p.listener.accept() {
                let (Some(to), Some(from)) = (ingress.as_ref(), from.as_socket()) else { continue };
                let msg = Incoming { port: p.port, from }.encode();
                fdpass::send(to.as_fd(), &msg, Some(conn.as_fd()))?;
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

/// Where the request may go (the DNS forwarder's address becomes the
/// host's nameserver), or the errno it gets.
fn decide(req: &Request, cfg: &ServeConfig, audit: &mut impl FnMut(Audit)) -> Result<SocketAddr, i32> {
    let proto = if req.proto == TCP { "tcp" } else { "udp" };
    if req.dst == SocketAddr::new(DNS_ADDR.into(), 53) {
        return cfg.dns.first().copied().ok_or(libc::ECONNREFUSED);
    }
    if never_relayed(req.dst) {
        return Err(libc::ENETUNREACH);
    }
    let allowed = cfg.policy.allows(req.dst);
    audit(Audit { proto, dst: req.dst, allowed });
    if allowed {
        Ok(req.dst)
    } else {
        Err(libc::ECONNREFUSED)
    }
}

/// A host socket connected (or, for TCP, connecting) to `dst`.
fn open(proto: u8, dst: SocketAddr) -> Result<OwnedFd, i32> {
    let errno = |e: std::io::Error| e.raw_os_error().unwrap_or(libc::EIO);
    let (ty, p) = if proto == TCP { (Type::STREAM, Protocol::TCP) } else { (Type::DGRAM, Protocol::UDP) };
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
    use crate::protocol::UDP;

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
