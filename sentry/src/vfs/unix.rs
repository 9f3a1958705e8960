//! Unix-domain sockets: the connected pairs socketpair(2) makes, of stream,
//! datagram and seqpacket sockets.
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

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use abi::Errno;
use gofer::FileAttr;

use super::file::{get_bytes, put_bytes, File, FileOps, POLLHUP, POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM};
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
}

struct Message {
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
}

/// One end of a connected pair.
pub struct Endpoint {
    kind: u32,
    rx: Mutex<Rx>,
    queue: WaitQueue,
    peer: Mutex<Weak<Endpoint>>,
    shutdown: AtomicU32,
    opts: Mutex<Options>,
    /// The creator's credentials: SO_PEERCRED of the other end.
    creds: Ucred,
    /// Its file was closed.
    dead: AtomicBool,
    ino: u64,
}

impl Endpoint {
    fn new(kind: u32, creds: Ucred) -> Arc<Endpoint> {
        Arc::new(Endpoint {
            kind,
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

    /// The other end, while it is open.
    fn peer(&self) -> Option<Arc<Endpoint>> {
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
        let shutdown = self.shutdown.load(Ordering::SeqCst);
        let mut mask = 0;
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
    ) -> SysResult<usize> {
        let len: usize = src.iter().map(|c| c.len as usize).sum();
        if self.shutdown.load(Ordering::SeqCst) & SEND_SHUTDOWN != 0 {
            return Err(Errno::EPIPE);
        }
        let Some(peer) = self.peer() else {
            return Err(if self.connection_based() { Errno::EPIPE } else { Errno::ECONNREFUSED });
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
            let msg = Message { data, taken: 0, control: control.take().unwrap_or_default(), sender };
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
        let len: usize = dst.iter().map(|c| c.len as usize).sum();
        let passcred = self.opts().passcred;
        let mut rx = self.rx();
        if rx.msgs.is_empty() {
            drop(rx);
            let shut = self.shutdown.load(Ordering::SeqCst);
            if shut & RCV_SHUTDOWN != 0 || (self.connection_based() && self.peer().is_none()) {
                return Ok(Received { copied: 0, full: 0, control: Control::default(), creds: None });
            }
            return Err(Errno::EAGAIN);
        }
        let mut out = Received { copied: 0, full: 0, control: Control::default(), creds: None };
        let mut freed = 0;
        if self.kind != SOCK_STREAM {
            let m = rx.msgs.front().ok_or(Errno::EAGAIN)?;
            out.copied = put_bytes(mf, dst, &m.data[..m.data.len().min(len)]);
            out.full = m.data.len();
            out.creds = passcred.then(|| m.control.creds.unwrap_or(m.sender));
            if peek {
                // Peeked files are installed too, as Linux does.
                out.control.files = m.control.files.clone();
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
        !self.rx().msgs.is_empty()
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
        Ok(())
    }

    /// FIONREAD: a stream's readable bytes, or the next datagram's size.
    pub fn pending_bytes(&self) -> usize {
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

    /// An error pending on the socket (SO_ERROR): none are kept.
    pub fn take_error(&self) -> i32 {
        0
    }
}

/// A pair of connected ends of type `kind`, made by `creds`.
pub fn pair(kind: u32, creds: Ucred) -> (UnixSocket, UnixSocket) {
    let (a, b) = (Endpoint::new(kind, creds), Endpoint::new(kind, creds));
    *a.peer.lock().unwrap_or_else(|e| e.into_inner()) = Arc::downgrade(&b);
    *b.peer.lock().unwrap_or_else(|e| e.into_inner()) = Arc::downgrade(&a);
    (UnixSocket(a), UnixSocket(b))
}

/// An open Unix socket.
pub struct UnixSocket(Arc<Endpoint>);

impl UnixSocket {
    /// Its end of the connection.
    pub fn endpoint(&self) -> &Arc<Endpoint> {
        &self.0
    }
}

impl Drop for UnixSocket {
    fn drop(&mut self) {
        let ep = &self.0;
        ep.dead.store(true, Ordering::SeqCst);
        ep.shutdown.store(SHUTDOWN_MASK, Ordering::SeqCst);
        // Files in flight to this end are dropped with its queue.
        let msgs = std::mem::take(&mut ep.rx().msgs);
        drop(msgs);
        if let Some(peer) = ep.peer.lock().unwrap_or_else(|e| e.into_inner()).upgrade() {
            if ep.connection_based() {
                peer.shutdown.store(SHUTDOWN_MASK, Ordering::SeqCst);
            }
            peer.queue.notify_events(ALL_EVENTS);
        }
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
        self.0.send(mf, src, &mut None, self.0.creds)
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
