//! POSIX message queues (mq_overview(7)): named queues of prioritised
//! messages, opened as files.
//!
//! The names live in [`MqNamespace`]; /dev/mqueue shows them (see
//! `vfs::mqueue`). A queue outlives its name while an fd holds it.
//! Messages come out highest priority first and, within a priority, in
//! arrival order. A process may ask (mq_notify) for a signal when a message
//! arrives on an empty queue that no receiver is waiting for, or
//! (SIGEV_THREAD, as glibc implements it) for a cookie on a netlink socket,
//! which glibc's helper thread reads before it starts the thread asked for.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use abi::Errno;

use super::{now_secs, MAY_READ, MAY_WRITE};
use crate::kernel::process::Credentials;
use crate::kernel::waiter::WaitQueue;
use crate::mm::SysResult;

/// /proc/sys/fs/mqueue/msg_default.
pub const MSG_DEFAULT: i64 = 10;
/// /proc/sys/fs/mqueue/msg_max: an unprivileged caller's largest mq_maxmsg.
pub const MSG_MAX: i64 = 10;
/// /proc/sys/fs/mqueue/msgsize_default.
pub const MSGSIZE_DEFAULT: i64 = 8192;
/// /proc/sys/fs/mqueue/msgsize_max.
pub const MSGSIZE_MAX: i64 = 8192;
/// /proc/sys/fs/mqueue/queues_max.
pub const QUEUES_MAX: usize = 256;
/// Root's limits (HARD_MSGMAX, HARD_MSGSIZEMAX).
const HARD_MSGMAX: i64 = 65536;
const HARD_MSGSIZEMAX: i64 = 16 << 20;
/// Priorities are below this.
pub const MQ_PRIO_MAX: u32 = 32768;
/// The longest name (NAME_MAX).
const NAME_MAX: usize = 255;

static NEXT_INO: AtomicU64 = AtomicU64::new(1);

/// Whom to tell when a message arrives on an empty queue.
#[derive(Clone, Debug)]
pub struct Notify {
    /// The registering process.
    pub pid: i32,
    /// SIGEV_SIGNAL's signal and value; None for SIGEV_NONE and
    /// SIGEV_THREAD.
    pub signal: Option<(u32, u64)>,
    /// SIGEV_THREAD's netlink socket and cookie.
    pub thread: Option<ThreadNote>,
}

/// The length of a SIGEV_THREAD cookie.
pub const NOTIFY_COOKIE_LEN: usize = 32;
/// The cookie's last byte: a message came.
pub const NOTIFY_WOKENUP: u8 = 1;
/// The cookie's last byte: the registration was removed.
pub const NOTIFY_REMOVED: u8 = 2;

/// SIGEV_THREAD's registration: the netlink socket the cookie goes to
/// (from the kernel), the cookie, and the socket's fd in the registering
/// process (what the queue's file shows as its signal).
#[derive(Clone, Debug)]
pub struct ThreadNote {
    pub sock: Weak<crate::vfs::unix::Endpoint>,
    pub cookie: [u8; NOTIFY_COOKIE_LEN],
    pub fd: i32,
}

impl ThreadNote {
    /// Sends the cookie, its last byte saying `why`; nothing if the socket
    /// is gone.
    pub fn send(&self, why: u8) {
        if let Some(ep) = self.sock.upgrade() {
            let mut cookie = self.cookie;
            cookie[NOTIFY_COOKIE_LEN - 1] = why;
            ep.deliver_from_kernel(cookie.to_vec(), crate::vfs::unix::SockName::Netlink { pid: 0, groups: 0 });
        }
    }
}

/// One queue.
pub struct Mq {
    /// The name it was made with (without the slash).
    pub name: Vec<u8>,
    /// mq_maxmsg.
    pub maxmsg: i64,
    /// mq_msgsize.
    pub msgsize: i64,
    state: Mutex<MqState>,
    meta: Mutex<MqMeta>,
    /// Senders and receivers waiting, and poll.
    pub queue: WaitQueue,
    /// Its inode number on /dev/mqueue.
    pub ino: u64,
    charge: Charge,
}

