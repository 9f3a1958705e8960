//! System V IPC objects in a checkpoint: each family's table (the ids'
//! indexes and sequence numbers, the keys, where the next id goes) with
//! every object's state, so that a restored sandbox finds each segment,
//! set and queue under the id and key it had.
//!
//! What a task blocked in semop or msgsnd/msgrcv counts (GETNCNT,
//! GETZCNT) is not saved: the checkpoint's freezer makes such calls return
//! to be restarted, and they count again when they wait again. A
//! segment's pages are a tmpfs file of the segments' own filesystem, which
//! the checkpoint saves with the other memory filesystems; its mappings
//! hold the segment, so they bring its attach count back.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, Weak};

use serde::{Deserialize, Serialize};

use super::msg::{MsgQueue, MsgState};
use super::sem::{Sem, SemSet, SemState, SEMMSL, SEMVMX};
use super::shm::{ShmSeg, ShmTimes};
use super::{IpcNamespace, IpcObject, Perm, Registry, IDS_PER_SEQ, SEQ_MAX};
use crate::kernel::waiter::WaitQueue;
use crate::vfs::tmpfs::Inode;

/// The System V objects of one sandbox.
#[derive(Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct SysvSnapshot {
    /// Shared-memory segments.
    pub shm: TableSnapshot<ShmSnapshot>,
    /// Semaphore sets.
    pub sem: TableSnapshot<SemSnapshot>,
    /// Message queues.
    pub msg: TableSnapshot<MsgSnapshot>,
}

/// One family's table.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct TableSnapshot<T> {
    /// The sequence number the next object gets.
    pub seq: i32,
    /// Where the search for the next free index starts.
    pub next_index: i32,
    /// The objects: (index, owner and mode, state).
    pub objects: Vec<(i32, Perm, T)>,
}

impl<T> Default for TableSnapshot<T> {
    fn default() -> Self {
        TableSnapshot { seq: 0, next_index: 0, objects: Vec::new() }
    }
}

/// A shared-memory segment.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ShmSnapshot {
    pub size: u64,
    pub key_at_creation: i32,
    pub cpid: i32,
    pub lpid: i32,
    /// atime, dtime, ctime.
    pub times: [i64; 3],
    /// Its pages' file: (memory filesystem, inode) of the image's.
    pub file: (usize, usize),
}

/// A semaphore set.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SemSnapshot {
    /// Each semaphore's value and last changer.
    pub sems: Vec<(i32, i32)>,
    pub otime: i64,
    pub ctime: i64,
    /// SEM_UNDO adjustments, by process.
    pub undo: Vec<(i32, Vec<i32>)>,
}

/// A message queue.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct MsgSnapshot {
    /// (type, text), oldest first.
    pub msgs: Vec<(i64, Vec<u8>)>,
    pub qbytes: u64,
    pub lspid: i32,
    pub lrpid: i32,
    /// stime, rtime, ctime.
    pub times: [i64; 3],
}

impl<T: IpcObject> Registry<T> {
    fn snapshot<S>(&self, mut each: impl FnMut(&Arc<T>) -> Result<S, String>) -> Result<TableSnapshot<S>, String> {
        let t = self.table();
        let mut objects = Vec::with_capacity(t.by_index.len());
        for (&index, obj) in &t.by_index {
            objects.push((index, obj.perm().clone(), each(obj)?));
        }
        Ok(TableSnapshot { seq: t.seq, next_index: t.next_index, objects })
    }

    /// Fills the empty table with `objects` (by index) as a checkpoint
    /// left it; each object's key, if any, finds it again.
    fn restore(&self, seq: i32, next_index: i32, objects: Vec<(i32, Arc<T>)>) -> Result<(), String> {
        let max = (self.limit as i32).min(IDS_PER_SEQ);
        if !(0..=SEQ_MAX).contains(&seq) || !(0..=max).contains(&next_index) || objects.len() > self.limit {
            return Err("a System V table's counters".into());
        }
        let mut t = self.table();
        if !t.by_index.is_empty() {
            return Err("a System V table not empty".into());
        }
        for (index, obj) in objects {
            let key = obj.perm().key;
            let known_key = key != abi::flags::ipc::IPC_PRIVATE && t.by_key.insert(key, index).is_some();
            if !(0..max).contains(&index) || t.by_index.insert(index, obj).is_some() || known_key {
                return Err(format!("System V object {index}"));
            }
        }
        (t.seq, t.next_index) = (seq, next_index);
        Ok(())
    }
}

