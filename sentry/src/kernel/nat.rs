//! The sandbox's way out in `--network nat`: Internet sockets connected
//! to addresses outside the sandbox.
//!
//! The Sentry makes no host socket (its filter has no `socket` or
//! `connect`). A connect to an outside address asks the relay
//! (`netrelay`), which applies the egress policy and donates a host
//! socket already connecting to the destination; the app's socket then
//! becomes a [`Flow`] over it: its bytes go straight between the memory
//! file and the host socket (recvmsg and sendmsg), with no copy in between.
//!
//! Readiness: host sockets have no wait queue, so one poller thread
//! watches the flows that someone is waiting on. A flow is *armed* for the
//! events it was last found without (by a readiness check, or a read or
//! write that would block); the poller polls armed flows and, when one
//! becomes ready, disarms it and notifies its socket's wait queue, as a
//! local socket's peer would. Arming a new event wakes the poller through
//! a pipe, so the set it polls is never stale.

use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Weak};

use abi::Errno;

use crate::mm::{Chunk, MemoryFile, SysResult};
use crate::vfs::file::{POLLERR, POLLHUP, POLLIN, POLLOUT};
use crate::vfs::unix::Endpoint;

/// The network a `--network nat` sandbox has outside its loopback.
pub struct Nat {
    relay: netrelay::Client,
    poller: Arc<Poller>,
    next_port: AtomicU16,
}

/// Most flows the poller watches at once (each is an fd of the app's, so
/// RLIMIT_NOFILE bounds them first).
const MAX_FLOWS: usize = 1 << 16;

/// Linux's default `ip_local_port_range`, for the sandbox's side of flows.
const EPHEMERAL: std::ops::RangeInclusive<u16> = 32768..=60999;

impl Nat {
    /// The network over the relay connection `relay`. Starts the poller
    /// thread: call before the Sentry's filter (it makes a pipe).
    pub fn new(relay: OwnedFd) -> SysResult<Arc<Nat>> {
        let (wake_r, wake_w) = crate::sys::pipe_nonblock()?;
        let poller = Arc::new(Poller { wake_r, wake_w, flows: Mutex::new(Vec::new()) });
        let p = poller.clone();
        std::thread::Builder::new().name("husk-netpoll".into()).spawn(move || p.run()).map_err(|_| Errno::EAGAIN)?;
        Ok(Arc::new(Nat { relay: netrelay::Client::new(relay), poller, next_port: AtomicU16::new(*EPHEMERAL.start()) }))
    }

    /// A flow of `kind` (SOCK_STREAM or SOCK_DGRAM) from `ep` to `dst`,
    /// outside the sandbox: the relay's errno if it refuses (ECONNREFUSED
    /// for a destination the policy denies). A TCP flow is still
    /// connecting; see [`Flow::connect_state`].
    pub fn connect(&self, ep: &Arc<Endpoint>, kind: u32, dst: SocketAddr, implicit: bool) -> SysResult<Arc<Flow>> {
        let proto =
            if kind == crate::vfs::unix::SOCK_STREAM { netrelay::protocol::TCP } else { netrelay::protocol::UDP };
        let to = SocketAddr::new(crate::vfs::inet::canonical(dst.ip()), dst.port());
        let fd = self.relay.connect(proto, to).map_err(Errno)?;
        let port = self.ephemeral_port();
        let local = match dst {
            SocketAddr::V4(_) => SocketAddr::new(netrelay::SANDBOX_ADDR.into(), port),
            SocketAddr::V6(_) => SocketAddr::new(netrelay::SANDBOX_ADDR.to_ipv6_mapped().into(), port),
        };
        let flow = Arc::new(Flow {
            fd,
            stream: kind == crate::vfs::unix::SOCK_STREAM,
            peer: dst,
            local,
            implicit,
            armed: AtomicU32::new(0),
            poller: self.poller.clone(),
            ep: Arc::downgrade(ep),
            connect_reported: AtomicBool::new(false),
        });
        {
            let mut flows = self.poller.flows.lock().unwrap_or_else(|e| e.into_inner());
            flows.retain(|w| w.strong_count() > 0);
            if flows.len() >= MAX_FLOWS {
                return Err(Errno::ENOBUFS);
            }
            flows.push(Arc::downgrade(&flow));
        }
        Ok(flow)
    }

