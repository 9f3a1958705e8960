//! System V IPC (shmget, shmat, shmdt, shmctl; semget, semop, semtimedop,
//! semctl; msgget, msgsnd, msgrcv, msgctl) and POSIX message queues
//! (mq_open and the rest), over the sandbox's own IPC namespace
//! ([`crate::kernel::ipc`]). Checks come in Linux's order, so that a call
//! wrong in two ways fails as it does on Linux.

use std::cell::Cell;
use std::sync::Arc;

use abi::flags::clock::CLOCK_REALTIME;
use abi::flags::ipc::*;
use abi::flags::mm::{MAP_FIXED, MAP_SHARED, PROT_EXEC, PROT_READ, PROT_WRITE};
use abi::flags::open::{O_ACCMODE, O_CREAT, O_EXCL, O_NONBLOCK, O_RDONLY, O_WRONLY};
use abi::types::{MqAttr, MsqidDs, SemInfo, Sembuf, SemidDs, ShmInfo64, ShmUsage, ShmidDs};
use abi::{Errno, PAGE_SIZE};
use zerocopy::IntoBytes;

use super::futex::read_timeout;
use super::Args;
use crate::kernel::ipc::mqueue::{
    access_of, Mq, Notify, OpenRequest, ThreadNote, MQ_PRIO_MAX, NOTIFY_COOKIE_LEN, NOTIFY_WOKENUP,
};
use crate::kernel::ipc::msg::{MsgQueue, Select, MSGMAX};
use crate::kernel::ipc::sem::{Attempt, SemField, SemSet, SEMAEM, SEMMNI, SEMMNS, SEMMSL, SEMOPM, SEMVMX};
use crate::kernel::ipc::shm::{SHMALL, SHMMAX, SHMMNI};
use crate::kernel::ipc::{GetRequest, IpcObject, Registry, MAY_READ, MAY_WRITE};
use crate::kernel::signal::{code::SI_MESGQ, SigInfo};
use crate::kernel::task::Task;
use crate::mm::{Backing, FileSource, MapFile, MmapRequest, SysResult};
use crate::vfs::file::File;
use crate::vfs::mqueue::MqFile;

/// SHMLBA: attach addresses are multiples of a page on x86_64.
const SHMLBA: u64 = PAGE_SIZE;

/// A ctl command without the IPC_64 bit some libcs add.
fn ctl_cmd(a: &Args, i: usize) -> u32 {
    a.u32(i) & !IPC_64
}

fn get_request<'a>(a: &Args, creds: &'a crate::kernel::process::Credentials) -> GetRequest<'a> {
    GetRequest { key: a.i32(0), flags: a.u32(2), creds }
}

/// Which object a stat command names.
enum StatOf {
    /// IPC_STAT: by id, with read permission; answers 0.
    Id,
    /// The *_STAT and *_STAT_ANY commands: by table index (`_ANY` skips the
    /// read permission); answers the object's id.
    Index {
        /// *_STAT_ANY.
        any: bool,
    },
}

/// IPC_STAT and the *_STAT commands: the object's `*id64_ds` into `buf`.
fn write_stat<T: IpcObject>(t: &Task, reg: &Registry<T>, id: i32, buf: u64, of: StatOf) -> SysResult<u64> {
    let (obj, answer, check) = match of {
        StatOf::Id => (reg.get(id)?, 0, true),
        StatOf::Index { any } => {
            let (obj, id) = reg.at_index(id)?;
            (obj, id as u64, !any)
        }
    };
    if check {
        obj.perm().check(&t.creds(), MAY_READ)?;
    }
    t.mm().write_val(buf, &obj.stat())?;
    Ok(answer)
}

// ---------------------------------------------------------------------------
// Shared memory

pub fn shmget(t: &mut Task, a: &Args) -> SysResult<u64> {
    let creds = t.creds();
    t.ipc().shm.get(get_request(a, &creds), a.u64(1), t.pid).map(|id| id as u64)
}