#[derive(Default)]
struct MqState {
    /// By (MQ_PRIO_MAX - priority, arrival), so the first is the next out.
    msgs: BTreeMap<(u32, u64), Vec<u8>>,
    arrivals: u64,
    bytes: u64,
    notify: Option<Notify>,
    /// Receivers waiting: a message then goes to them, not to a notification.
    receivers: u32,
}

/// A queue's owner, mode and times.
#[derive(Clone, Copy, Debug)]
pub struct MqMeta {
    /// Permission bits.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Last receive.
    pub atime: i64,
    /// Last send.
    pub mtime: i64,
    /// Creation or last change.
    pub ctime: i64,
}

impl Mq {
    fn state(&self) -> MutexGuard<'_, MqState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Its owner, mode and times.
    pub fn meta(&self) -> MqMeta {
        *self.meta.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Messages queued.
    pub fn len(&self) -> usize {
        self.state().msgs.len()
    }

    /// Whether none is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether a send would wait.
    pub fn is_full(&self) -> bool {
        self.len() as i64 >= self.maxmsg
    }

    /// One attempt to queue `msg` at `prio`: false while full. The result
    /// also says whom to notify, if this message found the queue empty
    /// with no receiver waiting and a registration (which it consumes).
    pub fn try_send(&self, msg: &[u8], prio: u32) -> (bool, Option<Notify>) {
        let mut st = self.state();
        if st.msgs.len() as i64 >= self.maxmsg {
            return (false, None);
        }
        let seq = st.arrivals;
        st.arrivals += 1;
        st.msgs.insert((MQ_PRIO_MAX - 1 - prio.min(MQ_PRIO_MAX - 1), seq), msg.to_vec());
        st.bytes += msg.len() as u64;
        let notify = if st.msgs.len() == 1 && st.receivers == 0 { st.notify.take() } else { None };
        drop(st);
        self.meta.lock().unwrap_or_else(|e| e.into_inner()).mtime = now_secs();
        self.queue.notify();
        (true, notify)
    }

    /// One attempt to take the next message and its priority.
    pub fn try_receive(&self) -> Option<(Vec<u8>, u32)> {
        let mut st = self.state();
        let ((key, _), msg) = st.msgs.pop_first()?;
        st.bytes -= msg.len() as u64;
        drop(st);
        self.meta.lock().unwrap_or_else(|e| e.into_inner()).atime = now_secs();
        self.queue.notify();
        Some((msg, MQ_PRIO_MAX - 1 - key))
    }

    /// A receiver starts (`true`) or stops waiting.
    pub fn receiver_waiting(&self, waiting: bool) {
        let mut st = self.state();
        if waiting {
            st.receivers += 1;
        } else {
            st.receivers = st.receivers.saturating_sub(1);
        }
    }

    /// mq_notify: registers `n` (EBUSY if any process is registered),
    /// or, with None, removes `pid`'s registration.
    pub fn set_notify(&self, pid: i32, n: Option<Notify>) -> SysResult<()> {
        let mut st = self.state();
        match n {
            Some(n) => {
                // Even the registered process itself may not register again.
                if st.notify.is_some() {
                    return Err(Errno::EBUSY);
                }
                st.notify = Some(n);
            }
            None => {
                if st.notify.as_ref().is_some_and(|cur| cur.pid == pid) {
                    if let Some(Notify { thread: Some(note), .. }) = st.notify.take() {
                        note.send(NOTIFY_REMOVED);
                    }
                }
            }
        }
        Ok(())
    }

    /// A close by process `pid` of an fd of this queue (Linux's
    /// mqueue_flush_file): its notification, if it has the queue's, goes.
    pub fn flush(&self, pid: i32) {
        let _ = self.set_notify(pid, None);
    }

    /// What reading the queue's file shows.
    pub fn status_line(&self) -> String {
        let st = self.state();
        let (kind, signo, pid) = match &st.notify {
            None => (0, 0, 0),
            Some(Notify { pid, thread: Some(note), .. }) => (2, note.fd as u32, *pid),
            Some(Notify { pid, signal: None, .. }) => (1, 0, *pid),
            Some(Notify { pid, signal: Some((signo, _)), .. }) => (0, *signo, *pid),
        };
        format!("QSIZE:{:<10} NOTIFY:{kind:<5} SIGNO:{signo:<5} NOTIFY_PID:{pid:<6}\n", st.bytes)
    }

    /// Whether `creds` may open it for `access` (MAY_READ, MAY_WRITE):
    /// its mode bits, or, as for any file, CAP_DAC_OVERRIDE, or
    /// CAP_DAC_READ_SEARCH to read.
    fn may_open(&self, creds: &Credentials, access: u32) -> SysResult<()> {
        use abi::flags::capability::{CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH};
        let m = self.meta();
        let perm = super::Perm { key: 0, uid: m.uid, gid: m.gid, cuid: m.uid, cgid: m.gid, mode: m.mode, seq: 0 };
        let overridden = creds.has_cap(CAP_DAC_OVERRIDE) || (access == MAY_READ && creds.has_cap(CAP_DAC_READ_SEARCH));
        if overridden {
            return Ok(());
        }
        perm.check_bits(creds, access)
    }
}

/// What mq_open asks.
pub struct OpenRequest<'a> {
    /// The name, without its leading slash.
    pub name: &'a [u8],
    /// O_CREAT and O_EXCL.
    pub create: bool,
    /// With O_CREAT.
    pub exclusive: bool,
    /// MAY_READ and/or MAY_WRITE; None for an O_ACCMODE of 3, which an
    /// existing queue refuses (EINVAL).
    pub access: Option<u32>,
    /// Permission bits, with the umask applied, for a new queue.
    pub mode: u32,
    /// mq_maxmsg and mq_msgsize for a new queue, or the defaults.
    pub attr: Option<(i64, i64)>,
    /// The caller.
    pub creds: &'a Credentials,
    /// The caller's RLIMIT_MSGQUEUE (soft), in bytes.
    pub rlimit: u64,
}