    fn ephemeral_port(&self) -> u16 {
        let p = self.next_port.fetch_add(1, Ordering::Relaxed);
        if EPHEMERAL.contains(&p) {
            p
        } else {
            self.next_port.store(EPHEMERAL.start() + 1, Ordering::Relaxed);
            *EPHEMERAL.start()
        }
    }
}

/// Where a TCP flow's connect stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectState {
    /// Still under way.
    Pending,
    /// Established (or, for UDP, always).
    Done,
    /// Failed with this errno (taken: the flow should go).
    Failed(Errno),
}

/// An app socket's connection to an address outside the sandbox, over a
/// host socket from the relay.
pub struct Flow {
    fd: OwnedFd,
    stream: bool,
    /// The destination, as the app named it.
    pub peer: SocketAddr,
    /// The sandbox's side, as getsockname shows it.
    pub local: SocketAddr,
    /// Made by a send to an address on an unconnected UDP socket: the
    /// socket is still not connected (getpeername says ENOTCONN).
    pub implicit: bool,
    armed: AtomicU32,
    poller: Arc<Poller>,
    ep: Weak<Endpoint>,
    connect_reported: AtomicBool,
}

/// The events a flow's poll can say: POLLHUP and POLLERR count as readable
/// and writable (the app would then see EOF or an error).
const WATCHED: u32 = POLLIN | POLLOUT;

fn host_errno(e: std::io::Error) -> Errno {
    Errno(e.raw_os_error().unwrap_or(libc::EIO))
}

