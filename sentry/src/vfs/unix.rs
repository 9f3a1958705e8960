//! Unix-domain sockets of the stream, datagram and seqpacket kinds: the
//! connected pairs socketpair(2) makes, and sockets bound to a name (an
//! abstract one, or a path in the filesystem) that listen, connect and
//! accept.
//!
//! Each end has a receive queue of messages. A send puts a message on the
//! peer's queue, with any files (SCM_RIGHTS) and credentials riding along,
//! and tells the peer's wait queue. A receive takes from its own queue and
//! tells the peer, whose writes may now fit. Stream ends read across
//! messages, but never past files that ride with one. Datagram and
//! seqpacket ends read one message at a time, truncating it to the buffer.
//! What a sender has queued and the peer has not read counts against the
//! sender's SO_SNDBUF, and readiness follows Linux's `unix_poll` and
//! `unix_dgram_poll`. Shutdown and close set the shutdown bits of both
//! ends as Linux's `unix_shutdown` and `unix_release_sock` do.
//!
//! Names live in the sandbox's [`Namespace`]: abstract names by their
//! bytes, path names by the socket file's identity (its device and inode),
//! so a connect finds the socket through the file, wherever it is linked.
//! A stream or seqpacket connect makes the server's end at once and queues
//! it on the listener (at most its backlog plus one), where accept takes it.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use abi::Errno;
use gofer::FileAttr;

use super::file::{get_bytes, put_bytes, File, FileOps, POLLERR, POLLHUP, POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM};
use super::inet;
use crate::kernel::nat::{DatagramPeer, Flow};
use crate::kernel::waiter::{WaitQueue, ALL_EVENTS};
use crate::mm::{Chunk, MemoryFile, SysResult};

/// `SOCK_*` types.
pub const SOCK_STREAM: u32 = 1;
/// Datagrams.
pub const SOCK_DGRAM: u32 = 2;
/// Connected datagrams with end-of-connection.
pub const SOCK_SEQPACKET: u32 = 5;

/// The peer's writes can no longer reach this end (or this end shut
/// reading).
pub const RCV_SHUTDOWN: u32 = 1;
/// This end may no longer send.
pub const SEND_SHUTDOWN: u32 = 2;
const SHUTDOWN_MASK: u32 = RCV_SHUTDOWN | SEND_SHUTDOWN;

/// `POLLRDHUP`.
pub const POLLRDHUP: u32 = 0x2000;
/// `POLLWRBAND`.
const POLLWRBAND: u32 = 0x200;

/// Linux's default and largest SO_SNDBUF and SO_RCVBUF (`wmem_max`).
pub const DEFAULT_BUF: u32 = 212_992;
/// Linux's smallest SO_SNDBUF (`SOCK_MIN_SNDBUF`).
pub const MIN_SNDBUF: u32 = 4608;
/// Linux's smallest SO_RCVBUF (`SOCK_MIN_RCVBUF`).
pub const MIN_RCVBUF: u32 = 2304;
/// What each message costs beyond its bytes, against the sender's buffer,
/// so that even empty datagrams fill it.
const MESSAGE_OVERHEAD: usize = 64;
/// Most files one message may carry (`SCM_MAX_FD`).
pub const SCM_MAX_FD: usize = 253;

static NEXT_INO: AtomicU64 = AtomicU64::new(1);

/// `struct ucred`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ucred {
    /// Thread-group id.
    pub pid: i32,
    /// User id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
}

/// Ancillary data that rides with a message.
#[derive(Default)]
pub struct Control {
    /// SCM_RIGHTS: open files.
    pub files: Vec<Arc<File>>,
    /// SCM_CREDENTIALS the sender gave explicitly.
    pub creds: Option<Ucred>,
    /// An Internet datagram's IP header.
    pub ip: Option<inet::IpHeader>,
}

struct Message {
    /// The sender's name, for recvfrom (datagrams).
    from: Option<SockName>,
    data: Vec<u8>,
    /// Bytes of `data` a stream reader already took.
    taken: usize,
    control: Control,
    /// Who sent it, for SO_PASSCRED readers.
    sender: Ucred,
}

impl Message {
    fn left(&self) -> usize {
        self.data.len() - self.taken
    }

    fn cost(&self) -> usize {
        self.data.len() + MESSAGE_OVERHEAD
    }
}

#[derive(Default)]
struct Rx {
    msgs: VecDeque<Message>,
    /// Sum of the queued messages' costs: the sender's outstanding bytes.
    cost: usize,
}

/// Options set with setsockopt.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// SO_PASSCRED.
    pub passcred: bool,
    /// SO_SNDBUF.
    pub sndbuf: u32,
    /// SO_RCVBUF.
    pub rcvbuf: u32,
    /// SO_RCVTIMEO as a duration (zero: none).
    pub rcvtimeo: std::time::Duration,
    /// SO_SNDTIMEO.
    pub sndtimeo: std::time::Duration,
}

/// What a receive got.
pub struct Received {
    /// Bytes copied.
    pub copied: usize,
    /// The message's whole length (datagrams; `copied` for streams).
    pub full: usize,
    /// Files and credentials, as the receiver should see them.
    pub control: Control,
    /// Credentials for an SO_PASSCRED receiver.
    pub creds: Option<Ucred>,
    /// The sender's name (datagrams).
    pub from: Option<SockName>,
}

/// A socket's address: an abstract name (without its leading NUL) or a
/// path, as bound.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SockName {
    /// `sun_path` starting with a NUL: the bytes after it.
    Abstract(Vec<u8>),
    /// A path, as given to bind.
    Path(Vec<u8>),
    /// An Internet socket's address and port (see `vfs::inet`).
    Inet(std::net::SocketAddr),
    /// A netlink socket's port id and multicast groups (see
    /// `vfs::netlink`); port id 0 is the kernel.
    Netlink {
        /// `nl_pid`.
        pid: u32,
        /// `nl_groups`.
        groups: u32,
    },
}

impl SockName {
    /// The address structure for this name as a socket of `family` shows
    /// it: a `struct sockaddr_un` at Linux's length, or a `sockaddr_in` or
    /// `sockaddr_in6`.
    pub fn to_sockaddr(&self, family: u32) -> Vec<u8> {
        let mut out = (AF_UNIX as u16).to_ne_bytes().to_vec();
        match self {
            SockName::Inet(a) => return super::inet::to_sockaddr(a, family),
            SockName::Netlink { pid, groups } => {
                let mut nl = (super::netlink::AF_NETLINK as u16).to_ne_bytes().to_vec();
                nl.extend_from_slice(&[0, 0]);
                nl.extend_from_slice(&pid.to_ne_bytes());
                nl.extend_from_slice(&groups.to_ne_bytes());
                return nl;
            }
            SockName::Abstract(n) => {
                out.push(0);
                out.extend_from_slice(n);
            }
            SockName::Path(p) => {
                out.extend_from_slice(p);
                out.push(0);
            }
        }
        out
    }
}

/// `AF_UNIX`.
pub const AF_UNIX: u32 = 1;

/// Where a socket stands.
enum State {
    /// Made by socket(2), not (yet) connected or listening.
    Unconnected,
    /// Listening: the server ends of connections not yet accepted.
    Listening { backlog: usize, pending: VecDeque<Arc<Endpoint>> },
    /// Connected (or a datagram socket with a default peer); the peer may
    /// since have closed.
    Connected,
}

