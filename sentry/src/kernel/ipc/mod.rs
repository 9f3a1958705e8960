//! System V IPC (shared memory, semaphores, message queues) and POSIX
//! message queues.
//!
//! The sandbox is its own IPC namespace: every object lives in
//! [`IpcNamespace`], owned by the [`super::Kernel`], and nothing here ever
//! reaches a host IPC object. Shared-memory segments are files of memory-file
//! pages, as tmpfs files are, so attaching one maps the very pages.
//!
//! The three System V families share Linux's identifier scheme (an index
//! in a table plus a sequence number times 32768, so a stale id does not
//! reach a new object), key lookup (`IPC_PRIVATE`, `IPC_CREAT`,
//! `IPC_EXCL`) and permission rules (`ipcperms`), all in [`Registry`].
//!
//! Lock order: a registry's lock, then one object's lock. A memory
//! manager's lock may be held when they are taken (unmapping the last
//! mapping of a removed segment drops it from its registry), so nothing
//! here takes a memory manager's lock while holding either. Blocking calls
//! hold none of them while they sleep.

pub mod mqueue;
pub mod msg;
pub mod sem;
pub mod shm;
pub mod snapshot;

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, MutexGuard};

use abi::flags::ipc::{IPC_CREAT, IPC_EXCL, IPC_PRIVATE};
use abi::types::IpcPerm;
use abi::Errno;

use super::process::Credentials;
use crate::mm::SysResult;

/// Linux's IPCMNI: ids are `seq * IDS_PER_SEQ + index`.
pub const IDS_PER_SEQ: i32 = 32768;
/// The largest sequence number before it wraps (INT_MAX >> 15).
const SEQ_MAX: i32 = i32::MAX / IDS_PER_SEQ;

/// Read permission, as `ipcperms` asks it (any of the three read bits).
pub const MAY_READ: u32 = 0o444;
/// Write (alter) permission.
pub const MAY_WRITE: u32 = 0o222;

/// The owner and mode of one object (`struct kern_ipc_perm`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Perm {
    /// Its key, or IPC_PRIVATE (also once removed).
    pub key: i32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Creator.
    pub cuid: u32,
    /// Creator's group.
    pub cgid: u32,
    /// Permission bits (and SHM_DEST, SHM_LOCKED for shm).
    pub mode: u32,
    /// The sequence number in its id.
    pub seq: u16,
}

impl Perm {
    fn new(key: i32, mode: u32, creds: &Credentials) -> Perm {
        Perm { key, uid: creds.euid, gid: creds.egid, cuid: creds.euid, cgid: creds.egid, mode: mode & 0o777, seq: 0 }
    }

    /// `ipcperms`: whether `creds` may do what `flag`'s permission bits
    /// ask (any of the user, group or other bits count), else EACCES.
    /// CAP_IPC_OWNER may do anything.
    pub fn check(&self, creds: &Credentials, flag: u32) -> SysResult<()> {
        if self.check_bits(creds, flag).is_err() && !creds.has_cap(abi::flags::capability::CAP_IPC_OWNER) {
            return Err(Errno::EACCES);
        }
        Ok(())
    }

    /// [`Perm::check`] by the permission bits alone.
    pub fn check_bits(&self, creds: &Credentials, flag: u32) -> SysResult<()> {
        let requested = ((flag >> 6) | (flag >> 3) | flag) & 0o7;
        let mut granted = self.mode;
        if creds.euid == self.cuid || creds.euid == self.uid {
            granted >>= 6;
        } else if in_group(creds, self.cgid) || in_group(creds, self.gid) {
            granted >>= 3;
        }
        if requested & !granted & 0o7 != 0 {
            return Err(Errno::EACCES);
        }
        Ok(())
    }

    /// Whether `creds` may remove or change the object: its owner, its
    /// creator, or CAP_SYS_ADMIN; else EPERM.
    pub fn check_owner(&self, creds: &Credentials) -> SysResult<()> {
        if creds.euid == self.uid || creds.euid == self.cuid || creds.has_cap(abi::flags::capability::CAP_SYS_ADMIN) {
            Ok(())
        } else {
            Err(Errno::EPERM)
        }
    }

