//! Memory syscalls: mmap, munmap, mprotect, brk, madvise.

use abi::flags::mm::{
    MAP_ANONYMOUS, MAP_LOCKED, MAP_PRIVATE, MAP_SHARED, MAP_SHARED_VALIDATE, MAP_TYPE, PROT_EXEC, PROT_READ, PROT_WRITE,
};
use abi::flags::open::{O_ACCMODE, O_PATH, O_RDWR, O_WRONLY};
use abi::Errno;

use super::Args;
use crate::kernel::task::{Task, READ_IMPLIES_EXEC};
use crate::mm::{FileSource, MapFile, MmapRequest, SysResult};
use crate::vfs::file::Mappable;

/// `prot` as mmap and mprotect apply it: under the READ_IMPLIES_EXEC
/// personality, readable is executable too.
fn effective_prot(t: &Task, prot: u32) -> u32 {
    if prot & PROT_READ != 0 && t.personality & READ_IMPLIES_EXEC != 0 {
        prot | PROT_EXEC
    } else {
        prot
    }
}

pub fn mmap(t: &mut Task, a: &Args) -> SysResult<u64> {
    let (addr, len, mut flags, fd, offset) = (a.addr(0), a.u64(1), a.u32(3), a.fd(4), a.u64(5));
    let mut prot = effective_prot(t, a.u32(2));
    let mut read_only_shared = false;
    let mut noexec = false;
    // Linux validates the flags of file mappings only: anonymous memory
    // knows MAP_SHARED and MAP_PRIVATE alone.
    if flags & MAP_ANONYMOUS != 0 && flags & MAP_TYPE == MAP_SHARED_VALIDATE {
        return Err(Errno::EINVAL);
    }
    let file = if flags & MAP_ANONYMOUS != 0 {
        None
    } else {
        let f = t.fds().get(fd)?.clone();
        if f.flags() & O_PATH != 0 {
            return Err(Errno::EBADF);
        }
        // Linux's do_mmap: a zero length, then a mapping type it does not
        // know, are EINVAL before the file's access mode is looked at.
        if len == 0 || !matches!(flags & MAP_TYPE, MAP_SHARED | MAP_PRIVATE | MAP_SHARED_VALIDATE) {
            return Err(Errno::EINVAL);
        }
        let acc = f.flags() & O_ACCMODE;
        if acc == O_WRONLY {
            return Err(Errno::EACCES);
        }
        // A file on a noexec mount is never mapped executable, nor made so
        // by READ_IMPLIES_EXEC.
        noexec = f.dentry.as_deref().is_some_and(crate::loader::on_noexec_mount);
        if noexec {
            if a.u32(2) & PROT_EXEC != 0 {
                return Err(Errno::EPERM);
            }
            prot = a.u32(2);
        }
        let shared = flags & MAP_TYPE != MAP_PRIVATE;
        let shared_write = shared && prot & PROT_WRITE != 0;
        // A shared mapping of a volume's file maps its cache, which is
        // written back to the host.
        // A file open for writing registers its fd for writeback even when
        // mapped read-only: mprotect may make the mapping writable.
        let volume_pages = if shared && !(shared_write && acc != O_RDWR) {
            f.ops.shared_pages(acc == O_RDWR, f.dentry.as_ref())
        } else {
            None
        };
        let mappable = match volume_pages {
            Some(pages) => Mappable::Pages(pages?, f.ops.stat()?.size),
            None => f.ops.mappable().ok_or(Errno::ENODEV)?,
        };
        match mappable {
            // The rootfs is read-only: a writable shared mapping of its files
            // is refused as Linux refuses it for a file opened read-only.
            Mappable::Host(host_fd, size) => {
                if shared_write {
                    return Err(Errno::EACCES);
                }
                Some(MapFile {
                    source: FileSource::Host(host_fd),
                    offset,
                    size,
                    may_write: acc == O_RDWR,
                    name: f.dentry.clone(),
                })
            }
            Mappable::Pages(source, size) => {
                if shared_write && acc != O_RDWR {
                    return Err(Errno::EACCES);
                }
                if shared_write && f.ops.write_sealed() {
                    return Err(Errno::EPERM);
                }
                // A write-sealed memfd's shared mapping never becomes
                // writable either (Linux clears its VM_MAYWRITE).
                read_only_shared = shared && f.ops.write_sealed();
                Some(MapFile { source: FileSource::Pages(source), offset, size, may_write: acc == O_RDWR, name: None })
            }
            // /dev/zero: anonymous memory (shared or private); shared, it
            // may be written only through an fd open for writing.
            Mappable::Anon => {
                if shared_write && acc != O_RDWR {
                    return Err(Errno::EACCES);
                }
                flags |= MAP_ANONYMOUS;
                read_only_shared = shared && acc != O_RDWR;
                None
            }
        }
    };
    // MAP_LOCKED: locked and filled as mlock would, within RLIMIT_MEMLOCK
    // (EAGAIN past it, as Linux's mlock_future_ok).
    let locked = flags & MAP_LOCKED != 0;
    if locked {
        let total = t.mm().locked_bytes();
        let pages = abi::page_up(len).ok_or(Errno::ENOMEM)?;
        may_lock(t, total + pages, pages).map_err(|e| if e == Errno::ENOMEM { Errno::EAGAIN } else { e })?;
    }
    let mut mm = t.mm();
    let start = mm.mmap(MmapRequest { addr, len, prot, flags, file })?;
    if locked {
        let pages = abi::page_up(len).unwrap_or(len);
        let _ = mm.mlock(start, pages, true, false);
    }
    if read_only_shared {
        // mprotect may not make it writable either (EACCES).
        mm.deny_write(start, len);
    }
    if noexec {
        mm.deny_exec(start, len);
    }
    Ok(start)
}

