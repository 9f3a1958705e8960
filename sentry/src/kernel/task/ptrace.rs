//! ptrace(2): the tracee's stops, on its own thread, and the tracer's
//! requests. The shared state is [`crate::kernel::ptrace`]'s.
//!
//! A tracee stops (signal-delivery-stop, group-stop, syscall-enter and
//! -exit stops, PTRACE_EVENT stops) by leaving its registers and FPU
//! state in its [`PtraceLink`], telling its tracer, and sleeping on its
//! waker until the tracer resumes or detaches it, or it is killed. The
//! tracer's wait finds the stop through the tids it traces.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use abi::flags::ptrace::*;
use abi::flags::signal::{SIGKILL, SIGSTOP, SIGTRAP};
use abi::Errno;
use platform::FpState;

use super::exit::{WaitResult, WaitTarget};
use super::{Task, TaskHandle};
use crate::kernel::process::{ProcState, ProcessTable};
use crate::kernel::ptrace::{Resume, Stop, StopKind, TraceeExit, MAX_TRACEES};
use crate::kernel::signal::{bit, code, SigInfo, NSIG};
use crate::kernel::usage::Usage;
use crate::kernel::ExitStatus;
use crate::mm::SysResult;

/// PTRACE_EVENT_SECCOMP (not in `abi::flags::ptrace`: only the resumed
/// stop names it).
const PTRACE_EVENT_SECCOMP: u32 = 7;

/// The exit status a wait status stands for.
fn exit_status_of(wait: i32) -> ExitStatus {
    match wait & 0x7f {
        0 => ExitStatus::Exited(((wait >> 8) & 0xff) as u8),
        sig if wait & 0x80 != 0 => ExitStatus::Dumped(sig as u32),
        sig => ExitStatus::Signaled(sig as u32),
    }
}

/// `si_code` of SIGCHLD and waitid for a ptrace stop.
pub const CLD_TRAPPED: i32 = 4;

/// The options PTRACE_SETOPTIONS and PTRACE_SEIZE take.
const VALID_OPTIONS: u32 = PTRACE_O_TRACESYSGOOD
    | PTRACE_O_TRACEFORK
    | PTRACE_O_TRACEVFORK
    | PTRACE_O_TRACECLONE
    | PTRACE_O_TRACEEXEC
    | PTRACE_O_TRACEVFORKDONE
    | PTRACE_O_TRACEEXIT
    | PTRACE_O_TRACESECCOMP
    | PTRACE_O_EXITKILL
    | PTRACE_O_SUSPEND_SECCOMP;

/// `si_code` of the SIGTRAP after a single-stepped syscall.
const TRAP_BRKPT: i32 = 1;

/// How long PTRACE_ATTACH waits for a stopped target to enter its
/// ptrace-stop (Linux waits for it, uninterruptibly).
const ATTACH_WAIT: Duration = Duration::from_secs(2);

/// How a new task came: which PTRACE_EVENT its parent's tracer may ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloneKind {
    /// fork, or clone with SIGCHLD as exit signal.
    Fork,
    /// vfork, or clone with CLONE_VFORK.
    Vfork,
    /// Any other clone (threads).
    Clone,
}

impl Task {
    /// Enters a ptrace-stop reported to the tracer's wait with `status`
    /// (`SIGx | event << 8`, or `SIGTRAP | 0x80`) and sleeps until the
    /// tracer resumes it. Returns how it was resumed, or None if it did not
    /// stop: no tracer, or being killed. `exiting` is for the
    /// PTRACE_EVENT_EXIT stop, which only SIGKILL ends early.
    pub(super) fn ptrace_stop(
        &mut self,
        kind: StopKind,
        status: i32,
        why: i32,
        info: SigInfo,
        msg: Option<u64>,
        exiting: bool,
    ) -> Option<Resume> {
        if self.stop_cut_short(exiting) {
            return None;
        }
        let fp = self.space.as_deref_mut().and_then(|space| {
            let mut fp = Box::<FpState>::default();
            self.ctx.get_fp_state(space, &mut fp).ok().filter(|&got| got).map(|_| fp)
        });
        let uid = self.creds().uid;
        let link = &self.handle.ptrace;
        {
            let mut procs = self.kernel.procs();
            let tracer_pid = {
                let mut st = link.state();
                if st.tracer == 0 {
                    return None;
                }
                st.stop = Some(Stop { status, reported: false });
                st.kind = kind;
                st.listening = false;
                st.resume = Resume::default();
                st.siginfo = Some(info);
                if let Some(m) = msg {
                    st.event_msg = m;
                }
                // The trap flag of a single-step is the tracer's, not the
                // app's: it goes, unseen.
                if st.stepping {
                    crate::arch::set_trap_flag(&mut self.regs, false);
                    st.stepping = false;
                }
                st.regs = self.regs;
                st.regs_dirty = false;
                st.fp = fp;
                st.fp_dirty = false;
                st.trap_pending = false;
                st.tracer_pid
            };
            link.set_trap(false);
            link.changed.notify_all();
            let info = SigInfo::child(why, self.tid, uid, status & 0x7f);
            super::exit::notify_parent(&mut procs, tracer_pid, info, true);
        }
        self.wait_in_ptrace_stop(exiting)
    }

