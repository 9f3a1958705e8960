//! System V semaphores: semget, semop and semtimedop, and semctl, with
//! SEM_UNDO.
//!
//! A semop applies all its operations or none, as Linux's
//! `perform_atomic_semop` does, on a copy that replaces the values only when
//! every operation fits. A caller that must wait sleeps on the set's wait
//! queue and tries again whenever a value changes; while it sleeps it counts
//! in GETNCNT or GETZCNT of the semaphore its first unmet operation names.
//! SEM_UNDO adjustments are kept per process and per set, and applied
//! (clamped to the semaphore's range) when the process exits.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use abi::flags::ipc::{IPC_NOWAIT, SEM_UNDO};
use abi::types::{Sembuf, SemidDs};
use abi::Errno;

use super::{now_secs, GetRequest, IpcObject, Perm, Registry};
use crate::kernel::waiter::WaitQueue;
use crate::mm::SysResult;

/// Most semaphores in a set.
pub const SEMMSL: usize = 32000;
/// Most semaphores in all sets.
pub const SEMMNS: usize = 1_024_000_000;
/// Most operations in one semop.
pub const SEMOPM: usize = 500;
/// Most sets.
pub const SEMMNI: usize = 32000;
/// A semaphore's largest value.
pub const SEMVMX: i32 = 32767;
/// The largest undo adjustment.
pub const SEMAEM: i32 = SEMVMX;

/// /proc/sys/kernel/sem: SEMMSL, SEMMNS, SEMOPM and SEMMNI, tab-separated.
pub fn proc_line() -> String {
    format!("{SEMMSL}\t{SEMMNS}\t{SEMOPM}\t{SEMMNI}\n")
}

/// One semaphore set.
pub struct SemSet {
    pub(super) perm: Mutex<Perm>,
    pub(super) state: Mutex<SemState>,
    /// Tasks waiting in semop.
    pub queue: WaitQueue,
}

pub(super) struct SemState {
    pub(super) sems: Vec<Sem>,
    pub(super) otime: i64,
    pub(super) ctime: i64,
    pub(super) removed: bool,
    /// SEM_UNDO adjustments, by process.
    pub(super) undo: HashMap<i32, Vec<i32>>,
}

#[derive(Clone, Copy, Default)]
pub(super) struct Sem {
    pub(super) val: i32,
    /// The last process to change it.
    pub(super) pid: i32,
    /// Tasks waiting for it to grow.
    pub(super) ncnt: u32,
    /// Tasks waiting for it to be zero.
    pub(super) zcnt: u32,
}

/// Which count a waiting semop stands in: the semaphore its first unmet
/// operation names, and whether that operation waits for zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Blocked {
    sem: usize,
    zero: bool,
}

impl IpcObject for SemSet {
    type Stat = SemidDs;

    fn perm(&self) -> MutexGuard<'_, Perm> {
        self.perm.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn mark_removed(&self) {
        self.state().removed = true;
        self.queue.notify();
    }

    fn stat(&self) -> SemidDs {
        let st = self.state();
        SemidDs {
            sem_perm: self.perm().to_abi(),
            sem_otime: st.otime,
            sem_ctime: st.ctime,
            sem_nsems: st.sems.len() as u64,
            ..SemidDs::default()
        }
    }
}

impl SemSet {
    pub(super) fn state(&self) -> MutexGuard<'_, SemState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many semaphores it has.
    pub fn len(&self) -> usize {
        self.state().sems.len()
    }

