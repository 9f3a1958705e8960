//! The control channel between `husk` commands and a container's sandbox
//! process: a SOCK_SEQPACKET unix socket in the container's state
//! directory, one JSON message per packet, with fds (an exec'd process's
//! stdio) passed alongside as SCM_RIGHTS.
//!
//! The socket is reached through `/proc/self/fd/DIRFD/control.sock`, since
//! a state directory's path (containerd's ids are 64 hex digits) can be
//! longer than a socket address allows.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::Path;

use anyhow::{bail, Context};
use nix::sys::socket::{
    accept4, bind, connect, listen, recvmsg, sendmsg, socket, AddressFamily, Backlog, ControlMessage,
    ControlMessageOwned, MsgFlags, SockFlag, SockType, UnixAddr,
};
use serde::{Deserialize, Serialize};

/// The socket's name in the container's directory.
pub const SOCKET_NAME: &str = "control.sock";

/// The largest message: an exec's process with a large environment fits.
const MAX_MESSAGE: usize = 1 << 20;

/// What a command asks of the sandbox.
#[derive(Debug, Serialize, Deserialize)]
pub enum Request {
    /// Start the container's init (`husk start`).
    Start,
    /// Send a signal to init, or to every process (`husk kill [--all]`).
    Kill {
        /// The signal number: 0 to 64, else the message is malformed (the
        /// Sentry indexes its signal tables with it).
        #[serde(deserialize_with = "signal_number")]
        signal: i32,
        /// Every process, not only init.
        all: bool,
    },
    /// Start a process (`husk exec`); its stdio comes as three fds. The
    /// reply is `Started`, then `Exited` once it ends.
    Exec(super::bundle::ProcessPlan),
    /// The sandbox's processes (`husk ps`).
    Pids,
    /// Write a checkpoint image into the two files that come as fds (the
    /// state file, then the pages file); end the sandbox afterwards unless
    /// `leave_running` (`husk checkpoint`).
    Checkpoint {
        /// Keep the sandbox running.
        leave_running: bool,
    },
}

/// A signal number as `Request::Kill` carries it: 0 (a check only) to 64.
fn signal_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
    let n = i32::deserialize(d)?;
    if !(0..=64).contains(&n) {
        return Err(serde::de::Error::custom(format!("signal {n} is out of range (0 to 64)")));
    }
    Ok(n)
}

/// The sandbox's answers.
#[derive(Debug, Serialize, Deserialize)]
pub enum Response {
    /// Done.
    Ok,
    /// Refused or failed, with the message to show.
    Error(String),
    /// An exec'd process started, with its pid inside the sandbox.
    Started(i32),
    /// An exec'd process ended, with its status as a shell reports it.
    Exited(i32),
    /// The processes inside the sandbox: each one's pid there, and the
    /// pid, in the Sentry's pid namespace, of the stub that shows its
    /// command line to the host (0: none).
    Pids(Vec<(i32, i32)>),
    /// A checkpoint was written: processes, threads, and the bytes of the
    /// state and of the memory.
    Checkpointed {
        /// Processes.
        processes: usize,
        /// Threads.
        threads: usize,
        /// The state file's size.
        state_bytes: u64,
        /// The memory written.
        page_bytes: u64,
        /// The data of an overlay's files on disk written.
        disk_bytes: u64,
    },
}

/// The socket's address for the container directory open as `dir_fd`.
fn address(dir_fd: RawFd) -> anyhow::Result<UnixAddr> {
    UnixAddr::new(Path::new(&format!("/proc/self/fd/{dir_fd}/{SOCKET_NAME}"))).context("control socket address")
}

/// Binds and listens on the control socket of the directory open as `dir_fd`.
pub fn listen_at(dir_fd: RawFd) -> anyhow::Result<OwnedFd> {
    let sock = socket(AddressFamily::Unix, SockType::SeqPacket, SockFlag::SOCK_CLOEXEC, None)
        .context("creating the control socket")?;
    bind(sock.as_raw_fd(), &address(dir_fd)?).context("binding the control socket")?;
    listen(&sock, Backlog::new(16).unwrap_or(Backlog::MAXCONN)).context("listening on the control socket")?;
    Ok(sock)
}

