//! Advisory locks: flock(2), and fcntl's record-lock commands (F_GETLK,
//! F_SETLK, F_SETLKW and their OFD forms) over `kernel::locks`.

use std::sync::Arc;

use abi::flags::open::{O_ACCMODE, O_NONBLOCK, O_PATH, O_RDONLY, O_WRONLY};
use abi::Errno;

use super::Args;
use crate::kernel::fasync::OwnerKind;
use crate::kernel::lease::{self, LEASES};
use crate::kernel::locks::{key_of, range, FileKey, FlockOp, Owner, RecordLock, SetError, LOCKS};
use crate::kernel::task::Task;
use crate::mm::SysResult;
use crate::vfs::file::File;
use crate::vfs::Dentry;

const LOCK_SH: u32 = 1;
const LOCK_EX: u32 = 2;
const LOCK_NB: u32 = 4;
const LOCK_UN: u32 = 8;

/// fcntl's record-lock commands.
pub const F_GETLK: u32 = 5;
pub const F_SETLK: u32 = 6;
pub const F_SETLKW: u32 = 7;
pub const F_OFD_GETLK: u32 = 36;
pub const F_OFD_SETLK: u32 = 37;
pub const F_OFD_SETLKW: u32 = 38;

const F_RDLCK: i16 = 0;
const F_WRLCK: i16 = 1;
const F_UNLCK: i16 = 2;

/// `struct flock` (x86_64).
#[repr(C)]
#[derive(
    Clone, Copy, Default, zerocopy::FromBytes, zerocopy::IntoBytes, zerocopy::Immutable, zerocopy::KnownLayout,
)]
struct Flock {
    l_type: i16,
    l_whence: i16,
    _pad: u32,
    l_start: i64,
    l_len: i64,
    l_pid: i32,
    _pad2: u32,
}
const _: () = assert!(std::mem::size_of::<Flock>() == 32);

/// An open file description's identity, for the locks it owns.
fn file_id(f: &Arc<File>) -> usize {
    Arc::as_ptr(f) as usize
}

/// flock(2).
pub fn flock(t: &mut Task, a: &Args) -> SysResult<u64> {
    let f = t.fds().get(a.fd(0))?.clone();
    if f.flags() & O_PATH != 0 {
        return Err(Errno::EBADF);
    }
    let op = a.u32(1);
    let nonblock = op & LOCK_NB != 0;
    let op = match op & !LOCK_NB {
        LOCK_SH => FlockOp::Shared,
        LOCK_EX => FlockOp::Exclusive,
        LOCK_UN => FlockOp::Unlock,
        _ => return Err(Errno::EINVAL),
    };
    let key = key_of(&f)?;
    let id = file_id(&f);
    f.note_locks();
    if LOCKS.flock(key, id, op) {
        return Ok(0);
    }
    if nonblock {
        return Err(Errno::EWOULDBLOCK);
    }
    t.block(&[&LOCKS.queue], None, |_| Ok(LOCKS.flock(key, id, op).then_some(0)))
}

/// fcntl's F_GETLK, F_SETLK, F_SETLKW, F_OFD_GETLK, F_OFD_SETLK and
/// F_OFD_SETLKW on `f`, whose `struct flock` is at `arg`.
pub fn fcntl_lock(t: &mut Task, f: &Arc<File>, cmd: u32, arg: u64) -> SysResult<u64> {
    if f.flags() & O_PATH != 0 {
        return Err(Errno::EBADF);
    }
    let mut fl: Flock = t.mm().read_val(arg)?;
    let ofd = matches!(cmd, F_OFD_GETLK | F_OFD_SETLK | F_OFD_SETLKW);
    if ofd && fl.l_pid != 0 {
        return Err(Errno::EINVAL);
    }
    let base = match fl.l_whence as u32 {
        abi::flags::seek::SEEK_SET => 0,
        abi::flags::seek::SEEK_CUR => *f.offset.lock().unwrap_or_else(|e| e.into_inner()),
        abi::flags::seek::SEEK_END => f.ops.stat()?.size,
        _ => return Err(Errno::EINVAL),
    };
    let (start, end) = range(base, fl.l_start, fl.l_len)?;
    let owner = if ofd { Owner::File(file_id(f)) } else { Owner::Process(t.pid) };
    let write = match fl.l_type {
        F_RDLCK => false,
        F_WRLCK => true,
        F_UNLCK if !matches!(cmd, F_GETLK | F_OFD_GETLK) => false,
        _ => return Err(Errno::EINVAL),
    };
    let req = RecordLock { owner, write, start, end };
    let key = key_of(f)?;
    if matches!(cmd, F_GETLK | F_OFD_GETLK) {
        match LOCKS.conflict(key, &req) {
            None => fl.l_type = F_UNLCK,
            Some(c) => {
                fl.l_type = if c.write { F_WRLCK } else { F_RDLCK };
                fl.l_whence = abi::flags::seek::SEEK_SET as i16;
                fl.l_start = c.start as i64;
                fl.l_len = if c.end == u64::MAX { 0 } else { (c.end - c.start) as i64 };
                fl.l_pid = match c.owner {
                    Owner::Process(p) => p,
                    Owner::File(_) => -1,
                };
            }
        }
        t.mm().write_val(arg, &fl)?;
        return Ok(0);
    }
    let unlock = fl.l_type == F_UNLCK;
    let acc = f.flags() & O_ACCMODE;
    if (!unlock && !write && acc == O_WRONLY) || (write && acc == O_RDONLY) {
        return Err(Errno::EBADF);
    }
    if ofd {
        f.note_locks();
    }
    match LOCKS.set_record(key, req, unlock) {
        Ok(()) => return Ok(0),
        Err(SetError::NoLocks) => return Err(Errno::ENOLCK),
        Err(_) if matches!(cmd, F_SETLK | F_OFD_SETLK) => return Err(Errno::EAGAIN),
        Err(_) => {}
    }
    let me = t.pid;
    let r = t.block(&[&LOCKS.queue], None, |_| match LOCKS.set_record(key, req, unlock) {
        Ok(()) => Ok(Some(0)),
        Err(SetError::NoLocks) => Err(Errno::ENOLCK),
        Err(SetError::Conflict(c)) if !ofd && LOCKS.would_deadlock(me, c.owner) => Err(Errno::EDEADLK),
        Err(SetError::Conflict(c)) => {
            if !ofd {
                LOCKS.set_waiting(me, Some(c.owner));
            }
            Ok(None)
        }
    });
    if !ofd {
        LOCKS.set_waiting(me, None);
    }
    r
}