    /// IPC_SET: the new owner and permission bits (the other mode bits stay).
    pub fn set(&mut self, from: &IpcPerm) {
        self.uid = from.uid;
        self.gid = from.gid;
        self.mode = (self.mode & !0o777) | (from.mode & 0o777);
    }

    /// As the app sees it.
    pub fn to_abi(&self) -> IpcPerm {
        IpcPerm {
            key: self.key,
            uid: self.uid,
            gid: self.gid,
            cuid: self.cuid,
            cgid: self.cgid,
            mode: self.mode,
            seq: self.seq,
            ..IpcPerm::default()
        }
    }
}

fn in_group(creds: &Credentials, gid: u32) -> bool {
    creds.egid == gid || creds.groups.contains(&gid)
}

/// What every System V object offers its registry.
pub trait IpcObject: Send + Sync {
    /// What IPC_STAT reports (`shmid64_ds`, `semid64_ds`, `msqid64_ds`).
    type Stat: zerocopy::IntoBytes + zerocopy::Immutable;
    /// Its owner and mode, locked.
    fn perm(&self) -> MutexGuard<'_, Perm>;
    /// Marks it removed: its waiters wake and get EIDRM.
    fn mark_removed(&self);
    /// IPC_STAT's answer.
    fn stat(&self) -> Self::Stat;
}

/// The objects of one System V family, by id and by key.
pub struct Registry<T> {
    inner: Mutex<Table<T>>,
    /// The most objects (SHMMNI, SEMMNI, MSGMNI).
    limit: usize,
}

struct Table<T> {
    by_index: BTreeMap<i32, Arc<T>>,
    by_key: HashMap<i32, i32>,
    seq: i32,
    /// Where the next index search starts (Linux allocates cyclically).
    next_index: i32,
}

/// How [`Registry::get_or_create`] was asked: `key` and the flags (`IPC_CREAT`,
/// `IPC_EXCL`, permission bits) of shmget, semget or msgget.
pub struct GetRequest<'a> {
    /// The key.
    pub key: i32,
    /// The call's flags.
    pub flags: u32,
    /// The caller.
    pub creds: &'a Credentials,
}