/// The names of a sandbox's bound Unix sockets.
#[derive(Default)]
pub struct Namespace {
    /// The ports of Internet sockets.
    pub inet: Mutex<super::inet::Ports>,
    abstract_names: Mutex<std::collections::HashMap<Vec<u8>, Weak<Endpoint>>>,
    /// Path names, by the socket file's (device, inode).
    paths: Mutex<std::collections::HashMap<(u64, u64), Weak<Endpoint>>>,
}

/// Most names a sandbox's sockets may hold at once.
const MAX_NAMES: usize = 65536;

impl Namespace {
    /// Binds `ep` to the abstract name `name`: EADDRINUSE if a live socket
    /// holds it.
    pub fn bind_abstract(&self, name: &[u8], ep: &Arc<Endpoint>) -> SysResult<()> {
        let mut map = self.abstract_names.lock().unwrap_or_else(|e| e.into_inner());
        if map.get(name).and_then(Weak::upgrade).is_some_and(|e| !e.dead.load(Ordering::SeqCst)) {
            return Err(Errno::EADDRINUSE);
        }
        if map.len() >= MAX_NAMES {
            map.retain(|_, w| w.upgrade().is_some_and(|e| !e.dead.load(Ordering::SeqCst)));
            if map.len() >= MAX_NAMES {
                return Err(Errno::ENOMEM);
            }
        }
        map.insert(name.to_vec(), Arc::downgrade(ep));
        Ok(())
    }

    /// Binds `ep` to the socket file `(dev, ino)` just made for it.
    pub fn bind_path(&self, key: (u64, u64), ep: &Arc<Endpoint>) -> SysResult<()> {
        let mut map = self.paths.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_NAMES {
            map.retain(|_, w| w.upgrade().is_some_and(|e| !e.dead.load(Ordering::SeqCst)));
            if map.len() >= MAX_NAMES {
                return Err(Errno::ENOMEM);
            }
        }
        map.insert(key, Arc::downgrade(ep));
        Ok(())
    }

    /// The live socket bound to an abstract name.
    pub fn find_abstract(&self, name: &[u8]) -> Option<Arc<Endpoint>> {
        let map = self.abstract_names.lock().unwrap_or_else(|e| e.into_inner());
        map.get(name).and_then(Weak::upgrade).filter(|e| !e.dead.load(Ordering::SeqCst))
    }

    /// The live socket bound to the socket file `(dev, ino)`.
    pub fn find_path(&self, key: (u64, u64)) -> Option<Arc<Endpoint>> {
        let map = self.paths.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&key).and_then(Weak::upgrade).filter(|e| !e.dead.load(Ordering::SeqCst))
    }

    /// The live sockets bound to a name, abstract or path (/proc/net/unix);
    /// at most [`MAX_NAMES`] of each, as the tables hold.
    pub fn named(&self) -> Vec<Arc<Endpoint>> {
        let live = |w: &Weak<Endpoint>| w.upgrade().filter(|e| !e.dead.load(Ordering::SeqCst));
        let mut all: Vec<Arc<Endpoint>> =
            self.abstract_names.lock().unwrap_or_else(|e| e.into_inner()).values().filter_map(live).collect();
        all.extend(self.paths.lock().unwrap_or_else(|e| e.into_inner()).values().filter_map(live));
        all
    }

    /// Frees an abstract name when its socket closes.
    fn release_abstract(&self, name: &[u8], ep: &Endpoint) {
        let mut map = self.abstract_names.lock().unwrap_or_else(|e| e.into_inner());
        if map.get(name).is_some_and(|w| std::ptr::eq(w.as_ptr(), ep)) {
            map.remove(name);
        }
    }
}

/// One end of a connection, or a socket not (yet) connected.
pub struct Endpoint {
    /// AF_UNIX, AF_INET or AF_INET6.
    family: u32,
    kind: u32,
    state: Mutex<State>,
    name: Mutex<Option<SockName>>,
    rx: Mutex<Rx>,
    queue: WaitQueue,
    peer: Mutex<Weak<Endpoint>>,
    shutdown: AtomicU32,
    opts: Mutex<Options>,
    /// The creator's credentials: SO_PEERCRED of the other end.
    creds: Ucred,
    /// Its file was closed.
    dead: AtomicBool,
    /// A pending error (`sk_err`): ECONNRESET when the peer went with
    /// data unread. Taken by SO_ERROR, or by a receive that finds no data.
    error: AtomicI32,
    /// Generic SOL_SOCKET options kept for getsockopt (SO_REUSEADDR,
    /// SO_KEEPALIVE, SO_LINGER, ...): Linux takes them on any socket.
    kept: Mutex<std::collections::BTreeMap<i32, u64>>,
    /// An Internet socket's connection outside the sandbox
    /// (`kernel::nat`): then every transfer, readiness and shutdown is
    /// the host socket's.
    flow: Mutex<Option<Arc<Flow>>>,
    /// Whether `flow` may be set: every send, receive and readiness check
    /// of every socket asks, and almost none has a flow.
    has_flow: AtomicBool,
    /// A TCP connection its peer reset: getpeername says ENOTCONN.
    was_reset: AtomicBool,
    /// A datagram socket's outside peers (`kernel::nat`), least recently
    /// made first: those it sent to by address.
    outside: Mutex<Vec<Arc<DatagramPeer>>>,
    /// An Internet socket's data sent with MSG_MORE, held until a send
    /// without it (or a shutdown or close) sends it all at once: one UDP
    /// datagram, one TCP write.
    corked: Mutex<Vec<u8>>,
    /// Whether `corked` may hold anything: every send of every Internet
    /// socket asks, and almost none ever uses MSG_MORE.
    has_corked: AtomicBool,
    /// The socket file a path bind made (for a checkpoint to find again).
    bound_file: Mutex<Option<Arc<super::Dentry>>>,
    ino: u64,
}

/// Most outside peers one datagram socket keeps (each is a host socket);
/// beyond, the oldest is forgotten, and what it would have brought back
/// is lost.
const MAX_OUTSIDE_PEERS: usize = 64;
/// The most bytes MSG_MORE holds back (a UDP datagram's largest payload);
/// past it a send goes out with what was held.
const MAX_CORKED: usize = 65507;

impl Endpoint {
    /// A new, unconnected Unix socket of type `kind`, made by `creds`.
    pub fn new(kind: u32, creds: Ucred) -> Arc<Endpoint> {
        Endpoint::new_in(AF_UNIX, kind, creds)
    }

    /// A new, unconnected socket of `family` and type `kind`, made by
    /// `creds`.
    pub fn new_in(family: u32, kind: u32, creds: Ucred) -> Arc<Endpoint> {
        Arc::new(Endpoint {
            family,
            kind,
            state: Mutex::new(State::Unconnected),
            name: Mutex::new(None),
            rx: Mutex::new(Rx::default()),
            queue: WaitQueue::default(),
            peer: Mutex::new(Weak::new()),
            shutdown: AtomicU32::new(0),
            opts: Mutex::new(Options {
                passcred: false,
                sndbuf: DEFAULT_BUF,
                rcvbuf: DEFAULT_BUF,
                rcvtimeo: std::time::Duration::ZERO,
                sndtimeo: std::time::Duration::ZERO,
            }),
            creds,
            dead: AtomicBool::new(false),
            error: AtomicI32::new(0),
            kept: Mutex::new(std::collections::BTreeMap::new()),
            flow: Mutex::new(None),
            has_flow: AtomicBool::new(false),
            was_reset: AtomicBool::new(false),
            outside: Mutex::new(Vec::new()),
            corked: Mutex::new(Vec::new()),
            has_corked: AtomicBool::new(false),
            bound_file: Mutex::new(None),
            ino: NEXT_INO.fetch_add(1, Ordering::Relaxed),
        })
    }