/// The caller closed an fd of `f`: its process's record locks on the file
/// go, whichever fd took them (POSIX's rule), and so does what it asked
/// F_NOTIFY of through `f`.
pub fn closed(t: &Task, f: &File) {
    if let Ok(key) = key_of(f) {
        LOCKS.release_on_close(t.pid, key);
    }
    crate::vfs::inotify::dnotify_release(f as *const File as usize, Some(t.pid));
    // A message queue's notification goes when its process closes any fd
    // of the queue (Linux's mqueue_flush_file).
    if let Some(mq) = f.ops.mqueue() {
        mq.flush(t.pid);
    }
}

/// The key leases know a file by: its name's device and inode numbers
/// (None for a file that is no regular file with a name).
fn lease_key(f: &File) -> Option<FileKey> {
    let d = f.dentry.as_ref().filter(|d| d.is_regular())?;
    let a = d.attr();
    Some((a.dev, a.ino))
}

/// How many open file descriptions of `key` the sandbox's fd tables hold:
/// (for reading only, for writing).
fn open_counts(t: &Task, key: FileKey) -> (usize, usize) {
    let handles: Vec<_> = t.kernel.procs().threads.values().cloned().collect();
    let mut seen = std::collections::HashSet::new();
    let (mut readers, mut writers) = (0, 0);
    let mut tables = std::collections::HashSet::new();
    for h in handles {
        let Some(view) = h.view() else { continue };
        if !tables.insert(Arc::as_ptr(&view.fds) as usize) {
            continue;
        }
        let fds = view.fds.lock().unwrap_or_else(|e| e.into_inner());
        for fd in fds.fds() {
            let Ok(f) = fds.get(fd) else { continue };
            if f.flags() & O_PATH != 0 || !seen.insert(Arc::as_ptr(f) as usize) || lease_key(f) != Some(key) {
                continue;
            }
            if f.flags() & O_ACCMODE == O_RDONLY {
                readers += 1;
            } else {
                writers += 1;
            }
        }
    }
    (readers, writers)
}

/// fcntl's F_SETLEASE (`arg` F_RDLCK, F_WRLCK or F_UNLCK) on `f`, fd `fd`.
pub fn set_lease(t: &mut Task, f: &Arc<File>, fd: i32, arg: u64) -> SysResult<u64> {
    let arg = u32::try_from(arg).ok().filter(|&a| a <= lease::F_UNLCK).ok_or(Errno::EINVAL)?;
    let d = f.dentry.as_ref();
    let uid = match d {
        Some(d) => d.attr().uid,
        None => f.ops.stat()?.uid,
    };
    let creds = t.creds();
    if uid != creds.fsuid && !creds.has_cap(abi::flags::capability::CAP_LEASE) {
        return Err(Errno::EACCES);
    }
    let key = lease_key(f).ok_or(Errno::EINVAL)?;
    if arg == lease::F_UNLCK {
        return LEASES.unlock(key, f).map(|()| 0);
    }
    let opens = open_counts(t, key);
    LEASES.set(key, f, fd, arg == lease::F_WRLCK, opens)?;
    // The lease's holder hears of breaks: its owner, unless one is set.
    f.owner.set(OwnerKind::Process, t.pid, &creds, &t.kernel, false);
    Ok(0)
}

/// fcntl's F_GETLEASE on `f`.
pub fn get_lease(f: &File) -> u64 {
    u64::from(lease_key(f).map_or(lease::F_UNLCK, |key| LEASES.get(key, f)))
}

/// An open of the regular file `d` with `flags`, or a truncate (O_WRONLY),
/// breaks the leases it conflicts with and waits until they are given up
/// or taken away (EWOULDBLOCK with O_NONBLOCK).
pub fn break_leases(t: &mut Task, d: &Dentry, flags: u32) -> SysResult<()> {
    if !LEASES.any() {
        return Ok(());
    }
    let a = d.attr();
    let key = (a.dev, a.ino);
    let write = flags & O_ACCMODE != O_RDONLY;
    let nonblock = flags & O_NONBLOCK != 0;
    let Some(mut deadline) = LEASES.break_for(key, write, nonblock) else { return Ok(()) };
    if nonblock {
        return Err(Errno::EWOULDBLOCK);
    }
    let r = loop {
        match t.block(&[&LEASES.queue], deadline, |_| Ok(LEASES.still_blocked(key, write).is_none().then_some(()))) {
            Err(Errno::ETIMEDOUT) => match LEASES.still_blocked(key, write) {
                None => break Ok(()),
                Some(next) => deadline = next,
            },
            r => break r,
        }
    };
    LEASES.done_waiting(key, write);
    r
}
