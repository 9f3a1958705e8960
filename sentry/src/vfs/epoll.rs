//! epoll: a set of files whose readiness a task waits for together.
//!
//! The set holds one entry per (file, fd) added. Each entry is a waiter on
//! its file's wait queue. When the file says events the entry watches may
//! have come true, the entry goes on the set's ready list and the set's own
//! queue is told, which wakes tasks in epoll_wait and sets that hold this
//! one. epoll_wait looks only at the ready list:
//!
//! - level-triggered entries stay on it while their file is ready;
//! - edge-triggered ones leave it once reported;
//! - one-shot ones are disabled until `EPOLL_CTL_MOD`.
//!
//! No file is polled in a loop. The exception is host streams (the stdio
//! `husk run` passes in), which have no queue: their entries stay on the
//! ready list and are asked each time the set is looked at.
//!
//! Entries hold their file weakly, as Linux's do: an entry whose file is
//! gone (its last fd closed) disappears from the set.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use abi::Errno;
use gofer::FileAttr;

use super::file::{File, FileOps, POLLERR, POLLHUP, POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM};
use crate::kernel::waiter::{WaitQueue, Waiter};
use crate::mm::SysResult;

/// `epoll_event.events` bits beyond the `POLL*` ones.
pub const EPOLLRDHUP: u32 = 0x2000;
/// Wake one of several sets waiting on the same file (at least one).
pub const EPOLLEXCLUSIVE: u32 = 1 << 28;
/// Keep the system awake (needs CAP_BLOCK_SUSPEND; dropped silently).
pub const EPOLLWAKEUP: u32 = 1 << 29;
/// Report once, then disable until `EPOLL_CTL_MOD`.
pub const EPOLLONESHOT: u32 = 1 << 30;
/// Edge-triggered.
pub const EPOLLET: u32 = 1 << 31;

/// The bits `EPOLLEXCLUSIVE` may go with.
pub const EXCLUSIVE_OK_BITS: u32 =
    POLLIN | POLLOUT | POLLERR | POLLHUP | EPOLLWAKEUP | EPOLLET | EPOLLEXCLUSIVE | POLLRDNORM | POLLWRNORM;

/// `epoll_ctl` operations.
pub const EPOLL_CTL_ADD: i32 = 1;
/// Remove a file.
pub const EPOLL_CTL_DEL: i32 = 2;
/// Change a file's events.
pub const EPOLL_CTL_MOD: i32 = 3;

/// How deep sets may nest inside one another, as Linux's `EP_MAX_NESTS`.
const MAX_NESTS: usize = 4;

static NEXT_INO: AtomicU64 = AtomicU64::new(1);

/// What an entry watches.
#[derive(Clone, Copy, Debug)]
struct Interest {
    /// `epoll_event.events`, with `EPOLLERR | EPOLLHUP`, which are always
    /// watched.
    events: u32,
    /// `epoll_event.data`, returned as is.
    data: u64,
    /// A one-shot entry that has fired: silent until `EPOLL_CTL_MOD`.
    disabled: bool,
}

/// One file in a set.
pub struct Entry {
    file: Weak<File>,
    interest: Mutex<Interest>,
    /// On the ready list, or taken off it by an epoll_wait that is looking
    /// at it.
    queued: AtomicBool,
    /// Told since epoll_wait last took it off the list.
    pending: AtomicBool,
    /// Taken out of the set.
    removed: AtomicBool,
    /// A host stream: no queue tells it anything.
    host: bool,
    set: Weak<Epoll>,
    me: Weak<Entry>,
}

impl Entry {
    fn interest(&self) -> MutexGuard<'_, Interest> {
        self.interest.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Puts the entry on its set's ready list (once) and wakes the set's
    /// waiters.
    fn enqueue(&self) {
        self.pending.store(true, Ordering::SeqCst);
        if self.queued.swap(true, Ordering::SeqCst) {
            return;
        }
        let (Some(set), Some(me)) = (self.set.upgrade(), self.me.upgrade()) else { return };
        set.ready().push_back(me);
        set.queue.notify_events(POLLIN | POLLRDNORM);
    }

