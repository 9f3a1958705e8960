//! Advisory file locks, after Linux's `fs/locks.c`: flock(2) locks, owned
//! by an open file description, and fcntl record locks, owned by a process
//! (F_SETLK: "POSIX" locks) or by an open file description (F_OFD_SETLK).
//! The two kinds do not see each other; POSIX and OFD record locks share
//! one table per file and conflict with each other.
//!
//! A file is known by its device and inode numbers, so every open of it,
//! by any path, shares its locks. An open file description's locks go when
//! its last reference does ([`release_file`]); a process's record locks on
//! a file go when it closes any fd of that file ([`release_on_close`]) and
//! all of them when it exits. A blocked F_SETLKW that would wait, through a
//! chain of waiting owners, for its own process fails with EDEADLK.
//!
//! One table for the whole Sentry, behind one lock, with one wait queue:
//! locks are rare and short, and every release wakes all waiters to
//! check again.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{LazyLock, Mutex, MutexGuard};

use abi::Errno;

use super::waiter::WaitQueue;
use crate::mm::SysResult;

/// A file, as locks know it: its device and inode numbers.
pub type FileKey = (u64, u64);

/// The key locks know `f`'s file by.
pub fn key_of(f: &crate::vfs::file::File) -> SysResult<FileKey> {
    let a = f.ops.stat()?;
    Ok((a.dev, a.ino))
}

/// Who holds a record lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    /// A process (F_SETLK), by its pid.
    Process(i32),
    /// An open file description (F_OFD_SETLK), by its address.
    File(usize),
}

/// A byte-range lock. `end` is exclusive; `u64::MAX` is "to the end of
/// the file, however far it grows".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordLock {
    /// Its holder.
    pub owner: Owner,
    /// A write (exclusive) lock, else a read (shared) one.
    pub write: bool,
    /// First byte.
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
}

impl RecordLock {
    fn overlaps(&self, start: u64, end: u64) -> bool {
        self.start < end && start < self.end
    }

    fn conflicts(&self, other: &RecordLock) -> bool {
        self.owner != other.owner && self.overlaps(other.start, other.end) && (self.write || other.write)
    }
}

#[derive(Default)]
struct FileLocks {
    /// flock locks: (open file description, exclusive).
    flocks: Vec<(usize, bool)>,
    records: Vec<RecordLock>,
}

impl FileLocks {
    fn is_empty(&self) -> bool {
        self.flocks.is_empty() && self.records.is_empty()
    }
}

#[derive(Default)]
struct State {
    files: HashMap<FileKey, FileLocks>,
    /// Processes blocked in F_SETLKW, and the process they wait for.
    waiting: HashMap<i32, i32>,
    /// Record locks held, all owners.
    records: usize,
}

/// The most record locks the Sentry holds at once; past it F_SETLK fails
/// with ENOLCK, as Linux's does when it cannot allocate one.
pub const MAX_RECORD_LOCKS: usize = 1 << 16;

/// How many of `locks` a process owns.
fn process_owned(locks: &[RecordLock]) -> usize {
    locks.iter().filter(|l| matches!(l.owner, Owner::Process(_))).count()
}

/// One file's locks, as [`LockTable::held`] reports them.
pub struct HeldLocks {
    pub key: FileKey,
    /// flock locks: (open file description, exclusive).
    pub flocks: Vec<(usize, bool)>,
    pub records: Vec<RecordLock>,
}

/// The lock table.
pub struct LockTable {
    state: Mutex<State>,
    /// Tasks waiting for a lock; told of every release.
    pub queue: WaitQueue,
    /// How many process-owned record locks exist, so that the common close
    /// (of a file no process locked) costs one atomic load.
    process_locks: AtomicUsize,
}

/// The Sentry's lock table.
pub static LOCKS: LazyLock<LockTable> = LazyLock::new(|| LockTable {
    state: Mutex::default(),
    queue: WaitQueue::default(),
    process_locks: AtomicUsize::new(0),
});

/// Why a record lock was not set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetError {
    /// This lock is in the way.
    Conflict(RecordLock),
    /// The table is full (ENOLCK).
    NoLocks,
}

/// What flock(2) asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlockOp {
    /// LOCK_SH.
    Shared,
    /// LOCK_EX.
    Exclusive,
    /// LOCK_UN.
    Unlock,
}