impl Flow {
    fn host(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    fn arm(&self, events: u32) {
        let old = self.armed.fetch_or(events & WATCHED, Ordering::SeqCst);
        if old & events & WATCHED != events & WATCHED {
            let _ = crate::sys::write_bytes(self.poller.wake_w.as_raw_fd(), &[1]);
        }
    }

    /// The `POLL*` events that would not block now; those that would are
    /// armed, so that the socket's queue hears when they come.
    pub fn readiness(&self) -> u32 {
        let r = crate::sys::poll_one(self.host(), WATCHED | crate::vfs::unix::POLLRDHUP, 0);
        let missing = WATCHED & !r;
        if missing != 0 {
            self.arm(missing);
        }
        let mut out = r;
        if r & POLLIN != 0 {
            out |= crate::vfs::file::POLLRDNORM;
        }
        if r & POLLOUT != 0 {
            out |= crate::vfs::file::POLLWRNORM;
        }
        out
    }

    /// Whether a waiting receive (`POLLIN`) or send (`POLLOUT`) should try
    /// again.
    pub fn may_go_on(&self, dir: u32) -> bool {
        self.readiness() & (dir | POLLERR | POLLHUP) != 0
    }

    /// Receives into `dst` with the app's MSG_PEEK; returns (copied,
    /// whole length): a datagram's whole length may be more than fits.
    pub fn recv(&self, mf: &MemoryFile, dst: &[Chunk], peek: bool) -> SysResult<(usize, usize)> {
        let mut flags = libc::MSG_DONTWAIT;
        if peek {
            flags |= libc::MSG_PEEK;
        }
        if !self.stream {
            flags |= libc::MSG_TRUNC;
        }
        let room: usize = dst.iter().map(|c| c.len as usize).sum();
        match mf.recv_from_socket(self.host(), dst, flags) {
            Ok((n, _)) => Ok((n.min(room), n)),
            Err(e) => {
                let e = host_errno(e);
                if e == Errno::EAGAIN {
                    self.arm(POLLIN);
                }
                Err(e)
            }
        }
    }

    /// Sends from `src`; EPIPE when the connection is gone (the caller
    /// raises SIGPIPE as the app's flags say).
    pub fn send(&self, mf: &MemoryFile, src: &[Chunk]) -> SysResult<usize> {
        match mf.send_to_socket(self.host(), src, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL) {
            Ok(n) => Ok(n),
            Err(e) => {
                let e = host_errno(e);
                if e == Errno::EAGAIN {
                    self.arm(POLLOUT);
                }
                Err(e)
            }
        }
    }

    /// shutdown(2) of the host socket.
    pub fn shutdown(&self, how: u32) -> SysResult<()> {
        crate::sys::shutdown(self.host(), how)
    }

    /// The pending error (SO_ERROR), taken: a failed connect's, or a
    /// reset's; 0 if none.
    pub fn take_error(&self) -> i32 {
        if crate::sys::poll_one(self.host(), 0, 0) & POLLERR == 0 {
            return 0;
        }
        // A peek of one byte reports (and clears) the socket's error.
        match crate::sys::recv_peek_error(self.host()) {
            Some(e) => e.0,
            None => 0,
        }
    }

    /// Where a TCP connect stands; the first look after it is done says
    /// `Done` once more for a connect call that asks again.
    pub fn connect_state(&self) -> ConnectState {
        if !self.stream {
            return ConnectState::Done;
        }
        let r = crate::sys::poll_one(self.host(), POLLOUT, 0);
        if r & POLLERR != 0 {
            let e = self.take_error();
            return ConnectState::Failed(if e == 0 { Errno::ECONNREFUSED } else { Errno(e) });
        }
        if r & (POLLOUT | POLLHUP) != 0 {
            return ConnectState::Done;
        }
        self.arm(POLLOUT);
        ConnectState::Pending
    }

    /// Whether a connect call already reported this flow's connection;
    /// marks it reported.
    pub fn report_connected(&self) -> bool {
        self.connect_reported.swap(true, Ordering::SeqCst)
    }

    /// FIONREAD: readable bytes.
    pub fn pending_bytes(&self) -> usize {
        crate::sys::fionread(self.host()).unwrap_or(0)
    }
}

/// The thread that watches armed flows.
struct Poller {
    wake_r: OwnedFd,
    wake_w: OwnedFd,
    flows: Mutex<Vec<Weak<Flow>>>,
}

impl Poller {
    fn run(&self) {
        loop {
            let armed: Vec<Arc<Flow>> = {
                let mut flows = self.flows.lock().unwrap_or_else(|e| e.into_inner());
                flows.retain(|w| w.strong_count() > 0);
                flows.iter().filter_map(Weak::upgrade).filter(|f| f.armed.load(Ordering::SeqCst) != 0).collect()
            };
            let mut fds = Vec::with_capacity(armed.len() + 1);
            fds.push(libc::pollfd { fd: self.wake_r.as_raw_fd(), events: libc::POLLIN, revents: 0 });
            fds.extend(armed.iter().map(|f| libc::pollfd {
                fd: f.host(),
                events: f.armed.load(Ordering::SeqCst) as i16,
                revents: 0,
            }));
            crate::sys::poll_many(&mut fds, -1);
            if fds[0].revents != 0 {
                let mut junk = [0u8; 256];
                while matches!(crate::sys::read_bytes(self.wake_r.as_raw_fd(), &mut junk), Ok(n) if n > 0) {}
            }
            for (f, p) in armed.iter().zip(&fds[1..]) {
                let rev = p.revents as u32;
                if rev == 0 {
                    continue;
                }
                let done = if rev & (POLLERR | POLLHUP) != 0 { WATCHED } else { rev & WATCHED };
                f.armed.fetch_and(!done, Ordering::SeqCst);
                if let Some(ep) = f.ep.upgrade() {
                    ep.queue().notify();
                }
            }
        }
    }
}