    /// Sleeps in the ptrace-stop the task is in until its tracer resumes
    /// it (or it is killed), then takes back what the tracer changed.
    fn wait_in_ptrace_stop(&mut self, exiting: bool) -> Option<Resume> {
        let w = self.handle.waker.clone();
        loop {
            w.reset();
            {
                let mut st = self.handle.ptrace.state();
                if st.stop.is_none() {
                    break;
                }
                // A listening group-stop ends when the group continues or
                // the tracer interrupts; the tracee then traps again.
                let go_on = !self.handle.tg.stopped_flag.load(Ordering::Acquire);
                if st.listening && (go_on || self.handle.ptrace.trap_pending()) {
                    st.stop = None;
                    st.trap_pending = true;
                    self.handle.ptrace.set_trap(true);
                    break;
                }
            }
            if self.stop_cut_short(exiting) {
                break;
            }
            if self.kernel.freezer.requested() {
                self.park();
                continue;
            }
            w.sleep(None);
        }
        let (resume, fp, mask) = {
            let mut st = self.handle.ptrace.state();
            st.stop = None;
            st.listening = false;
            if st.regs_dirty {
                self.regs = st.regs;
                st.regs_dirty = false;
            }
            let fp = if st.fp_dirty { st.fp.take() } else { None };
            st.fp = None;
            st.fp_dirty = false;
            if st.resume.step && !crate::arch::trap_flag(&self.regs) {
                crate::arch::set_trap_flag(&mut self.regs, true);
                st.stepping = true;
            }
            (st.resume, fp, st.set_mask.take())
        };
        if let Some(m) = mask {
            self.set_sigmask(m);
        }
        if let (Some(fp), Some(space)) = (fp, self.space.as_deref_mut()) {
            if let Err(e) = self.ctx.set_fp_state(space, &fp) {
                log::warn!("task {}: cannot load the FPU state its tracer set: {e}", self.tid);
            }
        }
        Some(resume)
    }

    /// Whether a stop must not begin, or must end: the task is being
    /// killed (or, but for an exit stop, is exiting).
    fn stop_cut_short(&self, exiting: bool) -> bool {
        if exiting {
            self.handle.tg.exit_status() == Some(ExitStatus::Signaled(SIGKILL))
        } else {
            self.must_exit()
        }
    }

    /// Signal-delivery-stop: the tracer sees `info` first and decides what
    /// is delivered. Returns the signal to deliver, if any.
    pub(super) fn ptrace_signal(&mut self, info: SigInfo) -> Option<SigInfo> {
        let Some(resume) = self.ptrace_stop(StopKind::Signal, info.signo() as i32, CLD_TRAPPED, info, None, false)
        else {
            return (!self.must_exit()).then_some(info);
        };
        self.signal_after_stop(resume)
    }

    /// The signal a signal-delivery-stop ends with: the one the tracer
    /// gave (its siginfo, if the tracer kept or set one of that signal),
    /// queued instead if the tracee now blocks it.
    fn signal_after_stop(&mut self, resume: Resume) -> Option<SigInfo> {
        if self.must_exit() || resume.sig == 0 {
            return None;
        }
        let sig = resume.sig;
        let info = match self.handle.ptrace.state().siginfo {
            Some(i) if i.signo() == sig => i,
            _ => SigInfo::from_sender(sig, code::SI_USER, resume.from_pid, resume.from_uid),
        };
        // A signal the tracee now blocks waits in its queue, as in Linux.
        if self.sigmask & bit(sig) != 0 {
            self.handle.push_signal(info);
            return None;
        }
        Some(info)
    }

    /// Called where an untraced task would wait out a group stop: a traced
    /// one reports the group stop (once) or a PTRACE_INTERRUPT as a
    /// ptrace-stop instead, and runs on when its tracer resumes it.
    pub(super) fn ptrace_group_stop(&mut self) {
        let stopped = self.handle.tg.stopped_flag.load(Ordering::Acquire);
        let (trap, seen, seized) = {
            let mut st = self.handle.ptrace.state();
            if !stopped {
                st.group_stop_seen = false;
            }
            (st.trap_pending, st.group_stop_seen, st.seized)
        };
        if !(trap || (stopped && !seen)) {
            return;
        }
        let sig = if stopped {
            match self.kernel.procs().procs.get(&self.pid).map(|p| p.state) {
                Some(ProcState::Stopped { sig, .. }) => sig,
                _ => SIGSTOP,
            }
        } else {
            SIGTRAP
        };
        if stopped {
            self.handle.ptrace.state().group_stop_seen = true;
        }
        let status = if seized { sig as i32 | ((PTRACE_EVENT_STOP as i32) << 8) } else { sig as i32 };
        let why = if stopped { crate::kernel::signal::code::CLD_STOPPED } else { CLD_TRAPPED };
        let info = SigInfo::new(sig, status);
        self.ptrace_stop(StopKind::Group, status, why, info, None, false);
    }

    /// A syscall-enter-stop (`entry`) or -exit-stop, if the tracer asked
    /// for them.
    fn ptrace_syscall_stop(&mut self, entry: bool) {
        let (on, sysgood) = {
            let st = self.handle.ptrace.state();
            (st.tracer != 0 && st.resume.syscall, st.options & PTRACE_O_TRACESYSGOOD != 0)
        };
        if !on || self.must_exit() {
            return;
        }
        if entry {
            crate::arch::enter_syscall_stop(&mut self.regs);
        }
        let status = SIGTRAP as i32 | if sysgood { 0x80 } else { 0 };
        let kind = if entry { StopKind::SyscallEntry } else { StopKind::SyscallExit };
        if let Some(r) = self.ptrace_stop(kind, status, CLD_TRAPPED, SigInfo::new(SIGTRAP, status), None, false) {
            self.send_stop_signal(r);
        }
    }

    /// A signal given at a syscall stop is sent, as Linux's
    /// ptrace_report_syscall does.
    fn send_stop_signal(&self, r: Resume) {
        if r.sig != 0 {
            self.handle.push_signal(SigInfo::from_sender(r.sig, code::SI_USER, r.from_pid, r.from_uid));
        }
    }

    /// Handles the syscall the task stopped at, with the tracer's stops
    /// around it when it is traced.
    pub(super) fn syscall(&mut self) {
        if !self.handle.ptrace.is_traced() {
            crate::syscalls::dispatch(self);
            return;
        }
        self.ptrace_syscall_stop(true);
        self.syscall_after_entry_stop();
    }

