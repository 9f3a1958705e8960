//! Scheduling: yield, affinity and priorities. The host schedules the app's
//! threads; these calls record and report what the app asked for.

use abi::flags::capability::CAP_SYS_NICE;
use abi::Errno;
use zerocopy::IntoBytes;

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
    // Another user's thread is not the caller's to move without
    // CAP_SYS_NICE (Linux's check_same_owner).
    let pid = a.i32(0);
    if pid != 0 && pid != t.tid {
        let target = t.kernel.procs().threads.get(&pid).map(|h| h.tg.clone());
        let creds = t.creds();
        if target.is_some_and(|tg| !owns(&creds, &tg)) && !creds.has_cap(CAP_SYS_NICE) {
            return Err(Errno::EPERM);
        }
    }
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

/// `struct sched_attr` as sched_setattr and sched_getattr know it
/// (SCHED_ATTR_SIZE_VER1: with the utilization clamps).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, zerocopy::FromBytes, zerocopy::IntoBytes, zerocopy::Immutable)]
struct SchedAttr {
    size: u32,
    policy: u32,
    flags: u64,
    nice: i32,
    priority: u32,
    runtime: u64,
    deadline: u64,
    period: u64,
    util_min: u32,
    util_max: u32,
}
/// The first version's size (no clamps).
const SCHED_ATTR_SIZE_VER0: u32 = 48;
const SCHED_ATTR_SIZE: u32 = std::mem::size_of::<SchedAttr>() as u32;
const SCHED_FLAG_RESET_ON_FORK: u64 = 0x01;
const SCHED_FLAG_RECLAIM: u64 = 0x02;
const SCHED_FLAG_DL_OVERRUN: u64 = 0x04;
const SCHED_FLAG_KEEP_POLICY: u64 = 0x08;
const SCHED_FLAG_KEEP_PARAMS: u64 = 0x10;
const SCHED_FLAG_UTIL_CLAMP: u64 = 0x20 | 0x40;
const SCHED_FLAG_ALL: u64 = 0x7f;
const SCHED_DEADLINE: u32 = 6;
/// sched_deadline_period_min_us and _max_us, in ns.
const DL_PERIOD_MIN: u64 = 100 * 1000;
const DL_PERIOD_MAX: u64 = (1 << 22) * 1000;

/// Linux's `__checkparam_dl`: runtime <= deadline <= period (a period of 0
/// being the deadline), a runtime of at least 1024 ns, no top bits, and a
/// period within the sysctl bounds.
fn deadline_ok(a: &SchedAttr) -> bool {
    let period = if a.period == 0 { a.deadline } else { a.period };
    a.deadline != 0
        && a.runtime >= 1 << 10
        && a.deadline & (1 << 63) == 0
        && a.period & (1 << 63) == 0
        && period >= a.deadline
        && a.deadline >= a.runtime
        && (DL_PERIOD_MIN..=DL_PERIOD_MAX).contains(&period)
}

/// The sum of every SCHED_DEADLINE thread's bandwidth (runtime / period),
/// in millionths of a CPU, but `except`'s.
fn deadline_load(t: &Task, except: i32) -> u64 {
    let threads: Vec<_> = t.kernel.procs().threads.iter().map(|(&tid, h)| (tid, h.clone())).collect();
    threads
        .iter()
        .filter(|(tid, h)| *tid != except && sched_of(h).0 & !SCHED_RESET_ON_FORK == SCHED_DEADLINE)
        .map(|(_, h)| {
            let d = *h.deadline.lock().unwrap_or_else(|e| e.into_inner());
            let period = if d.period == 0 { d.deadline } else { d.period };
            d.runtime.saturating_mul(1_000_000) / period.max(1)
        })
        .sum()
}