pub fn munmap(t: &mut Task, a: &Args) -> SysResult<u64> {
    t.mm().munmap(a.addr(0), a.u64(1)).map(|_| 0)
}

pub fn mprotect(t: &mut Task, a: &Args) -> SysResult<u64> {
    let prot = effective_prot(t, a.u32(2));
    t.mm().mprotect(a.addr(0), a.u64(1), prot).map(|_| 0)
}

pub fn brk(t: &mut Task, a: &Args) -> SysResult<u64> {
    Ok(t.mm().brk(a.addr(0)))
}

pub fn madvise(t: &mut Task, a: &Args) -> SysResult<u64> {
    t.mm().madvise(a.addr(0), a.u64(1), a.u32(2)).map(|_| 0)
}

pub fn mremap(t: &mut Task, a: &Args) -> SysResult<u64> {
    t.mm().mremap(a.addr(0), a.u64(1), a.u64(2), a.u32(3), a.addr(4))
}

/// remap_file_pages(2): deprecated since Linux 4.0, which emulates it by
/// mapping the file again ([`crate::mm::MemoryManager::remap_file_pages`]);
/// the flags only ever asked for MAP_NONBLOCK, which changes nothing here.
pub fn remap_file_pages(t: &mut Task, a: &Args) -> SysResult<u64> {
    t.mm().remap_file_pages(a.addr(0), a.u64(1), a.u64(2), a.u64(3)).map(|_| 0)
}

/// mseal(2) (Linux 6.10): the mappings of the range can no longer be
/// unmapped, moved, mapped over or reprotected, nor, when they are
/// read-only private anonymous memory, discarded by madvise (EPERM).
pub fn mseal(t: &mut Task, a: &Args) -> SysResult<u64> {
    t.mm().mseal(a.addr(0), a.u64(1), a.u64(2)).map(|_| 0)
}

pub fn msync(t: &mut Task, a: &Args) -> SysResult<u64> {
    t.mm().msync(a.addr(0), a.u64(1), a.u32(2)).map(|_| 0)
}

pub fn mincore(t: &mut Task, a: &Args) -> SysResult<u64> {
    let v = t.mm().mincore(a.addr(0), a.u64(1))?;
    t.mm().copy_out(a.addr(2), &v)?;
    Ok(0)
}

/// The page-aligned range `[addr, addr + len)` covers, for the mlock calls
/// (EINVAL when it wraps).
fn lock_range(addr: u64, len: u64) -> SysResult<(u64, u64)> {
    let start = abi::page_down(addr);
    let end = addr.checked_add(len).and_then(abi::page_up).ok_or(Errno::EINVAL)?;
    Ok((start, end - start))
}

/// Whether `t` may have `bytes` of memory locked in all, `asked` of them
/// by this call, as Linux's can_do_mlock and its RLIMIT_MEMLOCK check:
/// EPERM with a zero limit, ENOMEM past it, unless CAP_IPC_LOCK.
fn may_lock(t: &Task, bytes: u64, asked: u64) -> SysResult<()> {
    if t.creds().has_cap(abi::flags::capability::CAP_IPC_LOCK) {
        return Ok(());
    }
    let limit = t.rlimits()[abi::flags::rlimit::RLIMIT_MEMLOCK as usize].cur;
    if limit == 0 {
        return Err(Errno::EPERM);
    }
    if bytes > limit || asked > limit {
        return Err(Errno::ENOMEM);
    }
    Ok(())
}