    /// The rest of a traced syscall after its entry stop: the call, then
    /// its exit stop.
    fn syscall_after_entry_stop(&mut self) {
        if self.must_exit() {
            return;
        }
        // The tracer may have changed the number and arguments; -1 skips
        // the call, leaving the return value the tracer set.
        if self.regs.syscall_nr() != u64::MAX {
            crate::syscalls::dispatch(self);
        }
        self.finish_traced_syscall();
    }

    /// After a traced syscall's call: its exit stop, then a single-step's
    /// trap.
    pub(super) fn finish_traced_syscall(&mut self) {
        if self.handle.ptrace.is_traced() {
            self.ptrace_syscall_stop(false);
        }
        self.after_syscall_exit_stop();
    }

    /// A single-stepped syscall traps once it is done, as Linux's
    /// user_single_step_report.
    fn after_syscall_exit_stop(&mut self) {
        if self.handle.ptrace.state().stepping && !self.must_exit() {
            self.force_signal(SigInfo::fault(SIGTRAP, TRAP_BRKPT, 0));
        }
    }

    /// A restored tracee that a checkpoint caught in a ptrace-stop (its
    /// state, the stop included, restored with it): it waits there again
    /// (its tracer was told of the stop before the checkpoint), then goes
    /// on as the stop `kind` says.
    pub(super) fn resume_restored_stop(&mut self, kind: StopKind) {
        let (status, msg) = {
            let st = self.handle.ptrace.state();
            (st.stop.map_or(0, |s| s.status), st.event_msg)
        };
        let event = (status >> 8) as u32;
        let resume = self.wait_in_ptrace_stop(event == PTRACE_EVENT_EXIT && kind == StopKind::Event);
        match kind {
            StopKind::SyscallEntry => {
                if let Some(r) = resume {
                    self.send_stop_signal(r);
                }
                self.syscall_after_entry_stop();
            }
            StopKind::SyscallExit => {
                if let Some(r) = resume {
                    self.send_stop_signal(r);
                }
                self.after_syscall_exit_stop();
            }
            StopKind::Signal => {
                self.tracer_gave = match resume {
                    Some(r) if !self.must_exit() => self.signal_after_stop(r),
                    _ => None,
                };
            }
            // A fork's, clone's, vfork-done's or exec's: the call returns
            // (the new child's pid, or 0); an exit's: the exit goes on.
            StopKind::Event => match event {
                PTRACE_EVENT_EXIT => {
                    self.exit = Some(exit_status_of(msg as i32));
                    self.exit_event_reported = true;
                }
                PTRACE_EVENT_EXEC => {
                    self.regs.set_return(0);
                    self.finish_traced_syscall();
                }
                // The vfork's wait for its child follows (the run loop's
                // first step, [`Task::vfork_waiting`]).
                PTRACE_EVENT_VFORK => {}
                // The filters run again, then the syscall (or not).
                PTRACE_EVENT_SECCOMP => {
                    if crate::syscalls::seccomp::recheck_after_trace(self) {
                        crate::syscalls::run_admitted(self);
                    }
                    self.finish_traced_syscall();
                }
                _ => {
                    self.regs.set_return(msg);
                    self.finish_traced_syscall();
                }
            },
            StopKind::Group => {}
        }
    }

    /// An event stop (`PTRACE_EVENT_x`) if the tracer asked for it with
    /// `option`.
    fn ptrace_event(&mut self, option: u32, event: u32, msg: u64, exiting: bool) -> bool {
        if self.handle.ptrace.state().options & option == 0 {
            return false;
        }
        let status = SIGTRAP as i32 | ((event as i32) << 8);
        self.ptrace_stop(StopKind::Event, status, CLD_TRAPPED, SigInfo::new(SIGTRAP, status), Some(msg), exiting);
        true
    }

    /// A seccomp filter's SECCOMP_RET_TRACE: PTRACE_EVENT_SECCOMP with the
    /// filter's data, if a tracer asked for it; false if none did.
    pub(crate) fn ptrace_seccomp(&mut self, msg: u16) -> bool {
        self.handle.ptrace.is_traced()
            && self.ptrace_event(PTRACE_O_TRACESECCOMP, PTRACE_EVENT_SECCOMP, u64::from(msg), false)
    }

    /// After a successful execve: PTRACE_EVENT_EXEC, or the SIGTRAP Linux
    /// sends a tracee attached without PTRACE_SEIZE.
    pub(crate) fn ptrace_exec(&mut self) {
        if !self.handle.ptrace.is_traced() {
            return;
        }
        if self.ptrace_event(PTRACE_O_TRACEEXEC, PTRACE_EVENT_EXEC, self.tid as u64, false) {
            return;
        }
        if !self.handle.ptrace.state().seized {
            let uid = self.creds().uid;
            self.handle.push_signal(SigInfo::from_sender(SIGTRAP, code::SI_USER, self.pid, uid));
        }
    }

    /// Before a new task runs: attaches it to this task's tracer when the
    /// tracer asked to follow `kind` (or the clone had CLONE_PTRACE), with
    /// a SIGSTOP (a trap if seized) waiting for it. Returns whether the
    /// event stop is due ([`Task::ptrace_clone_event`]).
    pub(crate) fn ptrace_clone(&mut self, child: &Arc<TaskHandle>, kind: CloneKind, flags: u64) -> bool {
        use super::clone::flags::{CLONE_PTRACE, CLONE_UNTRACED};
        if !self.handle.ptrace.is_traced() {
            return false;
        }
        let (tracer, tracer_pid, seized, options) = {
            let st = self.handle.ptrace.state();
            (st.tracer, st.tracer_pid, st.seized, st.options)
        };
        let option = match kind {
            CloneKind::Fork => PTRACE_O_TRACEFORK,
            CloneKind::Vfork => PTRACE_O_TRACEVFORK,
            CloneKind::Clone => PTRACE_O_TRACECLONE,
        };
        let event = flags & CLONE_UNTRACED == 0 && options & option != 0;
        if !event && flags & CLONE_PTRACE == 0 {
            return false;
        }
        let procs = self.kernel.procs();
        let Some(tracer_h) = procs.threads.get(&tracer) else { return false };
        {
            let mut tracees = tracer_h.ptrace.tracees();
            if tracees.len() >= MAX_TRACEES {
                return false;
            }
            tracees.insert(child.tid);
        }
        child.ptrace.attach(tracer, tracer_pid, seized, options);
        if seized {
            child.ptrace.state().trap_pending = true;
            child.ptrace.set_trap(true);
        } else {
            child.push_signal(SigInfo::new(SIGSTOP, code::SI_USER));
        }
        event
    }

