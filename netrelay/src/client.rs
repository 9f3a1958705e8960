//! The Sentry's end of the relay connection.

use std::net::SocketAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Mutex;

use gofer::fdpass;

use crate::protocol::{decode_reply, Incoming, Request, INCOMING_LEN, REPLY_LEN};

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

/// Takes one connection to a published port off the relay's second
/// socket `ingress` (call when it is readable): `Ok(None)` for a message
/// that is not one (its fds are closed), `Err` when the relay is gone.
pub fn receive_incoming(ingress: &OwnedFd) -> std::io::Result<Option<(Incoming, OwnedFd)>> {
    let mut buf = [0u8; INCOMING_LEN + 1];
    let got = fdpass::recv(ingress.as_fd(), &mut buf, true)?;
    if got.len == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    let inc = Incoming::decode(&buf[..got.len]).filter(|_| !got.truncated);
    let mut fds = got.fds.into_iter();
    Ok(match (inc, fds.next(), fds.next()) {
        (Some(inc), Some(fd), None) => Some((inc, fd)),
        _ => None,
    })
}
