//! Calls that look into other processes of the sandbox: kcmp,
//! process_vm_readv and process_vm_writev.

use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};

use abi::Errno;

use super::Args;
use crate::kernel::task::{Task, TaskHandle, TaskView};
use crate::mm::SysResult;

/// kcmp's types.
const KCMP_FILE: i32 = 0;
const KCMP_VM: i32 = 1;
const KCMP_FILES: i32 = 2;
const KCMP_FS: i32 = 3;
const KCMP_SIGHAND: i32 = 4;
const KCMP_IO: i32 = 5;
const KCMP_SYSVSEM: i32 = 6;
const KCMP_EPOLL_TFD: i32 = 7;
const KCMP_TYPES: usize = 8;

/// `struct kcmp_epoll_slot`: an epoll set's fd in the second process, and
/// which of its entries added by fd `tfd` (the `toff`th) to compare with.
#[repr(C)]
#[derive(Clone, Copy, Default, zerocopy::FromBytes, zerocopy::IntoBytes, zerocopy::Immutable)]
struct KcmpEpollSlot {
    efd: u32,
    tfd: u32,
    toff: u64,
}

/// kcmp's order of two kernel objects, by address: 0 for the same object,
/// else 1 or 2, as the first sorts before or after the second. The
/// addresses are scrambled as Linux's kptr_obfuscate scrambles them, with
/// random cookies for each type, so the order is stable for sorting but
/// tells the app nothing of where the Sentry keeps things.
fn order(kind: usize, a: usize, b: usize) -> u64 {
    static COOKIES: OnceLock<[[u64; 2]; KCMP_TYPES]> = OnceLock::new();
    let cookies = COOKIES.get_or_init(|| {
        let mut raw = [0u8; KCMP_TYPES * 16];
        // Without randomness the order is the addresses' own: still right.
        let _ = crate::sys::getrandom(&mut raw);
        let mut c = [[0u64; 2]; KCMP_TYPES];
        for (i, chunk) in raw.chunks_exact(8).enumerate() {
            let mut b = [0u8; 8];
            b.copy_from_slice(chunk);
            c[i / 2][i % 2] = u64::from_ne_bytes(b);
        }
        for pair in &mut c {
            // Odd, with the top bit set: multiplying keeps values apart.
            pair[1] |= (1 << 63) | 1;
        }
        c
    });
    let [xor, mul] = cookies[kind];
    let scramble = |v: usize| ((v as u64 ^ xor).wrapping_mul(mul)) as i64;
    let (a, b) = (scramble(a), scramble(b));
    u64::from(a < b) | (u64::from(a > b) << 1)
}

/// An object's address, for [`order`].
fn addr<T: ?Sized>(p: &Arc<T>) -> usize {
    Arc::as_ptr(p).cast::<()>() as usize
}

/// The open file at `fd` of the task whose view is `v` (EBADF if none).
fn file_at(v: &TaskView, fd: u64) -> SysResult<Arc<crate::vfs::file::File>> {
    // The index is an unsigned int.
    let fd = i32::try_from(fd as u32).map_err(|_| Errno::EBADF)?;
    v.fds.lock().unwrap_or_else(|e| e.into_inner()).get(fd).cloned()
}

