//! The stack: one smoltcp interface with its sockets, the thread that
//! drives it, and the connections the Sentry's sockets hold.
//!
//! Locking: one mutex guards the interface and every smoltcp socket. App
//! threads take it to move bytes (and poll the interface right after a
//! send, so that segments leave without waiting for the driver); the
//! driver takes it to feed frames in and run timers. Nothing the Sentry
//! gives (notify closures, hooks) is called with it held, since those
//! take the Sentry's own locks. A [`Conn`] dropped anywhere (even where
//! the lock is held: the driver holds connections while it looks at them)
//! only queues its close; whoever takes the lock next carries it out.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::Duration;

use abi::Errno;
use smoltcp::iface::{Interface, SocketHandle, SocketSet};
use smoltcp::socket::{icmp, tcp, udp};
use smoltcp::time::Instant;
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr, IpEndpoint};

use crate::device::{read_frame, PacketDevice, FRAME_MAX, RX_QUEUE};

/// `poll(2)` bits, as the Sentry's files report readiness.
pub const POLLIN: u32 = 0x1;
pub const POLLOUT: u32 = 0x4;
pub const POLLERR: u32 = 0x8;
pub const POLLHUP: u32 = 0x10;
pub const POLLRDHUP: u32 = 0x2000;

/// Linux's default `ip_local_port_range`, for the sandbox's side of
/// connections it makes.
const EPHEMERAL: std::ops::RangeInclusive<u16> = 32768..=60999;

/// Most smoltcp sockets at once (connections, UDP sockets and listening
/// slots together): each holds its buffers.
const MAX_SOCKETS: usize = 4096;
/// Most connections half-open on one listening port at once (its SYN
/// backlog).
const MAX_HALF_OPEN: usize = 128;

/// Most connections kept in TIME-WAIT; see `Inner::reap_closed`.
const MAX_TIME_WAIT: usize = 128;

/// A TCP connection's receive and send buffers. 256 KiB of receive window
/// (scaled) keeps a veth busy; Linux starts at 128 KiB and grows.
const TCP_RX: usize = 256 << 10;
const TCP_TX: usize = 256 << 10;
/// A UDP socket's buffers: room for the largest datagram, and a few.
const UDP_BYTES: usize = 256 << 10;
const UDP_SLOTS: usize = 64;

/// How long a connect waits for its handshake: Linux's 6 SYN retries.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(127);
/// How often listening slots whose port nothing listens on any more are
/// swept.
const SWEEP: Duration = Duration::from_secs(1);

/// The interface the stack sits on, as taken from the network namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The interface's name (`eth0`), as the sandbox sees it.
    pub name: String,
    /// Its hardware address.
    pub mac: [u8; 6],
    /// Its IP MTU.
    pub mtu: u32,
    /// Its addresses with their prefix lengths.
    pub addrs: Vec<(IpAddr, u8)>,
    /// The default IPv4 gateway, if any.
    pub gateway4: Option<Ipv4Addr>,
    /// The default IPv6 gateway, if any.
    pub gateway6: Option<Ipv6Addr>,
}

impl Config {
    /// The interface's first address of `v6`'s family.
    pub fn addr(&self, v6: bool) -> Option<IpAddr> {
        self.addrs.iter().map(|(a, _)| *a).find(|a| a.is_ipv6() == v6)
    }
}

/// What the stack asks of the Sentry.
pub struct Hooks {
    /// Whether a stream socket in the sandbox listens on this port of the
    /// interface's address (or of any address).
    pub listening: Box<dyn Fn(u16) -> bool + Send + Sync>,
    /// A connection a peer made to a listening port, handshake done.
    pub accepted: Box<dyn Fn(Arc<Conn>) + Send + Sync>,
}

/// Where a TCP connect stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectState {
    /// Still under way.
    Pending,
    /// Established (or, for UDP, always).
    Done,
    /// Failed with this errno.
    Failed(Errno),
}

/// What a [`Conn`] carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A TCP connection.
    Tcp,
    /// UDP datagrams to and from one peer.
    Udp,
    /// ICMP echoes to one peer, and their replies (a ping socket's).
    Echo,
}

/// The smoltcp side of one socket, as the stack tracks it.
struct Meta {
    conn: Weak<Conn>,
    /// The TCP state when last looked at, to tell a reset from a close.
    last: tcp::State,
    /// The pending error (SO_ERROR).
    error: i32,
    /// When an unanswered connect gives up.
    deadline: Option<Instant>,
}

struct Inner {
    iface: Interface,
    sockets: SocketSet<'static>,
    device: PacketDevice,
    meta: HashMap<SocketHandle, Meta>,
    /// Listening slots: a socket in LISTEN (or mid-handshake) for a port.
    listening: Vec<(SocketHandle, u16)>,
    /// Connections the app closed, kept until their FIN exchange (and
    /// TIME-WAIT) is over.
    closing: Vec<SocketHandle>,
    next_sweep: Instant,
}

