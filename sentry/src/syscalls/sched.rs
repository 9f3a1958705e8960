//! Scheduling: yield, affinity and priorities. The host schedules the app's
//! threads; these calls record and report what the app asked for.

use abi::flags::capability::CAP_SYS_NICE;
use abi::Errno;

use super::Args;
use std::sync::atomic::Ordering::Relaxed;

use crate::kernel::process::ThreadGroup;
use crate::kernel::task::Task;
use crate::mm::SysResult;

pub fn sched_yield(_t: &mut Task, _a: &Args) -> SysResult<u64> {
    std::thread::yield_now();
    Ok(0)
}

/// The number of CPUs the sandbox reports.
fn ncpus() -> usize {
    crate::sandbox_cpus()
}

/// The affinity calls' pid: ESRCH for none (a negative one included, as
/// Linux's find_process_by_pid finds none).
fn check_pid(t: &Task, pid: i32) -> SysResult<()> {
    if pid < 0 {
        return Err(Errno::ESRCH);
    }
    if pid != 0 && !t.kernel.procs().threads.contains_key(&pid) {
        return Err(Errno::ESRCH);
    }
    Ok(())
}

pub fn sched_getaffinity(t: &mut Task, a: &Args) -> SysResult<u64> {
    check_pid(t, a.i32(0))?;
    let len = a.u64(1) as usize;
    let n = ncpus();
    let need = n.div_ceil(64) * 8;
    if len < need || !len.is_multiple_of(8) {
        return Err(Errno::EINVAL);
    }
    let mut mask = vec![0u8; need];
    for cpu in 0..n {
        mask[cpu / 8] |= 1 << (cpu % 8);
    }
    if a.i32(0) == 0 || a.i32(0) == t.tid {
        if let Some(own) = &t.affinity {
            for (i, b) in mask.iter_mut().enumerate() {
                *b &= own.get(i).copied().unwrap_or(0);
            }
        }
    }
    t.mm().copy_out(a.addr(2), &mask)?;
    Ok(need as u64)
}

/// getcpu(2): the CPU the task runs on, as far as the app can tell: the
/// lowest of the sandbox's CPUs its affinity allows (a task pinned to one
/// CPU sees that one), and NUMA node 0. Either pointer may be null.
pub fn getcpu(t: &mut Task, a: &Args) -> SysResult<u64> {
    let n = ncpus();
    let cpu = (0..n)
        .find(|&c| t.affinity.as_ref().is_none_or(|m| m.get(c / 8).is_some_and(|b| b & (1 << (c % 8)) != 0)))
        .unwrap_or(0) as u32;
    if a.addr(0) != 0 {
        t.mm().write_val(a.addr(0), &cpu)?;
    }
    if a.addr(1) != 0 {
        t.mm().write_val(a.addr(1), &0u32)?;
    }
    Ok(0)
}

pub fn sched_setaffinity(t: &mut Task, a: &Args) -> SysResult<u64> {
    check_pid(t, a.i32(0))?;
    let len = (a.u64(1) as usize).min(128);
    let mut mask = vec![0u8; len];
    t.mm().copy_in(a.addr(2), &mut mask)?;
    let n = ncpus();
    if !(0..n).any(|cpu| mask.get(cpu / 8).is_some_and(|b| b & (1 << (cpu % 8)) != 0)) {
        return Err(Errno::EINVAL);
    }
    if a.i32(0) == 0 || a.i32(0) == t.tid {
        t.affinity = Some(mask);
    }
    Ok(0)
}