/// sched_setattr(2), checked as Linux's `sched_setattr` and
/// `__sched_setscheduler` check it, recorded as sched_setscheduler's
/// policies are (the host schedules the thread). SCHED_DEADLINE keeps its
/// parameters and is admitted while every deadline thread's bandwidth fits
/// in 95% of the sandbox's CPUs (EBUSY past it); utilization clamps are
/// not offered (EOPNOTSUPP, as a kernel without CONFIG_UCLAMP_TASK).
pub fn sched_setattr(t: &mut Task, a: &Args) -> SysResult<u64> {
    let (pid, addr) = (a.i32(0), a.addr(1));
    if addr == 0 || pid < 0 || a.u32(2) != 0 {
        return Err(Errno::EINVAL);
    }
    let size: u32 = t.mm().read_val(addr)?;
    let size = if size == 0 { SCHED_ATTR_SIZE_VER0 } else { size };
    if !(SCHED_ATTR_SIZE_VER0..=abi::PAGE_SIZE as u32).contains(&size) {
        t.mm().write_val(addr, &SCHED_ATTR_SIZE)?;
        return Err(Errno::E2BIG);
    }
    let mut attr = SchedAttr::default();
    let known = size.min(SCHED_ATTR_SIZE) as usize;
    t.mm().copy_in(addr, &mut attr.as_mut_bytes()[..known])?;
    // A larger struct than this kernel knows: its tail must be zeros.
    if size > SCHED_ATTR_SIZE {
        let mut tail = vec![0u8; (size - SCHED_ATTR_SIZE) as usize];
        t.mm().copy_in(addr + u64::from(SCHED_ATTR_SIZE), &mut tail)?;
        if tail.iter().any(|&b| b != 0) {
            t.mm().write_val(addr, &SCHED_ATTR_SIZE)?;
            return Err(Errno::E2BIG);
        }
    }
    if attr.flags & SCHED_FLAG_UTIL_CLAMP != 0 && size < SCHED_ATTR_SIZE {
        return Err(Errno::EINVAL);
    }
    attr.nice = attr.nice.clamp(-20, 19);
    if (attr.policy as i32) < 0 {
        return Err(Errno::EINVAL);
    }
    let h = sched_target(t, pid)?;
    let (old_policy, old_prio) = sched_of(&h);
    if attr.flags & SCHED_FLAG_KEEP_POLICY != 0 {
        attr.policy = old_policy & !SCHED_RESET_ON_FORK;
    }
    if attr.flags & SCHED_FLAG_KEEP_PARAMS != 0 {
        let d = *h.deadline.lock().unwrap_or_else(|e| e.into_inner());
        (attr.runtime, attr.deadline, attr.period) = (d.runtime, d.deadline, d.period);
        attr.priority = old_prio as u32;
        attr.nice = h.tg.nice.load(Relaxed);
    }
    if attr.flags & !SCHED_FLAG_ALL != 0 {
        return Err(Errno::EINVAL);
    }
    let (lo, hi) = priority_range(attr.policy as i32)?;
    let realtime = hi > 0;
    if attr.priority > 99
        || (attr.policy == SCHED_DEADLINE && !deadline_ok(&attr))
        || realtime != (attr.priority != 0)
        || u64::from(attr.priority) < lo
    {
        return Err(Errno::EINVAL);
    }
    let creds = t.creds();
    if !creds.has_cap(CAP_SYS_NICE) {
        let lower_nice = !realtime && attr.policy != SCHED_DEADLINE && attr.nice < h.tg.nice.load(Relaxed);
        let nice_rlimit = t.rlimits()[abi::flags::rlimit::RLIMIT_NICE as usize].cur;
        let rtprio = t.rlimits()[abi::flags::rlimit::RLIMIT_RTPRIO as usize].cur;
        let dropping_reset = old_policy & SCHED_RESET_ON_FORK != 0 && attr.flags & SCHED_FLAG_RESET_ON_FORK == 0;
        if (lower_nice && (20 - attr.nice) as u64 > nice_rlimit)
            || (realtime && u64::from(attr.priority) > rtprio)
            || attr.policy == SCHED_DEADLINE
            || !owns(&creds, &h.tg)
            || dropping_reset
        {
            return Err(Errno::EPERM);
        }
    }
    if attr.flags & SCHED_FLAG_UTIL_CLAMP != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    if attr.policy == SCHED_DEADLINE {
        let period = if attr.period == 0 { attr.deadline } else { attr.period };
        let mine = attr.runtime.saturating_mul(1_000_000) / period;
        let capacity = 950_000 * ncpus() as u64;
        if deadline_load(t, h.tid).saturating_add(mine) > capacity {
            return Err(Errno::EBUSY);
        }
    }
    let mut policy = attr.policy;
    if attr.flags & SCHED_FLAG_RESET_ON_FORK != 0 {
        policy |= SCHED_RESET_ON_FORK;
    }
    *h.deadline.lock().unwrap_or_else(|e| e.into_inner()) = if attr.policy == SCHED_DEADLINE {
        crate::kernel::task::DeadlineParams {
            runtime: attr.runtime,
            deadline: attr.deadline,
            // A period of 0 is the deadline's, as Linux's __setparam_dl.
            period: if attr.period == 0 { attr.deadline } else { attr.period },
            flags: attr.flags & (SCHED_FLAG_RECLAIM | SCHED_FLAG_DL_OVERRUN),
        }
    } else {
        crate::kernel::task::DeadlineParams::default()
    };
    if !realtime && attr.policy != SCHED_DEADLINE {
        h.tg.nice.store(attr.nice, Relaxed);
    }
    h.sched.store(u64::from(policy) | (u64::from(attr.priority) << 32), Relaxed);
    Ok(0)
}

