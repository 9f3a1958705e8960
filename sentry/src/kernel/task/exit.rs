//! Exit, wait, and sending signals between processes.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use abi::flags::signal::{SIGCHLD, SIGCONT, SIGKILL, SIGSTOP};
use abi::Errno;

use super::{Task, TaskHandle};
use crate::kernel::futex::{wake_locked, FutexKey};
use crate::kernel::process::{Credentials, ProcState, ProcessTable, ThreadGroup};
use crate::kernel::signal::*;
use crate::kernel::usage::Usage;
use crate::kernel::{ExitStatus, Kernel};
use crate::mm::SysResult;

/// Which children a wait call is for.
#[derive(Clone, Copy, Debug)]
pub enum WaitTarget {
    /// Any child.
    Any,
    /// This pid.
    Pid(i32),
    /// Any child in this process group.
    Pgid(i32),
}

/// What a wait found.
#[derive(Clone, Copy, Debug)]
pub struct WaitResult {
    /// The child's pid.
    pub pid: i32,
    /// The child's real uid.
    pub uid: u32,
    /// `si_code`: CLD_EXITED, CLD_KILLED, CLD_DUMPED, CLD_STOPPED or CLD_CONTINUED.
    pub code: i32,
    /// The exit status or signal (waitid's `si_status`).
    pub status: i32,
    /// The wait4 status word.
    pub wstatus: i32,
    /// The child's resource usage (exited children only).
    pub usage: Usage,
}

/// wait options.
pub const WNOHANG: u32 = 1;
/// Report stopped children.
pub const WUNTRACED: u32 = 2;
/// Report exited children (waitid).
pub const WEXITED: u32 = 4;
/// Report continued children.
pub const WCONTINUED: u32 = 8;
/// Leave the child waitable.
pub const WNOWAIT: u32 = 0x0100_0000;

pub(super) fn child_code(st: ExitStatus) -> (i32, i32) {
    match st {
        ExitStatus::Exited(c) => (code::CLD_EXITED, i32::from(c)),
        ExitStatus::Signaled(s) => (code::CLD_KILLED, s as i32),
        ExitStatus::Dumped(s) => (code::CLD_DUMPED, s as i32),
    }
}

impl Task {
    /// Ends the whole process with `status` (exit_group, fatal signals).
    pub fn exit_group(&mut self, status: ExitStatus) {
        if self.handle.tg.begin_exit(status) {
            let threads: Vec<Arc<TaskHandle>> =
                self.kernel.procs().procs.get(&self.pid).map(|p| p.threads.clone()).unwrap_or_default();
            for t in threads {
                if t.tid != self.tid {
                    t.kick();
                }
            }
        }
    }

    /// Stops the process (a stop signal's default action) and tells the parent.
    pub(super) fn group_stop(&mut self, sig: u32) {
        if self.pid == 1 {
            return;
        }
        self.handle.tg.set_stopped(true);
        let mut procs = self.kernel.procs();
        let Some(p) = procs.procs.get_mut(&self.pid) else { return };
        p.state = ProcState::Stopped { sig, reported: false };
        let parent = p.parent;
        let uid = self.creds().uid;
        for t in p.threads.clone() {
            t.kick();
        }
        notify_parent(&mut procs, parent, SigInfo::child(code::CLD_STOPPED, self.pid, uid, sig as i32), true);
    }