/// The queues of one sandbox, by name.
#[derive(Default)]
pub struct MqNamespace {
    names: Mutex<BTreeMap<Vec<u8>, Arc<Mq>>>,
    /// Bytes charged to each user's RLIMIT_MSGQUEUE by its queues.
    charged: Arc<Mutex<HashMap<u32, u64>>>,
}

/// What a queue costs its creator's RLIMIT_MSGQUEUE, as Linux counts it:
/// the messages at their largest, and the bookkeeping for them.
fn queue_cost(maxmsg: i64, msgsize: i64) -> Option<u64> {
    /// `sizeof(struct posix_msg_tree_node)` and of a message pointer.
    const TREE_NODE: u64 = 48;
    const POINTER: u64 = 8;
    let (n, size) = (u64::try_from(maxmsg).ok()?, u64::try_from(msgsize).ok()?);
    let tree = n.min(u64::from(MQ_PRIO_MAX)) * TREE_NODE + n * POINTER;
    n.checked_mul(size)?.checked_add(tree)
}

/// A queue's charge against its creator's limit, given back when the queue
/// is gone (unlinked and closed).
struct Charge {
    ledger: Arc<Mutex<HashMap<u32, u64>>>,
    uid: u32,
    bytes: u64,
}

impl Drop for Charge {
    fn drop(&mut self) {
        let mut l = self.ledger.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(used) = l.get_mut(&self.uid) {
            *used = used.saturating_sub(self.bytes);
        }
    }
}

/// EACCES for names the mqueue filesystem cannot hold (a slash, ".", "..",
/// empty: Linux's `lookup_one_len`), ENAMETOOLONG past NAME_MAX.
pub fn check_name(name: &[u8]) -> SysResult<()> {
    if name.len() > NAME_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    if name.is_empty() || name == b"." || name == b".." || name.contains(&b'/') {
        return Err(Errno::EACCES);
    }
    Ok(())
}

impl MqNamespace {
    /// Whether no queue exists.
    pub fn is_empty(&self) -> bool {
        self.names.lock().unwrap_or_else(|e| e.into_inner()).is_empty()
    }

