//! clone, fork and vfork: new threads and processes.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use abi::Errno;

use super::{Task, TaskHandle, TaskParts, VforkDone};
use crate::kernel::process::{ProcState, Process, ThreadGroup};
use crate::mm::SysResult;

/// clone flags.
pub mod flags {
    pub const CSIGNAL: u64 = 0xff;
    /// clone3 and unshare only: it shares its bit with CSIGNAL.
    pub const CLONE_NEWTIME: u64 = 0x80;
    pub const CLONE_VM: u64 = 0x100;
    pub const CLONE_FS: u64 = 0x200;
    pub const CLONE_FILES: u64 = 0x400;
    pub const CLONE_SIGHAND: u64 = 0x800;
    pub const CLONE_PIDFD: u64 = 0x1000;
    pub const CLONE_PTRACE: u64 = 0x2000;
    pub const CLONE_VFORK: u64 = 0x4000;
    pub const CLONE_PARENT: u64 = 0x8000;
    pub const CLONE_THREAD: u64 = 0x10000;
    pub const CLONE_NEWNS: u64 = 0x20000;
    pub const CLONE_SYSVSEM: u64 = 0x40000;
    pub const CLONE_SETTLS: u64 = 0x80000;
    pub const CLONE_PARENT_SETTID: u64 = 0x0010_0000;
    pub const CLONE_CHILD_CLEARTID: u64 = 0x0020_0000;
    pub const CLONE_DETACHED: u64 = 0x0040_0000;
    pub const CLONE_UNTRACED: u64 = 0x0080_0000;
    pub const CLONE_CHILD_SETTID: u64 = 0x0100_0000;
    pub const CLONE_NEWCGROUP: u64 = 0x0200_0000;
    pub const CLONE_NEWUTS: u64 = 0x0400_0000;
    pub const CLONE_NEWIPC: u64 = 0x0800_0000;
    pub const CLONE_NEWUSER: u64 = 0x1000_0000;
    pub const CLONE_NEWPID: u64 = 0x2000_0000;
    pub const CLONE_NEWNET: u64 = 0x4000_0000;
    pub const CLONE_IO: u64 = 0x8000_0000;
    pub const CLONE_NAMESPACES: u64 =
        CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET;
}
use flags::*;

/// clone's arguments, from clone or clone3.
#[derive(Clone, Copy, Debug, Default)]
pub struct CloneArgs {
    /// CLONE_* flags (without the exit signal).
    pub flags: u64,
    /// The child's exit signal.
    pub exit_signal: u32,
    /// The child's stack pointer (0: the parent's).
    pub stack: u64,
    /// Where to store the child's tid in the parent (CLONE_PARENT_SETTID).
    pub parent_tid: u64,
    /// Where to store or clear the child's tid in the child.
    pub child_tid: u64,
    /// The child's TLS (CLONE_SETTLS).
    pub tls: u64,
    /// Where to store a pidfd for the child (CLONE_PIDFD), or 0.
    pub pidfd: u64,
}