    /// The event stop of a fork, vfork or clone the tracer follows, with
    /// the child's pid for PTRACE_GETEVENTMSG.
    pub(crate) fn ptrace_clone_event(&mut self, kind: CloneKind, child: i32) {
        let (option, event) = match kind {
            CloneKind::Fork => (PTRACE_O_TRACEFORK, PTRACE_EVENT_FORK),
            CloneKind::Vfork => (PTRACE_O_TRACEVFORK, PTRACE_EVENT_VFORK),
            CloneKind::Clone => (PTRACE_O_TRACECLONE, PTRACE_EVENT_CLONE),
        };
        self.ptrace_event(option, event, child as u64, false);
    }

    /// After a vfork child let its parent go: PTRACE_EVENT_VFORK_DONE.
    pub(crate) fn ptrace_vfork_done(&mut self, child: i32) {
        if self.handle.ptrace.is_traced() {
            self.ptrace_event(PTRACE_O_TRACEVFORKDONE, PTRACE_EVENT_VFORK_DONE, child as u64, false);
        }
    }

    /// On the way out of a thread: PTRACE_EVENT_EXIT if asked for, then
    /// the tracee leaves its tracer; as a tracer, it lets its tracees go
    /// (killing those with PTRACE_O_EXITKILL).
    pub(super) fn ptrace_exit(&mut self, status: ExitStatus) {
        if self.handle.ptrace.is_traced() {
            // (A restored tracee its exit stop caught had this stop.)
            if !std::mem::take(&mut self.exit_event_reported) {
                self.ptrace_event(PTRACE_O_TRACEEXIT, PTRACE_EVENT_EXIT, status.wait_status() as u64, true);
            }
            let tracer = self.handle.ptrace.state().tracer;
            let procs = self.kernel.procs();
            if let Some(h) = procs.threads.get(&tracer) {
                h.ptrace.tracees().remove(&self.tid);
                // A tracer that is not the parent (or a thread that is not
                // the process) hears of the exit through its own wait.
                let me = procs.procs.get(&self.pid);
                let its_child = self.tid == self.pid && me.is_some_and(|p| p.parent == h.tg.tgid);
                let mut exits = h.ptrace.exits();
                if !its_child && exits.len() < MAX_TRACEES {
                    let pgid = me.map_or(0, |p| p.pgid);
                    exits.push(TraceeExit { tid: self.tid, pgid, uid: self.creds().uid, status });
                }
                drop(exits);
                let tracer_pid = h.tg.tgid;
                if let Some(tp) = procs.procs.get(&tracer_pid) {
                    for t in &tp.threads {
                        t.kick();
                    }
                }
            }
            self.handle.ptrace.detach();
        }
        if self.handle.ptrace.has_tracees() {
            let mut procs = self.kernel.procs();
            release_tracees(&mut procs, &self.handle);
        }
    }
}

/// Lets every tracee of `tracer` go (its thread is exiting).
fn release_tracees(procs: &mut ProcessTable, tracer: &TaskHandle) {
    let tids: Vec<i32> = std::mem::take(&mut *tracer.ptrace.tracees()).into_iter().collect();
    for tid in tids {
        let Some(h) = procs.threads.get(&tid).cloned() else { continue };
        let exitkill = h.ptrace.state().options & PTRACE_O_EXITKILL != 0;
        h.ptrace.detach();
        if exitkill {
            kill_process(procs, &h);
        }
        h.waker.wake();
    }
}

/// Ends `h`'s process with SIGKILL.
fn kill_process(procs: &ProcessTable, h: &TaskHandle) {
    if h.tg.begin_exit(ExitStatus::Signaled(SIGKILL)) {
        if let Some(p) = procs.procs.get(&h.tg.tgid) {
            for t in &p.threads {
                t.kick();
            }
        }
    }
    h.kick();
}

/// The tracees of process `pid` that a wait for `target` may report.
pub(super) fn waitable_tracees(procs: &ProcessTable, pid: i32, target: WaitTarget) -> Vec<Arc<TaskHandle>> {
    let Some(me) = procs.procs.get(&pid) else { return Vec::new() };
    let my_pgid = me.pgid;
    let mut out = Vec::new();
    for t in &me.threads {
        for tid in t.ptrace.tracees().iter() {
            let Some(h) = procs.threads.get(tid) else { continue };
            let ok = match target {
                WaitTarget::Any => true,
                WaitTarget::Pid(p) => *tid == p,
                WaitTarget::Pgid(g) => {
                    let want = if g == 0 { my_pgid } else { g };
                    procs.procs.get(&h.tg.tgid).is_some_and(|p| p.pgid == want)
                }
            };
            if ok {
                out.push(h.clone());
            }
        }
    }
    out
}

/// Whether process `pid` has tracees' exits to report.
pub(super) fn has_exits(procs: &ProcessTable, pid: i32) -> bool {
    procs.procs.get(&pid).is_some_and(|p| p.threads.iter().any(|t| !t.ptrace.exits().is_empty()))
}

