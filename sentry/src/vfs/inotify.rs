//! inotify: watches on files and directories, and the events the VFS
//! reports for changes made inside the sandbox (inotify(7)).
//!
//! A watch is kept by its instance ([`Inotify`], the file inotify_init
//! makes) and indexed by the watched file's (device, inode) in one
//! registry, which the VFS tells of each change ([`notify_dentry`] and
//! friends). The registry is per Sentry process, as devices and inode
//! numbers are (one sandbox per Sentry). When no watch exists the VFS's
//! calls return at once, so unwatched I/O pays one atomic load.
//!
//! Events follow Linux's fsnotify: a change to a file is told to the
//! file's watches, and, with the file's name, to its directory's; identical
//! unread events in a row are merged; a queue past its limit gets one
//! IN_Q_OVERFLOW; a watch that ends (inotify_rm_watch, IN_ONESHOT, its file
//! deleted) queues IN_IGNORED.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};

use abi::Errno;
use gofer::FileAttr;

use super::file::{put_bytes, FileOps, POLLIN, POLLRDNORM};
use super::Dentry;
use crate::kernel::waiter::WaitQueue;
use crate::mm::{Chunk, MemoryFile, SysResult};

pub const IN_ACCESS: u32 = 0x1;
pub const IN_MODIFY: u32 = 0x2;
pub const IN_ATTRIB: u32 = 0x4;
pub const IN_CLOSE_WRITE: u32 = 0x8;
pub const IN_CLOSE_NOWRITE: u32 = 0x10;
pub const IN_OPEN: u32 = 0x20;
pub const IN_MOVED_FROM: u32 = 0x40;
pub const IN_MOVED_TO: u32 = 0x80;
pub const IN_CREATE: u32 = 0x100;
pub const IN_DELETE: u32 = 0x200;
pub const IN_DELETE_SELF: u32 = 0x400;
pub const IN_MOVE_SELF: u32 = 0x800;
const IN_Q_OVERFLOW: u32 = 0x4000;
const IN_IGNORED: u32 = 0x8000;
pub const IN_ONLYDIR: u32 = 0x0100_0000;
pub const IN_DONT_FOLLOW: u32 = 0x0200_0000;
/// A directory's watch hears nothing of entries unlinked from it (files
/// still open).
const IN_EXCL_UNLINK: u32 = 0x0400_0000;
const IN_MASK_CREATE: u32 = 0x1000_0000;
const IN_MASK_ADD: u32 = 0x2000_0000;
pub const IN_ISDIR: u32 = 0x4000_0000;
const IN_ONESHOT: u32 = 0x8000_0000;
const IN_ALL_EVENTS: u32 = 0xfff;

/// `sizeof(struct inotify_event)`, before its name.
const EVENT_HEADER: usize = 16;
/// /proc/sys/fs/inotify/max_queued_events.
pub const MAX_QUEUED_EVENTS: usize = 16384;
/// /proc/sys/fs/inotify/max_user_watches, per instance here.
pub const MAX_WATCHES: usize = 65536;

/// A watched file: its device and inode number.
type Key = (u64, u64);

static WATCHES: AtomicUsize = AtomicUsize::new(0);
static NEXT_INO: AtomicU64 = AtomicU64::new(1);

/// The watches of each watched file: their instances and descriptors.
type Registry = HashMap<Key, Vec<(Weak<Inotify>, i32)>>;

fn registry() -> MutexGuard<'static, Registry> {
    static R: OnceLock<Mutex<Registry>> = OnceLock::new();
    R.get_or_init(Mutex::default).lock().unwrap_or_else(|e| e.into_inner())
}

fn key_of(attr: &FileAttr) -> Key {
    (attr.dev, attr.ino)
}

struct Event {
    wd: i32,
    mask: u32,
    cookie: u32,
    name: Vec<u8>,
}

impl Event {
    /// Its size as read: the header and the name, NUL-padded to a multiple
    /// of the header's size.
    fn len(&self) -> usize {
        EVENT_HEADER + self.padded_name()
    }

