//! File leases (fcntl F_SETLEASE), after Linux's `fs/locks.c`.
//!
//! An open file description of a regular file may hold a read lease
//! (while nobody has the file open for writing) or a write lease (while
//! nothing else has it open). An open that conflicts (any open against a
//! write lease, a write open against a read lease; truncate too) breaks
//! the lease: its holder's owner gets SIGIO (or F_SETSIG's signal, with
//! `si_code` POLL_MSG), and the opener waits until the holder gives the
//! lease up or downgrades it (F_SETLEASE), or until
//! `/proc/sys/fs/lease-break-time` seconds pass, when the lease is taken
//! away; a non-blocking open fails with EWOULDBLOCK instead of waiting.
//!
//! Files are known by device and inode numbers, as for [`super::locks`].
//! One table for the whole Sentry, holding at most one lease per open file
//! description; waiting openers sleep on its one queue, which every change
//! wakes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use abi::Errno;

use super::fasync::POLL_MSG;
use super::locks::FileKey;
use super::waiter::WaitQueue;
use crate::mm::SysResult;
use crate::vfs::file::File;

/// fcntl's lease types (those of record locks).
pub const F_RDLCK: u32 = 0;
pub const F_WRLCK: u32 = 1;
pub const F_UNLCK: u32 = 2;

/// `/proc/sys/fs/lease-break-time`'s default, in seconds.
pub const DEFAULT_BREAK_TIME: i64 = 45;

/// A break in progress on a lease.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pending {
    /// No break.
    None,
    /// A reader opened: the write lease must become a read lease (by then;
    /// None: no deadline).
    Downgrade(Option<Instant>),
    /// A writer opened: the lease must go.
    Unlock(Option<Instant>),
}

struct Lease {
    /// The open file description holding it (its address).
    file: usize,
    holder: Weak<File>,
    /// The fd F_SETLEASE came through, for the signal's `si_fd`.
    fd: i32,
    write: bool,
    pending: Pending,
}

impl Lease {
    /// The type F_GETLEASE reports: what the lease is becoming, if a break
    /// is under way.
    fn target(&self) -> u32 {
        match self.pending {
            Pending::Unlock(_) => F_UNLCK,
            Pending::Downgrade(_) => F_RDLCK,
            Pending::None if self.write => F_WRLCK,
            Pending::None => F_RDLCK,
        }
    }

    /// Whether an open for writing (`write`) or reading conflicts with it.
    fn conflicts(&self, write: bool) -> bool {
        self.write || write
    }
}

#[derive(Default)]
struct State {
    files: HashMap<FileKey, Vec<Lease>>,
    /// Opens waiting for a break: (readers, writers) per file. They count
    /// as open, as Linux's open has its write access before it waits.
    waiting: HashMap<FileKey, (usize, usize)>,
}

/// The lease table.
pub struct LeaseTable {
    state: Mutex<State>,
    /// Openers waiting for a break; told of every change.
    pub queue: WaitQueue,
    /// How many leases exist, so that the common open (of a file with no
    /// lease) costs one atomic load.
    count: AtomicUsize,
    /// `/proc/sys/fs/lease-break-time`, in seconds (0 or less: breaks
    /// never time out).
    break_time: AtomicI64,
}

/// The Sentry's lease table.
pub static LEASES: LazyLock<LeaseTable> = LazyLock::new(|| LeaseTable {
    state: Mutex::default(),
    queue: WaitQueue::default(),
    count: AtomicUsize::new(0),
    break_time: AtomicI64::new(DEFAULT_BREAK_TIME),
});

/// Signals to send once the table is let go: (holder, fd).
type Breaks = Vec<(Arc<File>, i32)>;

impl LeaseTable {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether any lease exists (opens skip the table otherwise).
    pub fn any(&self) -> bool {
        self.count.load(Ordering::Relaxed) > 0
    }

    /// lease-break-time, in seconds.
    pub fn break_time(&self) -> i64 {
        self.break_time.load(Ordering::Relaxed)
    }

    /// Sets lease-break-time.
    pub fn set_break_time(&self, secs: i64) {
        self.break_time.store(secs, Ordering::Relaxed);
    }

    fn recount(&self, st: &State) {
        self.count.store(st.files.values().map(Vec::len).sum(), Ordering::Relaxed);
    }