/// An exit of a tracee of process `pid` that a wait for `target` may
/// report (forgotten unless `nowait`).
pub(super) fn report_exit(procs: &ProcessTable, pid: i32, target: WaitTarget, nowait: bool) -> Option<WaitResult> {
    let me = procs.procs.get(&pid)?;
    for t in &me.threads {
        let mut exits = t.ptrace.exits();
        let found = exits.iter().position(|e| match target {
            WaitTarget::Any => true,
            WaitTarget::Pid(p) => e.tid == p,
            WaitTarget::Pgid(g) => e.pgid == if g == 0 { me.pgid } else { g },
        });
        if let Some(i) = found {
            let e = if nowait { exits[i] } else { exits.remove(i) };
            let (code, status) = super::exit::child_code(e.status);
            return Some(WaitResult {
                pid: e.tid,
                uid: e.uid,
                code,
                status,
                wstatus: e.status.wait_status(),
                usage: Usage::default(),
            });
        }
    }
    None
}

/// A tracee's stop not yet reported, as a wait result (and marked
/// reported unless `nowait`).
pub(super) fn report_stop(h: &TaskHandle, nowait: bool) -> Option<WaitResult> {
    let mut st = h.ptrace.state();
    let stop = st.stop.as_mut().filter(|s| !s.reported)?;
    if !nowait {
        stop.reported = true;
    }
    let status = stop.status;
    drop(st);
    let uid = h.tg.creds.lock().unwrap_or_else(|e| e.into_inner()).uid;
    Some(WaitResult {
        pid: h.tid,
        uid,
        code: CLD_TRAPPED,
        status,
        wstatus: (status << 8) | 0x7f,
        usage: Usage::default(),
    })
}

/// A signal number a resume may carry: 0 or a valid one (EIO otherwise).
fn resume_signal(data: u64) -> SysResult<u32> {
    match u32::try_from(data) {
        Ok(s) if s <= NSIG => Ok(s),
        _ => Err(Errno::EIO),
    }
}

impl Task {
    /// ptrace(2). `pid` is a thread id; see the module's docs.
    pub fn ptrace(&mut self, req: u64, pid: i32, addr: u64, data: u64) -> SysResult<u64> {
        if req == PTRACE_TRACEME {
            return self.ptrace_traceme();
        }
        let target = self.kernel.procs().threads.get(&pid).cloned().ok_or(Errno::ESRCH)?;
        match req {
            PTRACE_ATTACH | PTRACE_SEIZE => return self.ptrace_attach(&target, req == PTRACE_SEIZE, addr, data),
            PTRACE_KILL | PTRACE_INTERRUPT => {
                let st = target.ptrace.state();
                if st.tracer == 0 || st.tracer_pid != self.pid {
                    return Err(Errno::ESRCH);
                }
                if req == PTRACE_INTERRUPT {
                    if !st.seized {
                        return Err(Errno::EIO);
                    }
                    drop(st);
                    target.ptrace.state().trap_pending = true;
                    target.ptrace.set_trap(true);
                    target.kick();
                    return Ok(0);
                }
                // Linux kills only a tracee that is stopped.
                if st.stop.is_some() {
                    drop(st);
                    let procs = self.kernel.procs();
                    kill_process(&procs, &target);
                }
                return Ok(0);
            }
            _ => {}
        }
        // Everything else needs a tracee of ours in a ptrace-stop.
        {
            let st = target.ptrace.state();
            if st.tracer == 0 || st.tracer_pid != self.pid || st.stop.is_none() {
                return Err(Errno::ESRCH);
            }
        }
        match req {
            PTRACE_CONT | PTRACE_SYSCALL | PTRACE_SINGLESTEP | PTRACE_DETACH => {
                if req == PTRACE_SINGLESTEP && !crate::arch::CAN_SINGLE_STEP {
                    return Err(Errno::EIO);
                }
                let sig = resume_signal(data)?;
                let resume = Resume {
                    sig,
                    syscall: req == PTRACE_SYSCALL,
                    step: req == PTRACE_SINGLESTEP,
                    from_pid: self.pid,
                    from_uid: self.creds().uid,
                };
                if req == PTRACE_DETACH {
                    let procs = self.kernel.procs();
                    for t in procs.procs.get(&self.pid).map(|p| p.threads.as_slice()).unwrap_or_default() {
                        t.ptrace.tracees().remove(&target.tid);
                    }
                    target.ptrace.detach_with(resume);
                } else {
                    let mut st = target.ptrace.state();
                    st.resume = resume;
                    st.stop = None;
                }
                target.waker.wake();
                Ok(0)
            }
            PTRACE_LISTEN => {
                let mut st = target.ptrace.state();
                let group_stop = st.stop.is_some_and(|s| (s.status >> 8) as u32 == PTRACE_EVENT_STOP);
                if !st.seized || !group_stop {
                    return Err(Errno::EIO);
                }
                if let Some(s) = st.stop.as_mut() {
                    s.reported = true;
                }
                st.listening = true;
                drop(st);
                target.waker.wake();
                Ok(0)
            }
            PTRACE_PEEKTEXT | PTRACE_PEEKDATA => {
                let mm = target.view().ok_or(Errno::ESRCH)?.mm;
                let mut word = [0u8; 8];
                mm.lock().unwrap_or_else(|e| e.into_inner()).copy_in(addr, &mut word).map_err(|_| Errno::EIO)?;
                self.mm().copy_out(data, &word)?;
                Ok(0)
            }
            PTRACE_POKETEXT | PTRACE_POKEDATA => {
                let mm = target.view().ok_or(Errno::ESRCH)?.mm;
                mm.lock().unwrap_or_else(|e| e.into_inner()).poke(addr, &data.to_le_bytes()).map_err(|_| Errno::EIO)?;
                // As process_vm_writev: other threads running app code stop
                // using pages the write moved (copy-on-write).
                let sd = mm.lock().unwrap_or_else(|e| e.into_inner()).shootdown(&crate::mm::SpaceCursor::new());
                if let Some(sd) = sd {
                    crate::mm::await_shootdown(&mm, sd);
                }
                Ok(0)
            }
            PTRACE_GETSIGINFO => {
                let info = target.ptrace.state().siginfo.ok_or(Errno::EINVAL)?;
                self.mm().copy_out(data, &info.0)?;
                Ok(0)
            }
            PTRACE_SETSIGINFO => {
                let mut info = SigInfo([0; 128]);
                self.mm().copy_in(data, &mut info.0)?;
                let mut st = target.ptrace.state();
                if st.siginfo.is_none() {
                    return Err(Errno::EINVAL);
                }
                st.siginfo = Some(info);
                Ok(0)
            }
            PTRACE_SETOPTIONS => {
                let opts = u32::try_from(data).ok().filter(|o| o & !VALID_OPTIONS == 0).ok_or(Errno::EINVAL)?;
                target.ptrace.state().options = opts;
                Ok(0)
            }
            PTRACE_GETEVENTMSG => {
                let msg = target.ptrace.state().event_msg;
                self.mm().write_val(data, &msg)?;
                Ok(0)
            }
            PTRACE_GETSIGMASK => {
                if addr != 8 {
                    return Err(Errno::EINVAL);
                }
                let st = target.ptrace.state();
                let mask = st.set_mask.unwrap_or_else(|| target.blocked.load(Ordering::Acquire));
                drop(st);
                self.mm().write_val(data, &mask)?;
                Ok(0)
            }
            PTRACE_SETSIGMASK => {
                if addr != 8 {
                    return Err(Errno::EINVAL);
                }
                let mask: u64 = self.mm().read_val(data)?;
                target.ptrace.state().set_mask = Some(mask & !crate::kernel::signal::UNBLOCKABLE);
                Ok(0)
            }
            _ => self.ptrace_arch(&target, req, addr, data),
        }
    }