    fn padded_name(&self) -> usize {
        if self.name.is_empty() {
            0
        } else {
            (self.name.len() + 1).div_ceil(EVENT_HEADER) * EVENT_HEADER
        }
    }

    fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len());
        out.extend_from_slice(&self.wd.to_ne_bytes());
        out.extend_from_slice(&self.mask.to_ne_bytes());
        out.extend_from_slice(&self.cookie.to_ne_bytes());
        out.extend_from_slice(&(self.padded_name() as u32).to_ne_bytes());
        out.extend_from_slice(&self.name);
        out.resize(self.len(), 0);
        out
    }
}

struct Watch {
    key: Key,
    mask: u32,
    /// The watched file, kept (as Linux's watch keeps its inode): a
    /// checkpoint names it by its path.
    file: Arc<Dentry>,
}

/// What a checkpoint keeps of an inotify instance.
pub struct InotifyState {
    /// The next watch descriptor it hands out.
    pub next_wd: i32,
    /// (watch descriptor, the watched file, the events it watches for).
    pub watches: Vec<(i32, Arc<Dentry>, u32)>,
    /// Events not yet read: (wd, mask, cookie, name).
    pub events: Vec<(i32, u32, u32, Vec<u8>)>,
}

#[derive(Default)]
struct State {
    events: VecDeque<Event>,
    watches: BTreeMap<i32, Watch>,
    by_key: HashMap<Key, i32>,
    next_wd: i32,
}

/// One inotify instance.
pub struct Inotify {
    state: Mutex<State>,
    queue: WaitQueue,
    ino: u64,
}