/// mlock(2) and mlock2(2). The app's memory is the memory file's, which
/// the Sentry never lets the host swap on the app's behalf: locking marks
/// the mappings (VmLck, no MADV_DONTNEED or MS_INVALIDATE on them) and,
/// but with MLOCK_ONFAULT, fills their anonymous pages. The checks are
/// Linux's: flags (mlock2), the memlock limit for what is locked with this
/// range, and a range that is mapped throughout (ENOMEM).
pub fn mlock(t: &mut Task, a: &Args) -> SysResult<u64> {
    do_mlock(t, a.addr(0), a.u64(1), 0)
}

pub fn mlock2(t: &mut Task, a: &Args) -> SysResult<u64> {
    const MLOCK_ONFAULT: u32 = 1;
    if a.u32(2) & !MLOCK_ONFAULT != 0 {
        return Err(Errno::EINVAL);
    }
    do_mlock(t, a.addr(0), a.u64(1), a.u32(2))
}

fn do_mlock(t: &mut Task, addr: u64, len: u64, flags: u32) -> SysResult<u64> {
    const MLOCK_ONFAULT: u32 = 1;
    let (start, len) = lock_range(addr, len)?;
    if len == 0 {
        return Ok(0);
    }
    // What is locked already counts, but not twice (Linux's
    // count_mm_mlocked_page_nr).
    let (total, again) = {
        let mm = t.mm();
        (mm.locked_bytes(), mm.locked_in(start, len))
    };
    may_lock(t, (total + len).saturating_sub(again), len)?;
    t.mm().mlock(start, len, true, flags & MLOCK_ONFAULT != 0)?;
    Ok(0)
}

/// munlock(2): ENOMEM for a range not mapped throughout.
pub fn munlock(t: &mut Task, a: &Args) -> SysResult<u64> {
    let (start, len) = lock_range(a.addr(0), a.u64(1))?;
    if len > 0 {
        t.mm().mlock(start, len, false, false)?;
    }
    Ok(0)
}

/// mlockall(2): EINVAL for no flag, an unknown one or MCL_ONFAULT alone;
/// then the memlock limit against what is mapped now (MCL_CURRENT).
pub fn mlockall(t: &mut Task, a: &Args) -> SysResult<u64> {
    const MCL_CURRENT: u32 = 1;
    const MCL_FUTURE: u32 = 2;
    const MCL_ONFAULT: u32 = 4;
    let flags = a.u32(0);
    if flags == 0 || flags & !(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) != 0 || flags == MCL_ONFAULT {
        return Err(Errno::EINVAL);
    }
    let mapped = if flags & MCL_CURRENT != 0 { t.mm().vmas().map(|(s, v)| v.end - s).sum() } else { 0 };
    may_lock(t, mapped, mapped)?;
    t.mm().mlockall(flags & MCL_CURRENT != 0, flags & MCL_FUTURE != 0, flags & MCL_ONFAULT != 0);
    Ok(0)
}

/// munlockall(2).
pub fn munlockall(t: &mut Task, _a: &Args) -> SysResult<u64> {
    t.mm().munlockall();
    Ok(0)
}

/// membarrier(2)'s commands.
mod membarrier_cmd {
    pub const QUERY: i32 = 0;
    pub const GLOBAL: i32 = 1 << 0;
    pub const GLOBAL_EXPEDITED: i32 = 1 << 1;
    pub const REGISTER_GLOBAL_EXPEDITED: i32 = 1 << 2;
    pub const PRIVATE_EXPEDITED: i32 = 1 << 3;
    pub const REGISTER_PRIVATE_EXPEDITED: i32 = 1 << 4;
    pub const PRIVATE_EXPEDITED_SYNC_CORE: i32 = 1 << 5;
    pub const REGISTER_PRIVATE_EXPEDITED_SYNC_CORE: i32 = 1 << 6;
    pub const PRIVATE_EXPEDITED_RSEQ: i32 = 1 << 7;
    pub const GET_REGISTRATIONS: i32 = 1 << 9;
    /// The only flag, for PRIVATE_EXPEDITED_RSEQ.
    pub const FLAG_CPU: u32 = 1;
}

/// An address space's membarrier state, as Linux's MEMBARRIER_STATE_*
/// bits (a registration sets the state, then, once in force, its READY).
mod membarrier_state {
    pub const PRIVATE_EXPEDITED_READY: u32 = 1 << 0;
    pub const PRIVATE_EXPEDITED: u32 = 1 << 1;
    pub const GLOBAL_EXPEDITED_READY: u32 = 1 << 2;
    pub const GLOBAL_EXPEDITED: u32 = 1 << 3;
    pub const SYNC_CORE_READY: u32 = 1 << 4;
    pub const SYNC_CORE: u32 = 1 << 5;
}