    /// The end of the host thread: releases what the thread holds and, for
    /// the process's last thread, makes it a zombie and tells the parent.
    pub(super) fn exit_thread(mut self) {
        let status = self.handle.tg.exit_status().or(self.exit).unwrap_or(ExitStatus::Exited(0));
        self.ptrace_exit(status);
        if self.clear_child_tid != 0 {
            let addr = self.clear_child_tid;
            let key = {
                let mut mm = self.mm();
                let _ = mm.write_val(addr, &0u32);
                FutexKey::Private(mm.id(), addr)
            };
            let mut q = self.kernel.futexes.lock();
            wake_locked(&mut q, key, 1, u32::MAX);
        }
        self.exit_robust_list();
        self.release_stub();
        if let Some(v) = self.vfork_done.take() {
            v.complete();
        }
        // Drop our references to shared state first, so the last thread's
        // exit closes the files before the parent hears of it; the view
        // /proc reads holds them too (a zombie's fd directory is empty).
        // The address space goes the same way: a zombie's maps are empty,
        // and the last user's exit detaches its shared-memory segments.
        let emptied = Arc::new(std::sync::Mutex::new(self.mm().emptied()));
        self.handle.update_view(|v| {
            v.fds = Arc::default();
            v.mm = emptied;
        });
        if Arc::strong_count(&self.mm) == 1 {
            self.mm().release_mappings(self.pid);
        }
        // The last holder of the fd table closes its files: a message
        // queue's notification that this process registered goes with
        // them, as Linux's mqueue_flush_file at the exit's close.
        if Arc::strong_count(&self.fds) == 1 {
            let fds = self.fds();
            for f in fds.fds().filter_map(|fd| fds.get(fd).ok()) {
                if let Some(mq) = f.ops.mqueue() {
                    mq.flush(self.pid);
                }
            }
        }
        let kernel = self.kernel.clone();
        let (pid, tid, uid) = (self.pid, self.tid, self.creds().uid);
        let handle = self.handle.clone();
        drop(self);

        let mut procs = kernel.procs();
        procs.threads.remove(&tid);
        let Some(p) = procs.procs.get_mut(&pid) else { return };
        p.threads.retain(|t| t.tid != tid);
        if !p.threads.is_empty() {
            return;
        }
        // The process is over: its semaphore adjustments are undone before
        // its parent can hear of it.
        crate::kernel::ns::ipc_of(&kernel, &handle.tg).sem.exit(pid);
        // Its record locks go, as its files did.
        crate::kernel::locks::LOCKS.release_process(pid);
        handle.tg.begin_exit(status);
        p.state = ProcState::Zombie(status);
        p.remains = Some(handle.clone());
        handle.tg.exited.store(true, Ordering::SeqCst);
        handle.tg.exit_queue.notify();
        let parent = p.parent;
        let exit_signal = p.exit_signal;
        let children: Vec<i32> = std::mem::take(&mut p.children).into_iter().collect();
        let reaper = find_reaper(&procs, pid);
        for c in &children {
            reparent(&mut procs, *c, reaper);
        }
        // Children that asked for it (PR_SET_PDEATHSIG) hear of our death.
        let doomed: Vec<(Arc<ThreadGroup>, Vec<Arc<TaskHandle>>, u32)> = children
            .iter()
            .filter_map(|c| procs.procs.get(c))
            .filter(|cp| !matches!(cp.state, ProcState::Zombie(_)))
            .filter_map(|cp| {
                let sig = cp.tg.pdeathsig.load(Ordering::Relaxed);
                (sig != 0).then(|| (cp.tg.clone(), cp.threads.clone(), sig))
            })
            .collect();
        for (tg, threads, sig) in doomed {
            deliver_to_group(&kernel, Some(&mut procs), tg.tgid, &tg, &threads, SigInfo::new(sig, code::SI_USER));
        }
        // A session leader's exit ends its session's hold on its terminal.
        crate::kernel::tty::disassociate(&kernel, &mut procs, pid, true);
        if pid == 1 {
            drop(procs);
            kernel.init_exited(status);
            return;
        }
        if parent == 0 {
            // Started from outside (`husk exec`): no process in the sandbox
            // waits for it, so it is reaped here and its status goes to the
            // runtime.
            procs.procs.remove(&pid);
            drop(procs);
            kernel.external_exited(pid, status);
            return;
        }
        let (code, st) = child_code(status);
        let info = SigInfo::child(code, pid, uid, st);
        if exit_signal == 0 {
            if let Some(pp) = procs.procs.get(&parent) {
                for t in &pp.threads {
                    t.kick();
                }
            }
            return;
        }
        let mut info = info;
        info.set_signo(exit_signal);
        let autoreap = procs.procs.get(&parent).is_some_and(|pp| {
            let a = pp.tg.sighand.lock().unwrap_or_else(|e| e.into_inner()).get(SIGCHLD);
            exit_signal == SIGCHLD && (a.handler == SIG_IGN || a.flags & SA_NOCLDWAIT != 0)
        });
        if autoreap {
            procs.procs.remove(&pid);
            if let Some(pp) = procs.procs.get_mut(&parent) {
                pp.children.remove(&pid);
                for t in &pp.threads {
                    t.kick();
                }
            }
            return;
        }
        notify_parent(&mut procs, parent, info, false);
    }