    fn rx(&self) -> MutexGuard<'_, Rx> {
        self.rx.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The options.
    pub fn opts(&self) -> MutexGuard<'_, Options> {
        self.opts.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether it is connected (a datagram socket: has a default peer).
    pub fn is_connected(&self) -> bool {
        matches!(*self.state(), State::Connected)
    }

    /// A listener's connections not yet accepted (at most its backlog
    /// plus one); none for any other socket.
    pub fn pending(&self) -> Vec<Arc<Endpoint>> {
        match &*self.state() {
            State::Listening { pending, .. } => pending.iter().cloned().collect(),
            _ => Vec::new(),
        }
    }

    /// The connection outside the sandbox, if this socket has one.
    pub fn flow(&self) -> Option<Arc<Flow>> {
        if !self.has_flow.load(Ordering::Acquire) {
            return None;
        }
        self.flow.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The outside peer this datagram socket has for `dst`, or a new one
    /// from `make` (the oldest forgotten beyond [`MAX_OUTSIDE_PEERS`]).
    pub fn outside_peer(
        &self,
        dst: std::net::SocketAddr,
        make: impl FnOnce() -> SysResult<Arc<DatagramPeer>>,
    ) -> SysResult<Arc<DatagramPeer>> {
        let mut peers = self.outside.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = peers.iter().find(|p| p.peer == dst) {
            return Ok(p.clone());
        }
        let p = make()?;
        if peers.len() >= MAX_OUTSIDE_PEERS {
            peers.remove(0);
        }
        peers.push(p.clone());
        Ok(p)
    }

    /// Makes `flow` this socket's connection (None: drops it, as a failed
    /// connect does).
    pub fn set_flow(&self, flow: Option<Arc<Flow>>) {
        let mut slot = self.flow.lock().unwrap_or_else(|e| e.into_inner());
        self.has_flow.store(flow.is_some(), Ordering::Release);
        *slot = flow;
        drop(slot);
        self.queue.notify_events(ALL_EVENTS);
    }

    /// Whether the socket listens.
    pub fn is_listening(&self) -> bool {
        matches!(*self.state(), State::Listening { .. })
    }

    /// The name it is bound to.
    pub fn name(&self) -> Option<SockName> {
        self.name.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Records the name it was bound to: EINVAL if it has one.
    pub fn set_name(&self, name: SockName) -> SysResult<()> {
        let mut n = self.name.lock().unwrap_or_else(|e| e.into_inner());
        if n.is_some() {
            return Err(Errno::EINVAL);
        }
        *n = Some(name);
        Ok(())
    }

    /// The connected peer's name (getpeername): ENOTCONN when there is
    /// no peer; `None` for an unnamed one.
    pub fn peer_name(&self) -> SysResult<Option<SockName>> {
        if let Some(f) = self.flow() {
            return Ok(Some(SockName::Inet(f.peer)));
        }
        if !self.is_connected() || (self.is_tcp() && self.was_reset.load(Ordering::SeqCst)) {
            return Err(Errno::ENOTCONN);
        }
        Ok(self.peer.lock().unwrap_or_else(|e| e.into_inner()).upgrade().and_then(|p| p.name()))
    }

    /// listen(2).
    pub fn listen(&self, backlog: i32) -> SysResult<()> {
        if self.kind == SOCK_DGRAM {
            return Err(Errno::EOPNOTSUPP);
        }
        if self.name().is_none() {
            return Err(Errno::EINVAL);
        }
        let backlog = usize::try_from(backlog).unwrap_or(0).min(4096);
        let mut st = self.state();
        match &mut *st {
            State::Connected => return Err(Errno::EINVAL),
            State::Listening { backlog: b, .. } => *b = backlog,
            State::Unconnected => *st = State::Listening { backlog, pending: VecDeque::new() },
        }
        Ok(())
    }

    /// A stream or seqpacket connect of `self` to the listener `server`:
    /// makes the server's end and queues it. EAGAIN when the backlog is
    /// full (the caller waits on the listener's queue). The server's end
    /// is named `local` (the address connected to, for an Internet
    /// socket), else as the listener is.
    pub fn connect_to(self: &Arc<Self>, server: &Arc<Endpoint>, local: Option<SockName>) -> SysResult<()> {
        if server.kind != self.kind {
            return Err(Errno::EPROTOTYPE);
        }
        match *self.state() {
            State::Connected => return Err(Errno::EISCONN),
            State::Listening { .. } => return Err(Errno::EINVAL),
            State::Unconnected => {}
        }
        let accepted = Endpoint::new_in(server.family, self.kind, server.creds);
        *accepted.name.lock().unwrap_or_else(|e| e.into_inner()) = local.or_else(|| server.name());
        let me = Arc::downgrade(self);
        let them = Arc::downgrade(&accepted);
        server.enqueue(accepted, |accepted| {
            *accepted.peer.lock().unwrap_or_else(|e| e.into_inner()) = me;
            *self.peer.lock().unwrap_or_else(|e| e.into_inner()) = them;
            *self.state() = State::Connected;
        })?;
        self.queue.notify_events(POLLOUT | POLLWRNORM);
        Ok(())
    }

    /// Queues `accepted` (a connection made elsewhere: from outside the
    /// sandbox) on this listening socket: ECONNREFUSED if it does not
    /// listen, EAGAIN if its backlog is full.
    pub fn enqueue_accepted(&self, accepted: Arc<Endpoint>) -> SysResult<()> {
        self.enqueue(accepted, |_| {})
    }

    /// Queues a connected `accepted` on this listening socket, calling
    /// `link` under the queue's lock once it is sure to fit.
    fn enqueue(&self, accepted: Arc<Endpoint>, link: impl FnOnce(&Endpoint)) -> SysResult<()> {
        *accepted.state() = State::Connected;
        *accepted.opts() = *self.opts();
        {
            let mut st = self.state();
            let State::Listening { backlog, pending } = &mut *st else { return Err(Errno::ECONNREFUSED) };
            if self.dead.load(Ordering::SeqCst) {
                return Err(Errno::ECONNREFUSED);
            }
            if pending.len() > *backlog {
                return Err(Errno::EAGAIN);
            }
            link(&accepted);
            pending.push_back(accepted);
        }
        self.queue.notify_events(POLLIN | POLLRDNORM);
        Ok(())
    }

    /// Queues a datagram from the kernel on this socket (a netlink
    /// socket's answers); dropped past the receive buffer, as Linux drops
    /// (ENOBUFS) what does not fit.
    pub fn deliver_from_kernel(&self, data: Vec<u8>, from: SockName) {
        {
            let mut rx = self.rx();
            let cost = data.len() + MESSAGE_OVERHEAD;
            if rx.cost + cost > (self.opts().rcvbuf as usize).max(1 << 20) {
                return;
            }
            rx.cost += cost;
            let sender = Ucred { pid: 0, uid: 0, gid: 0 };
            rx.msgs.push_back(Message { from: Some(from), data, taken: 0, control: Control::default(), sender });
        }
        self.queue.notify_events(POLLIN | POLLRDNORM);
    }

    /// The credentials of the socket's creator.
    pub fn creds_of_creator(&self) -> Ucred {
        self.creds
    }

    /// Its creator's uid, as /proc/net shows it.
    pub fn creator_uid(&self) -> u32 {
        self.creds.uid
    }

    /// Its inode number (`socket:[N]`).
    pub fn inode_number(&self) -> u64 {
        self.ino
    }

    /// Whether a connect waiting on a full backlog should try again.
    pub fn accepts_more(&self) -> bool {
        match &*self.state() {
            State::Listening { backlog, pending } => pending.len() <= *backlog || self.dead.load(Ordering::SeqCst),
            _ => true,
        }
    }

    /// Takes a connection off the listening queue: EINVAL if not
    /// listening, EAGAIN if none is waiting.
    pub fn accept(&self) -> SysResult<UnixSocket> {
        let ep = {
            let mut st = self.state();
            let State::Listening { pending, .. } = &mut *st else { return Err(Errno::EINVAL) };
            pending.pop_front().ok_or(Errno::EAGAIN)?
        };
        // A connect waiting for room may go on.
        self.queue.notify_events(POLLOUT | POLLWRNORM);
        Ok(UnixSocket(ep, None))
    }

    /// A datagram socket's default peer (connect): EPROTOTYPE for another
    /// kind; `None` disconnects.
    pub fn set_default_peer(&self, to: Option<&Arc<Endpoint>>) -> SysResult<()> {
        if let Some(to) = to {
            if to.kind != self.kind {
                return Err(Errno::EPROTOTYPE);
            }
        }
        *self.peer.lock().unwrap_or_else(|e| e.into_inner()) = to.map_or_else(Weak::new, Arc::downgrade);
        *self.state() = if to.is_some() { State::Connected } else { State::Unconnected };
        self.queue.notify();
        Ok(())
    }

    /// A datagram socket connected to an address nothing is bound to: its
    /// sends fail with ECONNREFUSED, as after Linux's ICMP port
    /// unreachable.
    pub fn connect_nowhere(&self) {
        *self.peer.lock().unwrap_or_else(|e| e.into_inner()) = Weak::new();
        *self.state() = State::Connected;
        self.queue.notify();
    }

    /// Whether it is connected to an end that is still open.
    pub fn has_live_peer(&self) -> bool {
        self.peer().is_some()
    }

    /// Leaves `e` pending (`sk_err`), for SO_ERROR or the next receive
    /// that finds no data.
    pub fn set_error(&self, e: Errno) {
        self.error.store(e.0, Ordering::SeqCst);
        self.queue.notify_events(POLLERR);
    }

    /// Whether it is a TCP socket.
    fn is_tcp(&self) -> bool {
        self.family != AF_UNIX && self.kind == SOCK_STREAM
    }

    /// Whether SO_LINGER is on with 0 seconds: a TCP close is then a reset.
    fn lingers_zero(&self) -> bool {
        /// SO_LINGER's number, under which socket.rs keeps `l_onoff |
        /// l_linger << 32`.
        const SO_LINGER: i32 = 13;
        self.is_tcp() && self.kept_option(SO_LINGER) == Some(1)
    }

    /// The address family (AF_UNIX, AF_INET, AF_INET6).
    pub fn family(&self) -> u32 {
        self.family
    }

    /// Whether its file was closed.
    pub fn is_dead(&self) -> bool {
        self.dead.load(Ordering::SeqCst)
    }

    /// Ends this end: its shutdown bits set, a connection-based peer's
    /// too, its name freed, and connections that were never accepted
    /// ended the same way.
    /// Sends what MSG_MORE held back on a TCP socket, whatever the room (a
    /// shutdown or close ends the cork); UDP drops it, as Linux's
    /// udp_flush_pending_frames.
    fn flush_corked(&self) {
        if !self.has_corked.swap(false, Ordering::AcqRel) {
            return;
        }
        let data = std::mem::take(&mut *self.corked.lock().unwrap_or_else(|e| e.into_inner()));
        if data.is_empty() || !self.is_tcp() {
            return;
        }
        let Some(peer) = self.peer() else { return };
        let msg = Message { from: self.name(), data, taken: 0, control: Control::default(), sender: self.creds };
        let mut rx = peer.rx();
        rx.cost += msg.cost();
        rx.msgs.push_back(msg);
        drop(rx);
        peer.queue.notify_events(POLLIN | POLLRDNORM);
    }

    fn close(&self, names: Option<&Namespace>, never_accepted: bool) {
        self.flush_corked();
        self.dead.store(true, Ordering::SeqCst);
        // The host socket closes with it.
        self.flow.lock().unwrap_or_else(|e| e.into_inner()).take();
        self.shutdown.store(SHUTDOWN_MASK, Ordering::SeqCst);
        // Files in flight to this end are dropped with its queue.
        let msgs = std::mem::take(&mut self.rx().msgs);
        let unread = !msgs.is_empty();
        drop(msgs);
        if let (Some(SockName::Abstract(n)), Some(names)) = (self.name(), names) {
            names.release_abstract(&n, self);
        }
        let pending = match std::mem::replace(&mut *self.state(), State::Unconnected) {
            State::Listening { pending, .. } => pending,
            _ => VecDeque::new(),
        };
        for ep in pending {
            ep.close(None, true);
        }
        if let Some(peer) = self.peer.lock().unwrap_or_else(|e| e.into_inner()).upgrade() {
            if self.connection_based() {
                let reset = unread || never_accepted || self.lingers_zero();
                // A TCP close is a FIN: the peer reads EOF and may still
                // send (CLOSE_WAIT) until it learns the socket is gone. A
                // reset, and a Unix close, end both directions at once.
                let bits = if self.is_tcp() && !reset { RCV_SHUTDOWN } else { SHUTDOWN_MASK };
                peer.shutdown.fetch_or(bits, Ordering::SeqCst);
                if reset {
                    peer.error.store(Errno::ECONNRESET.0, Ordering::SeqCst);
                    // A TCP reset ends the connection (TCP_CLOSE): what
                    // arrived can still be read, but it has no peer.
                    peer.was_reset.store(true, Ordering::SeqCst);
                }
            }
            peer.queue.notify_events(ALL_EVENTS);
        }
        self.queue.notify_events(ALL_EVENTS);
    }

    /// The other end, while it is open.
    pub fn peer(&self) -> Option<Arc<Endpoint>> {
        self.peer.lock().unwrap_or_else(|e| e.into_inner()).upgrade().filter(|p| !p.dead.load(Ordering::SeqCst))
    }

    /// The socket type (`SOCK_*`).
    pub fn kind(&self) -> u32 {
        self.kind
    }

    /// The wait queue of this end.
    pub fn queue(&self) -> &WaitQueue {
        &self.queue
    }

    /// SO_PEERCRED: the credentials of the other end's creator.
    pub fn peer_creds(&self) -> Option<Ucred> {
        self.peer.lock().unwrap_or_else(|e| e.into_inner()).upgrade().map(|p| p.creds)
    }

    fn connection_based(&self) -> bool {
        self.kind != SOCK_DGRAM
    }

    /// What this end has sent that the peer has not read.
    fn outstanding(&self) -> usize {
        self.peer.lock().unwrap_or_else(|e| e.into_inner()).upgrade().map_or(0, |p| p.rx().cost)
    }

    /// `unix_writable`: what is outstanding is at most a quarter of the
    /// send buffer.
    fn writable(&self) -> bool {
        self.outstanding() * 4 <= self.opts().sndbuf as usize
    }

    /// The `POLL*` events that would not block now.
    pub fn readiness(&self) -> u32 {
        if let Some(f) = self.flow() {
            return f.readiness();
        }
        match &*self.state() {
            State::Listening { pending, .. } => return if pending.is_empty() { 0 } else { POLLIN | POLLRDNORM },
            // A connection-based socket not connected: Linux's TCP_CLOSE.
            State::Unconnected if self.connection_based() => {
                let err = if self.error.load(Ordering::SeqCst) != 0 { POLLERR } else { 0 };
                return POLLOUT | POLLWRNORM | POLLWRBAND | POLLHUP | err;
            }
            _ => {}
        }
        let shutdown = self.shutdown.load(Ordering::SeqCst);
        let mut mask = 0;
        if self.error.load(Ordering::SeqCst) != 0 {
            mask |= POLLERR;
        }
        if shutdown == SHUTDOWN_MASK {
            mask |= POLLHUP;
        }
        if shutdown & RCV_SHUTDOWN != 0 {
            mask |= POLLRDHUP | POLLIN | POLLRDNORM;
        }
        if !self.rx().msgs.is_empty() {
            mask |= POLLIN | POLLRDNORM;
        }
        if self.writable() {
            mask |= POLLOUT | POLLWRNORM | POLLWRBAND;
        }
        mask
    }

    /// Sends `len` bytes read from `src`, with `control`, from `sender`.
    /// EAGAIN when the send buffer is full (the caller waits on this
    /// end's queue); a stream send may take only part.
    pub fn send(
        &self,
        mf: &MemoryFile,
        src: &[Chunk],
        control: &mut Option<Control>,
        sender: Ucred,
        to: Option<&Arc<Endpoint>>,
        more: bool,
    ) -> SysResult<usize> {
        if let Some(f) = self.flow() {
            if self.shutdown.load(Ordering::SeqCst) & SEND_SHUTDOWN != 0 {
                return Err(Errno::EPIPE);
            }
            return f.send(mf, src);
        }
        let len: usize = src.iter().map(|c| c.len as usize).sum();
        if self.connection_based() && !self.is_connected() {
            // TCP never connected (or listening): EPIPE, and SIGPIPE, as
            // Linux's sk_stream_wait_connect; a Unix stream: ENOTCONN.
            return Err(if self.is_tcp() { Errno::EPIPE } else { Errno::ENOTCONN });
        }
        if self.shutdown.load(Ordering::SeqCst) & SEND_SHUTDOWN != 0 {
            return Err(Errno::EPIPE);
        }
        let peer = match to {
            Some(to) => {
                // A datagram to a socket connected elsewhere is refused.
                let its_peer = to.peer.lock().unwrap_or_else(|e| e.into_inner()).upgrade();
                if its_peer.is_some_and(|p| !std::ptr::eq(Arc::as_ptr(&p), self)) {
                    return Err(Errno::EPERM);
                }
                to.clone()
            }
            None => match self.peer() {
                Some(p) => p,
                // TCP in CLOSE_WAIT: the first send after the peer closed
                // goes out (the peer answers with a reset); later ones fail.
                None if self.is_tcp() && self.is_connected() => {
                    self.shutdown.fetch_or(SEND_SHUTDOWN, Ordering::SeqCst);
                    return Ok(len);
                }
                None if self.connection_based() => return Err(Errno::EPIPE),
                None if self.is_connected() => return Err(Errno::ECONNREFUSED),
                None => return Err(Errno::ENOTCONN),
            },
        };
        if self.connection_based() && peer.shutdown.load(Ordering::SeqCst) & RCV_SHUTDOWN != 0 {
            return Err(Errno::EPIPE);
        }
        let sndbuf = self.opts().sndbuf as usize;
        if self.kind != SOCK_STREAM && len + 32 > sndbuf {
            return Err(Errno::EMSGSIZE);
        }
        let n = {
            let mut rx = peer.rx();
            let room = sndbuf.saturating_sub(rx.cost);
            let n = if self.kind == SOCK_STREAM { len.min(room.saturating_sub(MESSAGE_OVERHEAD)) } else { len };
            // A stream send that fits nothing, or a message that does not
            // fit whole, waits (an empty send with room goes through).
            let fits =
                if self.kind == SOCK_STREAM { n > 0 || (len == 0 && room > 0) } else { len + MESSAGE_OVERHEAD <= room };
            if !fits {
                return Err(Errno::EAGAIN);
            }
            let mut data = vec![0u8; n];
            get_bytes(mf, src, &mut data);
            if self.family != AF_UNIX && (more || self.has_corked.load(Ordering::Acquire)) {
                let mut corked = self.corked.lock().unwrap_or_else(|e| e.into_inner());
                if more && corked.len() + n <= MAX_CORKED {
                    corked.extend_from_slice(&data);
                    self.has_corked.store(true, Ordering::Release);
                    return Ok(n);
                }
                if !corked.is_empty() {
                    let mut all = std::mem::take(&mut *corked);
                    all.extend_from_slice(&data);
                    data = all;
                }
                self.has_corked.store(false, Ordering::Release);
            }
            let mut control = control.take().unwrap_or_default();
            // A UDP datagram sent without saying where (write(2)) has the
            // header the socket's options make for its peer.
            if self.kind == SOCK_DGRAM && matches!(self.family, inet::AF_INET | inet::AF_INET6) && control.ip.is_none()
            {
                if let Some(SockName::Inet(a)) = peer.name() {
                    control.ip = Some(inet::header(self, a.ip(), inet::Given::default()));
                }
            }
            let msg = Message { from: self.name(), data, taken: 0, control, sender };
            if self.kind == SOCK_STREAM && n == 0 && msg.control.files.is_empty() && msg.control.creds.is_none() {
                return Ok(0);
            }
            rx.cost += msg.cost();
            rx.msgs.push_back(msg);
            n
        };
        peer.queue.notify_events(POLLIN | POLLRDNORM);
        Ok(n)
    }

    /// Receives into `dst` (`len` bytes): a stream reads across messages,
    /// stopping after files; other kinds read one message, truncated.
    /// `peek` leaves the data queued. EAGAIN when there is nothing and the
    /// peer may still send; a stream end at EOF reads 0.
    pub fn recv(&self, mf: &MemoryFile, dst: &[Chunk], peek: bool) -> SysResult<Received> {
        if let Some(f) = self.flow() {
            if self.shutdown.load(Ordering::SeqCst) & RCV_SHUTDOWN != 0 && f.pending_bytes() == 0 {
                return Ok(Received { copied: 0, full: 0, control: Control::default(), creds: None, from: None });
            }
            let (copied, full) = f.recv(mf, dst, peek)?;
            let from = Some(SockName::Inet(f.peer));
            return Ok(Received { copied, full, control: Control::default(), creds: None, from });
        }
        let len: usize = dst.iter().map(|c| c.len as usize).sum();
        if self.connection_based() && !self.is_connected() {
            return Err(Errno::EINVAL);
        }
        let passcred = self.opts().passcred;
        let mut rx = self.rx();
        if rx.msgs.is_empty() {
            drop(rx);
            let err = self.take_error();
            if err != 0 {
                return Err(Errno(err));
            }
            let shut = self.shutdown.load(Ordering::SeqCst);
            if shut & RCV_SHUTDOWN != 0 || (self.connection_based() && self.peer().is_none()) {
                return Ok(Received { copied: 0, full: 0, control: Control::default(), creds: None, from: None });
            }
            return Err(Errno::EAGAIN);
        }
        let mut out = Received { copied: 0, full: 0, control: Control::default(), creds: None, from: None };
        let mut freed = 0;
        if self.kind != SOCK_STREAM {
            let m = rx.msgs.front().ok_or(Errno::EAGAIN)?;
            out.copied = put_bytes(mf, dst, &m.data[..m.data.len().min(len)]);
            out.full = m.data.len();
            out.from = m.from.clone();
            out.creds = passcred.then(|| m.control.creds.unwrap_or(m.sender));
            if peek {
                // Peeked files are installed too, as Linux does.
                out.control.files = m.control.files.clone();
                out.control.ip = m.control.ip;
            } else if let Some(m) = rx.msgs.pop_front() {
                freed = m.cost();
                out.control = m.control;
            }
        } else {
            let mut i = 0;
            while out.copied < len && i < rx.msgs.len() {
                let m = &rx.msgs[i];
                // Credentials differ, or files wait: a new read.
                if out.copied > 0 && (!m.control.files.is_empty() || (passcred && Some(m.sender) != out.creds)) {
                    break;
                }
                let from = m.taken;
                let n = (m.data.len() - from).min(len - out.copied);
                put_bytes(mf, &crate::mm::sub_chunks(dst, out.copied as u64), &m.data[from..from + n]);
                out.copied += n;
                if out.creds.is_none() && passcred {
                    out.creds = Some(m.control.creds.unwrap_or(m.sender));
                }
                if out.from.is_none() {
                    out.from = m.from.clone();
                }
                let has_files = !m.control.files.is_empty();
                if peek {
                    if has_files {
                        out.control.files.extend(m.control.files.iter().cloned());
                    }
                    i += 1;
                } else {
                    let m = &mut rx.msgs[i];
                    m.taken += n;
                    if has_files {
                        out.control.files.append(&mut m.control.files);
                    }
                    if m.left() == 0 {
                        if let Some(m) = rx.msgs.pop_front() {
                            freed += m.cost();
                        }
                    }
                }
                if has_files {
                    break;
                }
            }
            out.full = out.copied;
        }
        rx.cost -= freed;
        drop(rx);
        if freed > 0 {
            if let Some(peer) = self.peer.lock().unwrap_or_else(|e| e.into_inner()).upgrade() {
                peer.queue.notify_events(POLLOUT | POLLWRNORM);
            }
        }
        Ok(out)
    }

    /// Whether a send waiting for room should try again: `need` bytes (a
    /// whole message; 1 for a stream) fit now, or the connection changed
    /// so that the send fails instead.
    pub fn send_may_go_on(&self, need: usize) -> bool {
        if let Some(f) = self.flow() {
            return f.may_go_on(POLLOUT);
        }
        if self.shutdown.load(Ordering::SeqCst) & SEND_SHUTDOWN != 0 {
            return true;
        }
        let Some(peer) = self.peer() else { return true };
        if self.connection_based() && peer.shutdown.load(Ordering::SeqCst) & RCV_SHUTDOWN != 0 {
            return true;
        }
        let queued = peer.rx().cost;
        queued + need + MESSAGE_OVERHEAD <= self.opts().sndbuf as usize
    }

    /// Whether a receive waiting for data should try again.
    pub fn recv_may_go_on(&self) -> bool {
        if let Some(f) = self.flow() {
            return f.may_go_on(POLLIN);
        }
        (self.connection_based() && !self.is_connected())
            || !self.rx().msgs.is_empty()
            || self.shutdown.load(Ordering::SeqCst) & RCV_SHUTDOWN != 0
            || (self.connection_based() && self.peer().is_none())
    }

    /// shutdown(2): `how` is SHUT_RD (0), SHUT_WR (1) or SHUT_RDWR (2).
    pub fn shutdown(&self, how: u32) -> SysResult<()> {
        let mode = match how {
            0 => RCV_SHUTDOWN,
            1 => SEND_SHUTDOWN,
            2 => SHUTDOWN_MASK,
            _ => return Err(Errno::EINVAL),
        };
        // An Internet socket in TCP's CLOSE state (neither connected nor
        // listening: TCP before connect, UDP unconnected) is ENOTCONN,
        // though Linux's inet_shutdown still marks it shut; a Unix socket
        // never is.
        let closed = self.family != AF_UNIX && !self.is_connected() && !self.is_listening() && self.flow().is_none();
        if mode & SEND_SHUTDOWN != 0 {
            self.flush_corked();
        }
        if let Some(f) = self.flow() {
            f.shutdown(how)?;
        }
        self.shutdown.fetch_or(mode, Ordering::SeqCst);
        let peer = self.peer.lock().unwrap_or_else(|e| e.into_inner()).upgrade();
        if let Some(peer) = peer.filter(|_| self.connection_based()) {
            // What this end will not read, the peer may not send, and
            // the other way round.
            let mirrored = (if mode & RCV_SHUTDOWN != 0 { SEND_SHUTDOWN } else { 0 })
                | (if mode & SEND_SHUTDOWN != 0 { RCV_SHUTDOWN } else { 0 });
            peer.shutdown.fetch_or(mirrored, Ordering::SeqCst);
            peer.queue.notify_events(ALL_EVENTS);
        }
        self.queue.notify_events(ALL_EVENTS);
        if closed {
            return Err(Errno::ENOTCONN);
        }
        Ok(())
    }

    /// FIONREAD: a stream's readable bytes, or the next datagram's size.
    pub fn pending_bytes(&self) -> usize {
        if let Some(f) = self.flow() {
            return f.pending_bytes();
        }
        let rx = self.rx();
        if self.kind == SOCK_STREAM {
            rx.msgs.iter().map(Message::left).sum()
        } else {
            rx.msgs.front().map_or(0, |m| m.data.len())
        }
    }

    /// SIOCOUTQ: what this end sent that the peer has not read.
    pub fn unread_sent(&self) -> usize {
        self.peer.lock().unwrap_or_else(|e| e.into_inner()).upgrade().map_or(0, |p| {
            let rx = p.rx();
            rx.msgs.iter().map(Message::left).sum()
        })
    }

    /// A kept generic option's value.
    pub fn kept_option(&self, name: i32) -> Option<u64> {
        self.kept.lock().unwrap_or_else(|e| e.into_inner()).get(&name).copied()
    }

    /// Keeps a generic option's value.
    pub fn keep_option(&self, name: i32, value: u64) {
        self.kept.lock().unwrap_or_else(|e| e.into_inner()).insert(name, value);
    }

    /// Takes the pending error (SO_ERROR), 0 if none.
    pub fn take_error(&self) -> i32 {
        if let Some(f) = self.flow() {
            let e = f.take_error();
            if e != 0 {
                return e;
            }
        }
        self.error.swap(0, Ordering::SeqCst)
    }
}

/// A queued message as a checkpoint keeps it: (data, bytes a stream
/// reader took, the sender's (pid, uid, gid), explicit SCM_CREDENTIALS,
/// the sender's name).
pub type QueuedMessage = (Vec<u8>, u64, (i32, u32, u32), Option<(i32, u32, u32)>, Option<NameState>);

/// A socket's name as a checkpoint keeps it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum NameState {
    /// An abstract Unix name.
    Abstract(Vec<u8>),
    /// A Unix path name as given to bind, and the absolute path of its
    /// socket file while one leads to it.
    Path {
        /// The name, as getsockname gives it.
        name: Vec<u8>,
        /// Where the socket file is.
        file: Option<Vec<u8>>,
    },
    /// An Internet address and port.
    Inet(std::net::SocketAddr),
    /// A netlink port id and multicast groups.
    Netlink { pid: u32, groups: u32 },
}

impl NameState {
    fn of(n: &SockName) -> Result<NameState, &'static str> {
        Ok(match n {
            SockName::Abstract(a) => NameState::Abstract(a.clone()),
            SockName::Path(p) => NameState::Path { name: p.clone(), file: None },
            SockName::Inet(a) => NameState::Inet(*a),
            SockName::Netlink { pid, groups } => NameState::Netlink { pid: *pid, groups: *groups },
        })
    }