    /// Whether it has none (never: sets are made with at least one).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// One attempt at a semop by `pid`. [`Attempt::Wait`]: it must wait,
    /// and now counts as waiting where the result says (give that back to
    /// [`SemSet::stop_waiting`]). EAGAIN for an unmet operation with
    /// IPC_NOWAIT, ERANGE past SEMVMX or the undo range, EIDRM once removed.
    pub fn try_op(&self, sops: &[Sembuf], pid: i32) -> SysResult<Attempt> {
        let mut st = self.state();
        if st.removed {
            return Err(Errno::EIDRM);
        }
        let mut vals: Vec<i32> = st.sems.iter().map(|s| s.val).collect();
        let mut adj: Option<Vec<i32>> = None;
        for op in sops {
            let n = usize::from(op.sem_num);
            let cur = vals[n];
            let delta = i32::from(op.sem_op);
            let result = cur + delta;
            if (delta == 0 && cur != 0) || result < 0 {
                if op.sem_flg as u32 & IPC_NOWAIT != 0 {
                    return Err(Errno::EAGAIN);
                }
                let b = Blocked { sem: n, zero: delta == 0 };
                let s = &mut st.sems[n];
                if b.zero {
                    s.zcnt += 1;
                } else {
                    s.ncnt += 1;
                }
                return Ok(Attempt::Wait(b));
            }
            if result > SEMVMX {
                return Err(Errno::ERANGE);
            }
            if op.sem_flg & SEM_UNDO != 0 {
                let nsems = vals.len();
                let a = adj.get_or_insert_with(|| st.undo.get(&pid).cloned().unwrap_or_else(|| vec![0; nsems]));
                let undo = a[n] - delta;
                if !(-SEMAEM - 1..=SEMAEM).contains(&undo) {
                    return Err(Errno::ERANGE);
                }
                a[n] = undo;
            }
            vals[n] = result;
        }
        let changed = sops.iter().any(|op| op.sem_op != 0);
        for op in sops {
            st.sems[usize::from(op.sem_num)].pid = pid;
        }
        for (s, v) in st.sems.iter_mut().zip(vals) {
            s.val = v;
        }
        if let Some(a) = adj {
            st.undo.insert(pid, a);
        }
        st.otime = now_secs();
        drop(st);
        if changed {
            self.queue.notify();
        }
        Ok(Attempt::Done)
    }

    /// A waiter stops counting in GETNCNT or GETZCNT.
    pub fn stop_waiting(&self, b: Blocked) {
        let mut st = self.state();
        if let Some(s) = st.sems.get_mut(b.sem) {
            let c = if b.zero { &mut s.zcnt } else { &mut s.ncnt };
            *c = c.saturating_sub(1);
        }
    }

    /// Whether it was removed.
    pub fn is_removed(&self) -> bool {
        self.state().removed
    }

    /// GETVAL, GETPID, GETNCNT or GETZCNT of semaphore `n` (EINVAL past
    /// the end).
    pub fn get(&self, n: usize, what: SemField) -> SysResult<i32> {
        let st = self.state();
        let s = st.sems.get(n).ok_or(Errno::EINVAL)?;
        Ok(match what {
            SemField::Val => s.val,
            SemField::Pid => s.pid,
            SemField::Ncnt => s.ncnt as i32,
            SemField::Zcnt => s.zcnt as i32,
        })
    }

    /// GETALL.
    pub fn values(&self) -> Vec<u16> {
        self.state().sems.iter().map(|s| s.val as u16).collect()
    }

    /// SETVAL (`Some(n)`) or SETALL (`None`, `vals` holding one value per
    /// semaphore) by `pid`: the values change, the undo adjustments of
    /// what changed are dropped in every process, and waiters try again.
    pub fn set(&self, which: Option<usize>, vals: &[i32], pid: i32) -> SysResult<()> {
        if vals.iter().any(|v| !(0..=SEMVMX).contains(v)) {
            return Err(Errno::ERANGE);
        }
        let mut st = self.state();
        if st.removed {
            return Err(Errno::EIDRM);
        }
        match which {
            Some(n) => {
                let s = st.sems.get_mut(n).ok_or(Errno::EINVAL)?;
                s.val = vals[0];
                s.pid = pid;
                for a in st.undo.values_mut() {
                    a[n] = 0;
                }
            }
            None => {
                for (s, &v) in st.sems.iter_mut().zip(vals) {
                    s.val = v;
                    s.pid = pid;
                }
                st.undo.clear();
            }
        }
        st.ctime = now_secs();
        drop(st);
        self.queue.notify();
        Ok(())
    }