/// The System V objects of `ns`; `file_of` says where the checkpoint put a
/// segment's file (None: it did not, and the checkpoint fails).
pub fn save(
    ns: &IpcNamespace,
    file_of: impl Fn(&Arc<Inode>) -> Option<(usize, usize)>,
) -> Result<SysvSnapshot, String> {
    let shm = ns.shm.segs.snapshot(|seg| {
        let t = seg.times();
        Ok(ShmSnapshot {
            size: seg.size,
            key_at_creation: seg.key_at_creation,
            cpid: seg.cpid,
            lpid: t.lpid,
            times: [t.atime, t.dtime, t.ctime],
            file: file_of(&seg.file).ok_or("a System V segment's pages")?,
        })
    })?;
    let sem = ns.sem.sets.snapshot(|set| {
        let st = set.state();
        Ok(SemSnapshot {
            sems: st.sems.iter().map(|s| (s.val, s.pid)).collect(),
            otime: st.otime,
            ctime: st.ctime,
            undo: st.undo.iter().map(|(&pid, adj)| (pid, adj.clone())).collect(),
        })
    })?;
    let msg = ns.msg.snapshot(|q| {
        let st = q.state();
        Ok(MsgSnapshot {
            msgs: st.msgs.iter().cloned().collect(),
            qbytes: st.qbytes,
            lspid: st.lspid,
            lrpid: st.lrpid,
            times: [st.stime, st.rtime, st.ctime],
        })
    })?;
    Ok(SysvSnapshot { shm, sem, msg })
}

/// The inodes of the segments' files in `ns`'s checkpoint (to save with
/// the memory filesystems).
pub fn segment_files(ns: &IpcNamespace) -> Vec<Arc<Inode>> {
    ns.shm.segs.all().iter().map(|s| s.file.clone()).collect()
}

/// Brings the objects of `snap` back into the empty namespace `ns`, each
/// segment over the file `file_at` gives for it. Returns the segments by
/// table index, for the mappings of them.
pub fn restore(
    ns: &IpcNamespace,
    snap: SysvSnapshot,
    file_at: impl Fn((usize, usize)) -> Option<Arc<Inode>>,
) -> Result<HashMap<i32, Arc<ShmSeg>>, String> {
    let mut segs = HashMap::new();
    let registry = Arc::downgrade(&ns.shm.segs);
    let mut objects = Vec::new();
    for (index, perm, s) in snap.shm.objects {
        let file = file_at(s.file).filter(|f| f.attr().size == s.size).ok_or("a System V segment's pages")?;
        let id = i32::from(perm.seq) * IDS_PER_SEQ + index;
        let seg = Arc::new(ShmSeg {
            perm: Mutex::new(perm),
            times: Mutex::new(ShmTimes { atime: s.times[0], dtime: s.times[1], ctime: s.times[2], lpid: s.lpid }),
            size: s.size,
            key_at_creation: s.key_at_creation,
            cpid: s.cpid,
            id,
            file,
            attached: Mutex::new(Weak::new()),
            registry: Weak::clone(&registry),
        });
        segs.insert(index, seg.clone());
        objects.push((index, seg));
    }
    ns.shm.segs.restore(snap.shm.seq, snap.shm.next_index, objects)?;

    let mut objects = Vec::new();
    let mut undoers = HashSet::new();
    let mut total = 0usize;
    for (index, perm, s) in snap.sem.objects {
        let n = s.sems.len();
        let bad_undo = s.undo.iter().any(|(_, adj)| adj.len() != n);
        if n == 0 || n > SEMMSL || bad_undo || s.sems.iter().any(|&(v, _)| !(0..=SEMVMX).contains(&v)) {
            return Err(format!("semaphore set {index}"));
        }
        total += n;
        undoers.extend(s.undo.iter().map(|(pid, _)| *pid));
        let state = SemState {
            sems: s.sems.iter().map(|&(val, pid)| Sem { val, pid, ncnt: 0, zcnt: 0 }).collect(),
            otime: s.otime,
            ctime: s.ctime,
            removed: false,
            undo: s.undo.into_iter().collect(),
        };
        objects.push((
            index,
            Arc::new(SemSet { perm: Mutex::new(perm), state: Mutex::new(state), queue: WaitQueue::default() }),
        ));
    }
    ns.sem.sets.restore(snap.sem.seq, snap.sem.next_index, objects)?;
    ns.sem.total.store(total, Ordering::Relaxed);
    ns.sem.undoers.lock().unwrap_or_else(|e| e.into_inner()).extend(undoers);

    let mut objects = Vec::new();
    for (index, perm, s) in snap.msg.objects {
        let cbytes = s.msgs.iter().map(|(_, text)| text.len() as u64).sum();
        let state = MsgState {
            msgs: s.msgs.into(),
            cbytes,
            qbytes: s.qbytes,
            lspid: s.lspid,
            lrpid: s.lrpid,
            stime: s.times[0],
            rtime: s.times[1],
            ctime: s.times[2],
            removed: false,
        };
        objects.push((
            index,
            Arc::new(MsgQueue { perm: Mutex::new(perm), state: Mutex::new(state), queue: WaitQueue::default() }),
        ));
    }
    ns.msg.restore(snap.msg.seq, snap.msg.next_index, objects)?;
    Ok(segs)
}