    /// Lets go of the entry after a look at it, unless it was told again
    /// meanwhile: then it goes back on the list.
    fn release(&self) {
        self.queued.store(false, Ordering::SeqCst);
        if self.pending.load(Ordering::SeqCst) && !self.removed.load(Ordering::SeqCst) {
            self.enqueue();
        }
    }
}

impl Waiter for Entry {
    fn notify(&self, events: u32) {
        let interest = *self.interest();
        if interest.disabled || self.removed.load(Ordering::SeqCst) || events & interest.events == 0 {
            return;
        }
        self.enqueue();
    }
}

/// The events to report for a file's readiness `ready` to an entry that
/// watches `events`, with the `*NORM` bits poll derives.
fn revents(mut ready: u32, events: u32) -> u32 {
    if ready & POLLIN != 0 {
        ready |= POLLRDNORM;
    }
    if ready & POLLOUT != 0 {
        ready |= POLLWRNORM;
    }
    ready & events
}

/// A set's key for an entry: the open file (by address) and the fd it was
/// added by, as Linux keys them.
type Key = (usize, i32);

fn key_of(file: &Arc<File>, fd: i32) -> Key {
    (Arc::as_ptr(file).cast::<()>() as usize, fd)
}

/// An epoll set.
pub struct Epoll {
    entries: Mutex<BTreeMap<Key, Arc<Entry>>>,
    ready: Mutex<VecDeque<Arc<Entry>>>,
    /// Tasks in epoll_wait, and sets holding this one.
    queue: WaitQueue,
    host_entries: AtomicUsize,
    /// The size of `entries` at which ADD next sweeps out the entries of
    /// files that are gone, so that adding and closing files in a loop
    /// cannot grow the set without bound.
    sweep_at: AtomicUsize,
    ino: u64,
    /// The sets this one was added to (some may have dropped it since):
    /// how far up it nests, for ADD's nesting limit.
    holders: Mutex<Vec<Weak<Epoll>>>,
}

/// The smallest `sweep_at`.
const SWEEP_MIN: usize = 64;

