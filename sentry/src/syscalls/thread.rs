//! Thread setup and exit.

use abi::Errno;

use super::Args;
use crate::kernel::task::Task;
use crate::mm::SysResult;

/// x86_64's TLS and CPUID controls (arm64 sets its TLS register itself).
#[cfg(target_arch = "x86_64")]
pub fn arch_prctl(t: &mut Task, a: &Args) -> SysResult<u64> {
    use abi::flags::arch_prctl::*;
    let max = t.kernel.platform.max_user_address();
    match a.u32(0) {
        ARCH_SET_FS => {
            if a.addr(1) >= max {
                return Err(Errno::EPERM);
            }
            t.regs.set_tls(a.addr(1));
            Ok(0)
        }
        ARCH_GET_FS => {
            let v = t.regs.tls();
            t.mm().write_val(a.addr(1), &v)?;
            Ok(0)
        }
        ARCH_SET_GS => {
            if a.addr(1) >= max {
                return Err(Errno::EPERM);
            }
            t.regs.gs_base = a.addr(1);
            Ok(0)
        }
        ARCH_GET_GS => {
            let v = t.regs.gs_base;
            t.mm().write_val(a.addr(1), &v)?;
            Ok(0)
        }
        // CPUID faulting is not offered (nor shown in /proc/cpuinfo): cpuid
        // always runs, as on a CPU without the feature.
        ARCH_GET_CPUID => Ok(1),
        ARCH_SET_CPUID => Err(Errno::ENODEV),
        _ => Err(Errno::EINVAL),
    }
}

pub fn set_tid_address(t: &mut Task, a: &Args) -> SysResult<u64> {
    t.clear_child_tid = a.addr(0);
    Ok(t.tid as u64)
}

/// The size of `struct robust_list_head` on 64-bit.
const ROBUST_LIST_HEAD_SIZE: u64 = 24;

pub fn set_robust_list(t: &mut Task, a: &Args) -> SysResult<u64> {
    if a.u64(1) != ROBUST_LIST_HEAD_SIZE {
        return Err(Errno::EINVAL);
    }
    t.robust_list = (a.addr(0), a.u64(1));
    t.handle.robust_head.store(a.addr(0), std::sync::atomic::Ordering::Relaxed);
    Ok(0)
}

/// get_robust_list(2): the head a thread (0: the caller) registered, and
/// its size. Another process's thread needs ptrace_may_access (EPERM);
/// ESRCH for no such thread.
pub fn get_robust_list(t: &mut Task, a: &Args) -> SysResult<u64> {
    let tid = a.i32(0);
    let head = if tid == 0 || tid == t.tid {
        t.robust_list.0
    } else {
        let target = t.kernel.procs().threads.get(&tid).cloned().ok_or(Errno::ESRCH)?;
        let them = target.tg.creds.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if target.tg.tgid != t.pid && !crate::kernel::caps::ptrace_may_access(&t.creds(), &them) {
            return Err(Errno::EPERM);
        }
        target.robust_head.load(std::sync::atomic::Ordering::Relaxed)
    };
    t.mm().write_val(a.addr(2), &ROBUST_LIST_HEAD_SIZE)?;
    t.mm().write_val(a.addr(1), &head)?;
    Ok(0)
}

/// rseq is refused: glibc and musl run without it when it fails.
pub fn rseq(_t: &mut Task, _a: &Args) -> SysResult<u64> {
    Err(Errno::ENOSYS)
}