    /// wait4/waitid: finds a child in a reportable state, sleeping for one
    /// unless WNOHANG. `Ok(None)` is WNOHANG with nothing to report.
    pub fn wait_child(&mut self, target: WaitTarget, options: u32) -> SysResult<Option<WaitResult>> {
        let pid = self.pid;
        let kernel = self.kernel.clone();
        let r = self.block(&[], None, |_t| {
            let mut procs = kernel.procs();
            let my_pgid = procs.procs.get(&pid).map(|p| p.pgid).unwrap_or(0);
            let children: Vec<i32> =
                procs.procs.get(&pid).map(|p| p.children.iter().copied().collect()).unwrap_or_default();
            let matching: Vec<i32> = children
                .into_iter()
                .filter(|c| match target {
                    WaitTarget::Any => true,
                    WaitTarget::Pid(p) => *c == p,
                    WaitTarget::Pgid(g) => {
                        procs.procs.get(c).is_some_and(|cp| cp.pgid == if g == 0 { my_pgid } else { g })
                    }
                })
                .collect();
            let tracees = super::ptrace::waitable_tracees(&procs, pid, target);
            if matching.is_empty() && tracees.is_empty() && !super::ptrace::has_exits(&procs, pid) {
                return Err(Errno::ECHILD);
            }
            // Tracees' ptrace-stops, reported whatever the options.
            for h in &tracees {
                if let Some(r) = super::ptrace::report_stop(h, options & WNOWAIT != 0) {
                    return Ok(Some(Some(r)));
                }
            }
            if options & WEXITED != 0 {
                if let Some(r) = super::ptrace::report_exit(&procs, pid, target, options & WNOWAIT != 0) {
                    return Ok(Some(Some(r)));
                }
            }
            for c in matching {
                let Some(cp) = procs.procs.get_mut(&c) else { continue };
                let uid = cp.tg.creds.lock().unwrap_or_else(|e| e.into_inner()).uid;
                match cp.state {
                    ProcState::Zombie(st) if options & WEXITED != 0 => {
                        let (code, status) = child_code(st);
                        // The child's own usage and its reaped descendants'.
                        let mut usage = cp.usage();
                        usage.add(&cp.tg.children_usage.lock().unwrap_or_else(|e| e.into_inner()));
                        if options & WNOWAIT == 0 {
                            procs.procs.remove(&c);
                            if let Some(me) = procs.procs.get_mut(&pid) {
                                me.children.remove(&c);
                                me.tg.children_usage.lock().unwrap_or_else(|e| e.into_inner()).add(&usage);
                            }
                        }
                        let r = WaitResult { pid: c, uid, code, status, wstatus: st.wait_status(), usage };
                        return Ok(Some(Some(r)));
                    }
                    ProcState::Stopped { sig, reported: false } if options & WUNTRACED != 0 => {
                        if options & WNOWAIT == 0 {
                            cp.state = ProcState::Stopped { sig, reported: true };
                        }
                        let wstatus = ((sig as i32) << 8) | 0x7f;
                        return Ok(Some(Some(WaitResult {
                            pid: c,
                            uid,
                            code: code::CLD_STOPPED,
                            status: sig as i32,
                            wstatus,
                            usage: Usage::default(),
                        })));
                    }
                    _ if cp.continued && options & WCONTINUED != 0 => {
                        if options & WNOWAIT == 0 {
                            cp.continued = false;
                        }
                        let r = WaitResult {
                            pid: c,
                            uid,
                            code: code::CLD_CONTINUED,
                            status: SIGCONT as i32,
                            wstatus: 0xffff,
                            usage: Usage::default(),
                        };
                        return Ok(Some(Some(r)));
                    }
                    _ => {}
                }
            }
            if options & WNOHANG != 0 {
                return Ok(Some(None));
            }
            Ok(None)
        });
        r
    }
}

