//! The sandbox's way out: Internet sockets connected to addresses
//! outside the sandbox, in `--network nat` (through the relay) or
//! `--network sandbox` (through the Sentry's own TCP/IP stack on the
//! namespace's interface, `netstack`).
//!
//! Under `sandbox`, the egress policy is applied here (the relay applies
//! it under `nat`): a connect the policy denies fails as a refused one,
//! and the runtime's audit hook hears of it. The stack's connections have
//! wait queues of their own: its driver thread wakes the socket.
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
use std::sync::{Arc, Condvar, Mutex, Weak};

use abi::Errno;

use crate::mm::{Chunk, MemoryFile, SysResult};
use crate::vfs::file::{POLLERR, POLLHUP, POLLIN, POLLOUT};
use crate::vfs::unix::Endpoint;

/// The network a sandbox has outside its loopback.
pub struct Nat {
    way: Way,
    next_port: AtomicU16,
}

/// What the runtime hears of each denied destination (`--network sandbox`).
pub type AuditHook = Box<dyn Fn(netrelay::Audit) + Send + Sync>;

enum Way {
    /// `--network nat`: host sockets from the relay, watched by the
    /// poller, and the clients of published UDP ports.
    Relay { client: netrelay::Client, poller: Arc<Poller>, udp_peers: Mutex<UdpPeers> },
    /// `--network host`: the app's Internet sockets are host sockets
    /// (`vfs::hostinet`), watched by the poller.
    Host { poller: Arc<Poller>, view: crate::vfs::netlink::NetView },
    /// `--network sandbox`: the Sentry's own stack, and the egress policy
    /// (its hostnames asked again of `nameservers`, through the stack,
    /// when their TTL runs out).
    Stack {
        stack: Arc<netstack::Stack>,
        policy: Mutex<netrelay::Policy>,
        nameservers: Vec<SocketAddr>,
        audit: AuditHook,
    },
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
        let poller = Poller::start(ingress)?;
        Ok(Arc::new(Nat {
            way: Way::Relay { client: netrelay::Client::new(relay), poller, udp_peers: Mutex::default() },
            next_port: AtomicU16::new(*EPHEMERAL.start()),
        }))
    }

    /// The network of `--network host`, the host's own as `view` shows it.
    /// Starts the poller thread: call before the Sentry's filter.
    pub fn host(view: crate::vfs::netlink::NetView) -> SysResult<Arc<Nat>> {
        let poller = Poller::start(None)?;
        Ok(Arc::new(Nat { way: Way::Host { poller, view }, next_port: AtomicU16::new(*EPHEMERAL.start()) }))
    }

    /// Under `--network host`, the poller that host sockets arm.
    pub fn host_poller(&self) -> Option<&Arc<Poller>> {
        match &self.way {
            Way::Host { poller, .. } => Some(poller),
            _ => None,
        }
    }

    /// The network of `--network sandbox`: the stack on the interface
    /// behind the packet socket `fd`, under `policy`. Starts the stack's
    /// driver thread: call before the Sentry's filter.
    pub fn with_stack(
        fd: OwnedFd,
        config: netstack::Config,
        policy: netrelay::Policy,
        nameservers: Vec<SocketAddr>,
        audit: AuditHook,
    ) -> SysResult<Arc<Nat>> {
        let stack = netstack::Stack::new(fd, config).map_err(host_errno)?;
        let driver = stack.clone();
        std::thread::Builder::new()
            .name("husk-netstack".into())
            .spawn(move || {
                crate::sys::block_all_signals_in_this_thread();
                driver.run()
            })
            .map_err(|_| Errno::EAGAIN)?;
        Ok(Arc::new(Nat {
            way: Way::Stack { stack, policy: Mutex::new(policy), nameservers, audit },
            next_port: AtomicU16::new(*EPHEMERAL.start()),
        }))
    }

    /// The interface outside the loopback, as netlink, /proc/net and
    /// /sys/class/net show it.
    pub fn view(&self) -> crate::vfs::netlink::NetView {
        match &self.way {
            Way::Relay { .. } => crate::vfs::netlink::NetView::new(true),
            Way::Host { view, .. } => view.clone(),
            Way::Stack { stack, .. } => crate::vfs::netlink::NetView::of_interface(stack.config()),
        }
    }

    /// Audits a destination the sandbox cannot reach by `proto` ("icmp"),
    /// when the policy (`--network sandbox`'s, applied here) denies it.
    pub fn audit_denied(&self, proto: &'static str, dst: SocketAddr) {
        if let Way::Stack { policy, audit, .. } = &self.way {
            let dst = SocketAddr::new(crate::vfs::inet::canonical(dst.ip()), dst.port());
            if !policy.lock().unwrap_or_else(|e| e.into_inner()).allows(dst) {
                audit(netrelay::Audit { proto, dst, allowed: false });
            }
        }
    }

    /// Whether `ip` is the sandbox's own address on its interface.
    pub fn owns(&self, ip: std::net::IpAddr) -> bool {
        match &self.way {
            Way::Relay { .. } => ip == std::net::IpAddr::V4(netrelay::SANDBOX_ADDR),
            Way::Host { .. } => false,
            Way::Stack { stack, .. } => stack.config().addrs.iter().any(|(a, _)| *a == ip),
        }
    }

    /// Whether `ip` (not a loopback address) is reached this way.
    pub fn reaches(&self, ip: std::net::IpAddr) -> bool {
        match &self.way {
            Way::Relay { .. } => ip.is_ipv4(),
            Way::Host { .. } => false,
            Way::Stack { stack, .. } => stack.config().addr(ip.is_ipv6()).is_some(),
        }
    }

    /// Under `--network sandbox`: hands the stack the kernel's listening
    /// sockets, for connections from outside.
    pub fn attach_listeners(&self, kernel: &Arc<crate::kernel::Kernel>) {
        let Way::Stack { stack, .. } = &self.way else { return };
        let (k1, k2) = (Arc::downgrade(kernel), Arc::downgrade(kernel));
        let addr4 = stack.config().addr(false);
        let addr6 = stack.config().addr(true);
        stack.set_hooks(netstack::Hooks {
            listening: Box::new(move |port| {
                let Some(k) = k1.upgrade() else { return false };
                let mut ports = k.unix_names.inet.lock().unwrap_or_else(|e| e.into_inner());
                [addr4, addr6]
                    .into_iter()
                    .flatten()
                    .any(|a| ports.find(crate::vfs::unix::SOCK_STREAM, SocketAddr::new(a, port)).is_some())
            }),
            accepted: Box::new(move |conn| {
                if let Some(k) = k2.upgrade() {
                    accept_from_stack(&k, conn);
                }
            }),
        });
    }

    /// Says what becomes of connections and datagrams to published ports
    /// (set once the kernel exists).
    pub fn on_incoming(&self, deliver: Deliver) {
        if let Way::Relay { poller, .. } = &self.way {
            let _ = poller.on_incoming.set(deliver);
            poller.wake();
        }
    }

    /// For a datagram to `dst` under NAT: `None` unless `dst` is the
    /// gateway; whether an outside client of a published UDP port stands
    /// there (the gateway's port standing for it) otherwise.
    pub fn udp_to_gateway(&self, dst: SocketAddr) -> Option<bool> {
        let Way::Relay { udp_peers, .. } = &self.way else { return None };
        if crate::vfs::inet::canonical(dst.ip()) != std::net::IpAddr::V4(netrelay::GATEWAY_ADDR) {
            return None;
        }
        Some(udp_peers.lock().unwrap_or_else(|e| e.into_inner()).client_of(dst.port()).is_some())
    }

    /// Sends the app's datagram `payload` to the outside client that
    /// `dst` stands for, by the published port it came to; lost if that
    /// client is forgotten, or the relay's queue is full.
    pub fn send_to_udp_client(&self, dst: SocketAddr, payload: &[u8]) -> SysResult<()> {
        let Way::Relay { udp_peers, poller, .. } = &self.way else { return Ok(()) };
        let Some((peer, port)) = udp_peers.lock().unwrap_or_else(|e| e.into_inner()).client_of(dst.port()) else {
            return Ok(());
        };
        let ingress = poller.ingress.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(fd) = ingress.as_ref() {
            netrelay::send_datagram(fd, netrelay::protocol::Datagram { port, peer }, payload).map_err(host_errno)?;
        }
        Ok(())
    }

    fn register(flow: Flow) -> SysResult<Arc<Flow>> {
        let flow = Arc::new(flow);
        let poller = match &flow.io {
            FlowIo::Host { watch, .. } => watch.poller.clone(),
            FlowIo::Stack(conn) => {
                let ep = flow.ep.clone();
                conn.set_notify(Box::new(move || {
                    if let Some(ep) = ep.upgrade() {
                        ep.queue().notify();
                    }
                }));
                return Ok(flow);
            }
        };
        let watched: Weak<dyn Watched> = Arc::downgrade(&flow) as Weak<dyn Watched>;
        poller.watch(watched)?;
        Ok(flow)
    }

    /// A flow of `kind` (SOCK_STREAM or SOCK_DGRAM) from `ep` to `dst`,
    /// outside the sandbox: the relay's errno if it refuses (ECONNREFUSED
    /// for a destination the policy denies). A TCP flow is still
    /// connecting; see [`Flow::connect_state`].
    pub fn connect(&self, ep: &Arc<Endpoint>, kind: u32, dst: SocketAddr) -> SysResult<Arc<Flow>> {
        let proto =
            if kind == crate::vfs::unix::SOCK_STREAM { netrelay::protocol::TCP } else { netrelay::protocol::UDP };
        let to = SocketAddr::new(crate::vfs::inet::canonical(dst.ip()), dst.port());
        let stream = kind == crate::vfs::unix::SOCK_STREAM;
        let (io, local) = match &self.way {
            Way::Relay { client, poller, .. } => {
                let fd = client.connect(proto, to).map_err(Errno)?;
                let local = SocketAddr::new(netrelay::SANDBOX_ADDR.into(), self.ephemeral_port());
                let local = if dst.is_ipv6() { v4_mapped(local) } else { local };
                (FlowIo::Host { fd, watch: HostWatch::new(poller) }, local)
            }
            Way::Host { .. } => return Err(Errno::ENETUNREACH),
            Way::Stack { stack, .. } => {
                if !self.stack_allows(if stream { "tcp" } else { "udp" }, to) {
                    return Err(Errno::ECONNREFUSED);
                }
                let conn = stack.connect(stream, to)?;
                // An IPv6 socket sees its IPv4 side as a mapped address.
                let local = if dst.is_ipv6() { v4_mapped(conn.local) } else { conn.local };
                (FlowIo::Stack(conn), local)
            }
        };
        Nat::register(Flow {
            io,
            stream,
            peer: dst,
            local,
            ep: Arc::downgrade(ep),
            connect_reported: AtomicBool::new(false),
        })
    }

    /// Under `--network sandbox`: whether the policy lets `proto`
    /// ("tcp", "udp" or "icmp") reach `to` (hostnames asked again when
    /// their TTL ran out); a denial is audited. True in the other modes
    /// (the relay decides under `nat`).
    fn stack_allows(&self, proto: &'static str, to: SocketAddr) -> bool {
        let Way::Stack { stack, policy, nameservers, audit } = &self.way else { return true };
        let allowed = {
            let mut policy = policy.lock().unwrap_or_else(|e| e.into_inner());
            policy.refresh(std::time::Instant::now(), |name| resolve_via(stack, nameservers, name));
            policy.allows(to)
        };
        if !allowed {
            audit(netrelay::Audit { proto, dst: to, allowed });
        }
        allowed
    }

    /// A way for `ep`, an unconnected datagram socket, to send datagrams
    /// of `kind` to `dst` outside the sandbox, and to hear back from it:
    /// ECONNREFUSED for UDP the policy denies, EHOSTUNREACH for an echo.
    ///
    /// Under NAT, echoes go out by the relay's host ping socket; under
    /// `--network sandbox`, by an echo socket of the stack.
    pub fn datagram_peer(&self, ep: &Arc<Endpoint>, kind: PeerKind, dst: SocketAddr) -> SysResult<Arc<DatagramPeer>> {
        let to = SocketAddr::new(crate::vfs::inet::canonical(dst.ip()), dst.port());
        let echo = matches!(kind, PeerKind::Echo { .. });
        let io = match &self.way {
            Way::Relay { client, poller, .. } => {
                let proto = match kind {
                    PeerKind::Udp => netrelay::protocol::UDP,
                    PeerKind::Echo { .. } if to.is_ipv4() => netrelay::protocol::ICMP,
                    PeerKind::Echo { .. } => netrelay::protocol::ICMPV6,
                };
                let fd = client.connect(proto, to).map_err(|e| match e {
                    libc::EACCES if echo => {
                        warn_once_no_ping_sockets();
                        Errno::EHOSTUNREACH
                    }
                    e => Errno(e),
                })?;
                FlowIo::Host { fd, watch: HostWatch::new(poller) }
            }
            Way::Host { .. } => return Err(Errno::ENETUNREACH),
            Way::Stack { stack, .. } if echo => {
                if !self.stack_allows("icmp", SocketAddr::new(to.ip(), 0)) {
                    return Err(Errno::EHOSTUNREACH);
                }
                FlowIo::Stack(stack.ping(to.ip())?)
            }
            Way::Stack { stack, .. } => {
                if !self.stack_allows("udp", to) {
                    return Err(Errno::ECONNREFUSED);
                }
                FlowIo::Stack(stack.connect(false, to)?)
            }
        };
        let peer = Arc::new(DatagramPeer { io, peer: dst, kind, ep: Arc::downgrade(ep) });
        let weak = Arc::downgrade(&peer);
        match &peer.io {
            FlowIo::Host { watch, .. } => {
                watch.poller.watch(weak as Weak<dyn Watched>)?;
                // Always armed: whatever arrives is queued on the socket.
                watch.arm(POLLIN);
            }
            FlowIo::Stack(conn) => {
                conn.set_notify(Box::new(move || {
                    if let Some(p) = weak.upgrade() {
                        p.take_arrivals();
                    }
                }));
                conn.readiness();
            }
        }
        Ok(peer)
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
    io: FlowIo,
    stream: bool,
    /// The destination, as the app named it.
    pub peer: SocketAddr,
    /// The sandbox's side, as getsockname shows it.
    pub local: SocketAddr,
    ep: Weak<Endpoint>,
    connect_reported: AtomicBool,
}

