//! Signal dispositions and masks. They are recorded with Linux's validation,
//! so programs that install handlers start; delivery comes later.

use abi::flags::signal::{SIGKILL, SIGSTOP};
use abi::Errno;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::Args;
use crate::kernel::task::{SigAction, Task};
use crate::mm::SysResult;

/// The kernel's `struct sigaction` on x86_64.
#[repr(C)]
#[derive(Clone, Copy, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
struct KernelSigaction {
    handler: u64,
    flags: u64,
    restorer: u64,
    mask: u64,
}

const SIGSET_SIZE: u64 = 8;
const UNBLOCKABLE: u64 = (1 << (SIGKILL - 1)) | (1 << (SIGSTOP - 1));

pub fn rt_sigaction(t: &mut Task, a: &Args) -> SysResult<u64> {
    let sig = a.u32(0);
    if a.u64(3) != SIGSET_SIZE || sig == 0 || sig > 64 {
        return Err(Errno::EINVAL);
    }
    let (act, oact) = (a.addr(1), a.addr(2));
    if act != 0 && (sig == SIGKILL || sig == SIGSTOP) {
        return Err(Errno::EINVAL);
    }
    let new = if act != 0 {
        Some(t.mm.read_val::<KernelSigaction>(act)?)
    } else {
        None
    };
    let slot = &mut t.signals.actions[sig as usize - 1];
    if oact != 0 {
        let old = KernelSigaction {
            handler: slot.handler,
            flags: slot.flags,
            restorer: slot.restorer,
            mask: slot.mask,
        };
        t.mm.write_val(oact, &old)?;
    }
    if let Some(n) = new {
        *slot = SigAction {
            handler: n.handler,
            flags: n.flags,
            restorer: n.restorer,
            mask: n.mask & !UNBLOCKABLE,
        };
    }
    Ok(0)
}

pub fn rt_sigprocmask(t: &mut Task, a: &Args) -> SysResult<u64> {
    const SIG_BLOCK: u32 = 0;
    const SIG_UNBLOCK: u32 = 1;
    const SIG_SETMASK: u32 = 2;
    if a.u64(3) != SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    let (set, oset) = (a.addr(1), a.addr(2));
    let new = if set != 0 {
        Some(t.mm.read_val::<u64>(set)?)
    } else {
        None
    };
    let old = t.signals.mask;
    if let Some(s) = new {
        t.signals.mask = match a.u32(0) {
            SIG_BLOCK => old | s,
            SIG_UNBLOCK => old & !s,
            SIG_SETMASK => s,
            _ => return Err(Errno::EINVAL),
        } & !UNBLOCKABLE;
    }
    if oset != 0 {
        t.mm.write_val(oset, &old)?;
    }
    Ok(0)
}
