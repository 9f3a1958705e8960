//! Signal syscalls: actions, masks, sending, waiting and returning from
//! handlers.

use std::time::Duration;

use abi::flags::signal::{SIGKILL, SIGSTOP};
use abi::types::Timespec;
use abi::Errno;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::Args;
use crate::kernel::signal::{self, code, SigAction, SigInfo, SigSet, NSIG, UNBLOCKABLE};
use crate::kernel::task::exit::{send_to_all, send_to_group, send_to_process, send_to_thread};
use crate::kernel::task::{RestartBlock, Task};
use crate::kernel::timer::deadline_in;
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

fn check_sig(sig: u32) -> SysResult<u32> {
    if sig == 0 || sig > NSIG {
        return Err(Errno::EINVAL);
    }
    Ok(sig)
}

pub fn rt_sigaction(t: &mut Task, a: &Args) -> SysResult<u64> {
    if a.u64(3) != SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    let sig = check_sig(a.u32(0))?;
    let (act, oact) = (a.addr(1), a.addr(2));
    if act != 0 && (sig == SIGKILL || sig == SIGSTOP) {
        return Err(Errno::EINVAL);
    }
    let new = if act != 0 { Some(t.mm().read_val::<KernelSigaction>(act)?) } else { None };
    let old = t.handle.tg.sighand.lock().unwrap_or_else(|e| e.into_inner()).get(sig);
    if oact != 0 {
        let k = KernelSigaction { handler: old.handler, flags: old.flags, restorer: old.restorer, mask: old.mask };
        t.mm().write_val(oact, &k)?;
    }
    if let Some(n) = new {
        let action =
            SigAction { handler: n.handler, flags: n.flags, restorer: n.restorer, mask: n.mask & !UNBLOCKABLE };
        t.handle.tg.sighand.lock().unwrap_or_else(|e| e.into_inner()).set(sig, action);
        if action.handler == signal::SIG_IGN
            || (action.handler == signal::SIG_DFL && signal::default_action(sig) == signal::DefaultAction::Ignore)
        {
            // Setting a signal to be ignored discards its pending instances.
            t.handle.tg.pending.lock().unwrap_or_else(|e| e.into_inner()).discard(signal::bit(sig));
        }
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
    let new = if set != 0 { Some(t.mm().read_val::<u64>(set)?) } else { None };
    let old = t.sigmask;
    if let Some(s) = new {
        let m = match a.u32(0) {
            SIG_BLOCK => old | s,
            SIG_UNBLOCK => old & !s,
            SIG_SETMASK => s,
            _ => return Err(Errno::EINVAL),
        };
        t.set_sigmask(m);
    }
    if oset != 0 {
        t.mm().write_val(oset, &old)?;
    }
    Ok(0)
}

pub fn rt_sigreturn(t: &mut Task, _a: &Args) -> SysResult<u64> {
    t.sigreturn()
}

/// Resumes what a syscall interrupted with ERESTART_RESTARTBLOCK left in
/// the task's restart block; without one, EINTR (Linux's
/// `do_no_restart_syscall`).
pub fn restart_syscall(t: &mut Task, _a: &Args) -> SysResult<u64> {
    match t.restart_block.take() {
        Some(RestartBlock::Sleep { deadline, rem }) => super::time::sleep_relative(t, deadline, rem),
        Some(RestartBlock::FutexWait { addr, val, bitset, deadline }) => {
            super::futex::wait(t, addr, val, bitset, Some(deadline))
        }
        Some(RestartBlock::Poll { addr, nfds, deadline }) => {
            super::poll::poll_restartable(t, addr, nfds, Some(deadline))
        }
        None => Err(Errno::EINTR),
    }
}

pub fn rt_sigpending(t: &mut Task, a: &Args) -> SysResult<u64> {
    if a.u64(1) > SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    let set = t.pending_signals() & t.sigmask;
    t.mm().write_val(a.addr(0), &set)?;
    Ok(0)
}

pub fn rt_sigsuspend(t: &mut Task, a: &Args) -> SysResult<u64> {
    if a.u64(1) != SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    let mask: SigSet = t.mm().read_val(a.addr(0))?;
    t.saved_mask = Some(t.sigmask);
    t.set_sigmask(mask);
    let r: SysResult<()> = t.block(&[], None, |_| Ok(None));
    match r {
        Err(Errno::ERESTARTSYS) => Err(Errno::ERESTARTNOHAND),
        Err(e) => Err(e),
        Ok(()) => Err(Errno::ERESTARTNOHAND),
    }
}

#[cfg(target_arch = "x86_64")]
pub fn pause(t: &mut Task, _a: &Args) -> SysResult<u64> {
    let r: SysResult<()> = t.block(&[], None, |_| Ok(None));
    r.map(|_| 0).map_err(|_| Errno::ERESTARTNOHAND)
}

/// `stack_t`.
#[repr(C)]
#[derive(Clone, Copy, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
struct StackT {
    sp: u64,
    flags: u32,
    pad: u32,
    size: u64,
}

pub fn sigaltstack(t: &mut Task, a: &Args) -> SysResult<u64> {
    const SS_ONSTACK: u32 = 1;
    const SS_DISABLE: u32 = 2;
    const SS_AUTODISARM: u32 = 1 << 31;
    const MINSIGSTKSZ: u64 = 2048;
    let (ss, old) = (a.addr(0), a.addr(1));
    let (sp, flags, size) = t.altstack_report();
    if old != 0 {
        t.mm().write_val(old, &StackT { sp, flags, pad: 0, size })?;
    }
    if ss != 0 {
        let n: StackT = t.mm().read_val(ss)?;
        if flags & SS_ONSTACK != 0 {
            return Err(Errno::EPERM);
        }
        let mode = n.flags & !SS_AUTODISARM;
        if mode == SS_DISABLE {
            t.altstack = Default::default();
        } else if mode == 0 || mode == SS_ONSTACK {
            if n.size < MINSIGSTKSZ {
                return Err(Errno::ENOMEM);
            }
            t.altstack = crate::kernel::task::AltStack { sp: n.sp, size: n.size, flags: n.flags };
        } else {
            return Err(Errno::EINVAL);
        }
    }
    Ok(0)
}

pub fn rt_sigtimedwait(t: &mut Task, a: &Args) -> SysResult<u64> {
    if a.u64(3) != SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    let set: SigSet = t.mm().read_val::<u64>(a.addr(0))? & !UNBLOCKABLE;
    let deadline = if a.addr(2) != 0 {
        let ts: Timespec = t.mm().read_val(a.addr(2))?;
        if ts.tv_sec < 0 || !(0..1_000_000_000).contains(&ts.tv_nsec) {
            return Err(Errno::EINVAL);
        }
        Some(deadline_in(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)))
    } else {
        None
    };
    // The awaited signals count as unblocked while we wait for them.
    let saved = t.sigmask;
    t.handle.real_blocked.store(saved, std::sync::atomic::Ordering::Release);
    t.set_sigmask(saved & !set);
    let r = t.block(&[], deadline, |t| Ok(t.take_signal_in(set)));
    t.set_sigmask(saved);
    t.handle.real_blocked.store(0, std::sync::atomic::Ordering::Release);
    let info = match r {
        Ok(i) => i,
        Err(Errno::ETIMEDOUT) => return Err(Errno::EAGAIN),
        Err(Errno::ERESTARTSYS) => return Err(t.eintr()),
        Err(e) => return Err(e),
    };
    if a.addr(1) != 0 {
        t.mm().copy_out(a.addr(1), &info.0)?;
    }
    Ok(u64::from(info.signo()))
}