/// What carries a flow's bytes.
enum FlowIo {
    /// A host socket from the relay, watched by the poller when armed.
    Host { fd: OwnedFd, watch: HostWatch },
    /// A connection of the Sentry's stack.
    Stack(Arc<netstack::Conn>),
}

/// The events a flow's poll can say: POLLHUP and POLLERR count as readable
/// and writable (the app would then see EOF or an error).
pub const WATCHED: u32 = POLLIN | POLLOUT;

fn host_errno(e: std::io::Error) -> Errno {
    Errno(e.raw_os_error().unwrap_or(libc::EIO))
}

impl FlowIo {
    /// The host socket (-1, which poll ignores, for the stack's).
    fn host(&self) -> RawFd {
        match self {
            FlowIo::Host { fd, .. } => fd.as_raw_fd(),
            FlowIo::Stack(_) => -1,
        }
    }

    /// The events the poller watches for (none for the stack's, whose
    /// driver says).
    fn armed(&self) -> u32 {
        match self {
            FlowIo::Host { watch, .. } => watch.armed(),
            FlowIo::Stack(_) => 0,
        }
    }
}

impl Watched for Flow {
    fn host(&self) -> RawFd {
        self.io.host()
    }

    fn armed(&self) -> u32 {
        self.io.armed()
    }