pub fn shmat(t: &mut Task, a: &Args) -> SysResult<u64> {
    let (id, mut addr, flags) = (a.i32(0), a.addr(1), a.u32(2));
    if id < 0 {
        return Err(Errno::EINVAL);
    }
    let mut map_flags = MAP_SHARED;
    if addr != 0 {
        if addr & (SHMLBA - 1) != 0 {
            if flags & SHM_RND == 0 {
                return Err(Errno::EINVAL);
            }
            addr &= !(SHMLBA - 1);
            if addr == 0 && flags & SHM_REMAP != 0 {
                return Err(Errno::EINVAL);
            }
        }
        map_flags |= MAP_FIXED;
    } else if flags & SHM_REMAP != 0 {
        return Err(Errno::EINVAL);
    }
    let (mut prot, mut access) =
        if flags & SHM_RDONLY != 0 { (PROT_READ, MAY_READ) } else { (PROT_READ | PROT_WRITE, MAY_READ | MAY_WRITE) };
    if flags & SHM_EXEC != 0 {
        prot |= PROT_EXEC;
        access |= 0o111;
    }
    let seg = t.ipc().shm.segs.get(id)?;
    seg.perm().check(&t.creds(), access)?;
    let size = seg.size();
    let len = size.div_ceil(PAGE_SIZE) * PAGE_SIZE;
    let mut mm = t.mm();
    if addr != 0 && flags & SHM_REMAP == 0 {
        let end = addr.checked_add(len).ok_or(Errno::EINVAL)?;
        if mm.vmas().any(|(start, v)| start < end && v.end > addr) {
            return Err(Errno::EINVAL);
        }
    }
    let map = seg.attach(t.pid);
    let file = MapFile { source: FileSource::Pages(map), offset: 0, size, may_write: true, name: None };
    mm.mmap(MmapRequest { addr, len, prot, flags: map_flags, file: Some(file) })
}

pub fn shmdt(t: &mut Task, a: &Args) -> SysResult<u64> {
    let addr = a.addr(0);
    if addr & (PAGE_SIZE - 1) != 0 {
        return Err(Errno::EINVAL);
    }
    let mut mm = t.mm();
    // The attach is the first mapping at or after `addr` of a segment whose
    // offset in it is its distance from `addr` (Linux's test); it ends
    // where the segment does.
    let attach_of = |start: u64, backing: &Backing| match backing {
        Backing::Pages { source, offset } if *offset == start - addr => source.sysv_shm(),
        _ => None,
    };
    let Some((seg, size)) = mm.vmas().filter(|(s, _)| *s >= addr).find_map(|(s, v)| attach_of(s, &v.backing)) else {
        return Err(Errno::EINVAL);
    };
    let end = addr.saturating_add(size.div_ceil(PAGE_SIZE) * PAGE_SIZE);
    let doomed: Vec<(u64, u64, Backing)> = mm
        .vmas()
        .filter(|(s, v)| *s >= addr && *s < end && attach_of(*s, &v.backing).is_some_and(|(id, _)| id == seg))
        .map(|(s, v)| (s, v.end - s, v.backing.clone()))
        .collect();
    for (start, len, backing) in doomed {
        if let Backing::Pages { source, .. } = backing {
            source.detached(t.pid);
        }
        mm.munmap(start, len)?;
    }
    Ok(0)
}

pub fn shmctl(t: &mut Task, a: &Args) -> SysResult<u64> {
    let (id, cmd, buf) = (a.i32(0), ctl_cmd(a, 1), a.addr(2));
    let ipc = t.ipc();
    let shm = &ipc.shm;
    match cmd {
        IPC_INFO => {
            let info = ShmInfo64 {
                shmmax: SHMMAX,
                shmmin: 1,
                shmmni: SHMMNI as u64,
                shmseg: SHMMNI as u64,
                shmall: SHMALL,
                unused: [0; 4],
            };
            t.mm().write_val(buf, &info)?;
            Ok(shm.segs.usage().1 as u64)
        }
        SHM_INFO => {
            let segs = shm.segs.all();
            let info = ShmUsage {
                used_ids: segs.len() as i32,
                shm_tot: segs.iter().map(|s| s.size().div_ceil(PAGE_SIZE)).sum(),
                shm_rss: shm.pages_used(),
                ..ShmUsage::default()
            };
            t.mm().write_val(buf, &info)?;
            Ok(shm.segs.usage().1 as u64)
        }
        SHM_STAT | SHM_STAT_ANY => write_stat(t, &shm.segs, id, buf, StatOf::Index { any: cmd == SHM_STAT_ANY }),
        IPC_STAT => write_stat(t, &shm.segs, id, buf, StatOf::Id),
        IPC_SET => {
            let ds: ShmidDs = t.mm().read_val(buf)?;
            let seg = shm.segs.get(id)?;
            let mut perm = seg.perm();
            perm.check_owner(&t.creds())?;
            perm.set(&ds.shm_perm);
            drop(perm);
            seg.changed();
            Ok(0)
        }
        IPC_RMID => shm.remove(id, &t.creds()).map(|_| 0),
        SHM_LOCK | SHM_UNLOCK => {
            let seg = shm.segs.get(id)?;
            let mut perm = seg.perm();
            // The owner or creator, or CAP_IPC_LOCK (not CAP_SYS_ADMIN).
            let c = t.creds();
            if c.euid != perm.uid && c.euid != perm.cuid && !c.has_cap(abi::flags::capability::CAP_IPC_LOCK) {
                return Err(Errno::EPERM);
            }
            if cmd == SHM_LOCK {
                perm.mode |= SHM_LOCKED;
            } else {
                perm.mode &= !SHM_LOCKED;
            }
            Ok(0)
        }
        _ => Err(Errno::EINVAL),
    }
}