    /// Records a change of owner or mode.
    pub fn changed(&self) {
        self.state().ctime = now_secs();
    }

    /// Applies and forgets `pid`'s undo adjustments (it exited).
    fn undo(&self, pid: i32) {
        let mut st = self.state();
        let Some(adj) = st.undo.remove(&pid) else {
            return;
        };
        for (s, a) in st.sems.iter_mut().zip(adj) {
            if a != 0 {
                s.val = (s.val + a).clamp(0, SEMVMX);
                s.pid = pid;
            }
        }
        drop(st);
        self.queue.notify();
    }
}

/// The outcome of one [`SemSet::try_op`].
#[derive(Debug, PartialEq, Eq)]
pub enum Attempt {
    /// Applied.
    Done,
    /// Must wait; counted where it says.
    Wait(Blocked),
}

/// Which value semctl's GET* commands read.
#[derive(Clone, Copy)]
pub enum SemField {
    /// GETVAL.
    Val,
    /// GETPID.
    Pid,
    /// GETNCNT.
    Ncnt,
    /// GETZCNT.
    Zcnt,
}

/// The sandbox's semaphore sets.
pub struct SemRegistry {
    /// The sets by id and key.
    pub sets: Registry<SemSet>,
    /// Processes that hold undo adjustments somewhere.
    pub(super) undoers: Mutex<HashSet<i32>>,
    /// Semaphores in all sets (kept, not counted at each semget: a loop
    /// that fills SEMMNI sets would be quadratic).
    pub(super) total: AtomicUsize,
}

impl Default for SemRegistry {
    fn default() -> Self {
        SemRegistry { sets: Registry::new(SEMMNI), undoers: Mutex::new(HashSet::new()), total: AtomicUsize::new(0) }
    }
}

impl SemRegistry {
    /// semget.
    pub fn get(&self, req: GetRequest<'_>, nsems: i32) -> SysResult<i32> {
        if nsems < 0 || nsems as usize > SEMMSL {
            return Err(Errno::EINVAL);
        }
        self.sets.get_or_create(
            req,
            |set| if nsems as usize > set.len() { Err(Errno::EINVAL) } else { Ok(()) },
            |perm, _id| {
                if nsems == 0 {
                    return Err(Errno::EINVAL);
                }
                // Under the registry's lock, as every change of the total.
                if self.total_sems() + nsems as usize > SEMMNS {
                    return Err(Errno::ENOSPC);
                }
                self.total.fetch_add(nsems as usize, Ordering::Relaxed);
                Ok(SemSet {
                    perm: Mutex::new(perm),
                    state: Mutex::new(SemState {
                        sems: vec![Sem::default(); nsems as usize],
                        otime: 0,
                        ctime: now_secs(),
                        removed: false,
                        undo: HashMap::new(),
                    }),
                    queue: WaitQueue::default(),
                })
            },
        )
    }

    /// Notes that `pid` holds undo adjustments, to apply at its exit.
    pub fn note_undo(&self, pid: i32) {
        self.undoers.lock().unwrap_or_else(|e| e.into_inner()).insert(pid);
    }

    /// Process `pid` exited: applies its undo adjustments.
    pub fn exit(&self, pid: i32) {
        if !self.undoers.lock().unwrap_or_else(|e| e.into_inner()).remove(&pid) {
            return;
        }
        for set in self.sets.all() {
            set.undo(pid);
        }
    }

    /// IPC_RMID, if `may` agrees.
    pub fn remove(&self, id: i32, may: impl FnOnce(&SemSet) -> SysResult<()>) -> SysResult<()> {
        let set = self.sets.remove(id, may)?;
        self.total.fetch_sub(set.len(), Ordering::Relaxed);
        Ok(())
    }

    /// Semaphores in all sets (SEM_INFO's semaem).
    pub fn total_sems(&self) -> usize {
        self.total.load(Ordering::Relaxed)
    }
}
