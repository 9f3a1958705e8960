//! A file's owner and the signals it gets, after Linux's `fs/fcntl.c`:
//! F_SETOWN and F_SETOWN_EX name who hears of a file's events (a thread,
//! a process or a process group), F_SETSIG which signal they get, and
//! O_ASYNC (or FIOASYNC) asks for one at each event of the file (Linux's
//! fasync: pipes, sockets, terminals, inotify). Leases and dnotify signal
//! the same owner.
//!
//! A signal with F_SETSIG's number carries the fd and the event (`si_fd`,
//! `si_code` POLL_IN, POLL_OUT...); with none, plain SIGIO. Delivery
//! checks the credentials of whoever set the owner against the target's,
//! as Linux's `sigio_perm`.
//!
//! Events come through the file's wait queue ([`Fasync`] is a waiter on
//! it), from whatever thread changed the file. A thread that holds the
//! process tree (closing files as a process exits) cannot send then: its
//! signals go to the timer thread, which sends them at once.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

use abi::flags::signal::SIGKILL;

use super::process::{Credentials, ThreadGroup};
use super::signal::{code, SigInfo};
use super::timer::Expiry;
use super::waiter::{Waiter, ALL_EVENTS};
use super::Kernel;
use crate::vfs::file::{File, POLLERR, POLLHUP, POLLIN, POLLOUT, POLLPRI, POLLRDNORM, POLLWRNORM};

/// SIGIO (SIGPOLL).
pub const SIGIO: u32 = 29;
/// `si_code`s of SIGPOLL, the event's kind (`reason`).
pub const POLL_IN: i32 = 1;
pub const POLL_OUT: i32 = 2;
pub const POLL_MSG: i32 = 3;
pub const POLL_ERR: i32 = 4;
pub const POLL_PRI: i32 = 5;
pub const POLL_HUP: i32 = 6;
/// `si_code` for a signal whose own codes would make POLL_* ambiguous.
const SI_SIGIO: i32 = -5;
/// The highest signal number.
const NSIG: u32 = 64;
/// POLLMSG, POLLRDBAND and POLLWRBAND, for `si_band`.
const POLLMSG: u32 = 0x400;
const POLLRDBAND: u32 = 0x80;
const POLLWRBAND: u32 = 0x200;

/// Who F_SETOWN named.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OwnerKind {
    /// One thread (F_OWNER_TID).
    Thread,
    /// A process (F_OWNER_PID; F_SETOWN with a positive id).
    Process,
    /// A process group (F_OWNER_PGRP; F_SETOWN with a negative id).
    Group,
}

/// A file's owner: who, and the ids of whoever named them.
#[derive(Clone, Debug)]
struct Owner {
    kind: OwnerKind,
    /// The thread, process or group id; 0 for none.
    id: i32,
    uid: u32,
    euid: u32,
    kernel: Weak<Kernel>,
}

/// What a checkpoint keeps of a file's owner part.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OwnerState {
    /// F_SETOWN's owner: (0 a thread, 1 a process, 2 a process group; its
    /// id; the uid and euid of whoever named it).
    pub owner: Option<(u8, i32, u32, u32)>,
    /// F_SETSIG's signal.
    pub signum: u32,
    /// The fd O_ASYNC was turned on through, while it is on.
    pub async_fd: Option<i32>,
}

/// The owner part of an open file (Linux's `fown_struct`), and its
/// O_ASYNC registration.
#[derive(Default)]
pub struct FileOwner {
    owner: Mutex<Option<Owner>>,
    /// F_SETSIG's signal (0: plain SIGIO).
    signum: AtomicU32,
    /// The waiter O_ASYNC put on the file's queue, while it is set.
    fasync: Mutex<Option<Arc<Fasync>>>,
}

impl FileOwner {
    /// Whether an owner or O_ASYNC was ever set.
    pub fn is_set(&self) -> bool {
        self.owner.lock().unwrap_or_else(|e| e.into_inner()).is_some()
            || self.fasync.lock().unwrap_or_else(|e| e.into_inner()).is_some()
    }