// ---------------------------------------------------------------------------
// Semaphores

pub fn semget(t: &mut Task, a: &Args) -> SysResult<u64> {
    let creds = t.creds();
    t.ipc().sem.get(get_request(a, &creds), a.i32(1)).map(|id| id as u64)
}

pub fn semop(t: &mut Task, a: &Args) -> SysResult<u64> {
    do_semop(t, a.i32(0), a.addr(1), a.u64(2), 0)
}

pub fn semtimedop(t: &mut Task, a: &Args) -> SysResult<u64> {
    do_semop(t, a.i32(0), a.addr(1), a.u64(2), a.addr(3))
}

/// semtimedop (semop has no timeout): EINTR when a signal comes, never
/// restarted (but for a checkpoint's freeze); EAGAIN when the time runs
/// out.
fn do_semop(t: &mut Task, id: i32, addr: u64, nsops: u64, timeout: u64) -> SysResult<u64> {
    if nsops < 1 || id < 0 {
        return Err(Errno::EINVAL);
    }
    if nsops > SEMOPM as u64 {
        return Err(Errno::E2BIG);
    }
    let mut sops = vec![Sembuf::default(); nsops as usize];
    t.mm().copy_in(addr, sops.as_mut_bytes())?;
    let deadline = read_timeout(t, timeout, None)?;
    let undo = sops.iter().any(|s| s.sem_flg & SEM_UNDO != 0);
    let alter = sops.iter().any(|s| s.sem_op != 0);
    let max = sops.iter().map(|s| s.sem_num).max().unwrap_or(0);
    let set = t.ipc().sem.sets.get(id)?;
    if usize::from(max) >= set.len() {
        return Err(Errno::EFBIG);
    }
    set.perm().check(&t.creds(), if alter { MAY_WRITE } else { MAY_READ })?;
    if undo {
        t.ipc().sem.note_undo(t.pid);
        t.handle.tg.sem_undo_list();
    }
    let pid = t.pid;
    let counted: Cell<Option<crate::kernel::ipc::sem::Blocked>> = Cell::new(None);
    let uncount = |set: &SemSet| {
        if let Some(b) = counted.take() {
            set.stop_waiting(b);
        }
    };
    let r = t.block(&[&set.queue], deadline, |_| {
        uncount(&set);
        match set.try_op(&sops, pid)? {
            Attempt::Done => Ok(Some(())),
            Attempt::Wait(b) => {
                counted.set(Some(b));
                Ok(None)
            }
        }
    });
    uncount(&set);
    match r {
        Ok(()) => Ok(0),
        Err(Errno::ETIMEDOUT) => Err(Errno::EAGAIN),
        Err(Errno::ERESTARTSYS) => Err(if set.is_removed() { Errno::EIDRM } else { t.eintr() }),
        Err(e) => Err(e),
    }
}