/// membarrier(2), as Linux's kernel/sched/membarrier.c, without the RSEQ
/// commands (restartable sequences are refused, so they are EINVAL, as on
/// a Linux built without CONFIG_RSEQ). The barrier is
/// [`crate::mm::app_barrier`] over the caller's address space (private
/// commands), every address space of the sandbox (GLOBAL: the sandbox is
/// the system its threads see) or those registered for it
/// (GLOBAL_EXPEDITED). The SYNC_CORE commands take the same barrier: an
/// interrupted thread goes back to app code through the host kernel's
/// return from a stop or a signal (IRET on x86_64, an exception return on
/// arm64), which serializes its core as Linux's sync_core_before_usermode.
pub fn membarrier(t: &mut Task, a: &Args) -> SysResult<u64> {
    use membarrier_cmd as cmd;
    use membarrier_state as st;
    let (command, flags) = (a.i32(0), a.u32(1));
    if flags != 0 && !(command == cmd::PRIVATE_EXPEDITED_RSEQ && flags == cmd::FLAG_CPU) {
        return Err(Errno::EINVAL);
    }
    let state = t.mm().membarrier();
    match command {
        cmd::QUERY => Ok((cmd::GLOBAL
            | cmd::GLOBAL_EXPEDITED
            | cmd::REGISTER_GLOBAL_EXPEDITED
            | cmd::PRIVATE_EXPEDITED
            | cmd::REGISTER_PRIVATE_EXPEDITED
            | cmd::PRIVATE_EXPEDITED_SYNC_CORE
            | cmd::REGISTER_PRIVATE_EXPEDITED_SYNC_CORE
            | cmd::GET_REGISTRATIONS) as u64),
        cmd::GLOBAL => {
            every_address_space(t, |_| true);
            Ok(0)
        }
        cmd::GLOBAL_EXPEDITED => {
            every_address_space(t, |state| state & st::GLOBAL_EXPEDITED != 0);
            Ok(0)
        }
        cmd::PRIVATE_EXPEDITED | cmd::PRIVATE_EXPEDITED_SYNC_CORE => {
            let ready =
                if command == cmd::PRIVATE_EXPEDITED { st::PRIVATE_EXPEDITED_READY } else { st::SYNC_CORE_READY };
            if state & ready == 0 {
                return Err(Errno::EPERM);
            }
            crate::mm::app_barrier(&t.mm);
            Ok(0)
        }
        cmd::REGISTER_GLOBAL_EXPEDITED => {
            t.mm().set_membarrier(state | st::GLOBAL_EXPEDITED | st::GLOBAL_EXPEDITED_READY);
            Ok(0)
        }
        cmd::REGISTER_PRIVATE_EXPEDITED => {
            t.mm().set_membarrier(state | st::PRIVATE_EXPEDITED | st::PRIVATE_EXPEDITED_READY);
            Ok(0)
        }
        cmd::REGISTER_PRIVATE_EXPEDITED_SYNC_CORE => {
            t.mm().set_membarrier(state | st::PRIVATE_EXPEDITED | st::SYNC_CORE | st::SYNC_CORE_READY);
            Ok(0)
        }
        cmd::GET_REGISTRATIONS => {
            // Linux's membarrier_get_registrations: a command counts as
            // registered once its state bit is set, ready or not.
            let mut mask = 0;
            for (bits, register) in [
                (st::GLOBAL_EXPEDITED | st::GLOBAL_EXPEDITED_READY, cmd::REGISTER_GLOBAL_EXPEDITED),
                (st::PRIVATE_EXPEDITED | st::PRIVATE_EXPEDITED_READY, cmd::REGISTER_PRIVATE_EXPEDITED),
                (st::SYNC_CORE | st::SYNC_CORE_READY, cmd::REGISTER_PRIVATE_EXPEDITED_SYNC_CORE),
            ] {
                if state & bits != 0 {
                    mask |= register;
                }
            }
            Ok(mask as u64)
        }
        _ => Err(Errno::EINVAL),
    }
}

/// Runs membarrier's barrier over each address space of the sandbox whose
/// state `wanted` takes.
fn every_address_space(t: &Task, wanted: impl Fn(u32) -> bool) {
    let threads: Vec<_> = t.kernel.procs().threads.values().cloned().collect();
    // One entry per address space, by its address.
    let spaces: std::collections::BTreeMap<usize, _> = threads
        .iter()
        .filter_map(|th| th.view())
        .map(|view| (std::sync::Arc::as_ptr(&view.mm) as usize, view.mm))
        .collect();
    for mm in spaces.into_values() {
        let state = mm.lock().unwrap_or_else(|e| e.into_inner()).membarrier();
        if wanted(state) {
            crate::mm::app_barrier(&mm);
        }
    }
}