/// sched_getattr(2): the thread's policy with its parameters (a deadline
/// thread's runtime, deadline and period, a real-time one's priority, the
/// others' nice value), cut to the caller's size.
pub fn sched_getattr(t: &mut Task, a: &Args) -> SysResult<u64> {
    let (pid, addr, size) = (a.i32(0), a.addr(1), a.u32(2));
    if addr == 0 || pid < 0 || !(SCHED_ATTR_SIZE_VER0..=abi::PAGE_SIZE as u32).contains(&size) || a.u32(3) != 0 {
        return Err(Errno::EINVAL);
    }
    let h = sched_target(t, pid)?;
    let (policy, prio) = sched_of(&h);
    let base = policy & !SCHED_RESET_ON_FORK;
    let mut attr = SchedAttr { policy: base, ..SchedAttr::default() };
    if policy & SCHED_RESET_ON_FORK != 0 {
        attr.flags |= SCHED_FLAG_RESET_ON_FORK;
    }
    if base == SCHED_DEADLINE {
        let d = *h.deadline.lock().unwrap_or_else(|e| e.into_inner());
        (attr.runtime, attr.deadline, attr.period) = (d.runtime, d.deadline, d.period);
        attr.flags |= d.flags;
    } else if priority_range(base as i32).is_ok_and(|(_, hi)| hi > 0) {
        attr.priority = prio as u32;
    } else {
        attr.nice = h.tg.nice.load(Relaxed);
    }
    let n = size.min(SCHED_ATTR_SIZE);
    attr.size = n;
    t.mm().copy_out(addr, &attr.as_bytes()[..n as usize])?;
    Ok(0)
}

/// I/O priority classes (`IOPRIO_CLASS_*`), in the top 3 of 16 bits.
const IOPRIO_CLASS_SHIFT: u32 = 13;
const IOPRIO_CLASS_NONE: u32 = 0;
const IOPRIO_CLASS_RT: u32 = 1;
const IOPRIO_CLASS_BE: u32 = 2;
const IOPRIO_CLASS_IDLE: u32 = 3;