/// A TCP/IP stack on one interface.
pub struct Stack {
    inner: Mutex<Inner>,
    /// Connections dropped and not yet closed: (socket, is TCP).
    dropped: Mutex<Vec<(SocketHandle, bool)>>,
    packet_fd: RawFd,
    wake_r: OwnedFd,
    wake_w: OwnedFd,
    hooks: OnceLock<Hooks>,
    config: Config,
    next_port: AtomicU16,
    epoch: std::time::Instant,
}

pub(crate) fn to_std(e: IpEndpoint) -> SocketAddr {
    let ip = match e.addr {
        IpAddress::Ipv4(a) => IpAddr::V4(a),
        IpAddress::Ipv6(a) => IpAddr::V6(a),
    };
    SocketAddr::new(ip, e.port)
}

impl Stack {
    /// A stack on the interface behind the packet socket `fd` (bound to
    /// it, non-blocking), as `config` describes it.
    pub fn new(fd: OwnedFd, config: Config) -> std::io::Result<Arc<Stack>> {
        let (wake_r, wake_w) = crate::sys::pipe_nonblock()?;
        let packet_fd = fd.as_raw_fd();
        let mut device = PacketDevice::new(fd, config.mtu as usize);
        let mut cfg = smoltcp::iface::Config::new(HardwareAddress::Ethernet(EthernetAddress(config.mac)));
        cfg.random_seed = crate::sys::random_u64();
        let epoch = std::time::Instant::now();
        let mut iface = Interface::new(cfg, &mut device, Instant::ZERO);
        iface.update_ip_addrs(|addrs| {
            for (a, prefix) in &config.addrs {
                let _ = addrs.push(IpCidr::new(IpAddress::from(*a), *prefix));
            }
        });
        if let Some(gw) = config.gateway4 {
            let _ = iface.routes_mut().add_default_ipv4_route(gw);
        }
        if let Some(gw) = config.gateway6 {
            let _ = iface.routes_mut().add_default_ipv6_route(gw);
        }
        let inner = Inner {
            iface,
            sockets: SocketSet::new(Vec::new()),
            device,
            meta: HashMap::new(),
            listening: Vec::new(),
            closing: Vec::new(),
            next_sweep: Instant::ZERO,
        };
        Ok(Arc::new(Stack {
            inner: Mutex::new(inner),
            dropped: Mutex::new(Vec::new()),
            packet_fd,
            wake_r,
            wake_w,
            hooks: OnceLock::new(),
            config,
            next_port: AtomicU16::new((crate::sys::random_u64() % 65536) as u16),
            epoch,
        }))
    }

    /// The interface the stack sits on.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Says how the stack reaches the Sentry's listening sockets (set once).
    pub fn set_hooks(&self, hooks: Hooks) {
        let _ = self.hooks.set(hooks);
        self.wake();
    }

    fn now(&self) -> Instant {
        Instant::from_micros(self.epoch.elapsed().as_micros() as i64)
    }