pub fn semctl(t: &mut Task, a: &Args) -> SysResult<u64> {
    let (id, num, cmd, arg) = (a.i32(0), a.i32(1), ctl_cmd(a, 2), a.u64(3));
    let ipc = t.ipc();
    let sem = &ipc.sem;
    let field = |cmd| match cmd {
        GETVAL => SemField::Val,
        GETPID => SemField::Pid,
        GETNCNT => SemField::Ncnt,
        _ => SemField::Zcnt,
    };
    match cmd {
        IPC_INFO | SEM_INFO => {
            let full = cmd == SEM_INFO;
            let info = SemInfo {
                semmap: SEMMNS as i32,
                semmni: SEMMNI as i32,
                semmns: SEMMNS as i32,
                semmnu: SEMMNS as i32,
                semmsl: SEMMSL as i32,
                semopm: SEMOPM as i32,
                semume: SEMOPM as i32,
                semusz: if full { sem.sets.usage().0 as i32 } else { 20 },
                semvmx: SEMVMX,
                semaem: if full { sem.total_sems() as i32 } else { SEMAEM },
            };
            t.mm().write_val(arg, &info)?;
            Ok(sem.sets.usage().1 as u64)
        }
        SEM_STAT | SEM_STAT_ANY => write_stat(t, &sem.sets, id, arg, StatOf::Index { any: cmd == SEM_STAT_ANY }),
        IPC_STAT => write_stat(t, &sem.sets, id, arg, StatOf::Id),
        IPC_SET => {
            let ds: SemidDs = t.mm().read_val(arg)?;
            let set = sem.sets.get(id)?;
            let mut perm = set.perm();
            perm.check_owner(&t.creds())?;
            perm.set(&ds.sem_perm);
            drop(perm);
            set.changed();
            Ok(0)
        }
        IPC_RMID => {
            let creds = t.creds();
            sem.remove(id, |s| s.perm().check_owner(&creds)).map(|_| 0)
        }
        GETVAL | GETPID | GETNCNT | GETZCNT => {
            let set = sem.sets.get(id)?;
            set.perm().check(&t.creds(), MAY_READ)?;
            let n = usize::try_from(num).map_err(|_| Errno::EINVAL)?;
            set.get(n, field(cmd)).map(|v| v as u64)
        }
        GETALL => {
            let set = sem.sets.get(id)?;
            set.perm().check(&t.creds(), MAY_READ)?;
            let vals = set.values();
            t.mm().copy_out(arg, vals.as_bytes())?;
            Ok(0)
        }
        SETVAL => {
            let val = arg as i32;
            if !(0..=SEMVMX).contains(&val) {
                return Err(Errno::ERANGE);
            }
            let set = sem.sets.get(id)?;
            let n = usize::try_from(num).ok().filter(|&n| n < set.len()).ok_or(Errno::EINVAL)?;
            set.perm().check(&t.creds(), MAY_WRITE)?;
            set.set(Some(n), &[val], t.pid).map(|_| 0)
        }
        SETALL => {
            let set = sem.sets.get(id)?;
            set.perm().check(&t.creds(), MAY_WRITE)?;
            let mut vals = vec![0u16; set.len()];
            t.mm().copy_in(arg, vals.as_mut_bytes())?;
            let vals: Vec<i32> = vals.into_iter().map(i32::from).collect();
            set.set(None, &vals, t.pid).map(|_| 0)
        }
        _ => Err(Errno::EINVAL),
    }
}

// ---------------------------------------------------------------------------
// Message queues

/// IPC_INFO's msgpool: MSGMNI * MSGMNB / 1024, in KiB.
const MSGPOOL: i32 = 512_000;

pub fn msgget(t: &mut Task, a: &Args) -> SysResult<u64> {
    let creds = t.creds();
    let req = GetRequest { key: a.i32(0), flags: a.u32(1), creds: &creds };
    t.ipc().msg.get_or_create(req, |_| Ok(()), |perm, _| Ok(MsgQueue::new(perm))).map(|id| id as u64)
}