/// The process a priority call names: PRIO_PROCESS with 0 or our pid.
/// The processes getpriority and setpriority act on: `which` is
/// PRIO_PROCESS (a pid), PRIO_PGRP (a process group) or PRIO_USER (a real
/// uid), `who` 0 meaning the caller's own. EINVAL for another `which`,
/// ESRCH when nothing matches (a negative or unknown id included).
fn priority_targets(t: &Task, which: u32, who: i32) -> SysResult<Vec<std::sync::Arc<ThreadGroup>>> {
    const PRIO_PROCESS: u32 = 0;
    const PRIO_PGRP: u32 = 1;
    const PRIO_USER: u32 = 2;
    let procs = t.kernel.procs();
    let live = |p: &&crate::kernel::process::Process| !matches!(p.state, crate::kernel::process::ProcState::Zombie(_));
    let found: Vec<_> = match which {
        PRIO_PROCESS => {
            let pid = if who == 0 { t.pid } else { who };
            procs.procs.get(&pid).filter(live).map(|p| p.tg.clone()).into_iter().collect()
        }
        PRIO_PGRP => {
            let pgid = if who == 0 { procs.procs.get(&t.pid).map_or(0, |p| p.pgid) } else { who };
            procs.procs.values().filter(live).filter(|p| p.pgid == pgid).map(|p| p.tg.clone()).collect()
        }
        PRIO_USER => {
            let uid = if who == 0 { t.creds().uid } else { who as u32 };
            if uid == u32::MAX {
                return Err(Errno::ESRCH);
            }
            procs
                .procs
                .values()
                .filter(live)
                .filter(|p| p.tg.creds.lock().unwrap_or_else(|e| e.into_inner()).uid == uid)
                .map(|p| p.tg.clone())
                .collect()
        }
        _ => return Err(Errno::EINVAL),
    };
    if found.is_empty() {
        return Err(Errno::ESRCH);
    }
    Ok(found)
}

/// getpriority(2): the highest priority (lowest nice) among the targets,
/// as 20 - nice so that it is never negative.
pub fn getpriority(t: &mut Task, a: &Args) -> SysResult<u64> {
    let targets = priority_targets(t, a.u32(0), a.i32(1))?;
    let nice = targets.iter().map(|tg| tg.nice.load(Relaxed)).min().unwrap_or(0);
    Ok((20 - nice) as u64)
}

/// setpriority(2), as Linux's set_one_prio for each target: EPERM for
/// another user's process without CAP_SYS_NICE, EACCES for a lower nice
/// than RLIMIT_NICE allows without it.
pub fn setpriority(t: &mut Task, a: &Args) -> SysResult<u64> {
    let targets = priority_targets(t, a.u32(0), a.i32(1))?;
    let nice = a.i32(2).clamp(-20, 19);
    let creds = t.creds();
    let privileged = creds.has_cap(CAP_SYS_NICE);
    let nice_rlimit = t.rlimits()[abi::flags::rlimit::RLIMIT_NICE as usize].cur;
    let mut result = Ok(0);
    for tg in targets {
        if !owns(&creds, &tg) && !privileged {
            result = Err(Errno::EPERM);
            continue;
        }
        if nice < tg.nice.load(Relaxed) && (20 - nice) as u64 > nice_rlimit && !privileged {
            result = Err(Errno::EACCES);
            continue;
        }
        tg.nice.store(nice, Relaxed);
    }
    result
}

/// Whether `creds` own process `tg`, as Linux's check_same_owner and
/// set_one_prio ask: the caller's effective uid is the target's real or
/// effective uid.
fn owns(creds: &crate::kernel::process::Credentials, tg: &crate::kernel::process::ThreadGroup) -> bool {
    let c = tg.creds.lock().unwrap_or_else(|e| e.into_inner());
    creds.euid == c.uid || creds.euid == c.euid
}

const SCHED_RESET_ON_FORK: u32 = 0x4000_0000;

/// The thread `pid` (0: the caller) names: EINVAL for a negative pid,
/// ESRCH for none.
fn sched_target(t: &Task, pid: i32) -> SysResult<std::sync::Arc<crate::kernel::task::TaskHandle>> {
    if pid < 0 {
        return Err(Errno::EINVAL);
    }
    if pid == 0 || pid == t.tid {
        return Ok(t.handle.clone());
    }
    t.kernel.procs().threads.get(&pid).cloned().ok_or(Errno::ESRCH)
}

/// A thread's (policy with SCHED_RESET_ON_FORK, priority).
fn sched_of(h: &crate::kernel::task::TaskHandle) -> (u32, i32) {
    let s = h.sched.load(std::sync::atomic::Ordering::Relaxed);
    (s as u32, (s >> 32) as i32)
}

pub fn sched_getscheduler(t: &mut Task, a: &Args) -> SysResult<u64> {
    let h = sched_target(t, a.i32(0))?;
    Ok(u64::from(sched_of(&h).0))
}