    /// The stack, locked, with the closes of dropped connections done.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let dropped = std::mem::take(&mut *self.dropped.lock().unwrap_or_else(|e| e.into_inner()));
        for (handle, tcp) in dropped {
            inner.close_conn(handle, tcp);
        }
        inner
    }

    fn wake(&self) {
        // A full pipe already holds a wake-up.
        crate::sys::write(self.wake_w.as_raw_fd(), &[1]);
    }

    /// The next ephemeral port no socket of the stack holds (a closing
    /// connection's included, so that no two share their four-tuple's
    /// local half). The sequence starts at a random place, as Linux's
    /// does: a sandbox started again does not reuse the ports the peer
    /// may still hold for its last run.
    fn ephemeral_port(&self, inner: &Inner) -> Option<u16> {
        let span = EPHEMERAL.end() - EPHEMERAL.start() + 1;
        let in_use = |port: u16| {
            inner.sockets.iter().any(|(_, s)| match s {
                smoltcp::socket::Socket::Tcp(t) => t.local_endpoint().is_some_and(|e| e.port == port),
                smoltcp::socket::Socket::Udp(u) => u.endpoint().port == port,
                _ => false,
            }) || inner
                .meta
                .values()
                .any(|m| m.conn.upgrade().is_some_and(|c| c.kind == Kind::Echo && c.local.port() == port))
        };
        (0..64)
            .map(|_| self.next_port.fetch_add(1, Ordering::Relaxed))
            .map(|n| EPHEMERAL.start() + n % span)
            .find(|p| !in_use(*p))
    }

    /// A connection (`tcp`) or a UDP socket from the interface's address
    /// of `dst`'s family to `dst`. A TCP one is still connecting; see
    /// [`Conn::connect_state`].
    pub fn connect(self: &Arc<Self>, tcp: bool, dst: SocketAddr) -> Result<Arc<Conn>, Errno> {
        self.open(if tcp { Kind::Tcp } else { Kind::Udp }, dst)
    }

    /// An echo (ping) socket to `dst`'s address: what it sends are ICMP
    /// echo requests, with its own identifier put in; it receives the
    /// replies to them.
    pub fn ping(self: &Arc<Self>, dst: IpAddr) -> Result<Arc<Conn>, Errno> {
        self.open(Kind::Echo, SocketAddr::new(dst, 0))
    }

    fn open(self: &Arc<Self>, kind: Kind, dst: SocketAddr) -> Result<Arc<Conn>, Errno> {
        let src = self.config.addr(dst.is_ipv6()).ok_or(Errno::ENETUNREACH)?;
        let mut inner = self.lock();
        if inner.count() >= MAX_SOCKETS {
            return Err(Errno::ENOBUFS);
        }
        // An echo socket's "port" is its identifier, from the same range.
        let local = SocketAddr::new(src, self.ephemeral_port(&inner).ok_or(Errno::EADDRNOTAVAIL)?);
        let now = self.now();
        let handle = match kind {
            Kind::Tcp => {
                let mut s = tcp_socket();
                let Inner { iface, .. } = &mut *inner;
                s.connect(iface.context(), dst, local).map_err(|_| Errno::EADDRNOTAVAIL)?;
                inner.sockets.add(s)
            }
            Kind::Udp => {
                let mut s = udp_socket();
                s.bind(local).map_err(|_| Errno::EADDRINUSE)?;
                inner.sockets.add(s)
            }
            Kind::Echo => {
                let mut s = echo_socket();
                s.bind(icmp::Endpoint::Ident(local.port())).map_err(|_| Errno::EADDRINUSE)?;
                inner.sockets.add(s)
            }
        };
        let tcp = kind == Kind::Tcp;
        let conn = Arc::new(Conn {
            stack: self.clone(),
            handle,
            kind,
            peer: dst,
            local,
            armed: AtomicU32::new(0),
            notify: OnceLock::new(),
            rd_shut: AtomicBool::new(false),
        });
        inner.meta.insert(
            handle,
            Meta {
                conn: Arc::downgrade(&conn),
                last: tcp::State::SynSent,
                error: 0,
                deadline: tcp.then(|| now + CONNECT_TIMEOUT.into()),
            },
        );
        self.poll_now(&mut inner);
        Ok(conn)
    }

    /// Runs the interface once from an app thread (sends what was queued).
    fn poll_now(&self, inner: &mut Inner) {
        let now = self.now();
        let Inner { iface, sockets, device, .. } = inner;
        iface.poll(now, device, sockets);
        // Only the driver hands out wake-ups (it does so without the lock);
        // a send or receive here changes no other socket's readiness.
        self.observe(inner, now, false);
    }

    /// Looks at every connection after a poll: records resets and refusals
    /// as pending errors, gives up connects past their deadline, and
    /// collects the armed connections whose events came.
    fn observe(&self, inner: &mut Inner, now: Instant, collect: bool) -> Vec<Arc<Conn>> {
        let mut ready = Vec::new();
        let Inner { sockets, meta, .. } = inner;
        for (handle, m) in meta.iter_mut() {
            let Some(conn) = m.conn.upgrade() else { continue };
            if conn.kind == Kind::Tcp {
                let s = sockets.get_mut::<tcp::Socket>(*handle);
                let state = s.state();
                if state != m.last {
                    if state == tcp::State::Closed && m.error == 0 {
                        m.error = match m.last {
                            tcp::State::SynSent => libc::ECONNREFUSED,
                            tcp::State::Established
                            | tcp::State::FinWait1
                            | tcp::State::FinWait2
                            | tcp::State::CloseWait
                            | tcp::State::SynReceived => libc::ECONNRESET,
                            _ => 0,
                        };
                    }
                    if state != tcp::State::SynSent {
                        m.deadline = None;
                    }
                    m.last = state;
                }
                if m.deadline.is_some_and(|d| now >= d) {
                    s.abort();
                    m.error = libc::ETIMEDOUT;
                    m.deadline = None;
                    m.last = tcp::State::Closed;
                }
            }
            let armed = conn.armed.load(Ordering::SeqCst);
            if collect && armed != 0 {
                let r = readiness_of(sockets, *handle, conn.kind, m.error, conn.rd_shut.load(Ordering::SeqCst));
                let done = if r & (POLLERR | POLLHUP) != 0 { armed } else { armed & r };
                if done != 0 {
                    conn.armed.fetch_and(!done, Ordering::SeqCst);
                    ready.push(conn);
                }
            }
        }
        ready
    }

    /// The driver: reads frames, runs the interface and its timers, hands
    /// over accepted connections, and wakes the sockets whose armed events
    /// came. Never returns; run it on a thread of its own.
    pub fn run(self: &Arc<Self>) {
        let mut buf = vec![0u8; FRAME_MAX];
        loop {
            let delay = {
                let mut inner = self.lock();
                let now = self.now();
                let Inner { iface, sockets, .. } = &mut *inner;
                let d = iface.poll_delay(now, sockets).map(|d| d.total_millis() as i32);
                let sweep = (inner.next_sweep - now).total_millis() as i32;
                d.map_or(sweep.max(0), |d| d.min(sweep.max(0)))
            };
            let mut fds = [
                libc::pollfd { fd: self.packet_fd, events: libc::POLLIN, revents: 0 },
                libc::pollfd { fd: self.wake_r.as_raw_fd(), events: libc::POLLIN, revents: 0 },
            ];
            crate::sys::poll(&mut fds, delay.max(0));
            if fds[1].revents != 0 {
                let mut junk = [0u8; 64];
                while crate::sys::read(self.wake_r.as_raw_fd(), &mut junk).is_some() {}
            }
            let frames = self.read_frames(&mut buf);
            self.step(frames);
        }
    }

    /// The frames the packet socket holds now (at most [`RX_QUEUE`]).
    fn read_frames(&self, buf: &mut [u8]) -> Vec<Vec<u8>> {
        let mut frames = Vec::new();
        while frames.len() < RX_QUEUE {
            match read_frame(self.packet_fd, buf) {
                Some(n) => frames.push(buf[..n].to_vec()),
                None => break,
            }
        }
        frames
    }

    /// One round of the driver over the frames just read.
    fn step(self: &Arc<Self>, frames: Vec<Vec<u8>>) {
        // Listening slots for SYNs to ports the sandbox listens on, asked
        // before taking the lock (the hook takes the Sentry's).
        let mut syn_ports: Vec<u16> = frames.iter().filter_map(|f| crate::wire::syn_port(f, &self.config)).collect();
        syn_ports.sort_unstable();
        syn_ports.dedup();
        let open_ports: Vec<u16> = match self.hooks.get() {
            Some(h) => syn_ports.into_iter().filter(|p| (h.listening)(*p)).collect(),
            None => Vec::new(),
        };
        let (ready, accepted, sweep) = {
            let mut inner = self.lock();
            let now = self.now();
            for port in open_ports {
                inner.open_slot(port);
            }
            for f in frames {
                inner.device.rx.push_back(f);
            }
            {
                let Inner { iface, sockets, device, .. } = &mut *inner;
                iface.poll(now, device, sockets);
            }
            let accepted = self.take_accepted(&mut inner);
            let ready = self.observe(&mut inner, now, true);
            inner.reap_closed();
            let sweep = if now >= inner.next_sweep {
                inner.next_sweep = now + SWEEP.into();
                let mut ports: Vec<u16> = inner.listening.iter().map(|(_, p)| *p).collect();
                ports.sort_unstable();
                ports.dedup();
                ports
            } else {
                Vec::new()
            };
            (ready, accepted, sweep)
        };
        for conn in ready {
            conn.notify();
        }
        if let Some(h) = self.hooks.get() {
            for conn in accepted {
                (h.accepted)(conn);
            }
            let gone: Vec<u16> = sweep.into_iter().filter(|p| !(h.listening)(*p)).collect();
            if !gone.is_empty() {
                let mut inner = self.lock();
                inner.close_slots(&gone);
            }
        }
    }

    /// Turns the listening slots whose handshake finished into
    /// connections.
    fn take_accepted(self: &Arc<Self>, inner: &mut Inner) -> Vec<Arc<Conn>> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < inner.listening.len() {
            let (handle, _) = inner.listening[i];
            let s = inner.sockets.get::<tcp::Socket>(handle);
            let state = s.state();
            if state == tcp::State::Listen || state == tcp::State::SynReceived {
                i += 1;
                continue;
            }
            inner.listening.swap_remove(i);
            let (Some(remote), Some(local)) = (s.remote_endpoint(), s.local_endpoint()) else {
                inner.sockets.remove(handle);
                continue;
            };
            let conn = Arc::new(Conn {
                stack: self.clone(),
                handle,
                kind: Kind::Tcp,
                peer: to_std(remote),
                local: to_std(local),
                armed: AtomicU32::new(0),
                notify: OnceLock::new(),
                rd_shut: AtomicBool::new(false),
            });
            inner.meta.insert(handle, Meta { conn: Arc::downgrade(&conn), last: state, error: 0, deadline: None });
            out.push(conn);
        }
        out
    }
}