impl<T: IpcObject> Registry<T> {
    /// Whether it holds no object.
    pub fn is_empty(&self) -> bool {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).by_index.is_empty()
    }

    /// An empty registry of at most `limit` objects.
    pub fn new(limit: usize) -> Registry<T> {
        Registry {
            inner: Mutex::new(Table { by_index: BTreeMap::new(), by_key: HashMap::new(), seq: 0, next_index: 0 }),
            limit,
        }
    }

    fn table(&self) -> MutexGuard<'_, Table<T>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `ipcget`: the id of the object with `req.key`, made by `create` (given
    /// its owner and mode and its id) if
    /// there is none and IPC_CREAT asks for it (or the key is
    /// IPC_PRIVATE). `check` vets an existing object before permissions
    /// (shm's size, sem's count: EINVAL).
    pub fn get_or_create(
        &self,
        req: GetRequest<'_>,
        check: impl FnOnce(&T) -> SysResult<()>,
        create: impl FnOnce(Perm, i32) -> SysResult<T>,
    ) -> SysResult<i32> {
        let mut t = self.table();
        if req.key != IPC_PRIVATE {
            if let Some(&index) = t.by_key.get(&req.key) {
                let obj = t.by_index.get(&index).cloned().ok_or(Errno::EINVAL)?;
                if req.flags & IPC_CREAT != 0 && req.flags & IPC_EXCL != 0 {
                    return Err(Errno::EEXIST);
                }
                check(&obj)?;
                let perm = obj.perm();
                perm.check(req.creds, req.flags)?;
                return Ok(make_id(index, perm.seq));
            }
            if req.flags & IPC_CREAT == 0 {
                return Err(Errno::ENOENT);
            }
        }
        if t.by_index.len() >= self.limit {
            return Err(Errno::ENOSPC);
        }
        let index = free_index(&t, self.limit).ok_or(Errno::ENOSPC)?;
        let mut perm = Perm::new(req.key, req.flags, req.creds);
        perm.seq = t.seq as u16;
        let id = make_id(index, perm.seq);
        let obj = create(perm, id)?;
        t.seq = if t.seq >= SEQ_MAX { 0 } else { t.seq + 1 };
        t.next_index = index + 1;
        t.by_index.insert(index, Arc::new(obj));
        if req.key != IPC_PRIVATE {
            t.by_key.insert(req.key, index);
        }
        Ok(id)
    }

    /// The object with `id`, or EINVAL (a negative id, a free index, or a
    /// stale sequence number).
    pub fn get(&self, id: i32) -> SysResult<Arc<T>> {
        if id < 0 {
            return Err(Errno::EINVAL);
        }
        let t = self.table();
        let obj = t.by_index.get(&(id % IDS_PER_SEQ)).ok_or(Errno::EINVAL)?;
        if i32::from(obj.perm().seq) != id / IDS_PER_SEQ {
            return Err(Errno::EINVAL);
        }
        Ok(obj.clone())
    }

    /// The object at table index `index` and its id (the *_STAT commands).
    /// Linux takes the index bits of whatever it is given
    /// (`ipcid_to_idx`), so an id names its own object here too.
    pub fn at_index(&self, index: i32) -> SysResult<(Arc<T>, i32)> {
        let index = index & (IDS_PER_SEQ - 1);
        let t = self.table();
        let obj = t.by_index.get(&index).ok_or(Errno::EINVAL)?;
        let id = make_id(index, obj.perm().seq);
        Ok((obj.clone(), id))
    }

    /// IPC_RMID: takes the object out of the tables (its key is free for a
    /// new object at once) after `may` agrees.
    pub fn remove(&self, id: i32, may: impl FnOnce(&T) -> SysResult<()>) -> SysResult<Arc<T>> {
        let obj = self.get(id)?;
        may(&obj)?;
        let mut t = self.table();
        let index = id % IDS_PER_SEQ;
        // Another remover may have won the race.
        if !t.by_index.get(&index).is_some_and(|o| Arc::ptr_eq(o, &obj)) {
            return Err(Errno::EINVAL);
        }
        t.by_index.remove(&index);
        let key = {
            let mut perm = obj.perm();
            std::mem::replace(&mut perm.key, IPC_PRIVATE)
        };
        if key != IPC_PRIVATE && t.by_key.get(&key) == Some(&index) {
            t.by_key.remove(&key);
        }
        drop(t);
        obj.mark_removed();
        Ok(obj)
    }

    /// Forgets `key` without removing the object (a removed shm segment
    /// that lives on while attached).
    pub fn forget_key(&self, id: i32, obj: &Arc<T>) {
        let mut t = self.table();
        let index = id % IDS_PER_SEQ;
        let key = std::mem::replace(&mut obj.perm().key, IPC_PRIVATE);
        if key != IPC_PRIVATE && t.by_key.get(&key) == Some(&index) {
            t.by_key.remove(&key);
        }
    }

    /// Drops the object at `id` from the table if it is still `obj`.
    pub fn drop_entry(&self, id: i32, obj: &T) {
        let mut t = self.table();
        let index = id % IDS_PER_SEQ;
        if t.by_index.get(&index).is_some_and(|o| std::ptr::eq(Arc::as_ptr(o), obj)) {
            t.by_index.remove(&index);
        }
    }

    /// How many objects exist, and the highest index in use (IPC_INFO's
    /// answer; 0 when there are none, as Linux answers).
    pub fn usage(&self) -> (usize, i32) {
        let t = self.table();
        (t.by_index.len(), t.by_index.keys().next_back().copied().unwrap_or(0))
    }

    /// Every object, for SHM_INFO's totals.
    pub fn all(&self) -> Vec<Arc<T>> {
        self.table().by_index.values().cloned().collect()
    }

    /// Every object with its id, by index (/proc/sysvipc).
    pub fn entries(&self) -> Vec<(i32, Arc<T>)> {
        self.table().by_index.iter().map(|(&index, obj)| (make_id(index, obj.perm().seq), obj.clone())).collect()
    }
}

fn make_id(index: i32, seq: u16) -> i32 {
    i32::from(seq) * IDS_PER_SEQ + index
}

/// The next free index from `next_index` on, wrapping: ids are not reused
/// at once, as with Linux's cyclic allocation.
fn free_index<T>(t: &Table<T>, limit: usize) -> Option<i32> {
    let limit = (limit as i32).min(IDS_PER_SEQ);
    (t.next_index..limit).chain(0..t.next_index.min(limit)).find(|i| !t.by_index.contains_key(i))
}