/// Most entries of a robust list the Sentry walks (Linux's ROBUST_LIST_LIMIT).
const ROBUST_LIST_LIMIT: usize = 2048;
const FUTEX_WAITERS: u32 = 0x8000_0000;
const FUTEX_OWNER_DIED: u32 = 0x4000_0000;
const FUTEX_TID_MASK: u32 = 0x3fff_ffff;

impl Task {
    /// Marks the robust futexes this thread still holds as owner-died and
    /// wakes a waiter on each, as Linux's exit_robust_list does.
    fn exit_robust_list(&mut self) {
        let (head, len) = self.robust_list;
        if head == 0 || len != 24 {
            return;
        }
        let read = |t: &Task, addr: u64| -> Option<u64> { t.mm().read_val::<u64>(addr).ok() };
        let (Some(mut entry), Some(offset), Some(pending)) =
            (read(self, head), read(self, head.wrapping_add(8)), read(self, head.wrapping_add(16)))
        else {
            return;
        };
        let mut seen = 0;
        while entry != head && entry != 0 && seen < ROBUST_LIST_LIMIT {
            let next = read(self, entry);
            if entry != pending {
                self.futex_owner_died(entry.wrapping_add(offset));
            }
            let Some(n) = next else { break };
            entry = n;
            seen += 1;
        }
        if pending != 0 {
            self.futex_owner_died(pending.wrapping_add(offset));
        }
    }

    fn futex_owner_died(&mut self, uaddr: u64) {
        if !uaddr.is_multiple_of(4) {
            return;
        }
        let tid = self.tid as u32;
        let (key, old) = {
            let mut mm = self.mm();
            let Some((shared, off)) = mm.futex_backing(uaddr) else { return };
            let key = if shared { FutexKey::Shared(off) } else { FutexKey::Private(mm.id(), uaddr) };
            let (chunks, n) = mm.chunks(uaddr, 4, true);
            if n < 4 || chunks.len() != 1 {
                return;
            }
            let old = mm.memfile().atomic_update_u32(chunks[0].off, |v| {
                if v & FUTEX_TID_MASK == tid {
                    (v & FUTEX_WAITERS) | FUTEX_OWNER_DIED
                } else {
                    v
                }
            });
            (key, old)
        };
        if old & FUTEX_TID_MASK == tid && old & FUTEX_WAITERS != 0 {
            let mut q = self.kernel.futexes.lock();
            wake_locked(&mut q, key, 1, u32::MAX);
        }
    }
}

/// Where the orphans of the process `dead` go, as Linux's
/// `find_new_reaper` finds it: the nearest ancestor that asked to be a
/// child subreaper (PR_SET_CHILD_SUBREAPER) and still has a live thread,
/// else init (pid 1), as inside a pid namespace.
fn find_reaper(procs: &ProcessTable, dead: i32) -> i32 {
    let mut at = procs.procs.get(&dead).map_or(1, |p| p.parent);
    // Bounded by the table: a parent chain never loops, but a bound costs
    // nothing.
    for _ in 0..procs.procs.len() {
        if at <= 1 {
            break;
        }
        let Some(p) = procs.procs.get(&at) else { break };
        let alive = !p.threads.is_empty()
            && !matches!(p.state, ProcState::Zombie(_))
            && !p.tg.exiting_flag.load(Ordering::Acquire);
        if alive && p.tg.child_subreaper.load(Ordering::Relaxed) {
            return at;
        }
        at = p.parent;
    }
    1
}