    /// PTRACE_TRACEME: the parent becomes the tracer.
    fn ptrace_traceme(&mut self) -> SysResult<u64> {
        let procs = self.kernel.procs();
        if self.handle.ptrace.is_traced() {
            return Err(Errno::EPERM);
        }
        // The sandbox's init, or a process started from outside, has no
        // parent in the sandbox to trace it.
        let parent = procs.procs.get(&self.pid).map(|p| p.parent).unwrap_or(0);
        let Some(pp) = procs.procs.get(&parent).filter(|p| !matches!(p.state, ProcState::Zombie(_))) else {
            return Err(Errno::EPERM);
        };
        let tracer = pp.threads.iter().find(|t| t.tid == parent).or(pp.threads.first()).cloned();
        let Some(tracer) = tracer else { return Err(Errno::EPERM) };
        let theirs = pp.tg.creds.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if !crate::kernel::caps::ptrace_may_access(&theirs, &self.creds()) {
            return Err(Errno::EPERM);
        }
        {
            let mut tracees = tracer.ptrace.tracees();
            if tracees.len() >= MAX_TRACEES {
                return Err(Errno::EPERM);
            }
            tracees.insert(self.tid);
        }
        self.handle.ptrace.attach(tracer.tid, parent, false, 0);
        Ok(0)
    }

    /// PTRACE_ATTACH and PTRACE_SEIZE.
    fn ptrace_attach(&mut self, target: &Arc<TaskHandle>, seize: bool, addr: u64, data: u64) -> SysResult<u64> {
        if target.tg.tgid == self.pid {
            return Err(Errno::EPERM);
        }
        let options = if seize {
            if addr != 0 {
                return Err(Errno::EIO);
            }
            u32::try_from(data).ok().filter(|o| o & !VALID_OPTIONS == 0).ok_or(Errno::EIO)?
        } else {
            0
        };
        let me = self.creds();
        let them = target.tg.creds.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if !crate::kernel::caps::ptrace_may_access(&me, &them) {
            return Err(Errno::EPERM);
        }
        {
            let procs = self.kernel.procs();
            if target.ptrace.is_traced() || target.tg.exiting_flag.load(Ordering::Acquire) {
                return Err(Errno::EPERM);
            }
            let zombie = procs.procs.get(&target.tg.tgid).is_none_or(|p| matches!(p.state, ProcState::Zombie(_)));
            if zombie || !procs.threads.contains_key(&target.tid) {
                return Err(Errno::EPERM);
            }
            {
                let mut tracees = self.handle.ptrace.tracees();
                if tracees.len() >= MAX_TRACEES {
                    return Err(Errno::EPERM);
                }
                tracees.insert(target.tid);
            }
            target.ptrace.attach(self.tid, self.pid, seize, options);
        }
        if !seize {
            // Sent as the kernel sends it (SEND_SIG_PRIV): even init gets it.
            target.push_signal(SigInfo::new(SIGSTOP, code::SI_KERNEL));
        }
        // A task already in a group stop moves to a ptrace-stop, and
        // Linux's attach returns once it has.
        let tg = &target.tg;
        if tg.stopped_flag.load(Ordering::Acquire) {
            drop(tg.stopped.lock().unwrap_or_else(|e| e.into_inner()));
            tg.stop_cv.notify_all();
            target.kick();
            let deadline = Instant::now() + ATTACH_WAIT;
            let mut st = target.ptrace.state();
            while st.stop.is_none() && st.tracer != 0 && !tg.exiting_flag.load(Ordering::Acquire) {
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                st = target.ptrace.changed.wait_timeout(st, deadline - now).unwrap_or_else(|e| e.into_inner()).0;
            }
        }
        Ok(0)
    }