pub fn msgsnd(t: &mut Task, a: &Args) -> SysResult<u64> {
    let (id, msgp, size, flags) = (a.i32(0), a.addr(1), a.i64(2), a.u32(3));
    let mtype: i64 = t.mm().read_val(msgp)?;
    if size < 0 || size as usize > MSGMAX || id < 0 || mtype < 1 {
        return Err(Errno::EINVAL);
    }
    let mut text = vec![0u8; size as usize];
    t.mm().copy_in(msgp + 8, &mut text)?;
    let q = t.ipc().msg.get(id)?;
    q.perm().check(&t.creds(), MAY_WRITE)?;
    let pid = t.pid;
    let nowait = flags & IPC_NOWAIT != 0;
    let r = t.block(&[&q.queue], None, |_| match q.try_send(mtype, &text, pid)? {
        true => Ok(Some(())),
        false if nowait => Err(Errno::EAGAIN),
        false => Ok(None),
    });
    r.map(|_| 0).map_err(|e| if e == Errno::ERESTARTSYS { Errno::ERESTARTNOHAND } else { e })
}

pub fn msgrcv(t: &mut Task, a: &Args) -> SysResult<u64> {
    let (id, msgp, size, msgtyp, flags) = (a.i32(0), a.addr(1), a.i64(2), a.i64(3), a.u32(4));
    if id < 0 || size < 0 {
        return Err(Errno::EINVAL);
    }
    if flags & MSG_COPY != 0 && (flags & MSG_EXCEPT != 0 || flags & IPC_NOWAIT == 0) {
        return Err(Errno::EINVAL);
    }
    let q = t.ipc().msg.get(id)?;
    q.perm().check(&t.creds(), MAY_READ)?;
    let (pid, sel) = (t.pid, Select { msgtyp, flags });
    let max = size.min(i64::from(i32::MAX)) as usize;
    let r = t.block(&[&q.queue], None, |_| match q.try_receive(sel, max, flags & MSG_NOERROR != 0, pid)? {
        Some(m) => Ok(Some(m)),
        None if flags & IPC_NOWAIT != 0 => Err(Errno::ENOMSG),
        None => Ok(None),
    });
    let (mtype, text) = r.map_err(|e| if e == Errno::ERESTARTSYS { Errno::ERESTARTNOHAND } else { e })?;
    let mut mm = t.mm();
    mm.write_val(msgp, &mtype)?;
    mm.copy_out(msgp + 8, &text)?;
    Ok(text.len() as u64)
}

pub fn msgctl(t: &mut Task, a: &Args) -> SysResult<u64> {
    use abi::types::MsgInfo;
    let (id, cmd, buf) = (a.i32(0), ctl_cmd(a, 1), a.addr(2));
    let ipc = t.ipc();
    let reg = &ipc.msg;
    match cmd {
        IPC_INFO | MSG_INFO => {
            let queues = reg.all();
            let (count, bytes) = queues.iter().map(|q| q.usage()).fold((0, 0), |(n, b), (qn, qb)| (n + qn, b + qb));
            let full = cmd == MSG_INFO;
            let info = MsgInfo {
                msgpool: if full { queues.len() as i32 } else { MSGPOOL },
                msgmap: if full { count as i32 } else { 16384 },
                msgmax: MSGMAX as i32,
                msgmnb: crate::kernel::ipc::msg::MSGMNB as i32,
                msgmni: crate::kernel::ipc::msg::MSGMNI as i32,
                msgssz: 16,
                msgtql: if full { bytes as i32 } else { 16384 },
                msgseg: 0xffff,
                pad: 0,
            };
            t.mm().write_val(buf, &info)?;
            Ok(reg.usage().1 as u64)
        }
        MSG_STAT | MSG_STAT_ANY => write_stat(t, reg, id, buf, StatOf::Index { any: cmd == MSG_STAT_ANY }),
        IPC_STAT => write_stat(t, reg, id, buf, StatOf::Id),
        IPC_SET => {
            let ds: MsqidDs = t.mm().read_val(buf)?;
            let q = reg.get(id)?;
            let creds = t.creds();
            q.perm().check_owner(&creds)?;
            q.set(&ds, &creds).map(|_| 0)
        }
        IPC_RMID => {
            let creds = t.creds();
            reg.remove(id, |q| q.perm().check_owner(&creds)).map(|_| 0)
        }
        _ => Err(Errno::EINVAL),
    }
}

// ---------------------------------------------------------------------------
// POSIX message queues

const SIGEV_SIGNAL: i32 = 0;
const SIGEV_NONE: i32 = 1;
const SIGEV_THREAD: i32 = 2;