/// Gives an orphan to `reaper`, a child subreaper or init. Its exit signal
/// becomes SIGCHLD; a zombie is told of to its new parent at once, as
/// Linux's `reparent_leader` does.
fn reparent(procs: &mut ProcessTable, child: i32, reaper: i32) {
    let Some(c) = procs.procs.get_mut(&child) else { return };
    c.parent = reaper;
    c.exit_signal = SIGCHLD;
    let zombie = match c.state {
        ProcState::Zombie(status) => {
            let uid = c.tg.creds.lock().unwrap_or_else(|e| e.into_inner()).uid;
            Some((status, uid))
        }
        _ => None,
    };
    let Some(r) = procs.procs.get_mut(&reaper) else { return };
    r.children.insert(child);
    if let Some((status, uid)) = zombie {
        let (code, st) = child_code(status);
        notify_parent(procs, reaper, SigInfo::child(code, child, uid, st), false);
    }
}

/// Sends the parent its SIGCHLD (unless SA_NOCLDSTOP hides stops) and wakes
/// its waiting threads.
pub(super) fn notify_parent(procs: &mut ProcessTable, parent: i32, info: SigInfo, is_stop: bool) {
    let Some(pp) = procs.procs.get(&parent) else { return };
    let act = pp.tg.sighand.lock().unwrap_or_else(|e| e.into_inner()).get(SIGCHLD);
    // Queued unless SA_NOCLDSTOP spares it, or the parent ignores it
    // (SIG_IGN, or the default) without blocking it.
    if !(is_stop && act.flags & SA_NOCLDSTOP != 0) && init_accepts(&pp.tg, &pp.threads, SIGCHLD, false) {
        pp.tg.push_signal(info);
    }
    for t in &pp.threads {
        t.kick();
    }
}

/// Whether a signal from `from_outside` (the runtime, not an app process)
/// reaches `tg`, as Linux's prepare_signal decides: one the process ignores
/// (SIG_IGN, or SIG_DFL where that is to ignore it; SIGCONT aside, whose
/// effect comes first) is dropped unless a thread blocks it (or did, before
/// rt_sigtimedwait waited for it), so that it interrupts no wait; and init
/// ignores signals whose action is the default, as Linux does for a pid
/// namespace's init, unless they are blocked (then they stay pending, in
/// case a handler is installed before they are unblocked); from outside,
/// SIGKILL and SIGSTOP always get through.
fn init_accepts(tg: &ThreadGroup, threads: &[Arc<TaskHandle>], sig: u32, from_outside: bool) -> bool {
    let a = tg.sighand.lock().unwrap_or_else(|e| e.into_inner()).get(sig);
    let blocked = || {
        threads
            .iter()
            .any(|t| (t.blocked.load(Ordering::Acquire) | t.real_blocked.load(Ordering::Acquire)) & bit(sig) != 0)
    };
    // A traced thread takes every signal: its tracer sees it first.
    if threads.iter().any(|t| t.ptrace.is_traced()) {
        return true;
    }
    let ignored = a.handler == SIG_IGN || (a.handler == SIG_DFL && default_action(sig) == DefaultAction::Ignore);
    if ignored && sig != SIGCONT && !blocked() {
        return false;
    }
    if tg.tgid != 1 {
        return true;
    }
    a.handler != SIG_DFL || blocked() || (from_outside && (sig == SIGKILL || sig == SIGSTOP))
}

/// Whether a process with `sender`'s ids may signal `target` (Linux's
/// kill_ok_by_cred: CAP_KILL, or a real or effective uid matching the
/// target's real or saved uid).
fn may_signal(sender: &Credentials, target: &ThreadGroup) -> bool {
    if sender.has_cap(abi::flags::capability::CAP_KILL) {
        return true;
    }
    let t = target.creds.lock().unwrap_or_else(|e| e.into_inner());
    sender.euid == t.suid || sender.euid == t.uid || sender.uid == t.suid || sender.uid == t.uid
}