    /// The register requests, by architecture.
    #[cfg(target_arch = "x86_64")]
    fn ptrace_arch(&mut self, target: &Arc<TaskHandle>, req: u64, addr: u64, data: u64) -> SysResult<u64> {
        use crate::kernel::ptrace::user;
        match req {
            PTRACE_PEEKUSR => {
                let v = {
                    let st = target.ptrace.state();
                    user::peek(&st.regs, &st.debugreg, addr)?
                };
                self.mm().write_val(data, &v)?;
                Ok(0)
            }
            PTRACE_POKEUSR => {
                let mut st = target.ptrace.state();
                let st = &mut *st;
                user::poke(&mut st.regs, &mut st.debugreg, addr, data)?;
                if addr < user::REGS_SIZE {
                    st.regs_dirty = true;
                }
                Ok(0)
            }
            PTRACE_GETREGS => {
                let words = target.ptrace.state().regs.to_words();
                self.mm().copy_out(data, words_bytes(&words).as_slice())?;
                Ok(0)
            }
            PTRACE_SETREGS => {
                let mut b = [0u8; 27 * 8];
                self.mm().copy_in(data, &mut b)?;
                set_regs_bytes(target, &b)?;
                Ok(0)
            }
            PTRACE_GETFPREGS => {
                let b = fxsave_bytes(target);
                self.mm().copy_out(data, &b)?;
                Ok(0)
            }
            PTRACE_SETFPREGS => {
                let mut b = [0u8; 512];
                self.mm().copy_in(data, &mut b)?;
                set_fxsave(target, &b)?;
                Ok(0)
            }
            PTRACE_GETREGSET | PTRACE_SETREGSET => {
                let (base, len): (u64, u64) = {
                    let mm = self.mm();
                    (mm.read_val(data)?, mm.read_val(data.wrapping_add(8))?)
                };
                if !len.is_multiple_of(8) {
                    return Err(Errno::EINVAL);
                }
                let layout = platform::fp_layout();
                let size = match addr {
                    NT_PRSTATUS => 27 * 8,
                    NT_PRFPREG => 512,
                    NT_X86_XSTATE if layout.xsave => layout.max_size.max(layout.size) as u64,
                    NT_X86_XSTATE => return Err(Errno::ENODEV),
                    _ => return Err(Errno::EINVAL),
                };
                let n = len.min(size) as usize;
                if req == PTRACE_GETREGSET {
                    let bytes = match addr {
                        NT_PRSTATUS => words_bytes(&target.ptrace.state().regs.to_words()),
                        NT_PRFPREG => fxsave_bytes(target).to_vec(),
                        _ => xstate_bytes(target, layout, size as usize),
                    };
                    self.mm().copy_out(base, &bytes[..n.min(bytes.len())])?;
                } else {
                    let mut b = vec![0u8; n];
                    self.mm().copy_in(base, &mut b)?;
                    match addr {
                        NT_PRSTATUS => {
                            let mut full = words_bytes(&target.ptrace.state().regs.to_words());
                            full[..n].copy_from_slice(&b);
                            set_regs_bytes(target, &full)?;
                        }
                        NT_PRFPREG => {
                            let mut full = fxsave_bytes(target);
                            full[..n].copy_from_slice(&b);
                            set_fxsave(target, &full)?;
                        }
                        // As Linux: a whole standard-format area, or EFAULT.
                        _ if n as u64 != size => return Err(Errno::EFAULT),
                        _ => set_xstate(target, layout, &b)?,
                    }
                }
                self.mm().write_val(data.wrapping_add(8), &(n as u64))?;
                Ok(0)
            }
            _ => Err(Errno::EIO),
        }
    }

    /// arm64 has only the regset requests (as Linux: PEEKUSER, GETREGS
    /// and the like are EIO there): NT_PRSTATUS (`user_pt_regs`),
    /// NT_PRFPREG (`user_fpsimd_state`), NT_ARM_TLS and
    /// NT_ARM_SYSTEM_CALL.
    #[cfg(target_arch = "aarch64")]
    fn ptrace_arch(&mut self, target: &Arc<TaskHandle>, req: u64, addr: u64, data: u64) -> SysResult<u64> {
        if req != PTRACE_GETREGSET && req != PTRACE_SETREGSET {
            return Err(Errno::EIO);
        }
        let (base, len): (u64, u64) = {
            let mm = self.mm();
            (mm.read_val(data)?, mm.read_val(data.wrapping_add(8))?)
        };
        // Each regset's element size, which the length must be a multiple of.
        let unit = match addr {
            NT_PRSTATUS | NT_ARM_TLS => 8,
            NT_PRFPREG | NT_ARM_SYSTEM_CALL => 4,
            _ => return Err(Errno::EINVAL),
        };
        if !len.is_multiple_of(unit) {
            return Err(Errno::EINVAL);
        }
        let mut cur = arm64_regset(target, addr);
        let n = (len as usize).min(cur.len());
        if req == PTRACE_GETREGSET {
            self.mm().copy_out(base, &cur[..n])?;
        } else {
            let mut b = vec![0u8; n];
            self.mm().copy_in(base, &mut b)?;
            cur[..n].copy_from_slice(&b);
            set_arm64_regset(target, addr, &cur)?;
        }
        self.mm().write_val(data.wrapping_add(8), &(n as u64))?;
        Ok(0)
    }
}

/// A stopped tracee's regset `note` (one [`Task::ptrace_arch`] knows).
#[cfg(target_arch = "aarch64")]
fn arm64_regset(target: &TaskHandle, note: u64) -> Vec<u8> {
    let st = target.ptrace.state();
    match note {
        // `user_pt_regs`: the first 34 words of Regs.
        NT_PRSTATUS => st.regs.to_words()[..34].iter().flat_map(|w| w.to_le_bytes()).collect(),
        NT_PRFPREG => {
            let mut b = st.fp.as_deref().map_or([0u8; 528], |fp| fp.bytes);
            b[520..].fill(0);
            b.to_vec()
        }
        NT_ARM_TLS => st.regs.tls.to_le_bytes().to_vec(),
        // The number as an int: -1 out of a syscall.
        _ => (st.regs.syscallno as i32).to_le_bytes().to_vec(),
    }
}