/// kcmp(2): whether two tasks share a kernel object (0), or how the two
/// objects order (1, 2). Each task must be the caller's process or one
/// it may inspect (ptrace_may_access, EPERM).
pub fn kcmp(t: &mut Task, a: &Args) -> SysResult<u64> {
    let (pid1, pid2, kind, idx1, idx2) = (a.i32(0), a.i32(1), a.i32(2), a.u64(3), a.u64(4));
    let (h1, h2) = {
        let procs = t.kernel.procs();
        match (procs.threads.get(&pid1), procs.threads.get(&pid2)) {
            (Some(h1), Some(h2)) => (h1.clone(), h2.clone()),
            _ => return Err(Errno::ESRCH),
        }
    };
    let me = t.creds();
    for h in [&h1, &h2] {
        let them = h.tg.creds.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if h.tg.tgid != t.pid && !crate::kernel::caps::ptrace_may_access(&me, &them) {
            return Err(Errno::EPERM);
        }
    }
    // A task still being set up, or gone, has nothing to compare.
    let (v1, v2) = (h1.view().ok_or(Errno::ESRCH)?, h2.view().ok_or(Errno::ESRCH)?);
    let (a1, a2) = match kind {
        KCMP_FILE => match (file_at(&v1, idx1), file_at(&v2, idx2)) {
            (Ok(f1), Ok(f2)) => (addr(&f1), addr(&f2)),
            _ => return Err(Errno::EBADF),
        },
        KCMP_VM => (addr(&v1.mm), addr(&v2.mm)),
        KCMP_FILES => (addr(&v1.fds), addr(&v2.fds)),
        KCMP_FS => (addr(&v1.fs), addr(&v2.fs)),
        // Signal handlers belong to the process here (CLONE_SIGHAND
        // without CLONE_THREAD copies them).
        KCMP_SIGHAND => (addr(&h1.tg), addr(&h2.tg)),
        // Husk does no block I/O: no task has an I/O context, and all
        // compare equal, as tasks without one do on Linux.
        KCMP_IO => (0, 0),
        KCMP_SYSVSEM => {
            let list = |h: &TaskHandle| h.tg.sem_undo.load(Ordering::Acquire) as usize;
            (list(&h1), list(&h2))
        }
        KCMP_EPOLL_TFD => {
            let slot: KcmpEpollSlot = t.mm().read_val(idx2)?;
            let f1 = file_at(&v1, idx1)?;
            let set = file_at(&v2, u64::from(slot.efd))?;
            let epoll = set.ops.epoll().ok_or(Errno::EINVAL)?;
            let target = epoll.target(slot.tfd as i32, slot.toff).ok_or(Errno::ENOENT)?;
            return Ok(order(KCMP_FILE as usize, addr(&f1), addr(&target)));
        }
        _ => return Err(Errno::EINVAL),
    };
    Ok(order(kind as usize, a1, a2))
}

/// process_vm_readv and process_vm_writev (`write`): copies between the
/// caller's buffers and another process's, through the two memory
/// managers (each locked in turn, never both: the buffers are pinned and
/// the memory file copied between the pins), as Linux's process_vm_rw.
/// Returns the bytes copied, as far as both sides' buffers are accessible
/// from their start (EFAULT if not at all).
fn process_vm(t: &mut Task, a: &Args, write: bool) -> SysResult<u64> {
    let (pid, flags) = (a.i32(0), a.u64(5));
    if flags != 0 {
        return Err(Errno::EINVAL);
    }
    let local = super::file::import_iovecs(t, a.addr(1), a.u64(2))?;
    let total: u64 = local.iter().map(|&(_, len)| len).sum();
    if total == 0 {
        return Ok(0);
    }
    let remote = super::file::read_iovecs(t, a.addr(3), a.u64(4))?;
    if remote.iter().all(|&(_, len)| len == 0) {
        return Ok(0);
    }
    let target = t.kernel.procs().threads.get(&pid).cloned().ok_or(Errno::ESRCH)?;
    let view = target.view().ok_or(Errno::ESRCH)?;
    // Linux's mm_access: the caller's own address space, or a process it
    // may attach to (EPERM).
    if !Arc::ptr_eq(&view.mm, &t.mm) && target.tg.tgid != t.pid {
        let them = target.tg.creds.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if !crate::kernel::caps::ptrace_may_access(&t.creds(), &them) {
            return Err(Errno::EPERM);
        }
    }
    let remote = super::file::take_bytes(&remote, total);
    // Data goes into the caller's buffers on a read, into the other
    // process's on a write.
    let local_pin = t.mm().pin_buffers(&local, !write);
    let remote_pin = view.mm.lock().unwrap_or_else(|e| e.into_inner()).pin_buffers(&remote, write);
    let done = if write { remote_pin.copy_from(&local_pin, total) } else { local_pin.copy_from(&remote_pin, total) };
    drop((local_pin, remote_pin));
    if write && !Arc::ptr_eq(&view.mm, &t.mm) {
        // The write may have broken copy-on-write sharing in the other
        // address space: its threads running app code must stop using the
        // old pages before the call returns, as after a TLB shootdown.
        let sd = view.mm.lock().unwrap_or_else(|e| e.into_inner()).shootdown(&crate::mm::SpaceCursor::new());
        if let Some(sd) = sd {
            crate::mm::await_shootdown(&view.mm, sd);
        }
    }
    if done == 0 {
        return Err(Errno::EFAULT);
    }
    Ok(done)
}

pub fn process_vm_readv(t: &mut Task, a: &Args) -> SysResult<u64> {
    process_vm(t, a, false)
}

pub fn process_vm_writev(t: &mut Task, a: &Args) -> SysResult<u64> {
    process_vm(t, a, true)
}