/// Sends `info` to process `pid`, or to the process of thread `pid` (as
/// Linux's kill_proc_info finds any task by its id, then signals its
/// group). Signal 0 only checks that it exists and may be signalled.
/// `sender` is None for the runtime outside the sandbox.
pub fn send_to_process(kernel: &Kernel, pid: i32, info: SigInfo, sender: Option<&Credentials>) -> SysResult<()> {
    let from_outside = sender.is_none();
    let (pid, tg, threads) = {
        let procs = kernel.procs();
        let pid = match procs.threads.get(&pid) {
            Some(h) if !procs.procs.contains_key(&pid) => h.tg.tgid,
            _ => pid,
        };
        match procs.procs.get(&pid) {
            Some(p) if !matches!(p.state, ProcState::Zombie(_)) => (pid, p.tg.clone(), p.threads.clone()),
            Some(p) => {
                return match sender {
                    Some(c) if !may_signal(c, &p.tg) => Err(Errno::EPERM),
                    _ => Ok(()),
                }
            }
            None => return Err(Errno::ESRCH),
        }
    };
    if sender.is_some_and(|c| !may_signal(c, &tg)) {
        return Err(Errno::EPERM);
    }
    let sig = info.signo();
    if sig == 0 || !init_accepts(&tg, &threads, sig, from_outside) {
        return Ok(());
    }
    deliver_to_group(kernel, None, pid, &tg, &threads, info);
    Ok(())
}

/// Queues a process-directed signal, with SIGKILL, SIGCONT and stop signals'
/// immediate effects.
fn deliver_to_group(
    kernel: &Kernel,
    locked: Option<&mut ProcessTable>,
    pid: i32,
    tg: &Arc<ThreadGroup>,
    threads: &[Arc<TaskHandle>],
    info: SigInfo,
) {
    let sig = info.signo();
    if sig == SIGKILL {
        tg.begin_exit(ExitStatus::Signaled(SIGKILL));
        for t in threads {
            t.kick();
        }
        return;
    }
    if sig == SIGCONT {
        tg.pending.lock().unwrap_or_else(|e| e.into_inner()).discard(bit(SIGSTOP) | bit(20) | bit(21) | bit(22));
        // Each thread's own stop signals go too (Linux's prepare_signal).
        for t in threads {
            t.remove_pending(|i| is_stop(i.signo()));
        }
        if tg.set_stopped(false) {
            let mut guard;
            let procs = match locked {
                Some(p) => p,
                None => {
                    guard = kernel.procs();
                    &mut *guard
                }
            };
            if let Some(p) = procs.procs.get_mut(&pid) {
                p.state = ProcState::Running;
                p.continued = true;
                let (parent, uid) = (p.parent, tg.creds.lock().unwrap_or_else(|e| e.into_inner()).uid);
                notify_parent(procs, parent, SigInfo::child(code::CLD_CONTINUED, pid, uid, SIGCONT as i32), true);
            }
        }
    } else if is_stop(sig) {
        tg.pending.lock().unwrap_or_else(|e| e.into_inner()).discard(bit(SIGCONT));
    }
    tg.push_signal(info);
    // Wake a thread that can take it; waking all is simplest and correct.
    for t in threads {
        if t.blocked.load(Ordering::Acquire) & bit(sig) == 0 {
            t.kick();
        }
    }
}

/// Sends a signal the kernel generates (`si_code` SI_KERNEL: the terminal's
/// SIGINT, SIGTTIN, SIGWINCH...) to every live process of group `pgid`, as
/// Linux's `kill_pgrp(pgrp, sig, 1)`: no permission check, and init drops
/// those it neither handles nor blocks. The caller holds the process tree.
pub fn kernel_signal_group(kernel: &Kernel, procs: &mut ProcessTable, pgid: i32, sig: u32) {
    kernel_send_where(kernel, procs, |_, p| p.pgid == pgid, |_| true, SigInfo::new(sig, code::SI_KERNEL));
}

/// [`kernel_signal_group`] for the one process `pid` (a hung-up
/// terminal's session leader).
pub fn kernel_signal_process(kernel: &Kernel, procs: &mut ProcessTable, pid: i32, sig: u32) {
    kernel_send_where(kernel, procs, |p_pid, _| p_pid == pid, |_| true, SigInfo::new(sig, code::SI_KERNEL));
}