/// Sets a stopped tracee's regset `note` from its whole contents `b`: EINVAL
/// for a PSTATE an EL0 thread cannot have, as Linux's valid_user_regs.
#[cfg(target_arch = "aarch64")]
fn set_arm64_regset(target: &TaskHandle, note: u64, b: &[u8]) -> SysResult<()> {
    let word = |i: usize| u64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().unwrap_or([0; 8]));
    let mut st = target.ptrace.state();
    match note {
        NT_PRSTATUS => {
            let mut w = st.regs.to_words();
            for (i, v) in w.iter_mut().take(34).enumerate() {
                *v = word(i);
            }
            if w[33] & crate::arch::PSTATE_MUST_BE_CLEAR != 0 {
                return Err(Errno::EINVAL);
            }
            st.regs = platform::Regs::from_words(&w).ok_or(Errno::EINVAL)?;
            st.regs_dirty = true;
        }
        NT_PRFPREG => {
            let fp = st.fp.get_or_insert_with(|| Box::new(FpState::initial()));
            fp.bytes[..520].copy_from_slice(&b[..520]);
            st.fp_dirty = true;
        }
        NT_ARM_TLS => {
            st.regs.tls = word(0);
            st.regs_dirty = true;
        }
        _ => {
            let nr = i32::from_le_bytes(b[..4].try_into().unwrap_or([0; 4]));
            st.regs.syscallno = i64::from(nr) as u64;
            st.regs_dirty = true;
        }
    }
    Ok(())
}

#[cfg(target_arch = "x86_64")]
fn words_bytes(words: &[u64]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

/// Sets the tracee's registers from a `user_regs_struct`, forced to what
/// a user thread may have (selectors, flags, TLS bases).
#[cfg(target_arch = "x86_64")]
fn set_regs_bytes(target: &TaskHandle, b: &[u8]) -> SysResult<()> {
    let words: Vec<u64> = b.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8]))).collect();
    let regs = platform::Regs::from_words(&words).ok_or(Errno::EIO)?;
    let mut st = target.ptrace.state();
    st.regs = regs;
    st.regs_dirty = true;
    Ok(())
}

/// The FXSAVE area (`user_i387_struct`) of a stopped tracee, its
/// software-reserved bytes zero.
#[cfg(target_arch = "x86_64")]
fn fxsave_bytes(target: &TaskHandle) -> [u8; 512] {
    let mut b = [0u8; 512];
    if let Some(fp) = target.ptrace.state().fp.as_deref() {
        b.copy_from_slice(&fp.bytes[..512]);
        b[platform::FX_SW_BYTES..].fill(0);
    }
    b
}

/// Loads an FXSAVE area into the tracee's FPU state: EINVAL for MXCSR
/// bits the CPU refuses. x87 and SSE are then marked in use.
#[cfg(target_arch = "x86_64")]
fn set_fxsave(target: &TaskHandle, b: &[u8; 512]) -> SysResult<()> {
    let layout = platform::fp_layout();
    let mxcsr = u32::from_le_bytes([b[24], b[25], b[26], b[27]]);
    if mxcsr & !layout.mxcsr_mask != 0 {
        return Err(Errno::EINVAL);
    }
    let mut st = target.ptrace.state();
    let fp = st.fp.get_or_insert_with(|| Box::new(FpState::initial()));
    fp.bytes[..platform::FX_SW_BYTES].copy_from_slice(&b[..platform::FX_SW_BYTES]);
    if layout.xsave {
        let bv = fp.xstate_bv() | platform::XFEATURE_FPSSE;
        fp.set_xstate_bv(bv);
    }
    st.fp_dirty = true;
    Ok(())
}

/// The XSAVE area as NT_X86_XSTATE gives it: standard format, with the
/// user's XCR0 in the software-reserved bytes, as Linux puts it there.
#[cfg(target_arch = "x86_64")]
fn xstate_bytes(target: &TaskHandle, layout: &platform::FpLayout, size: usize) -> Vec<u8> {
    let mut b = vec![0u8; size.max(512)];
    if let Some(fp) = target.ptrace.state().fp.as_deref() {
        let n = layout.size.min(b.len()).min(fp.bytes.len());
        b[..n].copy_from_slice(&fp.bytes[..n]);
    }
    b[platform::FX_SW_BYTES..512].fill(0);
    b[platform::FX_SW_BYTES..platform::FX_SW_BYTES + 8].copy_from_slice(&layout.features.to_le_bytes());
    b
}

/// Loads an NT_X86_XSTATE area: EINVAL for a header the CPU would refuse
/// (unknown features, the compacted format, reserved bits) or a bad
/// MXCSR, as Linux's validate_user_xstate_header.
#[cfg(target_arch = "x86_64")]
fn set_xstate(target: &TaskHandle, layout: &platform::FpLayout, b: &[u8]) -> SysResult<()> {
    use platform::{XSAVE_HEADER, XSAVE_MIN};
    if b.len() < XSAVE_MIN {
        return Err(Errno::EFAULT);
    }
    let word = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap_or([0; 8]));
    let (bv, xcomp) = (word(XSAVE_HEADER), word(XSAVE_HEADER + 8));
    let reserved = b[XSAVE_HEADER + 16..XSAVE_MIN].iter().any(|&x| x != 0);
    let mxcsr = u32::from_le_bytes([b[24], b[25], b[26], b[27]]);
    if bv & !layout.features != 0 || xcomp != 0 || reserved || mxcsr & !layout.mxcsr_mask != 0 {
        return Err(Errno::EINVAL);
    }
    let mut st = target.ptrace.state();
    let fp = st.fp.get_or_insert_with(|| Box::new(FpState::initial()));
    let n = b.len().min(layout.size).min(fp.bytes.len());
    fp.bytes[..platform::FX_SW_BYTES].copy_from_slice(&b[..platform::FX_SW_BYTES]);
    fp.bytes[512..n].copy_from_slice(&b[512..n]);
    st.fp_dirty = true;
    Ok(())
}