    /// F_SETLEASE with F_RDLCK or F_WRLCK (`write`) on `file`, through fd
    /// `fd`. `opens` counts the file's open descriptions (this one among
    /// them) for reading only and for writing, taken before (they are
    /// found in the fd tables, which are not locked inside this table's
    /// lock); the caller checked the owner and the file type.
    pub fn set(&self, key: FileKey, file: &Arc<File>, fd: i32, write: bool, opens: (usize, usize)) -> SysResult<()> {
        let id = Arc::as_ptr(file) as usize;
        let mut st = self.state();
        let gone = time_out(&mut st, key);
        let (mut readers, mut writers) = opens;
        let (wr, ww) = st.waiting.get(&key).copied().unwrap_or((0, 0));
        readers += wr;
        writers += ww;
        // Linux's check_conflicting_open: a read lease while no one has the
        // file open for writing, a write lease while nothing but this open
        // file has it open at all.
        let own_write = file.flags() & abi::flags::open::O_ACCMODE != abi::flags::open::O_RDONLY;
        let conflict = if write { (writers, readers) != if own_write { (1, 0) } else { (0, 1) } } else { writers > 0 };
        if conflict {
            drop(st);
            clear_owners(gone);
            return Err(Errno::EAGAIN);
        }
        let leases = st.files.entry(key).or_default();
        if leases.iter().any(|l| l.file != id && (write || matches!(l.pending, Pending::Unlock(_)))) {
            drop(st);
            clear_owners(gone);
            return Err(Errno::EAGAIN);
        }
        match leases.iter_mut().find(|l| l.file == id) {
            Some(l) => {
                l.write = write;
                // A downgrade done; a pending unlock stays pending.
                if !write && matches!(l.pending, Pending::Downgrade(_)) {
                    l.pending = Pending::None;
                }
                l.fd = fd;
            }
            None => leases.push(Lease { file: id, holder: Arc::downgrade(file), fd, write, pending: Pending::None }),
        }
        self.recount(&st);
        drop(st);
        clear_owners(gone);
        self.queue.notify();
        Ok(())
    }

    /// F_SETLEASE F_UNLCK: EAGAIN if `file` holds no lease.
    pub fn unlock(&self, key: FileKey, file: &File) -> SysResult<()> {
        let id = file as *const File as usize;
        let mut st = self.state();
        let leases = st.files.get_mut(&key).ok_or(Errno::EAGAIN)?;
        let i = leases.iter().position(|l| l.file == id).ok_or(Errno::EAGAIN)?;
        leases.remove(i);
        if leases.is_empty() {
            st.files.remove(&key);
        }
        self.recount(&st);
        drop(st);
        file.owner.clear();
        self.queue.notify();
        Ok(())
    }

    /// F_GETLEASE: the lease `file` holds (F_UNLCK: none).
    pub fn get(&self, key: FileKey, file: &File) -> u32 {
        if self.count.load(Ordering::Relaxed) == 0 {
            return F_UNLCK;
        }
        let id = file as *const File as usize;
        let mut st = self.state();
        let gone = time_out(&mut st, key);
        let found = st.files.get(&key).and_then(|v| v.iter().find(|l| l.file == id)).map(Lease::target);
        self.recount(&st);
        drop(st);
        clear_owners(gone);
        found.unwrap_or(F_UNLCK)
    }

    /// The open file description `file` (its address) is gone: its lease
    /// goes.
    pub fn release_file(&self, file: usize) {
        if self.count.load(Ordering::Relaxed) == 0 {
            return;
        }
        let mut st = self.state();
        st.files.retain(|_, v| {
            v.retain(|l| l.file != file);
            !v.is_empty()
        });
        self.recount(&st);
        drop(st);
        self.queue.notify();
    }

    /// An open of file `key` for writing (`write`) or reading is about to
    /// happen: breaks the leases it conflicts with (their holders are
    /// signalled). None when none is left in the way; otherwise the
    /// deadline to wait until at most (None: no deadline) before asking
    /// again with [`LeaseTable::still_blocked`]. An open that will wait
    /// (not `nonblock`) counts as open from before the holders hear of it
    /// until it calls [`LeaseTable::done_waiting`].
    pub fn break_for(&self, key: FileKey, write: bool, nonblock: bool) -> Option<Option<Instant>> {
        if self.count.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let mut breaks: Breaks = Vec::new();
        let (blocked, gone) = {
            let mut st = self.state();
            let gone = time_out(&mut st, key);
            let secs = self.break_time();
            let deadline = u64::try_from(secs).ok().filter(|&s| s > 0).map(|s| Instant::now() + Duration::from_secs(s));
            if let Some(leases) = st.files.get_mut(&key) {
                for l in leases.iter_mut().filter(|l| l.conflicts(write)) {
                    let start =
                        if write { !matches!(l.pending, Pending::Unlock(_)) } else { l.pending == Pending::None };
                    if !start {
                        continue;
                    }
                    l.pending = if write { Pending::Unlock(deadline) } else { Pending::Downgrade(deadline) };
                    if let Some(h) = l.holder.upgrade() {
                        breaks.push((h, l.fd));
                    }
                }
            }
            let blocked = blocking(&st, key, write);
            if blocked.is_some() && !nonblock {
                let e = st.waiting.entry(key).or_default();
                if write {
                    e.1 += 1;
                } else {
                    e.0 += 1;
                }
            }
            self.recount(&st);
            (blocked, gone)
        };
        clear_owners(gone);
        for (holder, fd) in breaks {
            holder.owner.send(fd, POLL_MSG);
        }
        blocked
    }