    /// The name it stands for.
    pub fn name(&self) -> SockName {
        match self {
            NameState::Abstract(a) => SockName::Abstract(a.clone()),
            NameState::Path { name, .. } => SockName::Path(name.clone()),
            NameState::Inet(a) => SockName::Inet(*a),
            NameState::Netlink { pid, groups } => SockName::Netlink { pid: *pid, groups: *groups },
        }
    }
}

/// What a checkpoint keeps of a Unix or Internet socket of the sandbox's
/// own (loopback connections included).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EndpointState {
    /// AF_UNIX, AF_INET or AF_INET6.
    pub family: u32,
    /// SOCK_STREAM, SOCK_DGRAM or SOCK_SEQPACKET.
    pub kind: u32,
    /// Connected (its peer may since have closed).
    pub connected: bool,
    /// Its name; for a path, the save fills in the socket file's path.
    pub name: Option<NameState>,
    /// An Internet socket holding its port (bound, not a connection's
    /// accepted end); the save fills it in.
    pub holds_port: bool,
    /// Listening: the backlog and the connections not yet accepted, by
    /// index among the image's sockets (the save fills them in).
    pub listening: Option<(u64, Vec<usize>)>,
    /// Queued messages.
    pub msgs: Vec<QueuedMessage>,
    /// SHUT_* bits.
    pub shutdown: u32,
    /// SO_PASSCRED, SO_SNDBUF, SO_RCVBUF.
    pub opts: (bool, u32, u32),
    /// SO_RCVTIMEO and SO_SNDTIMEO, in nanoseconds.
    pub timeouts: (u64, u64),
    /// The creator's (pid, uid, gid).
    pub creds: (i32, u32, u32),
    /// The pending error.
    pub error: i32,
    /// A TCP connection its peer reset.
    pub was_reset: bool,
    /// Generic options kept for getsockopt.
    pub kept: Vec<(i32, u64)>,
    /// Data sent with MSG_MORE and held back.
    pub corked: Vec<u8>,
    /// The files in flight (SCM_RIGHTS) of each queued message that has
    /// any: (message, the files' indexes among the image's files; the save
    /// fills them in).
    pub in_flight: Vec<(usize, Vec<usize>)>,
}