impl Epoll {
    /// The set's entries whose files are open: (file, fd it was added
    /// with, events, data, one-shot fired), for a checkpoint.
    pub fn interests(&self) -> Vec<(Arc<File>, i32, u32, u64, bool)> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .iter()
            .filter(|(_, e)| !e.removed.load(Ordering::Acquire))
            .filter_map(|(&(_, fd), e)| {
                let file = e.file.upgrade()?;
                let i = e.interest.lock().unwrap_or_else(|p| p.into_inner());
                Some((file, fd, i.events, i.data, i.disabled))
            })
            .collect()
    }

    /// Adds an entry as a checkpoint left it (`disabled`: a one-shot
    /// entry that fired).
    pub fn restore_interest(
        self: &Arc<Self>,
        file: &Arc<File>,
        fd: i32,
        events: u32,
        data: u64,
        disabled: bool,
    ) -> SysResult<()> {
        self.ctl(EPOLL_CTL_ADD, fd, file, Some((events, data)))?;
        if disabled {
            if let Some(e) = self.entries.lock().unwrap_or_else(|p| p.into_inner()).get(&key_of(file, fd)) {
                e.interest.lock().unwrap_or_else(|p| p.into_inner()).disabled = true;
            }
        }
        Ok(())
    }

    /// An empty set.
    pub fn new() -> Arc<Epoll> {
        Arc::new(Epoll {
            entries: Mutex::new(BTreeMap::new()),
            ready: Mutex::new(VecDeque::new()),
            queue: WaitQueue::default(),
            host_entries: AtomicUsize::new(0),
            sweep_at: AtomicUsize::new(SWEEP_MIN),
            ino: NEXT_INO.fetch_add(1, Ordering::Relaxed),
            holders: Mutex::new(Vec::new()),
        })
    }

    fn entries(&self) -> MutexGuard<'_, BTreeMap<Key, Arc<Entry>>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn ready(&self) -> MutexGuard<'_, VecDeque<Arc<Entry>>> {
        self.ready.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The queue epoll_wait sleeps on.
    pub fn queue(&self) -> &WaitQueue {
        &self.queue
    }

    /// Whether the set holds host streams, which must be asked, not told.
    pub fn has_host_entries(&self) -> bool {
        self.host_entries.load(Ordering::Relaxed) > 0
    }

    /// The sets directly inside this one.
    fn inner_sets(&self) -> Vec<Arc<Epoll>> {
        self.entries().values().filter_map(|e| e.file.upgrade()).filter_map(|f| f.ops.epoll().cloned()).collect()
    }

    /// How many levels of sets nest inside `self` (0: none), or ELOOP if
    /// `target` is among them or they nest past the limit (Linux's
    /// ep_loop_check_proc).
    fn depth_below(&self, target: &Epoll, depth: usize) -> SysResult<usize> {
        let mut deepest = 0;
        for inner in self.inner_sets() {
            if std::ptr::eq(Arc::as_ptr(&inner), target) || depth > MAX_NESTS {
                return Err(Errno::ELOOP);
            }
            deepest = deepest.max(1 + inner.depth_below(target, depth + 1)?);
            if deepest > MAX_NESTS {
                return Err(Errno::ELOOP);
            }
        }
        Ok(deepest)
    }

    /// How many levels of sets `self` is nested in (0: none), as Linux's
    /// ep_get_upwards_depth_proc; only holders that still hold it count.
    fn depth_above(self: &Arc<Self>, depth: usize) -> usize {
        if depth > MAX_NESTS {
            return depth;
        }
        let holders: Vec<Arc<Epoll>> = {
            let mut h = self.holders.lock().unwrap_or_else(|e| e.into_inner());
            h.retain(|w| w.strong_count() > 0);
            h.iter().filter_map(Weak::upgrade).collect()
        };
        holders
            .iter()
            .filter(|h| h.inner_sets().iter().any(|i| Arc::ptr_eq(i, self)))
            .map(|h| 1 + h.depth_above(depth + 1))
            .max()
            .unwrap_or(0)
    }

    /// epoll_ctl's operation `op` on `file` as added by `fd`. `event` is
    /// the (events, data) of ADD and MOD, already checked by the caller
    /// for the rules that do not depend on the set's contents.
    pub fn ctl(self: &Arc<Self>, op: i32, fd: i32, file: &Arc<File>, event: Option<(u32, u64)>) -> SysResult<()> {
        let key = key_of(file, fd);
        match op {
            EPOLL_CTL_ADD => {
                let (events, data) = event.ok_or(Errno::EINVAL)?;
                // No loop, and no path of sets deeper than the limit through
                // the new link (Linux's ep_loop_check).
                if let Some(inner) = file.ops.epoll() {
                    if std::ptr::eq(Arc::as_ptr(inner), Arc::as_ptr(self))
                        || inner.depth_below(self, 0)? + 1 + self.depth_above(0) > MAX_NESTS
                    {
                        return Err(Errno::ELOOP);
                    }
                    let mut holders = inner.holders.lock().unwrap_or_else(|e| e.into_inner());
                    holders.retain(|w| w.strong_count() > 0);
                    if !holders.iter().any(|w| std::ptr::eq(w.as_ptr(), Arc::as_ptr(self))) {
                        holders.push(Arc::downgrade(self));
                    }
                }
                let host = file.ops.wait_queue().is_none();
                let entry = Arc::new_cyclic(|me| Entry {
                    file: Arc::downgrade(file),
                    interest: Mutex::new(Interest { events: events | POLLERR | POLLHUP, data, disabled: false }),
                    queued: AtomicBool::new(false),
                    pending: AtomicBool::new(false),
                    removed: AtomicBool::new(false),
                    host,
                    set: Arc::downgrade(self),
                    me: me.clone(),
                });
                {
                    let mut entries = self.entries();
                    // A stale entry whose file died keeps its key until now.
                    if entries.get(&key).is_some_and(|e| e.file.strong_count() > 0) {
                        return Err(Errno::EEXIST);
                    }
                    entries.insert(key, entry.clone());
                    if entries.len() >= self.sweep_at.load(Ordering::Relaxed) {
                        self.sweep(&mut entries);
                    }
                }
                match file.ops.wait_queue() {
                    Some(q) => q.add_waiter(entry.clone()),
                    None => {
                        self.host_entries.fetch_add(1, Ordering::Relaxed);
                    }
                }
                // Ready already: reported by the next wait, as Linux's
                // ep_insert does.
                if host || revents(file.ops.readiness(), entry.interest().events) != 0 {
                    entry.enqueue();
                }
                Ok(())
            }
            EPOLL_CTL_MOD => {
                let (events, data) = event.ok_or(Errno::EINVAL)?;
                let entry = self.entries().get(&key).cloned().ok_or(Errno::ENOENT)?;
                {
                    let mut interest = entry.interest();
                    if interest.events & EPOLLEXCLUSIVE != 0 {
                        return Err(Errno::EINVAL);
                    }
                    *interest = Interest { events: events | POLLERR | POLLHUP, data, disabled: false };
                }
                if entry.host || revents(file.ops.readiness(), events | POLLERR | POLLHUP) != 0 {
                    entry.enqueue();
                }
                Ok(())
            }
            EPOLL_CTL_DEL => {
                let entry = self.entries().remove(&key).ok_or(Errno::ENOENT)?;
                self.forget(&entry, file);
                Ok(())
            }
            _ => Err(Errno::EINVAL),
        }
    }

    /// The file of the `nth` (from 0) entry the set holds that was added by
    /// fd `fd`, in the set's order, as Linux's get_epoll_tfile_raw_ptr
    /// finds it for kcmp's KCMP_EPOLL_TFD; entries of files that are gone
    /// do not count.
    pub fn target(&self, fd: i32, nth: u64) -> Option<Arc<File>> {
        let nth = usize::try_from(nth).ok()?;
        self.entries().iter().filter(|((_, f), _)| *f == fd).filter_map(|(_, e)| e.file.upgrade()).nth(nth)
    }

    /// Takes `entry` (of `file`) out of its file's queue.
    fn forget(&self, entry: &Arc<Entry>, file: &File) {
        entry.removed.store(true, Ordering::SeqCst);
        match file.ops.wait_queue() {
            Some(q) => {
                let w: Arc<dyn Waiter> = entry.clone();
                q.remove_waiter(&w);
            }
            None => {
                self.host_entries.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }

    /// epoll_wait's look at the ready list: at most `max` (events, data)
    /// pairs, without sleeping.
    pub fn collect(&self, max: usize) -> Vec<(u32, u64)> {
        let taken: Vec<Arc<Entry>> = self.ready().drain(..).collect();
        let mut out = Vec::new();
        // Back on the list: first those not looked at (and host streams not
        // ready), then the level-triggered ones just reported, so that a
        // small maxevents takes turns among them, as in Linux.
        let mut keep = Vec::new();
        let mut reported_again = Vec::new();
        for e in taken {
            if out.len() >= max {
                keep.push(e);
                continue;
            }
            e.pending.store(false, Ordering::SeqCst);
            let file = match e.file.upgrade() {
                Some(f) if !e.removed.load(Ordering::SeqCst) => f,
                _ => {
                    // Its file is gone (or it was deleted): out of the set.
                    e.queued.store(false, Ordering::SeqCst);
                    self.drop_dead(&e);
                    continue;
                }
            };
            let interest = *e.interest();
            let ev = if interest.disabled { 0 } else { revents(file.ops.readiness(), interest.events) };
            if ev == 0 {
                if e.host && !interest.disabled {
                    keep.push(e);
                } else {
                    e.release();
                }
                continue;
            }
            out.push((ev, interest.data));
            if interest.events & EPOLLONESHOT != 0 {
                e.interest().disabled = true;
                e.release();
            } else if interest.events & EPOLLET != 0 && !e.host {
                e.release();
            } else {
                // Level-triggered: asked again next time.
                reported_again.push(e);
            }
        }
        let others_may_take = !reported_again.is_empty();
        {
            let mut ready = self.ready();
            // Entries told while this look ran are already on the list; the
            // ones kept go before them, as Linux splices its list back.
            let told = std::mem::take(&mut *ready);
            ready.extend(keep);
            ready.extend(told);
            ready.extend(reported_again);
        }
        // Others waiting on the set may take what this look left.
        if others_may_take {
            self.queue.notify_events(POLLIN | POLLRDNORM);
        }
        out
    }

    /// Drops the entries whose file is gone, and sets the next sweep at
    /// twice what is left (amortised O(1) per ADD).
    fn sweep(&self, entries: &mut BTreeMap<Key, Arc<Entry>>) {
        entries.retain(|_, e| {
            let live = e.file.strong_count() > 0;
            if !live && e.host {
                self.host_entries.fetch_sub(1, Ordering::Relaxed);
            }
            live
        });
        self.sweep_at.store((2 * entries.len()).max(SWEEP_MIN), Ordering::Relaxed);
    }

    /// Removes the entry of a file that is gone, if it is still the set's.
    fn drop_dead(&self, e: &Arc<Entry>) {
        let mut entries = self.entries();
        if let Some(k) = entries.iter().find(|(_, v)| Arc::ptr_eq(v, e)).map(|(k, _)| *k) {
            entries.remove(&k);
            if e.host {
                self.host_entries.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }

    /// Whether an epoll_wait would report something now (the set's own
    /// readiness, for poll and for sets holding this one).
    fn has_ready(&self) -> bool {
        let ready: Vec<Arc<Entry>> = self.ready().iter().cloned().collect();
        ready.iter().any(|e| {
            let interest = *e.interest();
            !interest.disabled
                && !e.removed.load(Ordering::SeqCst)
                && e.file.upgrade().is_some_and(|f| revents(f.ops.readiness(), interest.events) != 0)
        })
    }
}

impl Drop for Epoll {
    fn drop(&mut self) {
        let entries = std::mem::take(&mut *self.entries());
        for e in entries.values() {
            if let Some(f) = e.file.upgrade() {
                self.forget(e, &f);
            }
        }
    }
}

/// An open epoll set.
pub struct EpollFile(Arc<Epoll>);

impl EpollFile {
    /// A new, empty set.
    pub fn new() -> EpollFile {
        EpollFile(Epoll::new())
    }
}

impl Default for EpollFile {
    fn default() -> Self {
        EpollFile::new()
    }
}

impl FileOps for EpollFile {
    fn seekable(&self) -> bool {
        false
    }

    fn stat(&self) -> SysResult<FileAttr> {
        Ok(super::file::anon_inode_attr(self.0.ino))
    }

    fn readiness(&self) -> u32 {
        if self.0.has_ready() {
            POLLIN
        } else {
            0
        }
    }

    fn wait_queue(&self) -> Option<&WaitQueue> {
        Some(&self.0.queue)
    }

    /// Linux's `noop_llseek`: the position stays 0.
    fn seek(&self, _offset: i64, _whence: u32) -> SysResult<u64> {
        Ok(0)
    }

    fn anon_name(&self) -> Option<&'static str> {
        Some("[eventpoll]")
    }

    fn epoll(&self) -> Option<&Arc<Epoll>> {
        Some(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vfs::eventfd::EventFd;

    fn eventfd(init: u32) -> Arc<File> {
        File::new(Box::new(EventFd::new(init, false)), abi::flags::open::O_RDWR, None)
    }

    #[test]
    fn a_small_maxevents_takes_turns_among_level_triggered_entries() {
        let set = Epoll::new();
        let files: Vec<_> = (0..3).map(|_| eventfd(1)).collect();
        for (i, f) in files.iter().enumerate() {
            set.ctl(EPOLL_CTL_ADD, i as i32, f, Some((POLLIN, 10 + i as u64))).unwrap();
        }
        let turns: Vec<u64> = (0..4).map(|_| set.collect(1)[0].1).collect();
        assert_eq!(turns, [10, 11, 12, 10]);
        assert_eq!(set.collect(8).len(), 3);
    }

    #[test]
    fn entries_of_closed_files_do_not_pile_up() {
        let set = Epoll::new();
        let keep = eventfd(0);
        set.ctl(EPOLL_CTL_ADD, 3, &keep, Some((POLLIN, 0))).unwrap();
        for i in 0..10_000 {
            let f = eventfd(0);
            set.ctl(EPOLL_CTL_ADD, 4, &f, Some((POLLIN, i))).unwrap();
            drop(f);
        }
        assert!(set.entries().len() <= 2 * SWEEP_MIN, "{} entries", set.entries().len());
        assert!(set.entries().values().any(|e| e.file.strong_count() > 0));
    }
}