    /// F_SETOWN, F_SETOWN_EX (`force`), and the owner a lease or dnotify
    /// sets when there is none (not `force`). `id` 0 clears it.
    pub fn set(&self, kind: OwnerKind, id: i32, creds: &Credentials, kernel: &Arc<Kernel>, force: bool) {
        let mut o = self.owner.lock().unwrap_or_else(|e| e.into_inner());
        if !force && o.as_ref().is_some_and(|o| o.id != 0) {
            return;
        }
        let (uid, euid) = match &*o {
            // Clearing keeps the ids that set it, as Linux's f_modown does.
            Some(old) if id == 0 => (old.uid, old.euid),
            _ => (creds.uid, creds.euid),
        };
        *o = Some(Owner { kind, id, uid, euid, kernel: Arc::downgrade(kernel) });
    }

    /// The owner's kind and id (Thread and 0 when never set, as Linux's
    /// F_GETOWN_EX), with the id 0 if it no longer exists.
    pub fn get(&self) -> (OwnerKind, i32) {
        let o = self.owner.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let Some(o) = o else { return (OwnerKind::Thread, 0) };
        let alive = o.kernel.upgrade().is_some_and(|k| exists(&k, o.kind, o.id));
        (o.kind, if alive { o.id } else { 0 })
    }

    /// Forgets the owner and the signal (a lease's end, as Linux's
    /// lease_modify).
    pub fn clear(&self) {
        if let Some(o) = self.owner.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            o.id = 0;
        }
        self.signum.store(0, Ordering::Relaxed);
    }

    /// F_SETSIG: EINVAL past the highest signal.
    pub fn set_signal(&self, sig: u64) -> bool {
        match u32::try_from(sig) {
            Ok(s) if s <= NSIG => {
                self.signum.store(s, Ordering::Relaxed);
                true
            }
            _ => false,
        }
    }

    /// F_GETSIG.
    pub fn signal(&self) -> u32 {
        self.signum.load(Ordering::Relaxed)
    }

    /// Signals the owner of an event on the file, through fd `fd`
    /// (Linux's send_sigio): `reason` is a POLL_* code.
    pub fn send(&self, fd: i32, reason: i32) {
        let Some(o) = self.owner.lock().unwrap_or_else(|e| e.into_inner()).clone() else { return };
        if o.id == 0 {
            return;
        }
        let Some(kernel) = o.kernel.upgrade() else { return };
        let signum = self.signal();
        let info = if signum == 0 { SigInfo::new(SIGIO, code::SI_KERNEL) } else { sigpoll_info(signum, reason, fd) };
        if super::procs_held() {
            kernel.sigio.defer(&kernel, o, info);
        } else {
            deliver(&kernel, &o, info);
        }
    }

    /// O_ASYNC turned on (through fd `fd`) or off for `file`, whose events
    /// come through its wait queue. Returns false if the file has none,
    /// as files without Linux's fasync (which keep no O_ASYNC).
    pub fn set_async(file: &Arc<File>, fd: i32, on: bool) -> bool {
        let Some(queue) = file.ops.wait_queue() else { return false };
        let mut slot = file.owner.fasync.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(old) = slot.take() {
            let w: Arc<dyn Waiter> = old;
            queue.remove_waiter(&w);
        }
        if on {
            let w = Arc::new(Fasync { file: Arc::downgrade(file), fd, interest: interest_of(file.flags()) });
            queue.add_waiter(w.clone());
            *slot = Some(w);
        }
        true
    }

    /// The owner part as a checkpoint keeps it; None if nothing was set.
    pub fn checkpoint_state(&self) -> Option<OwnerState> {
        let owner = self.owner.lock().unwrap_or_else(|e| e.into_inner()).as_ref().map(|o| {
            let kind = match o.kind {
                OwnerKind::Thread => 0,
                OwnerKind::Process => 1,
                OwnerKind::Group => 2,
            };
            (kind, o.id, o.uid, o.euid)
        });
        let async_fd = self.fasync.lock().unwrap_or_else(|e| e.into_inner()).as_ref().map(|f| f.fd);
        let s = OwnerState { owner, signum: self.signal(), async_fd };
        (s != OwnerState::default()).then_some(s)
    }

    /// Gives the restored `file` the owner part a checkpoint kept: false
    /// for a state no F_SETOWN, F_SETSIG or O_ASYNC could have made.
    pub fn restore_state(file: &Arc<File>, s: &OwnerState, kernel: &Arc<Kernel>) -> bool {
        if let Some((kind, id, uid, euid)) = s.owner {
            let kind = match kind {
                0 => OwnerKind::Thread,
                1 => OwnerKind::Process,
                2 => OwnerKind::Group,
                _ => return false,
            };
            *file.owner.owner.lock().unwrap_or_else(|e| e.into_inner()) =
                Some(Owner { kind, id, uid, euid, kernel: Arc::downgrade(kernel) });
        }
        if !file.owner.set_signal(u64::from(s.signum)) {
            return false;
        }
        match s.async_fd {
            Some(fd) => fd >= 0 && FileOwner::set_async(file, fd, true),
            None => true,
        }
    }

    /// The open file goes: its O_ASYNC waiter leaves the queue.
    pub fn release(&self, file: &File) {
        let w = self.fasync.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let (Some(w), Some(queue)) = (w, file.ops.wait_queue()) {
            let w: Arc<dyn Waiter> = w;
            queue.remove_waiter(&w);
        }
    }
}