    fn disarm(&self, events: u32) {
        if let FlowIo::Host { watch, .. } = &self.io {
            watch.disarm(events);
        }
    }

    fn notify(&self) {
        if let Some(ep) = self.ep.upgrade() {
            ep.queue().notify();
        }
    }
}

impl Drop for Flow {
    fn drop(&mut self) {
        if let FlowIo::Host { watch, .. } = &self.io {
            watch.wake_if_armed();
        }
    }
}

/// What an outside peer of an unconnected datagram socket carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerKind {
    /// UDP datagrams.
    Udp,
    /// A ping socket's echoes: each reply carries `ident`, the sandbox
    /// socket's echo identifier, in place of the host socket's.
    Echo { ident: u16 },
}

/// One outside address that an unconnected datagram socket (UDP, or a
/// ping socket) sends to: a host socket from the relay, or a stack
/// socket, connected there. Whatever comes back is queued on the app's
/// socket as it arrives, from that address, so one socket may talk to
/// many peers (a connected UDP socket has a [`Flow`] instead). The socket
/// holds its peers (`Endpoint::outside_peer`).
pub struct DatagramPeer {
    io: FlowIo,
    /// The address, as the app named it.
    pub peer: SocketAddr,
    kind: PeerKind,
    ep: Weak<Endpoint>,
}