/// The queue open at `fd`, and its file's status flags; EBADF for any
/// other file.
fn mq_of(t: &Task, fd: i32) -> SysResult<(Arc<Mq>, Arc<File>)> {
    let file = t.fds().get(fd)?.clone();
    let mq = file.ops.mqueue().ok_or(Errno::EBADF)?.clone();
    Ok((mq, file))
}

/// An mq name as the app passed it: glibc strips the leading slash.
fn read_mq_name(t: &Task, addr: u64) -> SysResult<Vec<u8>> {
    let name = super::fs::read_path(t, addr)?;
    if name.is_empty() {
        return Err(Errno::ENOENT);
    }
    Ok(name)
}

pub fn mq_open(t: &mut Task, a: &Args) -> SysResult<u64> {
    let (name_addr, oflag, mode, attr_addr) = (a.addr(0), a.u32(1), a.u32(2), a.addr(3));
    let attr: Option<MqAttr> = if attr_addr != 0 { Some(t.mm().read_val(attr_addr)?) } else { None };
    let name = read_mq_name(t, name_addr)?;
    let creds = t.creds();
    let umask = t.fs().umask;
    let accmode = oflag & O_ACCMODE;
    let create = oflag & O_CREAT != 0;
    let req = OpenRequest {
        name: &name,
        create,
        exclusive: oflag & O_EXCL != 0,
        access: access_of(accmode),
        mode: mode & !umask,
        attr: attr.filter(|_| create).map(|a| (a.mq_maxmsg, a.mq_msgsize)),
        creds: &creds,
        rlimit: t.rlimits()[abi::flags::rlimit::RLIMIT_MSGQUEUE as usize].cur,
    };
    let mq = t.ipc().mqueue.open(req)?;
    let file = File::new(Box::new(MqFile::new(mq)), oflag & (O_ACCMODE | O_NONBLOCK), None);
    let limit = t.nofile_limit();
    // Linux makes every message-queue descriptor close-on-exec.
    Ok(t.fds().insert(file, true, 0, limit)? as u64)
}

pub fn mq_unlink(t: &mut Task, a: &Args) -> SysResult<u64> {
    let name = read_mq_name(t, a.addr(0))?;
    t.ipc().mqueue.unlink(&name, &t.creds()).map(|_| 0)
}

pub fn mq_timedsend(t: &mut Task, a: &Args) -> SysResult<u64> {
    let (fd, msg, len, prio, timeout) = (a.fd(0), a.addr(1), a.u64(2), a.u32(3), a.addr(4));
    let deadline = read_timeout(t, timeout, Some(CLOCK_REALTIME))?;
    if a.u64(3) >= u64::from(MQ_PRIO_MAX) {
        return Err(Errno::EINVAL);
    }
    let (mq, file) = mq_of(t, fd)?;
    if file.flags() & O_ACCMODE == O_RDONLY {
        return Err(Errno::EBADF);
    }
    if len > mq.msgsize as u64 {
        return Err(Errno::EMSGSIZE);
    }
    let mut text = vec![0u8; len as usize];
    t.mm().copy_in(msg, &mut text)?;
    let nonblock = file.flags() & O_NONBLOCK != 0;
    let mut notify = None;
    t.block(&[&mq.queue], deadline, |_| match mq.try_send(&text, prio) {
        (true, n) => {
            notify = n;
            Ok(Some(()))
        }
        (false, _) if nonblock => Err(Errno::EAGAIN),
        (false, _) => Ok(None),
    })?;
    if let Some(Notify { thread: Some(note), .. }) = &notify {
        note.send(NOTIFY_WOKENUP);
    }
    if let Some(Notify { pid, signal: Some((signo, value)), .. }) = notify {
        let mut info = SigInfo::from_sender(signo, SI_MESGQ, t.pid, t.creds().uid);
        info.0[24..32].copy_from_slice(&value.to_le_bytes());
        // The registered process may be gone; that is no error of the sender.
        let _ = crate::kernel::task::exit::send_to_process(&t.kernel, pid, info, None);
    }
    Ok(0)
}