    /// Whether the open of [`LeaseTable::break_for`] must still wait, and
    /// until when; leases past their break time are taken away first.
    pub fn still_blocked(&self, key: FileKey, write: bool) -> Option<Option<Instant>> {
        let mut st = self.state();
        let cleared = time_out(&mut st, key);
        let blocked = blocking(&st, key, write);
        self.recount(&st);
        drop(st);
        clear_owners(cleared);
        blocked
    }

    /// An open of `key` that waited for a break (see
    /// [`LeaseTable::break_for`]) is done waiting.
    pub fn done_waiting(&self, key: FileKey, write: bool) {
        let mut st = self.state();
        let e = st.waiting.entry(key).or_default();
        let n = if write { &mut e.1 } else { &mut e.0 };
        *n = n.saturating_sub(1);
        if *e == (0, 0) {
            st.waiting.remove(&key);
        }
    }
}

/// The holders of leases taken away: their owner and signal are
/// forgotten, as Linux's lease_modify does.
fn clear_owners(gone: Vec<Arc<File>>) {
    for f in gone {
        f.owner.clear();
    }
}

/// Whether an open of `key` conflicts with a lease still, and the earliest
/// time one of those leases is taken away.
fn blocking(st: &State, key: FileKey, write: bool) -> Option<Option<Instant>> {
    let leases = st.files.get(&key)?;
    let mut blocked = false;
    let mut earliest: Option<Instant> = None;
    let mut forever = false;
    for l in leases.iter().filter(|l| l.conflicts(write)) {
        blocked = true;
        match l.pending {
            Pending::Unlock(Some(t)) | Pending::Downgrade(Some(t)) => {
                earliest = Some(earliest.map_or(t, |e| e.min(t)));
            }
            _ => forever = true,
        }
    }
    blocked.then_some(if forever { None } else { earliest })
}

/// Linux's time_out_leases: a lease past its break time is downgraded or
/// taken away. Returns the holders whose lease went (their owner is
/// cleared once the table is let go).
fn time_out(st: &mut State, key: FileKey) -> Vec<Arc<File>> {
    let now = Instant::now();
    let mut gone = Vec::new();
    if let Some(leases) = st.files.get_mut(&key) {
        leases.retain_mut(|l| match l.pending {
            Pending::Downgrade(Some(t)) if t <= now => {
                l.write = false;
                l.pending = Pending::None;
                true
            }
            Pending::Unlock(Some(t)) if t <= now => {
                gone.extend(l.holder.upgrade());
                false
            }
            _ => true,
        });
        if leases.is_empty() {
            st.files.remove(&key);
        }
    }
    gone
}

/// A lease as a checkpoint keeps it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LeaseSnapshot {
    /// The open file description holding it (its address when saved; its
    /// index among the image's files once the checkpoint names it).
    pub file: usize,
    /// The fd F_SETLEASE came through.
    pub fd: i32,
    /// A write lease.
    pub write: bool,
    /// A break under way: to a read lease (`false`) or to none (`true`),
    /// with the milliseconds left before it is forced (None: no limit).
    pub breaking: Option<(bool, Option<u64>)>,
}

impl LeaseTable {
    /// Every lease, for a checkpoint. Openers waiting for a break are not
    /// kept: the checkpoint makes their opens restart, and they wait again.
    pub fn snapshot(&self) -> Vec<LeaseSnapshot> {
        let now = Instant::now();
        let left = |d: Option<Instant>| d.map(|d| d.saturating_duration_since(now).as_millis() as u64);
        let st = self.state();
        st.files
            .values()
            .flatten()
            .map(|l| LeaseSnapshot {
                file: l.file,
                fd: l.fd,
                write: l.write,
                breaking: match l.pending {
                    Pending::None => None,
                    Pending::Downgrade(d) => Some((false, left(d))),
                    Pending::Unlock(d) => Some((true, left(d))),
                },
            })
            .collect()
    }

    /// Puts a lease back on `file` (a restore, before any app code runs).
    pub fn restore(&self, key: FileKey, file: &Arc<File>, s: &LeaseSnapshot) {
        let deadline = |ms: Option<u64>| ms.map(|ms| Instant::now() + Duration::from_millis(ms));
        let pending = match s.breaking {
            None => Pending::None,
            Some((false, ms)) => Pending::Downgrade(deadline(ms)),
            Some((true, ms)) => Pending::Unlock(deadline(ms)),
        };
        let lease =
            Lease { file: Arc::as_ptr(file) as usize, holder: Arc::downgrade(file), fd: s.fd, write: s.write, pending };
        let mut st = self.state();
        st.files.entry(key).or_default().push(lease);
        self.recount(&st);
    }
}