/// The events that concern an open file with access mode `flags`: a
/// reading end hears of input, a writing end of room (Linux keeps one
/// fasync list per end).
fn interest_of(flags: u32) -> u32 {
    use abi::flags::open::{O_ACCMODE, O_RDONLY, O_WRONLY};
    match flags & O_ACCMODE {
        O_RDONLY => POLLIN | POLLRDNORM | POLLPRI | POLLHUP | POLLERR,
        O_WRONLY => POLLOUT | POLLWRNORM | POLLERR,
        _ => ALL_EVENTS,
    }
}

/// The signal O_ASYNC asked for, as a waiter on the file's queue.
struct Fasync {
    file: Weak<File>,
    fd: i32,
    interest: u32,
}

impl Waiter for Fasync {
    fn notify(&self, events: u32) {
        let Some(file) = self.file.upgrade() else { return };
        let ev = events & self.interest;
        if ev == 0 {
            return;
        }
        // "Anything may have changed" says nothing of which: the end's
        // own kind of event.
        let ev = if events == ALL_EVENTS { self.interest & (POLLIN | POLLOUT) } else { ev };
        let reason = if ev & (POLLIN | POLLRDNORM) != 0 {
            POLL_IN
        } else if ev & (POLLOUT | POLLWRNORM) != 0 {
            POLL_OUT
        } else if ev & POLLHUP != 0 {
            POLL_HUP
        } else if ev & POLLERR != 0 {
            POLL_ERR
        } else {
            POLL_PRI
        };
        file.owner.send(self.fd, reason);
    }
}