impl Inotify {
    /// A new instance with no watches.
    pub fn new() -> Arc<Inotify> {
        Arc::new(Inotify {
            state: Mutex::new(State { next_wd: 1, ..State::default() }),
            queue: WaitQueue::default(),
            ino: NEXT_INO.fetch_add(1, Ordering::Relaxed),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The instance as a checkpoint keeps it.
    pub fn checkpoint_state(&self) -> InotifyState {
        let st = self.state();
        InotifyState {
            next_wd: st.next_wd,
            watches: st.watches.iter().map(|(&wd, w)| (wd, w.file.clone(), w.mask)).collect(),
            events: st.events.iter().map(|e| (e.wd, e.mask, e.cookie, e.name.clone())).collect(),
        }
    }

    /// An instance from a checkpoint, before its watches
    /// ([`Inotify::restore_watch`]); EINVAL for more events than a queue
    /// holds.
    pub fn restored(next_wd: i32, events: &[(i32, u32, u32, Vec<u8>)]) -> SysResult<Arc<Inotify>> {
        if events.len() > MAX_QUEUED_EVENTS + 1 || next_wd < 1 {
            return Err(Errno::EINVAL);
        }
        let ino = Inotify::new();
        {
            let mut st = ino.state();
            st.next_wd = next_wd;
            st.events = events
                .iter()
                .map(|(wd, mask, cookie, name)| Event { wd: *wd, mask: *mask, cookie: *cookie, name: name.clone() })
                .collect();
        }
        Ok(ino)
    }

    /// Watch `wd` of a checkpoint, on `file` again: EINVAL for a
    /// descriptor or a file it watches already, or one past `next_wd`.
    pub fn restore_watch(self: &Arc<Self>, wd: i32, file: &Arc<Dentry>, mask: u32) -> SysResult<()> {
        let key = key_of(&file.attr());
        let mut st = self.state();
        if wd < 1 || wd >= st.next_wd || st.watches.contains_key(&wd) || st.by_key.contains_key(&key) {
            return Err(Errno::EINVAL);
        }
        if st.watches.len() >= MAX_WATCHES {
            return Err(Errno::ENOSPC);
        }
        st.watches.insert(wd, Watch { key, mask, file: file.clone() });
        st.by_key.insert(key, wd);
        drop(st);
        registry().entry(key).or_default().push((Arc::downgrade(self), wd));
        WATCHES.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// inotify_add_watch on `file`, whose attributes are `attr`: its watch
    /// descriptor (the same one again for the same file). Bits it does not
    /// know are ignored, as Linux ignores them.
    pub fn add_watch(self: &Arc<Self>, file: &Arc<Dentry>, attr: &FileAttr, mask: u32) -> SysResult<i32> {
        if mask & IN_ALL_EVENTS == 0 || (mask & IN_MASK_ADD != 0 && mask & IN_MASK_CREATE != 0) {
            return Err(Errno::EINVAL);
        }
        let key = key_of(attr);
        let mut st = self.state();
        let events = mask & !(IN_MASK_ADD | IN_MASK_CREATE | IN_ONLYDIR | IN_DONT_FOLLOW);
        if let Some(&wd) = st.by_key.get(&key) {
            if mask & IN_MASK_CREATE != 0 {
                return Err(Errno::EEXIST);
            }
            if let Some(w) = st.watches.get_mut(&wd) {
                w.mask = if mask & IN_MASK_ADD != 0 { w.mask | events } else { events };
            }
            return Ok(wd);
        }
        if st.watches.len() >= MAX_WATCHES {
            return Err(Errno::ENOSPC);
        }
        let wd = st.next_wd;
        st.next_wd = st.next_wd.checked_add(1).ok_or(Errno::ENOSPC)?;
        st.watches.insert(wd, Watch { key, mask: events, file: file.clone() });
        st.by_key.insert(key, wd);
        drop(st);
        registry().entry(key).or_default().push((Arc::downgrade(self), wd));
        WATCHES.fetch_add(1, Ordering::Relaxed);
        Ok(wd)
    }

    /// Its watches as /proc/PID/fdinfo shows them (`inotify_fdinfo`): the
    /// descriptor, the file's inode and device, the mask.
    pub fn fdinfo(&self) -> String {
        use std::fmt::Write as _;
        let st = self.state();
        let mut o = String::new();
        for (wd, w) in &st.watches {
            let (dev, ino) = w.key;
            let sdev = (u64::from(super::devfs::major(dev)) << 20) | u64::from(super::devfs::minor(dev));
            let _ = writeln!(o, "inotify wd:{wd:x} ino:{ino:x} sdev:{sdev:x} mask:{:x} ignored_mask:0", w.mask);
        }
        o
    }

    /// inotify_rm_watch: EINVAL for a watch descriptor it does not have.
    pub fn rm_watch(&self, wd: i32) -> SysResult<()> {
        let mut st = self.state();
        let w = st.watches.remove(&wd).ok_or(Errno::EINVAL)?;
        st.by_key.remove(&w.key);
        push(&mut st, Event { wd, mask: IN_IGNORED, cookie: 0, name: Vec::new() });
        drop(st);
        forget(w.key, self, wd);
        self.queue.notify_events(POLLIN | POLLRDNORM);
        Ok(())
    }

    /// An event for watch `wd`, if it watches for `mask`'s kind.
    fn deliver(&self, wd: i32, mask: u32, cookie: u32, name: &[u8], ends_watch: bool, unlinked: bool) {
        let mut st = self.state();
        let Some(w) = st.watches.get(&wd) else { return };
        let (key, wanted) = (w.key, w.mask);
        if unlinked && wanted & IN_EXCL_UNLINK != 0 {
            return;
        }
        let kind = mask & !IN_ISDIR;
        let oneshot = wanted & IN_ONESHOT != 0;
        let interested = wanted & kind != 0;
        if interested {
            push(&mut st, Event { wd, mask, cookie, name: name.to_vec() });
        }
        if ends_watch || (interested && oneshot) {
            st.watches.remove(&wd);
            st.by_key.remove(&key);
            push(&mut st, Event { wd, mask: IN_IGNORED, cookie: 0, name: Vec::new() });
            drop(st);
            forget(key, self, wd);
        } else if !interested {
            return;
        } else {
            drop(st);
        }
        self.queue.notify_events(POLLIN | POLLRDNORM);
    }
}

/// Queues `e`, merged into an identical last event, or IN_Q_OVERFLOW once
/// the queue is full.
fn push(st: &mut State, e: Event) {
    if let Some(last) = st.events.back() {
        if last.wd == e.wd && last.mask == e.mask && last.cookie == e.cookie && last.name == e.name {
            return;
        }
    }
    if st.events.len() >= MAX_QUEUED_EVENTS {
        if st.events.back().is_none_or(|l| l.mask != IN_Q_OVERFLOW) {
            st.events.push_back(Event { wd: -1, mask: IN_Q_OVERFLOW, cookie: 0, name: Vec::new() });
        }
        return;
    }
    st.events.push_back(e);
}

/// Drops the registry's entry for watch `wd` of `ino` on `key`.
fn forget(key: Key, ino: &Inotify, wd: i32) {
    let mut reg = registry();
    if let Some(list) = reg.get_mut(&key) {
        let before = list.len();
        list.retain(|(w, d)| !(*d == wd && std::ptr::eq(w.as_ptr(), ino)));
        WATCHES.fetch_sub(before - list.len(), Ordering::Relaxed);
        if list.is_empty() {
            reg.remove(&key);
        }
    }
}

impl Drop for Inotify {
    fn drop(&mut self) {
        let keys: Vec<(Key, i32)> = self.state().watches.iter().map(|(wd, w)| (w.key, *wd)).collect();
        for (key, wd) in keys {
            forget(key, self, wd);
        }
    }
}

/// Tells the watches of the file `key` of an event (`name` for an event
/// about a directory's entry); `ends` ends those watches (the file is
/// gone).
fn notify_key(key: Key, mask: u32, cookie: u32, name: &[u8], ends: bool) {
    notify_key_of(key, mask, cookie, name, ends, false);
}

/// [`notify_key`], for an event of an entry `unlinked` from the directory
/// `key` names (which IN_EXCL_UNLINK watches do not hear).
fn notify_key_of(key: Key, mask: u32, cookie: u32, name: &[u8], ends: bool, unlinked: bool) {
    // dnotify hears of a directory's entries, and of the directory itself.
    if !name.is_empty() || mask & IN_ISDIR != 0 {
        dnotify_event(key, dnotify_mask(mask));
    }
    let targets: Vec<(Arc<Inotify>, i32)> = {
        let reg = registry();
        match reg.get(&key) {
            Some(list) => list.iter().filter_map(|(w, wd)| w.upgrade().map(|i| (i, *wd))).collect(),
            None => return,
        }
    };
    for (ino, wd) in targets {
        ino.deliver(wd, mask, cookie, name, ends, unlinked);
    }
}

/// Whether any watch exists (the VFS skips its calls otherwise).
pub fn active() -> bool {
    WATCHES.load(Ordering::Relaxed) > 0 || DNOTIFY_COUNT.load(Ordering::Relaxed) > 0
}

// ----- dnotify (fcntl F_NOTIFY), the old interface, on the same events

/// dnotify's event bits.
pub const DN_ACCESS: u32 = 0x1;
pub const DN_MODIFY: u32 = 0x2;
pub const DN_CREATE: u32 = 0x4;
pub const DN_DELETE: u32 = 0x8;
pub const DN_RENAME: u32 = 0x10;
pub const DN_ATTRIB: u32 = 0x20;
pub const DN_MULTISHOT: u32 = 0x8000_0000;

/// One directory a process asked F_NOTIFY of, through one open file.
struct DirNotify {
    dir: Key,
    /// The open file description (its address), whose close ends it.
    file: usize,
    /// The file, whose owner gets the signal (SIGIO, or F_SETSIG's).
    target: std::sync::Weak<super::file::File>,
    /// The fd F_NOTIFY came through (the signal's `si_fd`).
    fd: i32,
    mask: u32,
    /// The process that asked: its closing any fd of the file ends it.
    owner: i32,
}

static DNOTIFY: std::sync::Mutex<Vec<DirNotify>> = std::sync::Mutex::new(Vec::new());
static DNOTIFY_COUNT: AtomicUsize = AtomicUsize::new(0);

/// Whether any directory has F_NOTIFY set.
pub fn dnotify_any() -> bool {
    DNOTIFY_COUNT.load(Ordering::Relaxed) > 0
}

fn dnotify_list() -> std::sync::MutexGuard<'static, Vec<DirNotify>> {
    DNOTIFY.lock().unwrap_or_else(|e| e.into_inner())
}

/// fcntl(F_NOTIFY) by process `owner`: the directory `dir`, through the
/// open file `file` (fd `fd`), signals the file's owner for the events of
/// `arg` (DN_*), once or, with DN_MULTISHOT, until changed; no event bits
/// ends it.
pub fn dnotify_set(dir: &FileAttr, file: &Arc<super::file::File>, fd: i32, arg: u32, owner: i32) {
    let id = Arc::as_ptr(file) as usize;
    let mut list = dnotify_list();
    list.retain(|n| n.file != id);
    let mask = arg & (DN_ACCESS | DN_MODIFY | DN_CREATE | DN_DELETE | DN_RENAME | DN_ATTRIB | DN_MULTISHOT);
    if mask & !DN_MULTISHOT != 0 {
        list.push(DirNotify { dir: key_of(dir), file: id, target: Arc::downgrade(file), fd, mask, owner });
    }
    DNOTIFY_COUNT.store(list.len(), Ordering::Relaxed);
}

/// F_NOTIFY as a checkpoint keeps it: (the open file's address when saved,
/// its index among the image's files once the checkpoint names it; the
/// fd; the DN_* mask; the process that asked).
pub type DirNotifySnapshot = (usize, i32, u32, i32);

/// Every F_NOTIFY set, for a checkpoint.
pub fn dnotify_snapshot() -> Vec<DirNotifySnapshot> {
    dnotify_list().iter().map(|n| (n.file, n.fd, n.mask, n.owner)).collect()
}

/// The open file `file` is gone, or (with `owner`) that process closed an
/// fd of it: its F_NOTIFY goes, as Linux's dnotify_flush on every close.
pub fn dnotify_release(file: usize, owner: Option<i32>) {
    if DNOTIFY_COUNT.load(Ordering::Relaxed) == 0 {
        return;
    }
    let mut list = dnotify_list();
    list.retain(|n| n.file != file || owner.is_some_and(|o| o != n.owner));
    DNOTIFY_COUNT.store(list.len(), Ordering::Relaxed);
}

/// The dnotify events of an inotify event, as Linux's dnotify maps them:
/// a move out is a deletion and a move in a creation (DN_RENAME is a
/// rename within the directory: [`dnotify_rename`]).
fn dnotify_mask(mask: u32) -> u32 {
    let mut dn = 0;
    for (i, d) in [
        (IN_ACCESS, DN_ACCESS),
        (IN_MODIFY, DN_MODIFY),
        (IN_ATTRIB, DN_ATTRIB),
        (IN_CREATE | IN_MOVED_TO, DN_CREATE),
        (IN_DELETE | IN_MOVED_FROM, DN_DELETE),
    ] {
        if mask & i != 0 {
            dn |= d;
        }
    }
    dn
}

/// A rename of an entry of `dir` to another name in it: DN_RENAME (Linux
/// reports none to dnotify for a move between directories).
pub fn dnotify_rename(dir: &Dentry) {
    if DNOTIFY_COUNT.load(Ordering::Relaxed) > 0 {
        dnotify_event(key_of(&dir.attr()), DN_RENAME);
    }
}

/// The dnotify events `dn` on the directory `dir` (its entries or itself).
fn dnotify_event(dir: Key, dn: u32) {
    if DNOTIFY_COUNT.load(Ordering::Relaxed) == 0 || dn == 0 {
        return;
    }
    let mut targets = Vec::new();
    {
        let mut list = dnotify_list();
        list.retain(|n| {
            if n.dir != dir || n.mask & dn == 0 {
                return true;
            }
            targets.push((n.target.clone(), n.fd));
            n.mask & DN_MULTISHOT != 0
        });
        DNOTIFY_COUNT.store(list.len(), Ordering::Relaxed);
    }
    for (file, fd) in targets {
        if let Some(f) = file.upgrade() {
            f.owner.send(fd, crate::kernel::fasync::POLL_MSG);
        }
    }
}

/// An event on the file `d`: told to its own watches, and to its
/// directory's with its name (IN_ISDIR added for a directory).
pub fn notify_dentry(d: &Dentry, mask: u32) {
    if !active() {
        return;
    }
    let attr = d.attr();
    let mask = if d.is_dir() { mask | IN_ISDIR } else { mask };
    // The directory's watches first, then the file's own, as Linux's
    // fsnotify_handle_event tells them.
    if let Some(parent) = d.parent() {
        let name = d.name();
        let linked =
            parent.children().map.get(&name).and_then(|c| c.as_ref()).is_some_and(|c| std::ptr::eq(Arc::as_ptr(c), d));
        notify_key_of(key_of(&parent.attr()), mask, 0, &name, false, !linked);
    }
    notify_key(key_of(&attr), mask, 0, &[], false);
}

/// An event about the entry `name` of directory `dir` (IN_CREATE,
/// IN_DELETE, IN_MOVED_FROM, IN_MOVED_TO), with `cookie` pairing moves.
pub fn notify_entry(dir: &Dentry, name: &[u8], mask: u32, cookie: u32) {
    if active() {
        notify_key(key_of(&dir.attr()), mask, cookie, name, false);
    }
}

/// An event on the file with attributes `attr` itself (IN_ATTRIB,
/// IN_MOVE_SELF); with `gone`, IN_DELETE_SELF and the end of its watches.
pub fn notify_self(attr: &FileAttr, mask: u32, gone: bool) {
    if active() {
        notify_key(key_of(attr), mask, 0, &[], gone);
    }
}

/// A cookie pairing IN_MOVED_FROM with its IN_MOVED_TO.
pub fn move_cookie() -> u32 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed) as u32
}

/// The file an inotify descriptor is.
pub struct InotifyFile(pub Arc<Inotify>);

impl FileOps for InotifyFile {
    fn seekable(&self) -> bool {
        false
    }

