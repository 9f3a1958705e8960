//! The Sentry's end of the relay connection.

use std::net::SocketAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Mutex;

use gofer::fdpass;

use crate::protocol::{decode_reply, Datagram, Incoming, Request, DATAGRAM_HEADER_LEN, MAX_DATAGRAM, REPLY_LEN};

/// A connection to the relay. One request is in flight at a time (the
/// relay answers each at once: its connects do not wait).
pub struct Client {
    sock: Mutex<OwnedFd>,
}

/// What the app's connect gets when the relay is gone or misbehaves.
const RELAY_LOST: i32 = libc::ENETUNREACH;

impl Client {
    /// Wraps the Sentry's end of the relay's seqpacket socket.
    pub fn new(sock: OwnedFd) -> Client {
        Client { sock: Mutex::new(sock) }
    }

    /// A host socket of `proto` (TCP: non-blocking, its connect under way
    /// or done; UDP: connected) to `dst`, or the errno the app's connect
    /// gets (ECONNREFUSED when the policy denies it).
    pub fn connect(&self, proto: u8, dst: SocketAddr) -> Result<OwnedFd, i32> {
        let sock = self.sock.lock().unwrap_or_else(|e| e.into_inner());
        fdpass::send(sock.as_fd(), &Request { proto, dst }.encode(), None).map_err(|_| RELAY_LOST)?;
        let mut buf = [0u8; REPLY_LEN + 1];
        let got = fdpass::recv(sock.as_fd(), &mut buf, true).map_err(|_| RELAY_LOST)?;
        let errno = decode_reply(&buf[..got.len]).filter(|_| !got.truncated).ok_or(RELAY_LOST)?;
        let mut fds = got.fds.into_iter();
        match (errno, fds.next(), fds.next()) {
            (0, Some(fd), None) => Ok(fd),
            (0, _, _) => Err(RELAY_LOST),
            (e, None, _) => Err(e),
            (_, Some(_), _) => Err(RELAY_LOST),
        }
    }
}

/// What the relay pushes on its second socket.
pub enum Ingress<'a> {
    /// A connection to a published TCP port, with its host socket.
    Connection(Incoming, OwnedFd),
    /// A datagram to a published UDP port, and its payload.
    Datagram(Datagram, &'a [u8]),
}

/// The buffer [`receive_ingress`] needs: a datagram message's largest.
pub const INGRESS_BUF_LEN: usize = DATAGRAM_HEADER_LEN + MAX_DATAGRAM;

/// Takes one message off the relay's second socket `ingress` (call when
/// it is readable) into `buf` ([`INGRESS_BUF_LEN`] bytes): `Ok(None)` for
/// a malformed one (its fds are closed), `Err` when the relay is gone.
pub fn receive_ingress<'a>(ingress: &OwnedFd, buf: &'a mut [u8]) -> std::io::Result<Option<Ingress<'a>>> {
    let got = fdpass::recv(ingress.as_fd(), buf, true)?;
    if got.len == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    if got.truncated {
        return Ok(None);
    }
    let msg = &buf[..got.len];
    let mut fds = got.fds.into_iter();
    Ok(match (Incoming::decode(msg), fds.next(), fds.next()) {
        (Some(inc), Some(fd), None) => Some(Ingress::Connection(inc, fd)),
        (None, None, _) => Datagram::decode(msg).map(|(d, payload)| Ingress::Datagram(d, payload)),
        _ => None,
    })
}

/// Sends a datagram message on the relay's second socket (either end):
/// dropped, as UDP may be, when the other end's queue is full.
pub fn send_datagram(ingress: &OwnedFd, d: Datagram, payload: &[u8]) -> std::io::Result<()> {
    let msg = d.encode(payload);
    // (sendmsg: the Sentry's filter has no sendto.)
    let iov = [std::io::IoSlice::new(&msg)];
    match socket2::SockRef::from(ingress).send_vectored_with_flags(&iov, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(()),
        Err(e) => Err(e),
    }
}