fn sender_info(t: &Task, sig: u32, code: i32) -> SigInfo {
    SigInfo::from_sender(sig, code, t.pid, t.creds().uid)
}

fn check_sig_or_zero(sig: u32) -> SysResult<u32> {
    if sig > NSIG {
        return Err(Errno::EINVAL);
    }
    Ok(sig)
}

pub fn kill(t: &mut Task, a: &Args) -> SysResult<u64> {
    let (pid, sig) = (a.i32(0), check_sig_or_zero(a.u32(1))?);
    let info = sender_info(t, sig, code::SI_USER);
    let k = t.kernel.clone();
    let me = t.creds();
    match pid {
        p if p > 0 => send_to_process(&k, p, info, Some(&me))?,
        0 => {
            let pgid = k.procs().procs.get(&t.pid).map(|p| p.pgid).ok_or(Errno::ESRCH)?;
            send_to_group(&k, pgid, info, &me)?
        }
        -1 => send_to_all(&k, t.pid, info, &me)?,
        p => send_to_group(&k, p.checked_neg().ok_or(Errno::ESRCH)?, info, &me)?,
    }
    Ok(0)
}

pub fn tkill(t: &mut Task, a: &Args) -> SysResult<u64> {
    let (tid, sig) = (a.i32(0), check_sig_or_zero(a.u32(1))?);
    if tid <= 0 {
        return Err(Errno::EINVAL);
    }
    let info = sender_info(t, sig, code::SI_TKILL);
    check_queue_room(t, tid, sig)?;
    send_to_thread(&t.kernel.clone(), None, tid, info, &t.creds()).map(|_| 0)
}