impl Task {
    /// Creates a thread or process as clone(2) does; returns the child's tid.
    pub fn clone_task(&mut self, a: CloneArgs) -> SysResult<u64> {
        let f = a.flags;
        if f & CLONE_THREAD != 0 && f & CLONE_SIGHAND == 0 {
            return Err(Errno::EINVAL);
        }
        if f & CLONE_PIDFD != 0 && f & CLONE_THREAD != 0 {
            return Err(Errno::EINVAL);
        }
        if f & CLONE_SIGHAND != 0 && f & CLONE_VM == 0 {
            return Err(Errno::EINVAL);
        }
        // Combinations Linux's copy_process refuses before anything else.
        if f & (CLONE_NEWNS | CLONE_FS) == CLONE_NEWNS | CLONE_FS
            || f & (CLONE_NEWUSER | CLONE_FS) == CLONE_NEWUSER | CLONE_FS
            || (f & CLONE_THREAD != 0 && f & (CLONE_NEWUSER | CLONE_NEWPID) != 0)
        {
            return Err(Errno::EINVAL);
        }
        if a.exit_signal > crate::kernel::signal::NSIG {
            return Err(Errno::EINVAL);
        }
        // The sandbox's init has no parent to share (Linux: its
        // SIGNAL_UNKILLABLE init may not use CLONE_PARENT).
        if f & CLONE_PARENT != 0 && self.pid == 1 {
            return Err(Errno::EINVAL);
        }
        // The namespaces the child gets (refused before anything else is
        // made, as Linux's copy_namespaces comes early).
        let child_ns = if f & CLONE_THREAD == 0 { Some(self.child_namespaces(f)?) } else { None };
        // A process whose children go to another time namespace makes no
        // threads nor CLONE_VM children: they would share its vDSO page.
        if f & (CLONE_THREAD | CLONE_VM) != 0 && self.handle.tg.ns().time_apart() {
            return Err(Errno::EINVAL);
        }
        if f & CLONE_THREAD != 0 && f & (CLONE_NAMESPACES | CLONE_NEWTIME) != 0 {
            // A thread's own namespaces: Husk keeps them per process.
            return Err(Errno::EINVAL);
        }
        // A TLS base outside user space: EPERM, as arch_prctl(ARCH_SET_FS)
        // gives, before any child exists.
        if f & CLONE_SETTLS != 0 && a.tls >= self.kernel.platform.max_user_address() {
            return Err(Errno::EPERM);
        }
        // Linux stores the pidfd before the child is committed: a bad
        // pointer fails the clone with no child made.
        if f & CLONE_PIDFD != 0 {
            self.mm().write_val(a.pidfd, &-1i32)?;
        }
        let mm = if f & CLONE_VM != 0 {
            self.mm.clone()
        } else {
            let mut child = self.mm().fork()?;
            // A child entering a time namespace its parent is not in reads
            // its clocks by syscall (its vDSO page says so).
            if let (Some(ns), Some(vdso)) = (&child_ns, &self.kernel.vdso) {
                if ns.time.is_some() != self.handle.tg.ns().time.is_some() {
                    vdso.set_timens(&mut child, ns.time.is_some());
                }
            }
            // The parent's other threads stop writing to the pages now
            // shared with the child before the child can run.
            let shootdown = self.mm().shootdown(&self.cursor);
            if let Some(sd) = shootdown {
                crate::mm::await_shootdown(&self.mm, sd);
            }
            Arc::new(Mutex::new(child))
        };
        let fds = if f & CLONE_FILES != 0 { self.fds.clone() } else { Arc::new(Mutex::new(self.fds().clone())) };
        let fs = if f & CLONE_FS != 0 { self.fs.clone() } else { Arc::new(Mutex::new(self.fs().clone())) };

        let regs = crate::arch::clone_regs(&self.regs, a.stack, (f & CLONE_SETTLS != 0).then_some(a.tls));

        // A SCHED_DEADLINE thread may not fork or make threads unless its
        // children are to start over (SCHED_RESET_ON_FORK), as Linux's
        // sched_fork refuses.
        {
            const SCHED_DEADLINE: u64 = 6;
            const SCHED_RESET_ON_FORK: u64 = 0x4000_0000;
            let s = self.handle.sched.load(std::sync::atomic::Ordering::Relaxed);
            if s & 0xffff_ffff & !SCHED_RESET_ON_FORK == SCHED_DEADLINE && s & SCHED_RESET_ON_FORK == 0 {
                return Err(Errno::EAGAIN);
            }
        }
        // CLONE_SYSVSEM shares the undo list, made now if there is none.
        let sem_undo = if f & CLONE_SYSVSEM != 0 { self.handle.tg.sem_undo_list() } else { 0 };
        let kernel = self.kernel.clone();
        let (handle, pid) = {
            let mut procs = kernel.procs();
            if procs.threads.len() >= procs.task_limit.unwrap_or(crate::kernel::process::DEFAULT_TASK_LIMIT) {
                return Err(Errno::EAGAIN);
            }
            let tid = procs.alloc_id().ok_or(Errno::EAGAIN)?;
            if f & CLONE_THREAD != 0 {
                let h = TaskHandle::new(tid, self.handle.tg.clone(), self.sigmask);
                h.sched.store(inherited_sched(&self.handle), std::sync::atomic::Ordering::Relaxed);
                h.inherit_timer_slack(&self.handle);
                let p = procs.procs.get_mut(&self.pid).ok_or(Errno::ESRCH)?;
                p.threads.push(h.clone());
                procs.threads.insert(tid, h.clone());
                (h, self.pid)
            } else {
                let tg = &self.handle.tg;
                let sighand = tg.sighand.lock().unwrap_or_else(|e| e.into_inner()).clone();
                let creds = self.creds();
                let rlimits = *self.rlimits();
                let new_tg = ThreadGroup::new(tid, sighand, creds, rlimits);
                if let Some(ns) = child_ns {
                    *new_tg.ns.lock().unwrap_or_else(|e| e.into_inner()) = ns;
                }
                new_tg.sem_undo.store(sem_undo, std::sync::atomic::Ordering::Relaxed);
                new_tg
                    .nice
                    .store(tg.nice.load(std::sync::atomic::Ordering::Relaxed), std::sync::atomic::Ordering::Relaxed);
                for (to, from) in
                    [(&new_tg.oom_score_adj, &tg.oom_score_adj), (&new_tg.oom_score_adj_min, &tg.oom_score_adj_min)]
                {
                    to.store(from.load(std::sync::atomic::Ordering::Relaxed), std::sync::atomic::Ordering::Relaxed);
                }
                new_tg.thp_disable.store(
                    tg.thp_disable.load(std::sync::atomic::Ordering::Relaxed),
                    std::sync::atomic::Ordering::Relaxed,
                );
                // The session keyring goes to the child; the process
                // keyring does not.
                let session = tg.keys.lock().unwrap_or_else(|e| e.into_inner()).session.clone();
                new_tg.keys.lock().unwrap_or_else(|e| e.into_inner()).session = session;
                let h = TaskHandle::new(tid, new_tg.clone(), self.sigmask);
                h.sched.store(inherited_sched(&self.handle), std::sync::atomic::Ordering::Relaxed);
                h.inherit_timer_slack(&self.handle);
                let me = procs.procs.get(&self.pid).ok_or(Errno::ESRCH)?;
                let parent = if f & CLONE_PARENT != 0 { me.parent } else { self.pid };
                // A CLONE_PARENT child is its parent's sibling, and tells the
                // shared parent of its end with the caller's own exit signal.
                let exit_signal = if f & CLONE_PARENT != 0 { me.exit_signal } else { a.exit_signal };
                let (pgid, sid, ctty) = (me.pgid, me.sid, me.ctty.clone());
                procs.procs.insert(
                    tid,
                    Process {
                        tg: new_tg,
                        parent,
                        children: BTreeSet::new(),
                        threads: vec![h.clone()],
                        pgid,
                        sid,
                        state: ProcState::Running,
                        continued: false,
                        exit_signal,
                        did_exec: false,
                        ctty,
                        remains: None,
                    },
                );
                if let Some(pp) = procs.procs.get_mut(&parent) {
                    pp.children.insert(tid);
                }
                procs.threads.insert(tid, h.clone());
                (h, tid)
            }
        };
        let tid = handle.tid;
        let mut child = Task::new(kernel, TaskParts { handle, pid, mm, fds, fs, regs, sigmask: self.sigmask });
        child.comm = self.comm;
        child.trap = self.trap;
        child.publish_view();
        if let Some(v) = self.handle.view() {
            child.publish_program(v.exe, v.cmdline, v.environ);
        }
        let nnp = self.handle.no_new_privs.load(std::sync::atomic::Ordering::Relaxed);
        child.handle.no_new_privs.store(nnp, std::sync::atomic::Ordering::Relaxed);
        // seccomp filters go to every new thread and process (Linux's
        // copy_seccomp).
        child.handle.set_seccomp(self.handle.seccomp_mode());
        child.affinity = self.affinity.clone();
        child.personality = self.personality;
        child.keys.reqkey_default = self.keys.reqkey_default;
        // A new thread of a thread with a thread keyring gets one of its
        // own (Linux's copy_creds); a new process gets none.
        if f & CLONE_THREAD != 0 && self.keys.thread.is_some() {
            let creds = self.creds();
            if let Ok(k) = self.kernel.keys.new_thread_keyring(creds.uid, creds.gid) {
                child.keys.thread = Some(Arc::new(k));
            }
        }
        // A thread sharing memory starts without the alternate stack; a
        // copied address space keeps it, as Linux does.
        if f & CLONE_VM == 0 || f & CLONE_VFORK != 0 {
            child.altstack = self.altstack;
        }
        // Linux's fork and clone copy the FPU: rounding modes, FTZ/DAZ and
        // the vector registers as they were at the syscall.
        if let Some(space) = self.space.as_deref_mut() {
            let mut fp = Box::<platform::FpState>::default();
            if self.ctx.get_fp_state(space, &mut fp).unwrap_or(false) {
                child.inherited_fp = Some(fp);
            }
        }
        // The tid stores may fault without failing the clone: Linux ignores
        // their put_user results.
        if f & CLONE_PARENT_SETTID != 0 {
            let _ = self.mm().write_val(a.parent_tid, &tid);
        }
        if f & CLONE_CHILD_SETTID != 0 {
            let _ = child.mm().write_val(a.child_tid, &tid);
        }
        if f & CLONE_CHILD_CLEARTID != 0 {
            child.clear_child_tid = a.child_tid;
        }
        if f & CLONE_PIDFD != 0 {
            let file =
                crate::vfs::pidfd::PidFd::open_file(tid, child.handle.tg.clone(), Arc::downgrade(&self.kernel), false);
            let limit = self.nofile_limit();
            let inserted = self.fds().insert(file, true, 0, limit);
            let stored = inserted.and_then(|fd| {
                self.mm().write_val(a.pidfd, &fd).inspect_err(|_| {
                    let _ = self.fds().remove(fd);
                })
            });
            if let Err(e) = stored {
                self.kernel.procs().forget_unstarted(tid, pid);
                return Err(e);
            }
        }
        let vfork = if f & CLONE_VFORK != 0 {
            let v = Arc::new(VforkDone::default());
            child.vfork_done = Some(v.clone());
            Some(v)
        } else {
            None
        };
        // RLIMIT_CPU is inherited, and counts the child's own CPU time.
        if f & CLONE_THREAD == 0 {
            crate::kernel::timer::watch_cpu_limit(&self.kernel, &child.handle.tg, tid);
        }
        // A traced parent's tracer may follow the child (attached before it
        // runs), and hear of it in an event stop.
        let kind = if f & CLONE_VFORK != 0 {
            super::ptrace::CloneKind::Vfork
        } else if a.exit_signal == abi::flags::signal::SIGCHLD {
            super::ptrace::CloneKind::Fork
        } else {
            super::ptrace::CloneKind::Clone
        };
        let child_handle = child.handle.clone();
        let event = self.ptrace_clone(&child_handle, kind, f);
        if let Err(e) = child.start() {
            let mut procs = self.kernel.procs();
            if child_handle.ptrace.is_traced() {
                let tracer = child_handle.ptrace.state().tracer;
                if let Some(h) = procs.threads.get(&tracer) {
                    h.ptrace.tracees().remove(&tid);
                }
            }
            procs.forget_unstarted(tid, pid);
            return Err(e);
        }
        // (Noted before the event stop: a checkpoint that catches the
        // parent there keeps the wait to come.)
        self.vfork_waiting = vfork.map(|v| (v, tid));
        if event {
            self.ptrace_clone_event(kind, tid);
        }
        self.finish_vfork();
        Ok(tid as u64)
    }