impl Inner {
    /// Closes a connection the app let go of: a UDP socket at once, a TCP
    /// one with a FIN (a reset if data it never read is left, as on
    /// Linux), kept until its goodbye is over.
    fn close_conn(&mut self, handle: SocketHandle, tcp: bool) {
        self.meta.remove(&handle);
        if !tcp {
            self.sockets.remove(handle);
            return;
        }
        let s = self.sockets.get_mut::<tcp::Socket>(handle);
        if s.recv_queue() > 0 {
            s.abort();
        } else {
            s.close();
        }
        self.closing.push(handle);
    }

    fn count(&self) -> usize {
        self.meta.len() + self.listening.len() + self.closing.len()
    }

    /// A socket listening on `port` (any of the interface's addresses), if
    /// none is waiting there already.
    fn open_slot(&mut self, port: u16) {
        let mut waiting = 0;
        let mut half_open = 0;
        for (h, p) in &self.listening {
            if *p == port {
                half_open += 1;
                if self.sockets.get::<tcp::Socket>(*h).state() == tcp::State::Listen {
                    waiting += 1;
                }
            }
        }
        if waiting > 0 || half_open >= MAX_HALF_OPEN || self.count() >= MAX_SOCKETS {
            return;
        }
        let mut s = tcp_socket();
        if s.listen(port).is_ok() {
            let h = self.sockets.add(s);
            self.listening.push((h, port));
        }
    }