pub fn sched_getparam(t: &mut Task, a: &Args) -> SysResult<u64> {
    if a.addr(1) == 0 {
        return Err(Errno::EINVAL);
    }
    let h = sched_target(t, a.i32(0))?;
    t.mm().write_val(a.addr(1), &sched_of(&h).1)?;
    Ok(0)
}

/// Sets `pid`'s policy (None: keeps it) and the priority at `param`, as
/// Linux's sched_setscheduler and sched_setparam check them: the priority
/// must be in the policy's range, and only CAP_SYS_NICE may choose a real-time
/// policy. Recorded; the host's scheduling is not changed.
fn set_sched(t: &mut Task, pid: i32, policy: Option<i32>, param: u64) -> SysResult<u64> {
    if pid < 0 || param == 0 {
        return Err(Errno::EINVAL);
    }
    let prio: i32 = t.mm().read_val(param)?;
    let h = sched_target(t, pid)?;
    let (old, _) = sched_of(&h);
    let policy = policy.map_or(old, |p| p as u32);
    let base = policy & !SCHED_RESET_ON_FORK;
    // SCHED_DEADLINE needs sched_setattr's runtime and period.
    const SCHED_DEADLINE: u32 = 6;
    if base == SCHED_DEADLINE {
        return Err(Errno::EINVAL);
    }
    let (lo, hi) = priority_range(base as i32)?;
    if prio < lo as i32 || prio > hi as i32 {
        return Err(Errno::EINVAL);
    }
    // Without CAP_SYS_NICE: no real-time policy, and another user's
    // threads are not the caller's to change.
    let creds = t.creds();
    if !creds.has_cap(CAP_SYS_NICE) && (hi > 0 || !owns(&creds, &h.tg)) {
        return Err(Errno::EPERM);
    }
    h.sched.store(u64::from(policy) | (u64::from(prio as u32) << 32), std::sync::atomic::Ordering::Relaxed);
    Ok(0)
}

pub fn sched_setscheduler(t: &mut Task, a: &Args) -> SysResult<u64> {
    let policy = a.i32(1);
    if policy < 0 {
        return Err(Errno::EINVAL);
    }
    set_sched(t, a.i32(0), Some(policy), a.addr(2))
}

pub fn sched_setparam(t: &mut Task, a: &Args) -> SysResult<u64> {
    set_sched(t, a.i32(0), None, a.addr(1))
}

/// sched_rr_get_interval: a SCHED_RR thread's time slice (Linux's default,
/// 100 ms), 0 for SCHED_FIFO, and for the others the slice Linux's fair
/// scheduler gives a lone thread (its minimum granularity, 3 ms).
pub fn sched_rr_get_interval(t: &mut Task, a: &Args) -> SysResult<u64> {
    let h = sched_target(t, a.i32(0))?;
    let nanos: i64 = match sched_of(&h).0 & !SCHED_RESET_ON_FORK {
        1 => 0,
        2 => 100_000_000,
        _ => 3_000_000,
    };
    t.mm().write_val(a.addr(1), &abi::types::Timespec { tv_sec: 0, tv_nsec: nanos })?;
    Ok(0)
}

/// The priority range of a scheduling policy: 1..99 for the real-time
/// policies, 0..0 for the others.
fn priority_range(policy: i32) -> SysResult<(u64, u64)> {
    const SCHED_OTHER: i32 = 0;
    const SCHED_FIFO: i32 = 1;
    const SCHED_RR: i32 = 2;
    const SCHED_BATCH: i32 = 3;
    const SCHED_IDLE: i32 = 5;
    const SCHED_DEADLINE: i32 = 6;
    match policy {
        SCHED_FIFO | SCHED_RR => Ok((1, 99)),
        SCHED_OTHER | SCHED_BATCH | SCHED_IDLE | SCHED_DEADLINE => Ok((0, 0)),
        _ => Err(Errno::EINVAL),
    }
}

pub fn sched_get_priority_max(_t: &mut Task, a: &Args) -> SysResult<u64> {
    priority_range(a.i32(0)).map(|r| r.1)
}

pub fn sched_get_priority_min(_t: &mut Task, a: &Args) -> SysResult<u64> {
    priority_range(a.i32(0)).map(|r| r.0)
}