    /// A vfork parent's wait for its child to exec or exit
    /// ([`Task::vfork_waiting`]), then its PTRACE_EVENT_VFORK_DONE stop. A
    /// checkpoint may park it while it waits.
    pub(crate) fn finish_vfork(&mut self) {
        let Some((v, child)) = self.vfork_waiting.clone() else { return };
        while !v.wait_for(std::time::Duration::from_millis(10)) {
            if self.kernel.freezer.requested() {
                self.park();
            }
        }
        self.vfork_waiting = None;
        self.ptrace_vfork_done(child);
    }
}

impl Task {
    /// The namespaces a new process made with clone flags `f` is in, as
    /// Linux's copy_namespaces: new ones of the kinds `f` asks for (with
    /// CAP_SYS_ADMIN: EPERM otherwise; ENOSPC past their bound), and,
    /// unless it shares the caller's memory, the time namespace of the
    /// caller's `time_for_children`, which it enters (fixing its offsets).
    /// Mount, network, PID, user and cgroup namespaces are not offered:
    /// EPERM.
    pub fn child_namespaces(&self, f: u64) -> SysResult<crate::kernel::ns::NsSet> {
        use crate::kernel::ns::{IpcNs, TimeNs, UtsNs};
        let mut ns = self.handle.tg.ns();
        if f & (CLONE_NAMESPACES | CLONE_NEWTIME) != 0 {
            if f & CLONE_NAMESPACES & !(CLONE_NEWUTS | CLONE_NEWIPC) != 0 {
                return Err(Errno::EPERM);
            }
            // A new IPC namespace cannot share the caller's semaphore
            // undo list.
            if f & (CLONE_NEWIPC | CLONE_SYSVSEM) == CLONE_NEWIPC | CLONE_SYSVSEM {
                return Err(Errno::EINVAL);
            }
            if !self.creds().has_cap(abi::flags::capability::CAP_SYS_ADMIN) {
                return Err(Errno::EPERM);
            }
        }
        let reg = &self.kernel.namespaces;
        if f & CLONE_NEWUTS != 0 {
            let names = self.kernel.uts_names_in(&ns);
            ns.uts = Some(UtsNs::new(reg, names, None)?);
        }
        if f & CLONE_NEWIPC != 0 {
            ns.ipc = Some(IpcNs::new(reg, self.kernel.memfile.clone(), None)?);
        }
        if f & CLONE_NEWTIME != 0 {
            let offsets = ns.time_for_children.as_ref().map(|t| t.offsets()).unwrap_or_default();
            ns.time_for_children = Some(TimeNs::new(reg, offsets, false, None)?);
        }
        if f & CLONE_VM == 0 {
            ns.time = ns.time_for_children.clone();
        }
        if let Some(t) = &ns.time {
            t.freeze();
        }
        Ok(ns)
    }
}

/// The scheduling policy and priority a new thread gets from `parent`:
/// the same, but where the parent set SCHED_RESET_ON_FORK the flag goes,
/// and a real-time policy becomes SCHED_OTHER (Linux's sched_fork).
fn inherited_sched(parent: &TaskHandle) -> u64 {
    const SCHED_RESET_ON_FORK: u64 = 0x4000_0000;
    const SCHED_FIFO: u64 = 1;
    const SCHED_RR: u64 = 2;
    let s = parent.sched.load(std::sync::atomic::Ordering::Relaxed);
    if s & SCHED_RESET_ON_FORK == 0 {
        return s;
    }
    const SCHED_DEADLINE: u64 = 6;
    let policy = s & 0xffff_ffff & !SCHED_RESET_ON_FORK;
    if policy == SCHED_FIFO || policy == SCHED_RR || policy == SCHED_DEADLINE {
        0
    } else {
        policy
    }
}