    /// Drops the listening slots of `ports` (nothing listens there now).
    fn close_slots(&mut self, ports: &[u16]) {
        let (gone, kept): (Vec<_>, Vec<_>) = self.listening.drain(..).partition(|(_, p)| ports.contains(p));
        self.listening = kept;
        for (h, _) in gone {
            self.sockets.get_mut::<tcp::Socket>(h).abort();
            self.closing.push(h);
        }
    }

    /// Frees the closed connections whose goodbye is over.
    /// Beyond [`MAX_TIME_WAIT`] connections in TIME-WAIT, the oldest go
    /// at once (as Linux's `tcp_max_tw_buckets`): smoltcp looks at every
    /// socket on each poll, so thousands of them would make every packet
    /// cost thousands of looks.
    fn reap_closed(&mut self) {
        let sockets = &mut self.sockets;
        let waiting =
            self.closing.iter().filter(|h| sockets.get::<tcp::Socket>(**h).state() == tcp::State::TimeWait).count();
        let mut excess = waiting.saturating_sub(MAX_TIME_WAIT);
        self.closing.retain(|h| {
            let state = sockets.get::<tcp::Socket>(*h).state();
            let drop_waiting = state == tcp::State::TimeWait && excess > 0;
            if state == tcp::State::Closed || drop_waiting {
                excess -= usize::from(drop_waiting);
                sockets.remove(*h);
                false
            } else {
                true
            }
        });
    }
}

fn tcp_socket() -> tcp::Socket<'static> {
    let mut s = tcp::Socket::new(tcp::SocketBuffer::new(vec![0; TCP_RX]), tcp::SocketBuffer::new(vec![0; TCP_TX]));
    s.set_nagle_enabled(false);
    s.set_congestion_control(tcp::CongestionControl::Cubic);
    s
}

fn udp_socket() -> udp::Socket<'static> {
    let buf = || udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; UDP_SLOTS], vec![0; UDP_BYTES]);
    udp::Socket::new(buf(), buf())
}

fn echo_socket() -> icmp::Socket<'static> {
    let buf = || icmp::PacketBuffer::new(vec![icmp::PacketMetadata::EMPTY; UDP_SLOTS], vec![0; UDP_BYTES]);
    icmp::Socket::new(buf(), buf())
}

/// The `POLL*` events of a socket now.
fn readiness_of(sockets: &SocketSet<'_>, handle: SocketHandle, kind: Kind, error: i32, rd_shut: bool) -> u32 {
    let mut r = if error != 0 { POLLERR } else { 0 };
    let (can_recv, can_send) = match kind {
        Kind::Tcp => (false, false),
        Kind::Udp => {
            let s = sockets.get::<udp::Socket>(handle);
            (s.can_recv(), s.can_send())
        }
        Kind::Echo => {
            let s = sockets.get::<icmp::Socket>(handle);
            (s.can_recv(), s.can_send())
        }
    };
    if kind != Kind::Tcp {
        if can_recv {
            r |= POLLIN;
        }
        if can_send {
            r |= POLLOUT;
        }
        return r;
    }
    let s = sockets.get::<tcp::Socket>(handle);
    use tcp::State::*;
    match s.state() {
        SynSent | SynReceived | Listen => {}
        Closed | TimeWait | LastAck | Closing => r |= POLLIN | POLLRDHUP | POLLHUP | POLLOUT,
        state => {
            if s.can_recv() || !s.may_recv() || rd_shut {
                r |= POLLIN;
            }
            if !s.may_recv() {
                r |= POLLRDHUP;
            }
            if s.can_send() || !matches!(state, Established | CloseWait) {
                r |= POLLOUT;
            }
        }
    }
    r
}

/// One of the sandbox's sockets on the stack: a TCP connection, or a UDP
/// socket talking to one peer.
pub struct Conn {
    stack: Arc<Stack>,
    handle: SocketHandle,
    /// What it carries.
    pub kind: Kind,
    /// The other end.
    pub peer: SocketAddr,
    /// This end, as getsockname shows it.
    pub local: SocketAddr,
    armed: AtomicU32,
    notify: OnceLock<Box<dyn Fn() + Send + Sync>>,
    rd_shut: AtomicBool,
}

/// What a send sends.
pub type Fill<'a> = &'a mut dyn FnMut(usize, &mut [u8]);
/// What a receive receives into.
pub type Sink<'a> = &'a mut dyn FnMut(usize, &[u8]);

impl Conn {
    /// Says whom to wake when an armed event comes (set once).
    pub fn set_notify(&self, f: Box<dyn Fn() + Send + Sync>) {
        let _ = self.notify.set(f);
    }

    fn notify(&self) {
        if let Some(f) = self.notify.get() {
            f();
        }
    }