/// Sends `info`, which the kernel generates, to every live process that
/// `which` picks and `may` lets have it (a file owner's SIGIO: Linux's
/// sigio_perm); init drops those it neither handles nor blocks. The
/// caller holds the process tree.
pub fn kernel_send_where(
    kernel: &Kernel,
    procs: &mut ProcessTable,
    which: impl Fn(i32, &crate::kernel::process::Process) -> bool,
    may: impl Fn(&ThreadGroup) -> bool,
    info: SigInfo,
) {
    let sig = info.signo();
    let targets: Vec<(i32, Arc<ThreadGroup>, Vec<Arc<TaskHandle>>)> = procs
        .procs
        .iter()
        .filter(|(pid, p)| which(**pid, p) && !matches!(p.state, ProcState::Zombie(_)))
        .map(|(pid, p)| (*pid, p.tg.clone(), p.threads.clone()))
        .collect();
    for (pid, tg, threads) in targets {
        if may(&tg) && init_accepts(&tg, &threads, sig, false) {
            deliver_to_group(kernel, Some(procs), pid, &tg, &threads, info);
        }
    }
}

/// [`kernel_send_where`] for the one thread `tid`: a thread-directed
/// signal (but for those that act on the whole process).
pub fn kernel_send_thread(
    kernel: &Kernel,
    procs: &mut ProcessTable,
    tid: i32,
    may: impl Fn(&ThreadGroup) -> bool,
    info: SigInfo,
) {
    let Some(h) = procs.threads.get(&tid).cloned() else { return };
    let sig = info.signo();
    if !may(&h.tg) || !init_accepts(&h.tg, std::slice::from_ref(&h), sig, false) {
        return;
    }
    if sig == SIGKILL || sig == SIGCONT || is_stop(sig) {
        let threads = procs.procs.get(&h.tg.tgid).map(|p| p.threads.clone()).unwrap_or_default();
        deliver_to_group(kernel, Some(procs), h.tg.tgid, &h.tg, &threads, info);
        return;
    }
    h.push_signal(info);
}

/// Sends to each of `pids`: Ok if any send succeeded, else the last error.
fn send_to_each(kernel: &Kernel, pids: Vec<i32>, info: SigInfo, sender: &Credentials) -> SysResult<()> {
    let mut result = Err(Errno::ESRCH);
    for p in pids {
        match send_to_process(kernel, p, info, Some(sender)) {
            Ok(()) => result = Ok(()),
            Err(e) if result.is_err() => result = Err(e),
            Err(_) => {}
        }
    }
    result
}

/// Sends `info` to every process in group `pgid`; ESRCH if there is none.
pub fn send_to_group(kernel: &Kernel, pgid: i32, info: SigInfo, sender: &Credentials) -> SysResult<()> {
    let members = kernel.procs().group_members(pgid);
    send_to_each(kernel, members, info, sender)
}

/// Sends `info` to every process but init and `except` (kill -1).
pub fn send_to_all(kernel: &Kernel, except: i32, info: SigInfo, sender: &Credentials) -> SysResult<()> {
    let pids: Vec<i32> = kernel
        .procs()
        .procs
        .iter()
        .filter(|(p, pr)| **p != 1 && **p != except && !matches!(pr.state, ProcState::Zombie(_)))
        .map(|(p, _)| *p)
        .collect();
    send_to_each(kernel, pids, info, sender)
}

/// Sends `info` to thread `tid` (of process `tgid`, if given).
pub fn send_to_thread(
    kernel: &Kernel,
    tgid: Option<i32>,
    tid: i32,
    info: SigInfo,
    sender: &Credentials,
) -> SysResult<()> {
    let h = kernel.procs().threads.get(&tid).cloned().ok_or(Errno::ESRCH)?;
    if tgid.is_some_and(|g| g != h.tg.tgid) {
        return Err(Errno::ESRCH);
    }
    if !may_signal(sender, &h.tg) {
        return Err(Errno::EPERM);
    }
    let sig = info.signo();
    if sig == 0 || !init_accepts(&h.tg, std::slice::from_ref(&h), sig, false) {
        return Ok(());
    }
    if sig == SIGKILL || sig == SIGCONT || is_stop(sig) {
        let threads = kernel.procs().procs.get(&h.tg.tgid).map(|p| p.threads.clone()).unwrap_or_default();
        deliver_to_group(kernel, None, h.tg.tgid, &h.tg, &threads, info);
        return Ok(());
    }
    h.push_signal(info);
    Ok(())
}