/// Most datagrams taken off one peer at one wake-up (the others wait for
/// the next round).
const ARRIVALS_PER_ROUND: usize = 64;

/// The largest datagram a peer takes.
const MAX_DATAGRAM: usize = 65_536;

impl DatagramPeer {
    /// Sends one datagram (an echo request as the app wrote it: the host
    /// puts in its own identifier). It is lost, as a datagram may be,
    /// when the buffers on the way are full, or when an earlier one's
    /// error comes back (an unconnected socket hears of none).
    pub fn send(&self, payload: &[u8]) -> SysResult<()> {
        let once = || match &self.io {
            FlowIo::Host { fd, .. } => crate::sys::write_bytes(fd.as_raw_fd(), payload).map(drop),
            FlowIo::Stack(conn) => {
                conn.send(payload.len(), &mut |off, buf| buf.copy_from_slice(&payload[off..off + buf.len()])).map(drop)
            }
        };
        // A pending error (a port unreachable an earlier datagram brought
        // back) fails the first try without sending.
        match once().or_else(|e| if e == Errno::EAGAIN { Err(e) } else { once() }) {
            Ok(())
            | Err(Errno::EAGAIN | Errno::ENOBUFS | Errno::ECONNREFUSED | Errno::EHOSTUNREACH | Errno::ENETUNREACH) => {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Queues what arrived on the app's socket, unless the socket is
    /// connected now (it then hears only its peer, as on Linux).
    fn take_arrivals(&self) {
        let Some(ep) = self.ep.upgrade() else { return };
        let mut buf = vec![0u8; MAX_DATAGRAM];
        for _ in 0..ARRIVALS_PER_ROUND {
            let got = match &self.io {
                FlowIo::Host { fd, .. } => crate::sys::read_bytes(fd.as_raw_fd(), &mut buf),
                FlowIo::Stack(conn) => conn
                    .recv(MAX_DATAGRAM, false, &mut |off, b| buf[off..off + b.len()].copy_from_slice(b))
                    .map(|(n, _)| n),
            };
            let n = match got {
                Ok(n) => n.min(MAX_DATAGRAM),
                Err(Errno::EAGAIN) => break,
                // An error an earlier datagram brought back, now taken.
                Err(_) => continue,
            };
            if ep.peer_name().is_ok() {
                continue;
            }
            let mut data = buf[..n].to_vec();
            if let PeerKind::Echo { ident } = self.kind {
                if data.len() >= 8 {
                    data[4..6].copy_from_slice(&ident.to_be_bytes());
                }
            }
            ep.deliver_from_kernel(data, crate::vfs::unix::SockName::Inet(self.peer));
        }
    }
}

impl Watched for DatagramPeer {
    fn host(&self) -> RawFd {
        self.io.host()
    }

    fn armed(&self) -> u32 {
        self.io.armed()
    }

    /// Stays armed for as long as it lives.
    fn disarm(&self, _events: u32) {}

    fn notify(&self) {
        self.take_arrivals();
    }
}

impl Drop for DatagramPeer {
    fn drop(&mut self) {
        if let FlowIo::Host { watch, .. } = &self.io {
            watch.wake();
        }
    }
}

fn warn_once_no_ping_sockets() {
    static WARNED: AtomicBool = AtomicBool::new(false);
    if !WARNED.swap(true, Ordering::Relaxed) {
        log::warn!(
            "nat: the host refuses the relay a ping socket, so pings to outside addresses are unreachable \
             (the host's net.ipv4.ping_group_range must include the relay's group)"
        );
    }
}

/// The events a host socket is armed for, and the poller that watches
/// them: shared by NAT's flows and `--network host`'s sockets.
pub struct HostWatch {
    armed: AtomicU32,
    poller: Arc<Poller>,
}

impl HostWatch {
    /// Nothing armed yet, for `poller`.
    pub fn new(poller: &Arc<Poller>) -> HostWatch {
        HostWatch { armed: AtomicU32::new(0), poller: poller.clone() }
    }

    /// Arms `events` (of [`WATCHED`]), waking the poller if any is new.
    pub fn arm(&self, events: u32) {
        let old = self.armed.fetch_or(events & WATCHED, Ordering::SeqCst);
        if old & events & WATCHED != events & WATCHED {
            self.poller.wake();
        }
    }

    /// The events armed.
    pub fn armed(&self) -> u32 {
        self.armed.load(Ordering::SeqCst)
    }

    /// Clears `events` (they came).
    pub fn disarm(&self, events: u32) {
        self.armed.fetch_and(!events, Ordering::SeqCst);
    }

    /// Wakes the poller (its poll holds the host socket while it waits).
    pub fn wake(&self) {
        self.poller.wake();
    }

    /// Returns once the poller no longer holds the host socket, which the
    /// caller has just closed: a poll in progress holds every file it
    /// waits on (Linux's `__pollwait` takes a reference), so the host
    /// socket would go on listening, or keep its port, until that poll
    /// returned, and the app's next call could still reach it. Nothing to
    /// wait for unless the socket was armed (only armed sockets are
    /// polled), or on the poller's own thread.
    pub fn let_go(&self) {
        if self.armed() != 0 {
            self.poller.wait_out_poll();
        }
    }

    /// Wakes the poller if anything is armed: a socket going away.
    pub fn wake_if_armed(&self) {
        if self.armed() != 0 {
            self.wake();
        }
    }

    /// The `POLL*` events of the host socket `fd` that would not block
    /// now; those that would are armed.
    pub fn readiness(&self, fd: RawFd) -> u32 {
        let r = crate::sys::poll_one(fd, WATCHED | crate::vfs::unix::POLLRDHUP, 0);
        let missing = WATCHED & !r;
        if missing != 0 {
            self.arm(missing);
        }
        with_norm(r)
    }

    /// A host call's result as the app's: EAGAIN arms `dir` (POLLIN or
    /// POLLOUT).
    pub fn after_io<T>(&self, r: std::io::Result<T>, dir: u32) -> SysResult<T> {
        r.map_err(|e| {
            let e = host_errno(e);
            if e == Errno::EAGAIN {
                self.arm(dir);
            }
            e
        })
    }
}

/// `r` with POLLRDNORM and POLLWRNORM where POLLIN and POLLOUT are.
fn with_norm(r: u32) -> u32 {
    let mut out = r;
    if r & POLLIN != 0 {
        out |= crate::vfs::file::POLLRDNORM;
    }
    if r & POLLOUT != 0 {
        out |= crate::vfs::file::POLLWRNORM;
    }
    out
}

impl Flow {
    fn arm(&self, events: u32) {
        if let FlowIo::Host { watch, .. } = &self.io {
            watch.arm(events);
        }
    }

    /// The `POLL*` events that would not block now; those that would are
    /// armed, so that the socket's queue hears when they come.
    pub fn readiness(&self) -> u32 {
        match &self.io {
            FlowIo::Stack(conn) => with_norm(conn.readiness()),
            FlowIo::Host { fd, watch } => watch.readiness(fd.as_raw_fd()),
        }
    }

    /// Whether a waiting receive (`POLLIN`) or send (`POLLOUT`) should try
    /// again.
    pub fn may_go_on(&self, dir: u32) -> bool {
        self.readiness() & (dir | POLLERR | POLLHUP) != 0
    }

    /// Receives into `dst` with the app's MSG_PEEK; returns (copied,
    /// whole length): a datagram's whole length may be more than fits.
    pub fn recv(&self, mf: &MemoryFile, dst: &[Chunk], peek: bool) -> SysResult<(usize, usize)> {
        let room: usize = dst.iter().map(|c| c.len as usize).sum();
        if let FlowIo::Stack(conn) = &self.io {
            return conn.recv(room, peek, &mut |off, bytes| put_at(mf, dst, off, bytes));
        }
        let mut flags = libc::MSG_DONTWAIT;
        if peek {
            flags |= libc::MSG_PEEK;
        }
        if !self.stream {
            flags |= libc::MSG_TRUNC;
        }
        let FlowIo::Host { fd, watch } = &self.io else { return Err(Errno::EBADF) };
        let (n, _) = watch.after_io(mf.recv_from_socket(fd.as_raw_fd(), dst, flags), POLLIN)?;
        Ok((n.min(room), n))
    }

    /// Sends from `src`; EPIPE when the connection is gone (the caller
    /// raises SIGPIPE as the app's flags say).
    pub fn send(&self, mf: &MemoryFile, src: &[Chunk]) -> SysResult<usize> {
        if let FlowIo::Stack(conn) = &self.io {
            let len: usize = src.iter().map(|c| c.len as usize).sum();
            return conn.send(len, &mut |off, buf| get_at(mf, src, off, buf));
        }
        let FlowIo::Host { fd, watch } = &self.io else { return Err(Errno::EBADF) };
        watch.after_io(mf.send_to_socket(fd.as_raw_fd(), src, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL), POLLOUT)
    }

    /// shutdown(2) of the connection.
    pub fn shutdown(&self, how: u32) -> SysResult<()> {
        match &self.io {
            FlowIo::Stack(conn) => conn.shutdown(how),
            FlowIo::Host { .. } => crate::sys::shutdown(self.host(), how),
        }
    }

    /// The pending error (SO_ERROR), taken: a failed connect's, or a
    /// reset's; 0 if none.
    pub fn take_error(&self) -> i32 {
        if let FlowIo::Stack(conn) = &self.io {
            return conn.take_error();
        }
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
        if let FlowIo::Stack(conn) = &self.io {
            return match conn.connect_state() {
                netstack::ConnectState::Pending => ConnectState::Pending,
                netstack::ConnectState::Done => ConnectState::Done,
                netstack::ConnectState::Failed(e) => ConnectState::Failed(e),
            };
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
        match &self.io {
            FlowIo::Stack(conn) => conn.pending_bytes(),
            FlowIo::Host { .. } => crate::sys::fionread(self.host()).unwrap_or(0),
        }
    }
}

/// Copies `bytes` into the memory-file runs `dst`, from `off` bytes in.
fn put_at(mf: &MemoryFile, dst: &[Chunk], off: usize, mut bytes: &[u8]) {
    for c in crate::mm::sub_chunks(dst, off as u64) {
        if bytes.is_empty() {
            break;
        }
        let n = bytes.len().min(c.len as usize);
        mf.write(c.off, &bytes[..n]);
        bytes = &bytes[n..];
    }
}

/// Fills `buf` from the memory-file runs `src`, from `off` bytes in.
fn get_at(mf: &MemoryFile, src: &[Chunk], off: usize, buf: &mut [u8]) {
    let mut done = 0;
    for c in crate::mm::sub_chunks(src, off as u64) {
        if done == buf.len() {
            break;
        }
        let n = (buf.len() - done).min(c.len as usize);
        mf.read(c.off, &mut buf[done..done + n]);
        done += n;
    }
}

/// What the poller hands connections and datagrams to published ports to.
pub type Deliver = Box<dyn Fn(netrelay::Ingress<'_>) + Send + Sync>;

/// A host socket the poller watches for someone: its fd, the events it
/// is armed for, and whom to tell when they come.
pub trait Watched: Send + Sync {
    /// The host socket.
    fn host(&self) -> RawFd;
    /// The events it is armed for.
    fn armed(&self) -> u32;
    /// Clears `events` from the armed ones (they came).
    fn disarm(&self, events: u32);
    /// Wakes whoever waits on it.
    fn notify(&self);
}

/// The thread that watches armed host sockets (flows, and `--network
/// host`'s sockets), and the relay's pushes of connections to published
/// ports.
pub struct Poller {
    wake_r: OwnedFd,
    wake_w: OwnedFd,
    flows: Mutex<Vec<Weak<dyn Watched>>>,
    /// The relay's second socket; gone once the relay closed it.
    ingress: Mutex<Option<OwnedFd>>,
    on_incoming: std::sync::OnceLock<Deliver>,
    /// Polls begun and polls returned, for [`Poller::wait_out_poll`].
    polls: Mutex<PollCount>,
    poll_returned: Condvar,
    thread: std::sync::OnceLock<std::thread::ThreadId>,
}

#[derive(Default)]
struct PollCount {
    begun: u64,
    returned: u64,
}

/// Longest [`Poller::wait_out_poll`] waits: the poll it waits for returns
/// as soon as its thread runs (it was woken), so this bounds only a
/// stalled host.
const LET_GO_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

impl Poller {
    /// A poller, and its thread (`husk-netpoll`).
    fn start(ingress: Option<OwnedFd>) -> SysResult<Arc<Poller>> {
        let (wake_r, wake_w) = crate::sys::pipe_nonblock()?;
        let poller = Arc::new(Poller {
            wake_r,
            wake_w,
            flows: Mutex::new(Vec::new()),
            ingress: Mutex::new(ingress),
            on_incoming: std::sync::OnceLock::new(),
            polls: Mutex::new(PollCount::default()),
            poll_returned: Condvar::new(),
            thread: std::sync::OnceLock::new(),
        });
        let p = poller.clone();
        std::thread::Builder::new().name("husk-netpoll".into()).spawn(move || p.run()).map_err(|_| Errno::EAGAIN)?;
        Ok(poller)
    }

    /// Watches `w` from now on (while it lives); ENOBUFS past
    /// [`MAX_FLOWS`].
    pub fn watch(&self, w: Weak<dyn Watched>) -> SysResult<()> {
        let mut flows = self.flows.lock().unwrap_or_else(|e| e.into_inner());
        flows.retain(|w| w.strong_count() > 0);
        if flows.len() >= MAX_FLOWS {
            return Err(Errno::ENOBUFS);
        }
        flows.push(w);
        Ok(())
    }

    /// Makes the thread look at the armed sockets again: call after
    /// arming new events.
    pub fn wake(&self) {
        let _ = crate::sys::write_bytes(self.wake_w.as_raw_fd(), &[1]);
    }

    /// Wakes the thread and waits until the poll it may be in (begun
    /// before this call) has returned. Not on the thread itself.
    fn wait_out_poll(&self) {
        if self.thread.get() == Some(&std::thread::current().id()) {
            return;
        }
        let polls = self.polls.lock().unwrap_or_else(|e| e.into_inner());
        let begun = polls.begun;
        self.wake();
        let _ = self
            .poll_returned
            .wait_timeout_while(polls, LET_GO_WAIT, |p| p.returned < begun)
            .unwrap_or_else(|e| e.into_inner());
    }

    fn count_poll(&self, begin: bool) {
        let mut polls = self.polls.lock().unwrap_or_else(|e| e.into_inner());
        if begin {
            polls.begun += 1;
        } else {
            polls.returned = polls.begun;
            self.poll_returned.notify_all();
        }
    }

    fn run(&self) {
        crate::sys::block_all_signals_in_this_thread();
        let _ = self.thread.set(std::thread::current().id());
        let mut buf = vec![0u8; netrelay::INGRESS_BUF_LEN];
        loop {
            // Only weak references across the poll: a socket the app closes
            // meanwhile goes at once (its Drop waits this poll out, which
            // holds the host file until it returns). Counted before the
            // sockets are looked at, so that a close after the look waits.
            self.count_poll(true);
            let armed: Vec<(Weak<dyn Watched>, RawFd, u32)> = {
                let mut flows = self.flows.lock().unwrap_or_else(|e| e.into_inner());
                flows.retain(|w| w.strong_count() > 0);
                flows
                    .iter()
                    .filter_map(|w| {
                        let f = w.upgrade()?;
                        let events = f.armed();
                        (events != 0).then(|| (w.clone(), f.host(), events))
                    })
                    .collect()
            };
            let mut fds = Vec::with_capacity(armed.len() + 2);
            fds.push(libc::pollfd { fd: self.wake_r.as_raw_fd(), events: libc::POLLIN, revents: 0 });
            // (-1, ignored by poll, until there is somewhere to deliver.)
            let ingress = match (&*self.ingress.lock().unwrap_or_else(|e| e.into_inner()), self.on_incoming.get()) {
                (Some(fd), Some(_)) => fd.as_raw_fd(),
                _ => -1,
            };
            fds.push(libc::pollfd { fd: ingress, events: libc::POLLIN, revents: 0 });
            fds.extend(armed.iter().map(|&(_, fd, events)| libc::pollfd { fd, events: events as i16, revents: 0 }));
            crate::sys::poll_many(&mut fds, -1);
            self.count_poll(false);
            if fds[0].revents != 0 {
                let mut junk = [0u8; 256];
                while matches!(crate::sys::read_bytes(self.wake_r.as_raw_fd(), &mut junk), Ok(n) if n > 0) {}
            }
            if fds[1].revents != 0 {
                self.take_incoming(&mut buf);
            }
            for ((w, _, _), p) in armed.iter().zip(&fds[2..]) {
                let rev = p.revents as u32;
                let Some(f) = w.upgrade().filter(|_| rev != 0) else { continue };
                let done = if rev & (POLLERR | POLLHUP) != 0 { WATCHED } else { rev & WATCHED };
                f.disarm(done);
                f.notify();
            }
        }
    }
}

impl Poller {
    /// Takes one connection or datagram the relay pushed, and delivers it.
    fn take_incoming(&self, buf: &mut [u8]) {
        let mut ingress = self.ingress.lock().unwrap_or_else(|e| e.into_inner());
        let Some(fd) = ingress.as_ref() else { return };
        match netrelay::receive_ingress(fd, buf) {
            Ok(Some(msg)) => {
                drop(ingress);
                if let Some(deliver) = self.on_incoming.get() {
                    deliver(msg);
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
/// it is closed (the client sees the connection end). A datagram goes to
/// the UDP socket bound there, from the gateway and the port that stands
/// for its client (see [`UdpPeers`]); with none, it is lost.
pub fn deliver_incoming(kernel: &crate::kernel::Kernel, ingress: netrelay::Ingress<'_>) {
    let (inc, conn) = match ingress {
        netrelay::Ingress::Connection(inc, conn) => (inc, conn),
        netrelay::Ingress::Datagram(d, payload) => return deliver_datagram(kernel, d, payload),
    };
    let local = SocketAddr::new(netrelay::SANDBOX_ADDR.into(), inc.port);
    let from = SocketAddr::new(netrelay::GATEWAY_ADDR.into(), inc.from.port());
    hand_to_listener(kernel, local, from, |nat| match &nat.way {
        Way::Relay { poller, .. } => Some(FlowIo::Host { fd: conn, watch: HostWatch::new(poller) }),
        Way::Stack { .. } | Way::Host { .. } => None,
    });
}

fn deliver_datagram(kernel: &crate::kernel::Kernel, d: netrelay::protocol::Datagram, payload: &[u8]) {
    let Some(Way::Relay { udp_peers, .. }) = kernel.nat.get().map(|n| &n.way) else { return };
    let local = SocketAddr::new(netrelay::SANDBOX_ADDR.into(), d.port);
    let to = kernel.unix_names.inet.lock().unwrap_or_else(|e| e.into_inner()).find(crate::vfs::unix::SOCK_DGRAM, local);
    let Some(to) = to else {
        log::info!("network: a datagram to {local} that no socket is bound to");
        return;
    };
    let port = udp_peers.lock().unwrap_or_else(|e| e.into_inner()).port_for(d.peer, d.port);
    let from = SocketAddr::new(netrelay::GATEWAY_ADDR.into(), port);
    let from = if to.family() == crate::vfs::inet::AF_INET6 { v4_mapped(from) } else { from };
    to.deliver_from_kernel(payload.to_vec(), crate::vfs::unix::SockName::Inet(from));
}

/// The outside clients of published UDP ports (`-p .../udp`), as the
/// sandbox sees them: each is the gateway with a port of its own (its
/// real port while no other client has it), so that the app's replies,
/// sent to that address, find their way back through the relay. Bounded:
/// the least recently heard from are forgotten first.
#[derive(Default)]
pub struct UdpPeers {
    /// (the gateway's port, the client, the sandbox's published port),
    /// least recently used first.
    peers: std::collections::VecDeque<(u16, SocketAddr, u16)>,
}

/// Most clients of published UDP ports the sandbox may answer at once.
const MAX_UDP_PEERS: usize = 1024;

impl UdpPeers {
    /// The gateway's port that stands for `client` of the published
    /// `port`.
    fn port_for(&mut self, client: SocketAddr, port: u16) -> u16 {
        if let Some(i) = self.peers.iter().position(|&(_, c, p)| c == client && p == port) {
            if let Some(e) = self.peers.remove(i) {
                self.peers.push_back(e);
                return e.0;
            }
        }
        if self.peers.len() >= MAX_UDP_PEERS {
            self.peers.pop_front();
        }
        let taken = |v: u16| self.peers.iter().any(|&(g, _, _)| g == v);
        let mut v = client.port().max(1);
        while taken(v) {
            v = v.checked_add(1).unwrap_or(1);
        }
        self.peers.push_back((v, client, port));
        v
    }

    /// The client and published port the gateway's `port` stands for.
    fn client_of(&self, port: u16) -> Option<(SocketAddr, u16)> {
        self.peers.iter().find(|&&(g, _, _)| g == port).map(|&(_, c, p)| (c, p))
    }
}

/// Queues a connection from outside, from `from` to `local`, carried by
/// `io`, on the sandbox socket that listens there (on that address or the
/// any address) as a new endpoint, with the addresses as its family shows
/// them; with no such socket, or a full backlog, it is dropped (closed).
fn hand_to_listener(
    kernel: &crate::kernel::Kernel,
    local: SocketAddr,
    from: SocketAddr,
    io: impl FnOnce(&Nat) -> Option<FlowIo>,
) {
    let Some(nat) = kernel.nat.get() else { return };
    let Some(io) = io(nat) else { return };
    let listener =
        kernel.unix_names.inet.lock().unwrap_or_else(|e| e.into_inner()).find(crate::vfs::unix::SOCK_STREAM, local);
    let Some(listener) = listener else {
        log::info!("network: a connection to {local} that nothing listens on");
        return;
    };
    let family = listener.family();
    let (from, local) =
        if family == crate::vfs::inet::AF_INET6 { (v4_mapped(from), v4_mapped(local)) } else { (from, local) };
    let ep = Endpoint::new_in(family, crate::vfs::unix::SOCK_STREAM, listener.creds_of_creator());
    let flow =
        Flow { io, stream: true, peer: from, local, ep: Arc::downgrade(&ep), connect_reported: AtomicBool::new(true) };
    match Nat::register(flow) {
        Ok(flow) => {
            ep.set_flow(Some(flow));
            if listener.enqueue_accepted(ep).is_err() {
                log::info!("network: port {}'s backlog is full; a connection is dropped", local.port());
            }
        }
        Err(e) => log::warn!("network: an incoming connection dropped: {e}"),
    }
}

/// An IPv4 address as an IPv6 socket sees it (mapped); IPv6 ones as
/// they are.
fn v4_mapped(a: SocketAddr) -> SocketAddr {
    match a {
        SocketAddr::V4(v4) => SocketAddr::new(v4.ip().to_ipv6_mapped().into(), v4.port()),
        v6 => v6,
    }
}

/// How long one nameserver has to answer a re-resolution.
const RESOLVE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Resolves `name` (an egress rule's hostname whose TTL ran out) with the
/// first of `nameservers` that answers, over the sandbox's own stack.
fn resolve_via(stack: &Arc<netstack::Stack>, nameservers: &[SocketAddr], name: &str) -> Option<netrelay::dns::Answer> {
    static NEXT_ID: AtomicU16 = AtomicU16::new(0x4855);
    for ns in nameservers {
        let Ok(conn) = stack.connect(false, *ns) else { continue };
        let id = NEXT_ID.fetch_add(2, Ordering::Relaxed);
        let answer = netrelay::dns::ask_over(
            name,
            id,
            RESOLVE_TIMEOUT,
            |q| conn.send(q.len(), &mut |off, buf| buf.copy_from_slice(&q[off..off + buf.len()])).is_ok(),
            |buf, left| {
                let until = std::time::Instant::now() + left;
                loop {
                    let room = buf.len();
                    match conn.recv(room, false, &mut |off, bytes| buf[off..off + bytes.len()].copy_from_slice(bytes)) {
                        Ok((n, _)) => return Some(n),
                        Err(Errno::EAGAIN) if std::time::Instant::now() < until => {
                            std::thread::sleep(std::time::Duration::from_millis(2))
                        }
                        Err(_) => return None,
                    }
                }
            },
        );
        if answer.is_some() {
            return answer;
        }
    }
    None
}

/// Hands a connection the stack accepted to the sandbox socket listening
/// on its address and port; with none, or a full backlog, it is dropped
/// (and closed).
fn accept_from_stack(kernel: &crate::kernel::Kernel, conn: Arc<netstack::Conn>) {
    let (local, from) = (conn.local, conn.peer);
    hand_to_listener(kernel, local, from, |_| Some(FlowIo::Stack(conn)));
}