/// The siginfo of F_SETSIG's signal for an event: the POLL_* code (or
/// SI_SIGIO for a signal with codes of its own), the band, the fd.
fn sigpoll_info(signum: u32, reason: i32, fd: i32) -> SigInfo {
    use abi::flags::signal::{SIGBUS, SIGCHLD, SIGFPE, SIGILL, SIGSEGV, SIGSYS, SIGTRAP};
    let specific = [SIGILL, SIGFPE, SIGSEGV, SIGBUS, SIGTRAP, SIGCHLD, SIGSYS].contains(&signum);
    let mut info = SigInfo::new(signum, if specific { SI_SIGIO } else { reason });
    let band = match reason {
        POLL_IN => POLLIN | POLLRDNORM,
        POLL_OUT => POLLOUT | POLLWRNORM | POLLWRBAND,
        POLL_MSG => POLLIN | POLLRDNORM | POLLMSG,
        POLL_ERR => POLLERR,
        POLL_PRI => POLLPRI | POLLRDBAND,
        _ => POLLHUP | POLLERR,
    };
    info.0[16..24].copy_from_slice(&i64::from(band).to_le_bytes());
    info.0[24..28].copy_from_slice(&fd.to_le_bytes());
    info
}

/// Whether the owner `id` of `kind` exists (F_GETOWN says 0 otherwise).
fn exists(kernel: &Kernel, kind: OwnerKind, id: i32) -> bool {
    let procs = kernel.procs();
    match kind {
        OwnerKind::Thread => procs.threads.contains_key(&id),
        OwnerKind::Process => procs.procs.get(&id).is_some_and(|p| !p.threads.is_empty()),
        OwnerKind::Group => !procs.group_members(id).is_empty(),
    }
}

/// Whether F_SETOWN's caller (`o`'s ids) may signal `tg` (Linux's
/// sigio_perm): root, or an id matching the target's real or saved uid.
fn may_signal(o: &Owner, tg: &ThreadGroup) -> bool {
    let c = tg.creds.lock().unwrap_or_else(|e| e.into_inner());
    o.euid == 0 || o.euid == c.suid || o.euid == c.uid || o.uid == c.suid || o.uid == c.uid
}

/// Sends `info` to the owner `o`; the caller does not hold the process tree.
fn deliver(kernel: &Kernel, o: &Owner, info: SigInfo) {
    let may = |tg: &ThreadGroup| may_signal(o, tg);
    let mut procs = kernel.procs();
    match o.kind {
        OwnerKind::Thread => super::task::exit::kernel_send_thread(kernel, &mut procs, o.id, may, info),
        OwnerKind::Process => super::task::exit::kernel_send_where(kernel, &mut procs, |pid, _| pid == o.id, may, info),
        OwnerKind::Group => super::task::exit::kernel_send_where(kernel, &mut procs, |_, p| p.pgid == o.id, may, info),
    }
}

/// The most signals waiting for the timer thread; more are dropped (as a
/// full queue of real-time signals drops them).
const MAX_DEFERRED: usize = 4096;

/// Signals for file owners that could not be sent where they arose.
#[derive(Default)]
pub struct Deferred {
    queue: Mutex<VecDeque<(Owner, SigInfo)>>,
    me: std::sync::OnceLock<Weak<Deferred>>,
}

impl Deferred {
    /// A new, empty queue.
    pub fn new() -> Arc<Deferred> {
        let d = Arc::new(Deferred::default());
        let _ = d.me.set(Arc::downgrade(&d));
        d
    }

    fn defer(&self, kernel: &Kernel, o: Owner, info: SigInfo) {
        {
            let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
            if q.len() >= MAX_DEFERRED && info.signo() != SIGKILL {
                return;
            }
            q.push_back((o, info));
        }
        if let Some(me) = self.me.get() {
            let target: Weak<dyn Expiry> = me.clone();
            kernel.timers.arm(Instant::now(), 0, target);
        }
    }
}

impl Expiry for Deferred {
    fn expire(&self, _gen: u64, _now: Instant) -> Option<Instant> {
        let due: Vec<(Owner, SigInfo)> = self.queue.lock().unwrap_or_else(|e| e.into_inner()).drain(..).collect();
        for (o, info) in due {
            if let Some(k) = o.kernel.upgrade() {
                deliver(&k, &o, info);
            }
        }
        None
    }

    fn is_current(&self, _gen: u64) -> bool {
        !self.queue.lock().unwrap_or_else(|e| e.into_inner()).is_empty()
    }
}