impl LockTable {
    /// Whether any flock or record lock is held.
    pub fn any(&self) -> bool {
        self.state().files.values().any(|f| !f.is_empty())
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Accounts for a file's records going from `before` to `after`, each
    /// (all records, process-owned ones).
    fn account(&self, st: &mut State, before: (usize, usize), after: (usize, usize)) {
        st.records = (st.records + after.0).saturating_sub(before.0);
        if after.1 >= before.1 {
            self.process_locks.fetch_add(after.1 - before.1, Ordering::Relaxed);
        } else {
            self.process_locks.fetch_sub(before.1 - after.1, Ordering::Relaxed);
        }
    }

    /// Every file's locks, for a checkpoint.
    pub fn held(&self) -> Vec<HeldLocks> {
        let st = self.state();
        let mut out: Vec<_> = st
            .files
            .iter()
            .map(|(&key, l)| HeldLocks { key, flocks: l.flocks.clone(), records: l.records.clone() })
            .collect();
        out.sort_by_key(|h| h.key);
        out
    }

    /// Gives `key` back the locks a checkpoint saved, as they were (a
    /// restore into a fresh table: nothing is checked against what is
    /// there, but the table's bound). ENOLCK past [`MAX_RECORD_LOCKS`].
    pub fn restore(&self, key: FileKey, flocks: &[(usize, bool)], records: &[RecordLock]) -> SysResult<()> {
        let mut guard = self.state();
        let st = &mut *guard;
        if st.records + records.len() > MAX_RECORD_LOCKS {
            return Err(Errno::ENOLCK);
        }
        let locks = st.files.entry(key).or_default();
        let before = (locks.records.len(), process_owned(&locks.records));
        locks.flocks.extend_from_slice(flocks);
        locks.records.extend_from_slice(records);
        locks.records.sort_by_key(|l| l.start);
        let after = (locks.records.len(), process_owned(&locks.records));
        self.account(st, before, after);
        Ok(())
    }

    /// flock on `key` for the open file description `file`: Ok(true) when
    /// done, Ok(false) when another description's lock is in the way. A
    /// lock the description holds already is converted: dropped first, as
    /// in Linux (so a failed conversion leaves none).
    pub fn flock(&self, key: FileKey, file: usize, op: FlockOp) -> bool {
        let mut st = self.state();
        let locks = st.files.entry(key).or_default();
        let had = locks.flocks.iter().position(|&(f, _)| f == file);
        let exclusive = op == FlockOp::Exclusive;
        if let Some(i) = had {
            if op != FlockOp::Unlock && locks.flocks[i].1 == exclusive {
                return true;
            }
            locks.flocks.swap_remove(i);
        }
        let done = match op {
            FlockOp::Unlock => true,
            _ if locks.flocks.iter().any(|&(_, ex)| ex || exclusive) => false,
            _ => {
                locks.flocks.push((file, exclusive));
                true
            }
        };
        if locks.is_empty() {
            st.files.remove(&key);
        }
        drop(st);
        if had.is_some() {
            self.queue.notify();
        }
        done
    }

    /// The first lock on `key` that `req` conflicts with (F_GETLK).
    pub fn conflict(&self, key: FileKey, req: &RecordLock) -> Option<RecordLock> {
        self.state().files.get(&key)?.records.iter().find(|l| l.conflicts(req)).copied()
    }

    /// Sets (or, with `unlock`, clears) `req` on `key`: Err with the lock in
    /// the way when it conflicts. The owner's own locks over the range are
    /// replaced, split where they reach past it, and merged with adjacent
    /// ones of the same type, as Linux keeps them.
    pub fn set_record(&self, key: FileKey, req: RecordLock, unlock: bool) -> Result<(), SetError> {
        let mut guard = self.state();
        let st = &mut *guard;
        // A new lock may split one in two: room for two more.
        if !unlock && st.records + 2 > MAX_RECORD_LOCKS {
            return Err(SetError::NoLocks);
        }
        let locks = st.files.entry(key).or_default();
        if !unlock {
            if let Some(c) = locks.records.iter().find(|l| l.conflicts(&req)) {
                let c = *c;
                if locks.is_empty() {
                    st.files.remove(&key);
                }
                return Err(SetError::Conflict(c));
            }
        }
        let before = (locks.records.len(), process_owned(&locks.records));
        let mut next = Vec::with_capacity(locks.records.len() + 2);
        let mut changed = false;
        for l in locks.records.drain(..) {
            if l.owner != req.owner || !l.overlaps(req.start, req.end) {
                next.push(l);
                continue;
            }
            changed = true;
            if l.start < req.start {
                next.push(RecordLock { end: req.start, ..l });
            }
            if l.end > req.end {
                next.push(RecordLock { start: req.end, ..l });
            }
        }
        if !unlock {
            // Merge with the owner's touching locks of the same type.
            let mut merged = req;
            next.retain(|l| {
                let touches =
                    l.owner == req.owner && l.write == req.write && l.start <= merged.end && merged.start <= l.end;
                if touches {
                    merged.start = merged.start.min(l.start);
                    merged.end = merged.end.max(l.end);
                }
                !touches
            });
            next.push(merged);
        }
        next.sort_by_key(|l| l.start);
        locks.records = next;
        let after = (locks.records.len(), process_owned(&locks.records));
        if locks.is_empty() {
            st.files.remove(&key);
        }
        self.account(st, before, after);
        drop(guard);
        if changed || unlock {
            self.queue.notify();
        }
        Ok(())
    }

    /// Whether process `me`, about to wait for `blocker`, would wait (along
    /// the chain of processes waiting for others) for itself.
    pub fn would_deadlock(&self, me: i32, blocker: Owner) -> bool {
        let Owner::Process(mut p) = blocker else { return false };
        let st = self.state();
        for _ in 0..=st.waiting.len() {
            if p == me {
                return true;
            }
            match st.waiting.get(&p) {
                Some(&next) => p = next,
                None => return false,
            }
        }
        false
    }

    /// Notes that process `me` waits for `blocker` (None: waits no more).
    pub fn set_waiting(&self, me: i32, blocker: Option<Owner>) {
        let mut st = self.state();
        match blocker {
            Some(Owner::Process(p)) => {
                st.waiting.insert(me, p);
            }
            _ => {
                st.waiting.remove(&me);
            }
        }
    }

    /// The open file description `file` is gone: its flock and OFD locks
    /// go with it.
    pub fn release_file(&self, file: usize) {
        self.release(|_, l| l.owner == Owner::File(file), Some(file));
    }

    /// Process `pid` closed an fd of `key`: its record locks on the file go.
    pub fn release_on_close(&self, pid: i32, key: FileKey) {
        if self.process_locks.load(Ordering::Relaxed) == 0 {
            return;
        }
        self.release(|k, l| k == key && l.owner == Owner::Process(pid), None);
    }

    /// Process `pid` exited: all its record locks go.
    pub fn release_process(&self, pid: i32) {
        if self.process_locks.load(Ordering::Relaxed) == 0 {
            return;
        }
        self.release(|_, l| l.owner == Owner::Process(pid), None);
        self.set_waiting(pid, None);
    }

    fn release(&self, gone: impl Fn(FileKey, &RecordLock) -> bool, flocks_of: Option<usize>) {
        let mut guard = self.state();
        let st = &mut *guard;
        let mut changed = false;
        let (mut removed, mut removed_process) = (0, 0);
        st.files.retain(|&key, locks| {
            let before = (locks.records.len(), locks.flocks.len());
            locks.records.retain(|l| {
                let g = gone(key, l);
                if g {
                    removed += 1;
                    removed_process += usize::from(matches!(l.owner, Owner::Process(_)));
                }
                !g
            });
            if let Some(f) = flocks_of {
                locks.flocks.retain(|&(g, _)| g != f);
            }
            changed |= before != (locks.records.len(), locks.flocks.len());
            !locks.is_empty()
        });
        st.records -= removed.min(st.records);
        self.process_locks.fetch_sub(removed_process, Ordering::Relaxed);
        drop(guard);
        if changed {
            self.queue.notify();
        }
    }
}

/// The range of a `struct flock` request: `start` from `whence`'s origin
/// (`base`: 0, the file offset, or the file size) plus `l_start`, for
/// `l_len` bytes (0: to the end, however far; negative: the bytes before).
pub fn range(base: u64, l_start: i64, l_len: i64) -> SysResult<(u64, u64)> {
    let start = i64::try_from(base).ok().and_then(|b| b.checked_add(l_start)).ok_or(Errno::EOVERFLOW)?;
    if start < 0 {
        return Err(Errno::EINVAL);
    }
    match l_len {
        0 => Ok((start as u64, u64::MAX)),
        // The last byte may be the largest offset, no further.
        n if n > 0 => {
            let end = start as u64 + n as u64;
            if end > 1 << 63 {
                return Err(Errno::EOVERFLOW);
            }
            Ok((start as u64, end))
        }
        n => {
            let s = start + n;
            if s < 0 {
                return Err(Errno::EINVAL);
            }
            Ok((s as u64, start as u64))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lock(owner: Owner, write: bool, start: u64, end: u64) -> RecordLock {
        RecordLock { owner, write, start, end }
    }

    #[test]
    fn records_split_merge_and_conflict() {
        let t = LockTable { state: Mutex::default(), queue: WaitQueue::default(), process_locks: AtomicUsize::new(0) };
        let key = (1, 2);
        let (a, b) = (Owner::Process(10), Owner::Process(11));
        t.set_record(key, lock(a, true, 0, 100), false).unwrap();
        assert_eq!(t.process_locks.load(Ordering::Relaxed), 1);
        // Unlocking the middle splits it.
        t.set_record(key, lock(a, false, 40, 60), true).unwrap();
        assert!(t.conflict(key, &lock(b, false, 45, 55)).is_none());
        assert_eq!(t.conflict(key, &lock(b, false, 30, 50)), Some(lock(a, true, 0, 40)));
        // Adjacent locks of one type merge.
        t.set_record(key, lock(a, true, 40, 60), false).unwrap();
        assert_eq!(t.conflict(key, &lock(b, true, 50, 51)), Some(lock(a, true, 0, 100)));
        // Read locks share; a write lock in their range conflicts.
        t.set_record(key, lock(b, false, 200, u64::MAX), false).unwrap();
        t.set_record(key, lock(a, false, 300, 400), false).unwrap();
        assert!(t.set_record(key, lock(a, true, 250, 260), false).is_err());
        t.release_process(11);
        t.set_record(key, lock(a, true, 250, 260), false).unwrap();
        t.release_on_close(10, key);
        assert_eq!(t.process_locks.load(Ordering::Relaxed), 0);
        assert!(t.state().files.is_empty());
    }

    #[test]
    fn flock_shares_converts_and_releases() {
        let t = LockTable { state: Mutex::default(), queue: WaitQueue::default(), process_locks: AtomicUsize::new(0) };
        let key = (1, 3);
        assert!(t.flock(key, 1, FlockOp::Shared));
        assert!(t.flock(key, 2, FlockOp::Shared));
        assert!(!t.flock(key, 3, FlockOp::Exclusive));
        // A failed conversion leaves no lock behind, as in Linux.
        assert!(!t.flock(key, 1, FlockOp::Exclusive));
        assert!(t.flock(key, 2, FlockOp::Unlock));
        assert!(t.flock(key, 3, FlockOp::Exclusive));
        t.release_file(3);
        assert!(t.state().files.is_empty());
    }

    #[test]
    fn deadlock_chain() {
        let t = LockTable { state: Mutex::default(), queue: WaitQueue::default(), process_locks: AtomicUsize::new(0) };
        t.set_waiting(2, Some(Owner::Process(3)));
        t.set_waiting(3, Some(Owner::Process(1)));
        assert!(t.would_deadlock(1, Owner::Process(2)));
        assert!(!t.would_deadlock(4, Owner::Process(2)));
        assert!(!t.would_deadlock(1, Owner::File(7)));
    }

    #[test]
    fn ranges() {
        assert_eq!(range(0, 10, 0), Ok((10, u64::MAX)));
        assert_eq!(range(100, -10, 5), Ok((90, 95)));
        assert_eq!(range(0, 10, -5), Ok((5, 10)));
        assert_eq!(range(0, 10, -11), Err(Errno::EINVAL));
        assert_eq!(range(0, -1, 1), Err(Errno::EINVAL));
        assert_eq!(range(0, i64::MAX, 1), Ok((i64::MAX as u64, 1 << 63)));
        assert_eq!(range(0, i64::MAX, 2), Err(Errno::EOVERFLOW));
        assert_eq!(range(u64::MAX, 0, 1), Err(Errno::EOVERFLOW));
    }
}