/// A socket as a checkpoint takes it: its state, and the objects the
/// save names by index or path.
pub struct SavedEndpoint {
    /// Its state.
    pub state: EndpointState,
    /// A listener's connections not yet accepted, in order.
    pub pending: Vec<Arc<Endpoint>>,
    /// A path-bound socket's file.
    pub bound_file: Option<Arc<super::Dentry>>,
    /// The files in flight, by message, as `state.in_flight` will name
    /// them.
    pub in_flight: Vec<(usize, Vec<Arc<File>>)>,
}

fn ucred_tuple(c: Ucred) -> (i32, u32, u32) {
    (c.pid, c.uid, c.gid)
}

fn ucred_of((pid, uid, gid): (i32, u32, u32)) -> Ucred {
    Ucred { pid, uid, gid }
}

impl Endpoint {
    /// What a checkpoint keeps of it. A connection outside the sandbox
    /// is kept as reset (gVisor's rule): the restored socket's next call
    /// sees ECONNRESET.
    pub fn checkpoint_state(&self) -> Result<SavedEndpoint, &'static str> {
        let known = [AF_UNIX, inet::AF_INET, inet::AF_INET6, super::netlink::AF_NETLINK];
        if !known.contains(&self.family) {
            return Err("a socket of another family");
        }
        let corked = self.corked.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let name = self.name().as_ref().map(NameState::of).transpose()?;
        let (connected, listening, pending) = match &*self.state() {
            State::Listening { backlog, pending } => {
                (false, Some((*backlog as u64, Vec::new())), pending.iter().cloned().collect())
            }
            State::Connected => (true, None, Vec::new()),
            State::Unconnected => (false, None, Vec::new()),
        };
        let rx = self.rx();
        let mut msgs = Vec::new();
        let mut in_flight = Vec::new();
        for (i, m) in rx.msgs.iter().enumerate() {
            if !m.control.files.is_empty() {
                in_flight.push((i, m.control.files.clone()));
            }
            let from = m.from.as_ref().map(NameState::of).transpose()?;
            msgs.push((m.data.clone(), m.taken as u64, ucred_tuple(m.sender), m.control.creds.map(ucred_tuple), from));
        }
        drop(rx);
        let o = *self.opts.lock().unwrap_or_else(|e| e.into_inner());
        let ns = |d: std::time::Duration| d.as_nanos().min(u64::MAX as u128) as u64;
        let mut state = EndpointState {
            family: self.family,
            kind: self.kind,
            connected,
            name,
            holds_port: false,
            listening,
            msgs,
            shutdown: self.shutdown.load(Ordering::SeqCst),
            opts: (o.passcred, o.sndbuf, o.rcvbuf),
            timeouts: (ns(o.rcvtimeo), ns(o.sndtimeo)),
            creds: ucred_tuple(self.creds),
            error: self.error.load(Ordering::SeqCst),
            was_reset: self.was_reset.load(Ordering::SeqCst),
            kept: self.kept.lock().unwrap_or_else(|e| e.into_inner()).iter().map(|(&k, &v)| (k, v)).collect(),
            corked,
            in_flight: Vec::new(),
        };
        if self.flow().is_some() && self.kind == SOCK_STREAM {
            // A connection to outside: it cannot come back, so it comes
            // back reset, both ways shut.
            state.connected = true;
            state.shutdown = SHUTDOWN_MASK;
            state.was_reset = true;
            if state.error == 0 {
                state.error = Errno::ECONNRESET.0;
            }
        }
        let bound_file = self.bound_file.lock().unwrap_or_else(|e| e.into_inner()).clone();
        Ok(SavedEndpoint { state, pending, bound_file, in_flight })
    }

    /// Its peer, if it is still there.
    pub fn peer_endpoint(&self) -> Option<Arc<Endpoint>> {
        self.peer.lock().unwrap_or_else(|e| e.into_inner()).upgrade()
    }

    /// A socket as a checkpoint left it, named but not yet holding its
    /// name, and without its peer or its pending connections
    /// ([`Endpoint::restore_peer`], [`Endpoint::restore_listening`],
    /// [`Namespace::bind_abstract`] and the like).
    pub fn restored(s: &EndpointState) -> Arc<Endpoint> {
        let ep = Endpoint::new_in(s.family, s.kind, ucred_of(s.creds));
        if s.connected {
            *ep.state() = State::Connected;
        }
        *ep.name.lock().unwrap_or_else(|e| e.into_inner()) = s.name.as_ref().map(NameState::name);
        {
            let mut rx = ep.rx();
            for (data, taken, sender, creds, from) in &s.msgs {
                let taken = (*taken as usize).min(data.len());
                let control = Control { creds: creds.map(ucred_of), ..Control::default() };
                let from = from.as_ref().map(NameState::name);
                let m = Message { from, data: data.clone(), taken, control, sender: ucred_of(*sender) };
                rx.cost += m.cost();
                rx.msgs.push_back(m);
            }
        }
        ep.shutdown.store(s.shutdown & 3, Ordering::SeqCst);
        {
            let mut o = ep.opts.lock().unwrap_or_else(|e| e.into_inner());
            (o.passcred, o.sndbuf, o.rcvbuf) = s.opts;
            o.rcvtimeo = std::time::Duration::from_nanos(s.timeouts.0);
            o.sndtimeo = std::time::Duration::from_nanos(s.timeouts.1);
        }
        ep.error.store(s.error, Ordering::SeqCst);
        ep.was_reset.store(s.was_reset, Ordering::SeqCst);
        *ep.kept.lock().unwrap_or_else(|e| e.into_inner()) = s.kept.iter().copied().collect();
        if !s.corked.is_empty() {
            *ep.corked.lock().unwrap_or_else(|e| e.into_inner()) = s.corked.clone();
            ep.has_corked.store(true, Ordering::SeqCst);
        }
        ep
    }

    /// The files in flight on its queue (SCM_RIGHTS), for a checkpoint to
    /// save with the other open files.
    pub fn files_in_flight(&self) -> Vec<Arc<File>> {
        self.rx().msgs.iter().flat_map(|m| m.control.files.iter().cloned()).collect()
    }

    /// Puts the files in flight back on queued message `msg` (a restore,
    /// once every file exists); false if there is no such message.
    pub fn restore_in_flight(&self, msg: usize, files: Vec<Arc<File>>) -> bool {
        let mut rx = self.rx();
        let Some(m) = rx.msgs.get_mut(msg) else { return false };
        m.control.files = files;
        true
    }

    /// Connects it to `peer` again (a restore).
    pub fn restore_peer(&self, peer: &Arc<Endpoint>) {
        *self.peer.lock().unwrap_or_else(|e| e.into_inner()) = Arc::downgrade(peer);
    }

    /// Makes it listen again, with its connections not yet accepted (a
    /// restore).
    pub fn restore_listening(&self, backlog: u64, pending: Vec<Arc<Endpoint>>) {
        let backlog = usize::try_from(backlog).unwrap_or(0).min(4096);
        *self.state() = State::Listening { backlog, pending: pending.into() };
    }

    /// Records the socket file a path bind made, which a checkpoint finds
    /// it by again.
    pub fn set_bound_file(&self, d: Arc<super::Dentry>) {
        *self.bound_file.lock().unwrap_or_else(|e| e.into_inner()) = Some(d);
    }
}