    fn names(&self) -> MutexGuard<'_, BTreeMap<Vec<u8>, Arc<Mq>>> {
        self.names.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// mq_open's lookup or creation, with its checks in Linux's order.
    pub fn open(&self, req: OpenRequest<'_>) -> SysResult<Arc<Mq>> {
        check_name(req.name)?;
        let mut names = self.names();
        if let Some(q) = names.get(req.name) {
            if req.create && req.exclusive {
                return Err(Errno::EEXIST);
            }
            q.may_open(req.creds, req.access.ok_or(Errno::EINVAL)?)?;
            return Ok(q.clone());
        }
        if !req.create {
            return Err(Errno::ENOENT);
        }
        // Past the sysctl limits only CAP_SYS_RESOURCE may go.
        let root = req.creds.has_cap(abi::flags::capability::CAP_SYS_RESOURCE);
        let (maxmsg, msgsize) = match req.attr {
            None => (MSG_DEFAULT.min(MSG_MAX), MSGSIZE_DEFAULT.min(MSGSIZE_MAX)),
            Some((maxmsg, msgsize)) => {
                let (lim_n, lim_size) = if root { (HARD_MSGMAX, HARD_MSGSIZEMAX) } else { (MSG_MAX, MSGSIZE_MAX) };
                if maxmsg <= 0 || msgsize <= 0 || maxmsg > lim_n || msgsize > lim_size {
                    return Err(Errno::EINVAL);
                }
                (maxmsg, msgsize)
            }
        };
        if names.len() >= QUEUES_MAX && !root {
            return Err(Errno::ENOSPC);
        }
        // Root too is held to RLIMIT_MSGQUEUE, as on Linux (EMFILE).
        let bytes = queue_cost(maxmsg, msgsize).ok_or(Errno::EINVAL)?;
        let uid = req.creds.euid;
        {
            let mut ledger = self.charged.lock().unwrap_or_else(|e| e.into_inner());
            let used = ledger.entry(uid).or_insert(0);
            if used.checked_add(bytes).is_none_or(|total| total > req.rlimit) {
                return Err(Errno::EMFILE);
            }
            *used += bytes;
        }
        let charge = Charge { ledger: self.charged.clone(), uid, bytes };
        let t = now_secs();
        let q = Arc::new(Mq {
            name: req.name.to_vec(),
            maxmsg,
            msgsize,
            state: Mutex::new(MqState::default()),
            meta: Mutex::new(MqMeta {
                mode: req.mode & 0o777,
                uid: req.creds.euid,
                gid: req.creds.egid,
                atime: t,
                mtime: t,
                ctime: t,
            }),
            queue: WaitQueue::default(),
            ino: NEXT_INO.fetch_add(1, Ordering::Relaxed),
            charge,
        });
        names.insert(req.name.to_vec(), q.clone());
        Ok(q)
    }

    /// mq_unlink (and unlink in /dev/mqueue): the name goes; the queue
    /// lives on while open. Only its owner (or CAP_FOWNER) may remove it,
    /// as the directory is sticky.
    pub fn unlink(&self, name: &[u8], creds: &Credentials) -> SysResult<()> {
        check_name(name)?;
        let mut names = self.names();
        let q = names.get(name).ok_or(Errno::ENOENT)?;
        if creds.euid != q.meta().uid && !creds.has_cap(abi::flags::capability::CAP_FOWNER) {
            return Err(Errno::EPERM);
        }
        names.remove(name);
        Ok(())
    }

    /// The queue called `name`.
    pub fn get(&self, name: &[u8]) -> Option<Arc<Mq>> {
        self.names().get(name).cloned()
    }

    /// Every name and its queue, in order.
    pub fn list(&self) -> Vec<(Vec<u8>, Arc<Mq>)> {
        self.names().iter().map(|(n, q)| (n.clone(), q.clone())).collect()
    }
}

/// The access mq_open's flags ask, as MAY_* bits (None for the invalid
/// O_ACCMODE 3).
pub fn access_of(accmode: u32) -> Option<u32> {
    match accmode {
        0 => Some(MAY_READ),
        1 => Some(MAY_WRITE),
        2 => Some(MAY_READ | MAY_WRITE),
        _ => None,
    }
}

/// A queue in a checkpoint.
#[derive(Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MqSnapshot {
    pub name: Vec<u8>,
    /// Whether its name still leads to it (it was not unlinked).
    pub named: bool,
    pub maxmsg: i64,
    pub msgsize: i64,
    /// Mode, owner and group.
    pub owner: (u32, u32, u32),
    /// atime, mtime, ctime.
    pub times: [i64; 3],
    /// (priority, text), the next out first.
    pub msgs: Vec<(u32, Vec<u8>)>,
    /// The mq_notify registration: the process, and SIGEV_SIGNAL's signal
    /// and value.
    pub notify: Option<(i32, Option<(u32, u64)>)>,
    /// SIGEV_THREAD's: the netlink socket (an index into the image's
    /// sockets), the cookie and the socket's fd.
    pub notify_thread: Option<(usize, [u8; NOTIFY_COOKIE_LEN], i32)>,
    /// The user whose RLIMIT_MSGQUEUE it is charged to, and how much.
    pub charge: (u32, u64),
}