/// The threads ioprio_get and ioprio_set name: one thread
/// (IOPRIO_WHO_PROCESS, 0 the caller), every thread of a process group
/// (IOPRIO_WHO_PGRP, 0 the caller's), or of a user's processes
/// (IOPRIO_WHO_USER, 0 the caller's); ESRCH for none, EINVAL for another
/// `which`.
fn ioprio_targets(t: &Task, which: i32, who: i32) -> SysResult<Vec<std::sync::Arc<crate::kernel::task::TaskHandle>>> {
    const IOPRIO_WHO_PROCESS: i32 = 1;
    const IOPRIO_WHO_PGRP: i32 = 2;
    const IOPRIO_WHO_USER: i32 = 3;
    let procs = t.kernel.procs();
    let found: Vec<_> = match which {
        IOPRIO_WHO_PROCESS => {
            let tid = if who == 0 { t.tid } else { who };
            procs.threads.get(&tid).cloned().into_iter().collect()
        }
        IOPRIO_WHO_PGRP => {
            let pgid = if who == 0 { procs.procs.get(&t.pid).map_or(0, |p| p.pgid) } else { who };
            procs.procs.values().filter(|p| p.pgid == pgid).flat_map(|p| p.threads.iter().cloned()).collect()
        }
        IOPRIO_WHO_USER => {
            let uid = if who == 0 { t.creds().uid } else { who as u32 };
            procs
                .procs
                .values()
                .filter(|p| p.tg.creds.lock().unwrap_or_else(|e| e.into_inner()).uid == uid)
                .flat_map(|p| p.threads.iter().cloned())
                .collect()
        }
        _ => return Err(Errno::EINVAL),
    };
    if found.is_empty() {
        return Err(Errno::ESRCH);
    }
    Ok(found)
}

/// ioprio_set(2), checked as Linux's `ioprio_check_cap` and
/// `set_task_ioprio` check it (a real-time class needs CAP_SYS_NICE or
/// CAP_SYS_ADMIN; another user's threads CAP_SYS_NICE). Recorded and
/// reported: the sandbox has no block device to schedule.
pub fn ioprio_set(t: &mut Task, a: &Args) -> SysResult<u64> {
    let ioprio = a.u32(2);
    let class = (ioprio >> IOPRIO_CLASS_SHIFT) & 0x7;
    let level = ioprio & 0x7;
    let creds = t.creds();
    match class {
        IOPRIO_CLASS_RT if !creds.has_cap(CAP_SYS_NICE) && !creds.has_cap(abi::flags::capability::CAP_SYS_ADMIN) => {
            return Err(Errno::EPERM)
        }
        IOPRIO_CLASS_RT | IOPRIO_CLASS_BE | IOPRIO_CLASS_IDLE => {}
        IOPRIO_CLASS_NONE if level == 0 => {}
        _ => return Err(Errno::EINVAL),
    }
    if ioprio > 0xffff {
        return Err(Errno::EINVAL);
    }
    let targets = ioprio_targets(t, a.i32(0), a.i32(1))?;
    let mut result = Ok(0);
    for h in targets {
        let owner = {
            let c = h.tg.creds.lock().unwrap_or_else(|e| e.into_inner());
            c.uid == creds.euid || c.uid == creds.uid
        };
        if !owner && !creds.has_cap(CAP_SYS_NICE) {
            result = Err(Errno::EPERM);
            continue;
        }
        h.ioprio.store(ioprio, Relaxed);
    }
    result
}

/// ioprio_get(2): the targets' best priority, as Linux's `ioprio_best`
/// ranks them (a lower class first, NONE as best-effort; then a lower
/// level).
pub fn ioprio_get(t: &mut Task, a: &Args) -> SysResult<u64> {
    let targets = ioprio_targets(t, a.i32(0), a.i32(1))?;
    let rank = |p: u32| {
        let class = p >> IOPRIO_CLASS_SHIFT;
        (if class == IOPRIO_CLASS_NONE { IOPRIO_CLASS_BE } else { class }, p)
    };
    // Each thread's priority as given, class NONE (0) before any, as Linux
    // 6.18 reports it.
    let best = targets.iter().map(|h| h.ioprio.load(Relaxed)).min_by_key(|&p| rank(p)).unwrap_or(0);
    Ok(u64::from(best))
}