pub fn tgkill(t: &mut Task, a: &Args) -> SysResult<u64> {
    let (tgid, tid, sig) = (a.i32(0), a.i32(1), check_sig_or_zero(a.u32(2))?);
    if tid <= 0 || tgid <= 0 {
        return Err(Errno::EINVAL);
    }
    let info = sender_info(t, sig, code::SI_TKILL);
    check_queue_room(t, tid, sig)?;
    send_to_thread(&t.kernel.clone(), Some(tgid), tid, info, &t.creds()).map(|_| 0)
}

/// The siginfo of rt_sigqueueinfo and rt_tgsigqueueinfo, copied in at
/// `addr` (first, as Linux does).
fn read_siginfo(t: &Task, addr: u64) -> SysResult<SigInfo> {
    let mut info = SigInfo([0; 128]);
    t.mm().copy_in(addr, &mut info.0)?;
    Ok(info)
}

/// `info` made ready to queue to (thread) `target` as signal `sig`: only
/// the kernel may claim to be the kernel or tkill, but to the caller
/// itself (Linux compares with the caller's thread id), then EINVAL for a
/// bad signal.
fn queued_info(t: &Task, mut info: SigInfo, target: i32, sig: u32) -> SysResult<SigInfo> {
    let code = i32::from_le_bytes([info.0[8], info.0[9], info.0[10], info.0[11]]);
    if (code >= 0 || code == code::SI_TKILL) && target != t.tid {
        return Err(Errno::EPERM);
    }
    info.set_signo(check_sig(sig)?);
    Ok(info)
}

pub fn rt_sigqueueinfo(t: &mut Task, a: &Args) -> SysResult<u64> {
    let (pid, sig) = (a.i32(0), a.u32(1));
    let info = queued_info(t, read_siginfo(t, a.addr(2))?, pid, sig)?;
    check_queue_room(t, pid, sig)?;
    send_to_process(&t.kernel.clone(), pid, info, Some(&t.creds())).map(|_| 0)
}

/// rt_tgsigqueueinfo(2): rt_sigqueueinfo to thread `tid` of process
/// `tgid` (EINVAL for ids not positive, ESRCH for a thread not of it).
pub fn rt_tgsigqueueinfo(t: &mut Task, a: &Args) -> SysResult<u64> {
    let (tgid, tid, sig) = (a.i32(0), a.i32(1), a.u32(2));
    let info = read_siginfo(t, a.addr(3))?;
    if tgid <= 0 || tid <= 0 {
        return Err(Errno::EINVAL);
    }
    let info = queued_info(t, info, tid, sig)?;
    check_queue_room(t, tid, sig)?;
    send_to_thread(&t.kernel.clone(), Some(tgid), tid, info, &t.creds()).map(|_| 0)
}

/// EAGAIN when a real-time signal queued by sigqueue, tkill or tgkill
/// would pass the sender's RLIMIT_SIGPENDING, as Linux refuses it.
/// (Linux counts the signals pending for the sender's user everywhere;
/// this counts those pending for the receiving process, or the process
/// of the receiving thread `id`, which bounds the same flood.)
fn check_queue_room(t: &Task, id: i32, sig: u32) -> SysResult<()> {
    if sig < signal::SIGRTMIN {
        return Ok(());
    }
    let limit = t.rlimits()[abi::flags::rlimit::RLIMIT_SIGPENDING as usize].cur;
    let queued = {
        let procs = t.kernel.procs();
        let tg = match procs.procs.get(&id) {
            Some(p) => p.tg.clone(),
            None => match procs.threads.get(&id) {
                Some(h) => h.tg.clone(),
                None => return Ok(()),
            },
        };
        let n = tg.pending.lock().unwrap_or_else(|e| e.into_inner()).len();
        n
    };
    if queued as u64 >= limit {
        return Err(Errno::EAGAIN);
    }
    Ok(())
}