/// A pair of connected ends of type `kind`, made by `creds`.
pub fn pair(kind: u32, creds: Ucred) -> (UnixSocket, UnixSocket) {
    let (a, b) = (Endpoint::new(kind, creds), Endpoint::new(kind, creds));
    *a.state() = State::Connected;
    *b.state() = State::Connected;
    *a.peer.lock().unwrap_or_else(|e| e.into_inner()) = Arc::downgrade(&b);
    *b.peer.lock().unwrap_or_else(|e| e.into_inner()) = Arc::downgrade(&a);
    (UnixSocket(a, None), UnixSocket(b, None))
}

/// An open Unix socket.
pub struct UnixSocket(Arc<Endpoint>, Option<Weak<crate::kernel::Kernel>>);

impl UnixSocket {
    /// A socket file for `ep`, not yet tied to a kernel's namespace
    /// ([`UnixSocket::in_kernel`]).
    pub fn new(ep: Arc<Endpoint>) -> UnixSocket {
        UnixSocket(ep, None)
    }

    /// Its end of the connection.
    pub fn endpoint(&self) -> &Arc<Endpoint> {
        &self.0
    }

    /// The same socket, with `kernel`'s namespace to free its abstract
    /// name in when it closes.
    pub fn in_kernel(self, kernel: Weak<crate::kernel::Kernel>) -> UnixSocket {
        let mut me = self;
        me.1 = Some(kernel);
        me
    }
}