    /// Whole events, as many as fit: EINVAL if not even the first does;
    /// EAGAIN when there are none.
    fn read(&self, mf: &MemoryFile, dst: &[Chunk], _offset: Option<u64>) -> SysResult<usize> {
        let room: usize = dst.iter().map(|c| c.len as usize).sum();
        let mut st = self.0.state();
        let first = st.events.front().ok_or(Errno::EAGAIN)?;
        if first.len() > room {
            return Err(Errno::EINVAL);
        }
        let mut out = Vec::new();
        while let Some(e) = st.events.front() {
            if out.len() + e.len() > room {
                break;
            }
            out.extend_from_slice(&e.bytes());
            st.events.pop_front();
        }
        drop(st);
        Ok(put_bytes(mf, dst, &out))
    }

    fn write(&self, _mf: &MemoryFile, _src: &[Chunk], _offset: Option<u64>) -> SysResult<usize> {
        Err(Errno::EINVAL)
    }

    fn stat(&self) -> SysResult<FileAttr> {
        Ok(super::file::anon_inode_attr(self.0.ino))
    }

    fn readiness(&self) -> u32 {
        if self.0.state().events.is_empty() {
            0
        } else {
            POLLIN | POLLRDNORM
        }
    }

    fn wait_queue(&self) -> Option<&WaitQueue> {
        Some(&self.0.queue)
    }

    fn fasync(&self) -> bool {
        true
    }

    fn anon_name(&self) -> Option<&'static str> {
        Some("inotify")
    }

    /// FIONREAD: the bytes of the queued events.
    fn ioctl(&self, cmd: u32, arg: &mut [u8]) -> SysResult<u64> {
        if cmd != abi::flags::ioctl::FIONREAD || arg.len() != 4 {
            return Err(Errno::ENOTTY);
        }
        let n: usize = self.0.state().events.iter().map(Event::len).sum();
        arg.copy_from_slice(&(n as u32).to_ne_bytes());
        Ok(0)
    }

    fn inotify(&self) -> Option<&Arc<Inotify>> {
        Some(&self.0)
    }
}