impl MqNamespace {
    /// `q` as a checkpoint keeps it. Receivers waiting are not kept: the
    /// checkpoint makes their calls restart.
    /// `socket` gives a socket's index among the image's.
    pub fn snapshot(
        &self,
        q: &Arc<Mq>,
        socket: &mut dyn FnMut(&Arc<crate::vfs::unix::Endpoint>) -> usize,
    ) -> MqSnapshot {
        let named = self.get(&q.name).is_some_and(|n| Arc::ptr_eq(&n, q));
        let st = q.state();
        let m = q.meta();
        MqSnapshot {
            name: q.name.clone(),
            named,
            maxmsg: q.maxmsg,
            msgsize: q.msgsize,
            owner: (m.mode, m.uid, m.gid),
            times: [m.atime, m.mtime, m.ctime],
            msgs: st.msgs.iter().map(|((key, _), text)| (MQ_PRIO_MAX - 1 - key, text.clone())).collect(),
            notify: st.notify.as_ref().map(|n| (n.pid, n.signal)),
            notify_thread: st
                .notify
                .as_ref()
                .and_then(|n| n.thread.as_ref())
                .and_then(|note| Some((socket(&note.sock.upgrade()?), note.cookie, note.fd))),
            charge: (q.charge.uid, q.charge.bytes),
        }
    }

    /// Makes the queue `s` again, under its name if it had one (which must
    /// be free), charged as it was.
    /// `sockets` are the image's, restored.
    pub fn restore(&self, s: MqSnapshot, sockets: &[Arc<crate::vfs::unix::Endpoint>]) -> Result<Arc<Mq>, String> {
        let bad = || format!("message queue {}", String::from_utf8_lossy(&s.name));
        let sizes_fit = (1..=HARD_MSGMAX).contains(&s.maxmsg)
            && (1..=HARD_MSGSIZEMAX).contains(&s.msgsize)
            && s.msgs.len() as i64 <= s.maxmsg
            && s.msgs.iter().all(|(prio, text)| *prio < MQ_PRIO_MAX && text.len() as i64 <= s.msgsize);
        if check_name(&s.name).is_err() || !sizes_fit || s.charge.1 != queue_cost(s.maxmsg, s.msgsize).unwrap_or(0) {
            return Err(bad());
        }
        let mut names = self.names();
        if s.named && names.contains_key(&s.name) {
            return Err(bad());
        }
        let (uid, bytes) = s.charge;
        *self.charged.lock().unwrap_or_else(|e| e.into_inner()).entry(uid).or_insert(0) += bytes;
        let mut state = MqState::default();
        for (prio, text) in s.msgs {
            state.bytes += text.len() as u64;
            state.msgs.insert((MQ_PRIO_MAX - 1 - prio, state.arrivals), text);
            state.arrivals += 1;
        }
        let thread = match s.notify_thread {
            Some((i, cookie, fd)) => {
                let sock = sockets.get(i).ok_or_else(bad)?;
                Some(ThreadNote { sock: Arc::downgrade(sock), cookie, fd })
            }
            None => None,
        };
        state.notify = s.notify.map(|(pid, signal)| Notify { pid, signal, thread });
        let (mode, uid, gid) = s.owner;
        let [atime, mtime, ctime] = s.times;
        let q = Arc::new(Mq {
            name: s.name,
            maxmsg: s.maxmsg,
            msgsize: s.msgsize,
            state: Mutex::new(state),
            meta: Mutex::new(MqMeta { mode: mode & 0o777, uid, gid, atime, mtime, ctime }),
            queue: WaitQueue::default(),
            ino: NEXT_INO.fetch_add(1, Ordering::Relaxed),
            charge: Charge { ledger: self.charged.clone(), uid, bytes },
        });
        if s.named {
            names.insert(q.name.clone(), q.clone());
        }
        Ok(q)
    }
}