    fn arm(&self, events: u32) {
        let events = events & (POLLIN | POLLOUT);
        let old = self.armed.fetch_or(events, Ordering::SeqCst);
        if old & events != events {
            self.stack.wake();
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        let mut inner = self.stack.lock();
        f(&mut inner)
    }

    /// The `POLL*` events that would not block now; those that would are
    /// armed, so that the notify closure hears when they come.
    pub fn readiness(&self) -> u32 {
        let r = self.with(|inner| {
            let err = inner.meta.get(&self.handle).map_or(0, |m| m.error);
            readiness_of(&inner.sockets, self.handle, self.kind, err, self.rd_shut.load(Ordering::SeqCst))
        });
        let missing = (POLLIN | POLLOUT) & !r;
        if missing != 0 && r & (POLLERR | POLLHUP) == 0 {
            self.arm(missing);
        }
        r
    }

    /// Receives up to `room` bytes into `sink` (offset, bytes); returns
    /// (copied, whole length): a datagram's whole length may be more than
    /// fits. `Ok((0, 0))` is end of stream.
    pub fn recv(&self, room: usize, peek: bool, sink: Sink<'_>) -> Result<(usize, usize), Errno> {
        let r = self.with(|inner| {
            if let Some(m) = inner.meta.get_mut(&self.handle) {
                if m.error != 0 {
                    return Err(Errno(std::mem::take(&mut m.error)));
                }
            }
            if self.kind == Kind::Tcp {
                if self.rd_shut.load(Ordering::SeqCst) {
                    return Ok((0, 0));
                }
                let s = inner.sockets.get_mut::<tcp::Socket>(self.handle);
                let n = tcp_recv(s, room, peek, sink)?;
                // A window that opened again is worth saying at once.
                if n > 0 && !peek {
                    self.stack.poll_now(inner);
                }
                Ok((n, n))
            } else if self.kind == Kind::Echo {
                // (smoltcp cannot peek at one: nobody asks.)
                let s = inner.sockets.get_mut::<icmp::Socket>(self.handle);
                if peek {
                    return Err(if s.can_recv() { Errno::EOPNOTSUPP } else { Errno::EAGAIN });
                }
                match s.recv() {
                    Ok((data, _from)) => {
                        let n = data.len().min(room);
                        sink(0, &data[..n]);
                        Ok((n, data.len()))
                    }
                    Err(_) => Err(Errno::EAGAIN),
                }
            } else {
                let s = inner.sockets.get_mut::<udp::Socket>(self.handle);
                let got =
                    if peek { s.peek().map(|(d, m)| (d, m.endpoint)) } else { s.recv().map(|(d, m)| (d, m.endpoint)) };
                match got {
                    Ok((data, _from)) => {
                        let n = data.len().min(room);
                        sink(0, &data[..n]);
                        Ok((n, data.len()))
                    }
                    Err(_) => Err(Errno::EAGAIN),
                }
            }
        });
        if r == Err(Errno::EAGAIN) {
            self.arm(POLLIN);
        }
        r
    }

    /// Sends `len` bytes that `fill` (offset, room) writes: how many were
    /// taken. EPIPE once the connection can send no more.
    pub fn send(&self, len: usize, fill: Fill<'_>) -> Result<usize, Errno> {
        let r = self.with(|inner| {
            if let Some(m) = inner.meta.get_mut(&self.handle) {
                if m.error != 0 {
                    return Err(Errno(std::mem::take(&mut m.error)));
                }
            }
            let n = if self.kind == Kind::Tcp {
                let s = inner.sockets.get_mut::<tcp::Socket>(self.handle);
                if !s.may_send() {
                    return Err(if s.state() == tcp::State::SynSent { Errno::EAGAIN } else { Errno::EPIPE });
                }
                let mut done = 0;
                while done < len {
                    let n = s
                        .send(|buf| {
                            let n = buf.len().min(len - done);
                            fill(done, &mut buf[..n]);
                            (n, n)
                        })
                        .unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    done += n;
                }
                if done == 0 && len > 0 {
                    return Err(Errno::EAGAIN);
                }
                done
            } else if self.kind == Kind::Echo {
                // An echo request of at least its 8-byte header, with this
                // socket's identifier put in (replies carry it back).
                if len < 8 {
                    return Err(Errno::EINVAL);
                }
                let s = inner.sockets.get_mut::<icmp::Socket>(self.handle);
                match s.send(len, IpAddress::from(self.peer.ip())) {
                    Ok(buf) => {
                        fill(0, buf);
                        buf[4..6].copy_from_slice(&self.local.port().to_be_bytes());
                    }
                    Err(icmp::SendError::BufferFull) => return Err(Errno::EAGAIN),
                    Err(icmp::SendError::Unaddressable) => return Err(Errno::EDESTADDRREQ),
                }
                len
            } else {
                if len > 65507 {
                    return Err(Errno::EMSGSIZE);
                }
                let s = inner.sockets.get_mut::<udp::Socket>(self.handle);
                match s.send(len, IpEndpoint::from(self.peer)) {
                    Ok(buf) => fill(0, buf),
                    Err(udp::SendError::BufferFull) => return Err(Errno::EAGAIN),
                    Err(udp::SendError::Unaddressable) => return Err(Errno::EDESTADDRREQ),
                }
                len
            };
            self.stack.poll_now(inner);
            Ok(n)
        });
        if r == Err(Errno::EAGAIN) {
            self.arm(POLLOUT);
        }
        r
    }

    /// shutdown(2): SHUT_RD (0), SHUT_WR (1) or SHUT_RDWR (2).
    pub fn shutdown(&self, how: u32) -> Result<(), Errno> {
        if self.kind != Kind::Tcp {
            return Ok(());
        }
        self.with(|inner| {
            let s = inner.sockets.get_mut::<tcp::Socket>(self.handle);
            if matches!(s.state(), tcp::State::SynSent | tcp::State::Closed) {
                return Err(Errno::ENOTCONN);
            }
            if how != 1 {
                self.rd_shut.store(true, Ordering::SeqCst);
            }
            if how != 0 {
                s.close();
                self.stack.poll_now(inner);
            }
            Ok(())
        })?;
        if let Some(f) = self.notify.get() {
            f();
        }
        Ok(())
    }

    /// The pending error (SO_ERROR), taken; 0 if none.
    pub fn take_error(&self) -> i32 {
        self.with(|inner| inner.meta.get_mut(&self.handle).map_or(0, |m| std::mem::take(&mut m.error)))
    }

    /// Where a TCP connect stands.
    pub fn connect_state(&self) -> ConnectState {
        if self.kind != Kind::Tcp {
            return ConnectState::Done;
        }
        let st = self.with(|inner| {
            let err = inner.meta.get_mut(&self.handle).map_or(0, |m| std::mem::take(&mut m.error));
            let state = inner.sockets.get::<tcp::Socket>(self.handle).state();
            match (err, state) {
                (0, tcp::State::SynSent) => ConnectState::Pending,
                (0, tcp::State::Closed) => ConnectState::Failed(Errno::ECONNREFUSED),
                (0, _) => ConnectState::Done,
                (e, _) => ConnectState::Failed(Errno(e)),
            }
        });
        if st == ConnectState::Pending {
            self.arm(POLLOUT);
        }
        st
    }

    /// FIONREAD: readable bytes (the next datagram's, for UDP).
    pub fn pending_bytes(&self) -> usize {
        self.with(|inner| match self.kind {
            Kind::Tcp => inner.sockets.get::<tcp::Socket>(self.handle).recv_queue(),
            Kind::Udp => inner.sockets.get_mut::<udp::Socket>(self.handle).peek().map_or(0, |(d, _)| d.len()),
            Kind::Echo => inner.sockets.get::<icmp::Socket>(self.handle).recv_queue(),
        })
    }
}

fn tcp_recv(s: &mut tcp::Socket<'_>, room: usize, peek: bool, sink: Sink<'_>) -> Result<usize, Errno> {
    if !s.can_recv() {
        return match s.state() {
            tcp::State::SynSent | tcp::State::SynReceived | tcp::State::Listen => Err(Errno::EAGAIN),
            _ if !s.may_recv() => Ok(0),
            _ => Err(Errno::EAGAIN),
        };
    }
    if peek {
        // Peeks see what is contiguous first, then the wrapped rest.
        let mut tmp = vec![0u8; room.min(s.recv_queue())];
        let n = s.peek_slice(&mut tmp).unwrap_or(0);
        sink(0, &tmp[..n]);
        return Ok(n);
    }
    let mut done = 0;
    while done < room {
        let n = s
            .recv(|buf| {
                let n = buf.len().min(room - done);
                sink(done, &buf[..n]);
                (n, n)
            })
            .unwrap_or(0);
        if n == 0 {
            break;
        }
        done += n;
    }
    Ok(done)
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.stack.dropped.lock().unwrap_or_else(|e| e.into_inner()).push((self.handle, self.kind == Kind::Tcp));
        // The driver carries it out (and sends the FIN) at once.
        self.stack.wake();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixDatagram;

    /// A stack whose "interface" is one end of a datagram socket pair.
    fn stack() -> (Arc<Stack>, UnixDatagram) {
        let (ours, wire) = UnixDatagram::pair().expect("socketpair");
        ours.set_nonblocking(true).expect("nonblocking");
        let config = Config {
            name: "eth0".into(),
            mac: [2, 0, 0, 0, 0, 2],
            mtu: 1500,
            addrs: vec![("10.0.0.2".parse().expect("ip"), 24)],
            gateway4: None,
            gateway6: None,
        };
        (Stack::new(OwnedFd::from(ours), config).expect("stack"), wire)
    }

    #[test]
    fn a_connection_dropped_under_the_lock_is_closed_by_the_next_locker() {
        let (stack, _wire) = stack();
        let conn = stack.connect(true, "10.0.0.1:80".parse().expect("addr")).expect("connect");
        let handle = conn.handle;
        {
            // The driver holds the lock while it holds connections: the
            // last one going must not take the lock again.
            let _inner = stack.lock();
            drop(conn);
        }
        let inner = stack.lock();
        assert!(!inner.meta.contains_key(&handle));
        assert!(inner.closing.contains(&handle));
    }

    /// Two stacks wired back to back (frames copied between their
    /// socket pairs by `pump`); `b` accepts on port 80.
    fn pair() -> (Arc<Stack>, Arc<Stack>, impl Fn()) {
        let make = |mac: u8, ip: &str| {
            let (ours, wire) = UnixDatagram::pair().expect("socketpair");
            ours.set_nonblocking(true).expect("nonblocking");
            wire.set_nonblocking(true).expect("nonblocking");
            let config = Config {
                name: "eth0".into(),
                mac: [2, 0, 0, 0, 0, mac],
                mtu: 1500,
                addrs: vec![(ip.parse().expect("ip"), 24)],
                gateway4: None,
                gateway6: None,
            };
            (Stack::new(OwnedFd::from(ours), config).expect("stack"), wire)
        };
        let (a, wa) = make(1, "10.0.0.1");
        let (b, wb) = make(2, "10.0.0.2");
        let accepted: Arc<Mutex<Vec<Arc<Conn>>>> = Arc::default();
        let keep = accepted.clone();
        b.set_hooks(Hooks {
            listening: Box::new(|port| port == 80),
            accepted: Box::new(move |c| keep.lock().unwrap().push(c)),
        });
        let (a2, b2) = (a.clone(), b.clone());
        let pump = move || {
            let mut buf = vec![0u8; FRAME_MAX];
            for _ in 0..20 {
                while let Ok(n) = wa.recv(&mut buf) {
                    let _ = wb.send(&buf[..n]);
                }
                while let Ok(n) = wb.recv(&mut buf) {
                    let _ = wa.send(&buf[..n]);
                }
                let fa = a2.read_frames(&mut buf);
                a2.step(fa);
                let fb = b2.read_frames(&mut buf);
                b2.step(fb);
                // The server's side closes what it accepted.
                accepted.lock().unwrap().clear();
            }
        };
        (a, b, pump)
    }

    #[test]
    fn connections_close_through_time_wait_and_time_wait_is_bounded() {
        // The server's side closes first (as soon as it accepted): its
        // connections are the ones that wait in TIME-WAIT.
        let (a, b, pump) = pair();
        for _ in 0..MAX_TIME_WAIT + 20 {
            let conn = a.connect(true, "10.0.0.2:80".parse().expect("addr")).expect("connect");
            pump();
            assert_eq!(conn.connect_state(), ConnectState::Done);
            drop(conn);
            pump();
        }
        assert!(a.lock().meta.is_empty());
        let inner = b.lock();
        let waiting = inner
            .closing
            .iter()
            .filter(|h| inner.sockets.get::<tcp::Socket>(**h).state() == tcp::State::TimeWait)
            .count();
        assert!(waiting > 0, "closed connections go through TIME-WAIT");
        assert!(waiting <= MAX_TIME_WAIT, "{waiting} in TIME-WAIT");
    }

    #[test]
    fn echo_sockets_get_their_replies_with_distinct_identifiers() {
        // `b` answers echoes itself (smoltcp's automatic reply).
        let (a, _b, pump) = pair();
        let first = a.ping("10.0.0.2".parse().expect("ip")).expect("ping socket");
        let second = a.ping("10.0.0.2".parse().expect("ip")).expect("ping socket");
        assert_ne!(first.local.port(), second.local.port(), "each has an identifier of its own");
        assert_eq!(first.send(4, &mut |_, _| {}), Err(Errno::EINVAL), "shorter than an echo header");
        // Type 8 (request), code 0, a checksum and identifier the stack
        // fills in, sequence 7, then the payload.
        let request = [8u8, 0, 0, 0, 0, 0, 0, 7, b'h', b'u', b's', b'k'];
        let fill = |off: usize, buf: &mut [u8]| buf.copy_from_slice(&request[off..off + buf.len()]);
        assert_eq!(first.send(request.len(), &mut { fill }), Ok(request.len()));
        pump();
        let mut reply = Vec::new();
        let got = first.recv(64, false, &mut |_, b| reply.extend_from_slice(b));
        assert_eq!(got, Ok((request.len(), request.len())));
        assert_eq!(reply[0], 0, "an echo reply");
        assert_eq!(u16::from_be_bytes([reply[4], reply[5]]), first.local.port());
        assert_eq!(&reply[6..], &request[6..], "the sequence and payload come back");
        assert_eq!(second.recv(64, false, &mut |_, _| {}), Err(Errno::EAGAIN), "not the other socket's");
        assert_eq!(first.recv(64, true, &mut |_, _| {}), Err(Errno::EAGAIN));
    }

    #[test]
    fn connects_without_an_address_of_the_family_are_unreachable() {
        let (stack, _wire) = stack();
        let e = stack.connect(true, "[2001:db8::1]:80".parse().expect("addr")).err();
        assert_eq!(e, Some(Errno::ENETUNREACH));
    }
}