/// The whole IPC namespace of one sandbox.
pub struct IpcNamespace {
    /// Shared-memory segments.
    pub shm: shm::ShmRegistry,
    /// Semaphore sets.
    pub sem: sem::SemRegistry,
    /// Message queues.
    pub msg: Registry<msg::MsgQueue>,
    /// POSIX message queues, by name (shared with /dev/mqueue mounts).
    pub mqueue: Arc<mqueue::MqNamespace>,
}

impl IpcNamespace {
    /// Whether any object exists: a segment, a set, a queue.
    pub fn in_use(&self) -> bool {
        !(self.shm.segs.is_empty() && self.sem.sets.is_empty() && self.msg.is_empty() && self.mqueue.is_empty())
    }

    /// An empty namespace whose segments live in `memfile`.
    pub fn new(memfile: Arc<crate::mm::MemoryFile>) -> IpcNamespace {
        IpcNamespace {
            shm: shm::ShmRegistry::new(memfile),
            sem: sem::SemRegistry::default(),
            msg: Registry::new(msg::MSGMNI),
            mqueue: Arc::default(),
        }
    }
}

impl IpcNamespace {
    /// /proc/sysvipc/shm, in Linux's columns (`sysvipc_shm_proc_show`).
    pub fn proc_shm(&self) -> String {
        let mut o = String::from(
            "       key      shmid perms                  size  cpid  lpid nattch   uid   gid  cuid  cgid      atime      dtime      ctime                   rss                  swap\n",
        );
        for (id, seg) in self.shm.segs.entries() {
            let s = seg.stat();
            let p = &s.shm_perm;
            let _ = writeln!(
                o,
                "{:10} {:10}  {:4o} {:21} {:5} {:5}  {:5} {:5} {:5} {:5} {:5} {:10} {:10} {:10} {:21} {:21}",
                p.key,
                id,
                p.mode,
                s.shm_segsz,
                s.shm_cpid,
                s.shm_lpid,
                s.shm_nattch,
                p.uid,
                p.gid,
                p.cuid,
                p.cgid,
                s.shm_atime,
                s.shm_dtime,
                s.shm_ctime,
                seg.rss(),
                0
            );
        }
        o
    }

    /// /proc/sysvipc/sem (`sysvipc_sem_proc_show`).
    pub fn proc_sem(&self) -> String {
        let mut o =
            String::from("       key      semid perms      nsems   uid   gid  cuid  cgid      otime      ctime\n");
        for (id, set) in self.sem.sets.entries() {
            let s = set.stat();
            let p = &s.sem_perm;
            let _ = writeln!(
                o,
                "{:10} {:10}  {:4o} {:10} {:5} {:5} {:5} {:5} {:10} {:10}",
                p.key, id, p.mode, s.sem_nsems, p.uid, p.gid, p.cuid, p.cgid, s.sem_otime, s.sem_ctime
            );
        }
        o
    }

    /// /proc/sysvipc/msg (`sysvipc_msg_proc_show`).
    pub fn proc_msg(&self) -> String {
        let mut o = String::from(
            "       key      msqid perms      cbytes       qnum lspid lrpid   uid   gid  cuid  cgid      stime      rtime      ctime\n",
        );
        for (id, q) in self.msg.entries() {
            let s = q.stat();
            let p = &s.msg_perm;
            let _ = writeln!(
                o,
                "{:10} {:10}  {:4o}  {:10} {:10} {:5} {:5} {:5} {:5} {:5} {:5} {:10} {:10} {:10}",
                p.key,
                id,
                p.mode,
                s.msg_cbytes,
                s.msg_qnum,
                s.msg_lspid,
                s.msg_lrpid,
                p.uid,
                p.gid,
                p.cuid,
                p.cgid,
                s.msg_stime,
                s.msg_rtime,
                s.msg_ctime
            );
        }
        o
    }
}

/// The current wall-clock second, for the objects' times.
pub(crate) fn now_secs() -> i64 {
    crate::vfs::tmpfs::now().0
}

#[cfg(test)]
mod tests;