pub fn mq_timedreceive(t: &mut Task, a: &Args) -> SysResult<u64> {
    let (fd, buf, len, prio_addr, timeout) = (a.fd(0), a.addr(1), a.u64(2), a.addr(3), a.addr(4));
    let deadline = read_timeout(t, timeout, Some(CLOCK_REALTIME))?;
    let (mq, file) = mq_of(t, fd)?;
    if file.flags() & O_ACCMODE == O_WRONLY {
        return Err(Errno::EBADF);
    }
    if len < mq.msgsize as u64 {
        return Err(Errno::EMSGSIZE);
    }
    let nonblock = file.flags() & O_NONBLOCK != 0;
    mq.receiver_waiting(true);
    let r = t.block(&[&mq.queue], deadline, |_| match mq.try_receive() {
        Some(m) => Ok(Some(m)),
        None if nonblock => Err(Errno::EAGAIN),
        None => Ok(None),
    });
    mq.receiver_waiting(false);
    let (text, prio) = r?;
    let mut mm = t.mm();
    mm.copy_out(buf, &text)?;
    if prio_addr != 0 {
        mm.write_val(prio_addr, &prio)?;
    }
    Ok(text.len() as u64)
}

pub fn mq_notify(t: &mut Task, a: &Args) -> SysResult<u64> {
    let (fd, sevp) = (a.fd(0), a.addr(1));
    let notify = if sevp == 0 {
        None
    } else {
        let ev: [u8; 64] = t.mm().read_val(sevp)?;
        let word = |at: usize| i32::from_ne_bytes([ev[at], ev[at + 1], ev[at + 2], ev[at + 3]]);
        let value = u64::from_ne_bytes(ev[0..8].try_into().unwrap_or([0; 8]));
        let (signo, how) = (word(8), word(12));
        let (signal, thread) = match how {
            SIGEV_NONE => (None, None),
            SIGEV_SIGNAL if (0..=crate::kernel::signal::NSIG as i32).contains(&signo) => {
                (Some((signo as u32, value)), None)
            }
            // glibc's: a cookie to read at `value`, for the netlink
            // socket `signo`.
            SIGEV_THREAD => (None, Some(thread_note(t, signo, value)?)),
            _ => return Err(Errno::EINVAL),
        };
        Some(Notify { pid: t.pid, signal, thread })
    };
    let (mq, _) = mq_of(t, fd)?;
    mq.set_notify(t.pid, notify).map(|_| 0)
}

/// SIGEV_THREAD's registration: the cookie at `cookie_addr`, for the
/// netlink socket `fd` (ENOTSOCK for another file, EINVAL for another
/// socket, as Linux's netlink_getsockbyfilp).
fn thread_note(t: &Task, fd: i32, cookie_addr: u64) -> SysResult<ThreadNote> {
    let mut cookie = [0u8; NOTIFY_COOKIE_LEN];
    t.mm().copy_in(cookie_addr, &mut cookie)?;
    let file = t.fds().get(fd)?.clone();
    let Some(sock) = file.ops.unix_socket() else {
        let is_socket = file.ops.stat().is_ok_and(|a| a.mode & abi::flags::mode::S_IFMT == abi::flags::mode::S_IFSOCK);
        return Err(if is_socket { Errno::EINVAL } else { Errno::ENOTSOCK });
    };
    let ep = sock.endpoint();
    if ep.family() != crate::vfs::netlink::AF_NETLINK {
        return Err(Errno::EINVAL);
    }
    Ok(ThreadNote { sock: Arc::downgrade(ep), cookie, fd })
}

pub fn mq_getsetattr(t: &mut Task, a: &Args) -> SysResult<u64> {
    let (fd, new_addr, old_addr) = (a.fd(0), a.addr(1), a.addr(2));
    let new: Option<MqAttr> = if new_addr != 0 { Some(t.mm().read_val(new_addr)?) } else { None };
    if new.is_some_and(|n| n.mq_flags & !i64::from(O_NONBLOCK) != 0) {
        return Err(Errno::EINVAL);
    }
    let (mq, file) = mq_of(t, fd)?;
    let old = MqAttr {
        mq_flags: i64::from(file.flags() & O_NONBLOCK),
        mq_maxmsg: mq.maxmsg,
        mq_msgsize: mq.msgsize,
        mq_curmsgs: mq.len() as i64,
        reserved: [0; 4],
    };
    if let Some(n) = new {
        file.set_flags((file.flags() & !O_NONBLOCK) | (n.mq_flags as u32 & O_NONBLOCK));
    }
    if old_addr != 0 {
        t.mm().write_val(old_addr, &old)?;
    }
    Ok(0)
}