/// Connects to the control socket of the directory open as `dir_fd`.
pub fn connect_at(dir_fd: RawFd) -> anyhow::Result<Channel> {
    let sock =
        socket(AddressFamily::Unix, SockType::SeqPacket, SockFlag::SOCK_CLOEXEC, None).context("creating a socket")?;
    connect(sock.as_raw_fd(), &address(dir_fd)?).context("connecting to the sandbox (is it still running?)")?;
    Ok(Channel(sock))
}

/// Accepts one connection.
pub fn accept(listener: &OwnedFd) -> anyhow::Result<Channel> {
    let fd = accept4(listener, SockFlag::SOCK_CLOEXEC).context("accepting a control connection")?;
    Ok(Channel(fd))
}

fn owned(fd: RawFd) -> OwnedFd {
    crate::sys::own_fd(fd)
}

/// One connection.
pub struct Channel(OwnedFd);

impl Channel {
    /// Sends `msg` with `fds`.
    pub fn send<T: Serialize>(&self, msg: &T, fds: &[RawFd]) -> anyhow::Result<()> {
        let data = serde_json::to_vec(msg)?;
        if data.len() > MAX_MESSAGE {
            bail!("control message too large ({} bytes)", data.len());
        }
        let iov = [IoSlice::new(&data)];
        let cmsg = [ControlMessage::ScmRights(fds)];
        let cmsgs: &[ControlMessage] = if fds.is_empty() { &[] } else { &cmsg };
        sendmsg::<()>(self.0.as_raw_fd(), &iov, cmsgs, MsgFlags::MSG_NOSIGNAL, None)
            .context("sending to the control socket")?;
        Ok(())
    }

    /// Receives a message and the fds that came with it; None at the end.
    pub fn recv<T: for<'de> Deserialize<'de>>(&self) -> anyhow::Result<Option<(T, Vec<OwnedFd>)>> {
        let mut buf = vec![0u8; MAX_MESSAGE];
        let mut cmsg_buf = nix::cmsg_space!([RawFd; 8]);
        let (n, fds) = {
            let mut iov = [IoSliceMut::new(&mut buf)];
            let msg = recvmsg::<()>(self.0.as_raw_fd(), &mut iov, Some(&mut cmsg_buf), MsgFlags::MSG_CMSG_CLOEXEC)
                .context("reading the control socket")?;
            let mut fds = Vec::new();
            for c in msg.cmsgs().context("reading control messages")? {
                if let ControlMessageOwned::ScmRights(raw) = c {
                    fds.extend(raw.into_iter().map(owned));
                }
            }
            (msg.bytes, fds)
        };
        if n == 0 {
            return Ok(None);
        }
        let msg = serde_json::from_slice(&buf[..n]).context("malformed control message")?;
        Ok(Some((msg, fds)))
    }

    /// The socket's fd number.
    pub fn raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }

    /// Sends `req` and waits for one answer.
    pub fn call(&self, req: &Request, fds: &[RawFd]) -> anyhow::Result<Response> {
        self.send(req, fds)?;
        match self.recv::<Response>()? {
            Some((Response::Error(msg), _)) => bail!("{msg}"),
            Some((r, _)) => Ok(r),
            None => bail!("the sandbox closed the control connection"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kill_with_a_signal_out_of_range_is_malformed() {
        // Signal 100 reached the Sentry's 64-entry signal table: an index
        // out of bounds that ended the container.
        for bad in [
            r#"{"Kill":{"signal":100,"all":false}}"#,
            r#"{"Kill":{"signal":-1,"all":true}}"#,
            r#"{"Kill":{"signal":65,"all":false}}"#,
        ] {
            let err = serde_json::from_str::<Request>(bad).unwrap_err().to_string();
            assert!(err.contains("out of range"), "{bad}: {err}");
        }
        for ok in [0, 9, 64] {
            let json = format!(r#"{{"Kill":{{"signal":{ok},"all":false}}}}"#);
            assert!(matches!(serde_json::from_str::<Request>(&json), Ok(Request::Kill { signal, .. }) if signal == ok));
        }
    }
}