impl Drop for UnixSocket {
    fn drop(&mut self) {
        let kernel = self.1.as_ref().and_then(Weak::upgrade);
        self.0.close(kernel.as_ref().map(|k| &k.unix_names), false);
    }
}

impl FileOps for UnixSocket {
    fn seekable(&self) -> bool {
        false
    }

    /// read(2): a receive without flags; files riding along are closed.
    fn read(&self, mf: &MemoryFile, dst: &[Chunk], _offset: Option<u64>) -> SysResult<usize> {
        Ok(self.0.recv(mf, dst, false)?.copied)
    }

    /// write(2): a send without flags.
    fn write(&self, mf: &MemoryFile, src: &[Chunk], _offset: Option<u64>) -> SysResult<usize> {
        if self.0.family == super::netlink::AF_NETLINK {
            let len = src.iter().map(|c| c.len as usize).sum::<usize>();
            if len > super::netlink::MAX_REQUEST {
                return Err(Errno::EMSGSIZE);
            }
            let mut req = vec![0u8; len];
            get_bytes(mf, src, &mut req);
            let view = match self.1.as_ref().and_then(Weak::upgrade) {
                Some(k) => super::procnet::view(&k),
                None => super::netlink::NetView::new(false),
            };
            super::netlink::respond(&self.0, &req, &view);
            return Ok(len);
        }
        self.0.send(mf, src, &mut None, self.0.creds, None, false)
    }

    fn stat(&self) -> SysResult<FileAttr> {
        Ok(FileAttr {
            mode: abi::flags::mode::S_IFSOCK | 0o777,
            nlink: 1,
            blksize: 4096,
            ino: self.0.ino,
            dev: 0x8,
            ..FileAttr::default()
        })
    }

    fn readiness(&self) -> u32 {
        self.0.readiness()
    }

    fn wait_queue(&self) -> Option<&WaitQueue> {
        Some(&self.0.queue)
    }

    fn fasync(&self) -> bool {
        true
    }

    fn ioctl(&self, cmd: u32, arg: &mut [u8]) -> SysResult<u64> {
        const SIOCOUTQ: u32 = 0x5411;
        let n = match cmd {
            abi::flags::ioctl::FIONREAD => self.0.pending_bytes(),
            SIOCOUTQ => self.0.unread_sent(),
            _ => return Err(Errno::ENOTTY),
        };
        if arg.len() != 4 {
            return Err(Errno::EFAULT);
        }
        arg.copy_from_slice(&(n.min(i32::MAX as usize) as i32).to_le_bytes());
        Ok(0)
    }

    fn unix_socket(&self) -> Option<&UnixSocket> {
        Some(self)
    }
}
