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
    /// The network over the relay connection `relay`, with connections
    /// to published ports arriving on `ingress`. Starts the poller thread:
    /// call before the Sentry's filter (it makes a pipe).
    pub fn new(relay: OwnedFd, ingress: Option<OwnedFd>) -> SysResult<Arc<Nat>> {
        let (wake_r, wake_w) = crate::sys::pipe_nonblock()?;
        let poller = Arc::new(Poller {
            wake_r,
            wake_w,
            flows: Mutex::new(Vec::new()),
            ingress: Mutex::new(ingress),
            on_incoming: std::sync::OnceLock::new(),
        });
        let p = poller.clone();
        std::thread::Builder::new().name("husk-netpoll".into()).spawn(move || p.run()).map_err(|_| Errno::EAGAIN)?;
        Ok(Arc::new(Nat { relay: netrelay::Client::new(relay), poller, next_port: AtomicU16::new(*EPHEMERAL.start()) }))
    }

    /// Says what becomes of connections to published ports: `deliver`
    /// gets each with its host socket (set once the kernel exists).
    pub fn on_incoming(&self, deliver: Box<dyn Fn(netrelay::protocol::Incoming, OwnedFd) + Send + Sync>) {
        let _ = self.poller.on_incoming.set(deliver);
        let _ = crate::sys::write_bytes(self.poller.wake_w.as_raw_fd(), &[1]);
    }

    /// An accepted connection from outside, from `from` (as the sandbox
    /// sees it: the gateway) to `local`, for the new endpoint `ep`.
    pub fn adopt(&self, ep: &Arc<Endpoint>, fd: OwnedFd, from: SocketAddr, local: SocketAddr) -> SysResult<Arc<Flow>> {
        self.register(Flow {
            fd,
            stream: true,
            peer: from,
            local,
            implicit: false,
            armed: AtomicU32::new(0),
            poller: self.poller.clone(),
            ep: Arc::downgrade(ep),
            connect_reported: AtomicBool::new(true),
        })
    }

    fn register(&self, flow: Flow) -> SysResult<Arc<Flow>> {
        let flow = Arc::new(flow);
        let mut flows = self.poller.flows.lock().unwrap_or_else(|e| e.into_inner());
        flows.retain(|w| w.strong_count() > 0);
        if flows.len() >= MAX_FLOWS {
            return Err(Errno::ENOBUFS);
        }
        flows.push(Arc::downgrade(&flow));
        Ok(flow)
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
        self.register(Flow {
            fd,
            stream: kind == crate::vfs::unix::SOCK_STREAM,
            peer: dst,
            local,
            implicit,
            armed: AtomicU32::new(0),
            poller: self.poller.clone(),
            ep: Arc::downgrade(ep),
            connect_reported: AtomicBool::new(false),
        })
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

/// What the poller hands connections to published ports to.
type Deliver = Box<dyn Fn(netrelay::protocol::Incoming, OwnedFd) + Send + Sync>;

/// The thread that watches armed flows, and the relay's pushes of
/// connections to published ports.
struct Poller {
    wake_r: OwnedFd,
    wake_w: OwnedFd,
    flows: Mutex<Vec<Weak<Flow>>>,
    /// The relay's second socket; gone once the relay closed it.
    ingress: Mutex<Option<OwnedFd>>,
    on_incoming: std::sync::OnceLock<Deliver>,
}

impl Poller {
    fn run(&self) {
        crate::sys::block_all_signals_in_this_thread();
        loop {
            let armed: Vec<Arc<Flow>> = {
                let mut flows = self.flows.lock().unwrap_or_else(|e| e.into_inner());
                flows.retain(|w| w.strong_count() > 0);
                flows.iter().filter_map(Weak::upgrade).filter(|f| f.armed.load(Ordering::SeqCst) != 0).collect()
            };
            let mut fds = Vec::with_capacity(armed.len() + 2);
            fds.push(libc::pollfd { fd: self.wake_r.as_raw_fd(), events: libc::POLLIN, revents: 0 });
            // (-1, ignored by poll, until there is somewhere to deliver.)
            let ingress = match (&*self.ingress.lock().unwrap_or_else(|e| e.into_inner()), self.on_incoming.get()) {
                (Some(fd), Some(_)) => fd.as_raw_fd(),
                _ => -1,
            };
            fds.push(libc::pollfd { fd: ingress, events: libc::POLLIN, revents: 0 });
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
            if fds[1].revents != 0 {
                self.take_incoming();
            }
            for (f, p) in armed.iter().zip(&fds[2..]) {
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

impl Poller {
    /// Takes one connection the relay pushed, and delivers it.
    fn take_incoming(&self) {
        let mut ingress = self.ingress.lock().unwrap_or_else(|e| e.into_inner());
        let Some(fd) = ingress.as_ref() else { return };
        match netrelay::receive_incoming(fd) {
            Ok(Some((inc, conn))) => {
                drop(ingress);
                if let Some(deliver) = self.on_incoming.get() {
                    deliver(inc, conn);
                }
            }
            Ok(None) => log::warn!("nat: a malformed message from the relay"),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            // The relay is gone: no more incoming connections.
            Err(_) => *ingress = None,
        }
    }
}

/// Delivers a connection to a published port to the sandbox socket that
/// listens on that port (of the sandbox's address, or of any address), as
/// a connection from the gateway; with no such socket, or a full backlog,
/// it is closed (the client sees the connection end).
pub fn deliver_incoming(kernel: &crate::kernel::Kernel, inc: netrelay::protocol::Incoming, conn: OwnedFd) {
    let Some(nat) = kernel.nat.get() else { return };
    let local = SocketAddr::new(netrelay::SANDBOX_ADDR.into(), inc.port);
    let listener =
        kernel.unix_names.inet.lock().unwrap_or_else(|e| e.into_inner()).find(crate::vfs::unix::SOCK_STREAM, local);
    let Some(listener) = listener else {
        log::info!("nat: a connection to port {} that nothing listens on", inc.port);
        return;
    };
    let from = SocketAddr::new(netrelay::GATEWAY_ADDR.into(), inc.from.port());
    let family = listener.family();
    let (from, local) = if family == crate::vfs::inet::AF_INET6 {
        let mapped = |a: SocketAddr| match a {
            SocketAddr::V4(v4) => SocketAddr::new(v4.ip().to_ipv6_mapped().into(), v4.port()),
            v6 => v6,
        };
        (mapped(from), mapped(local))
    } else {
        (from, local)
    };
    let ep = Endpoint::new_in(family, crate::vfs::unix::SOCK_STREAM, listener.creds_of_creator());
    match nat.adopt(&ep, conn, from, local) {
        Ok(flow) => {
            ep.set_flow(Some(flow));
            if listener.enqueue_accepted(ep).is_err() {
                log::info!("nat: port {}'s backlog is full; a connection is dropped", inc.port);
            }
        }
        Err(e) => log::warn!("nat: an incoming connection dropped: {e}"),
    }
}
