//! The run loop and signal delivery.
//!
//! The loop runs the app until it makes a syscall or faults, handles that,
//! delivers pending signals, brings the stub's mappings up to date, and goes
//! round again, as gVisor's `task_run.go` does.

use std::sync::atomic::Ordering;

use abi::flags::signal::{SIGKILL, SIGSEGV};
use abi::Errno;
use platform::{FpState, SwitchOutcome};

use super::Task;
use crate::arch::{FpRestore, FrameRequest};
use crate::kernel::signal::*;
use crate::kernel::ExitStatus;
use crate::mm::SysResult;

/// `ss_flags`: running on the alternate stack / disabled.
const SS_ONSTACK: u32 = 1;
const SS_DISABLE: u32 = 2;

/// Whether `info` is a fault the app's own code raised (a synchronous
/// signal from the kernel), which even init cannot ignore.
fn is_forced_fault(info: &SigInfo) -> bool {
    use abi::flags::signal::{SIGBUS, SIGFPE, SIGILL, SIGSYS, SIGTRAP};
    info.code() > 0 && matches!(info.signo(), SIGSEGV | SIGBUS | SIGFPE | SIGILL | SIGTRAP | SIGSYS)
}

impl Task {
    /// The host thread's body: make the stub, run, exit.
    pub(super) fn run_thread(mut self) {
        super::set_current_tid(self.tid);
        if let Some(id) = crate::sys::current_thread_cpu_clock() {
            self.handle.sentry_clock.store(id, std::sync::atomic::Ordering::Release);
        }
        match self.kernel.platform.new_address_space() {
            Ok(s) => {
                self.handle.stub_pid.store(s.host_pid().unwrap_or(0), std::sync::atomic::Ordering::Release);
                if s.host_pid().is_none() {
                    self.guest_clock = crate::sys::current_thread_cpu_clock();
                }
                self.space = Some(s);
                if let (Some(fp), Some(space)) = (self.inherited_fp.take(), self.space.as_deref_mut()) {
                    if let Err(e) = self.ctx.set_fp_state(space, &fp) {
                        log::warn!("task {}: cannot give it its parent's FPU state: {e}", self.tid);
                    }
                }
                self.show_args_to_host();
            }
            Err(e) => {
                log::error!("task {}: cannot create its stub: {e}", self.tid);
                self.handle.tg.begin_exit(ExitStatus::Signaled(SIGKILL));
            }
        }
        let interrupter = self.ctx.interrupter();
        if let Some(i) = &interrupter {
            self.cursor.runner().set_interrupter(i.clone());
        }
        *self.handle.interrupter.lock().unwrap_or_else(|e| e.into_inner()) = interrupter;
        if self.space.is_some() {
            self.run();
        }
        self.exit_thread();
    }

    fn run(&mut self) {
        if let Some(kind) = self.restored_stop.take() {
            self.resume_restored_stop(kind);
        }
        // A restored vfork parent: its wait for the child, then the
        // vfork's return.
        if let Some((_, child)) = self.vfork_waiting {
            self.finish_vfork();
            self.regs.set_return(child as u64);
            if self.handle.ptrace.is_traced() {
                self.finish_traced_syscall();
            }
        }
        loop {
            if self.must_exit() {
                return;
            }
            self.wait_while_stopped();
            if self.kernel.freezer.requested() {
                self.park();
                continue;
            }
            self.deliver_signals();
            if self.must_exit() {
                return;
            }
            let Some(space) = self.space.as_deref_mut() else { return };
            // Said before the replay: a thread that takes rights away after
            // it either waits for this one or is replayed by it.
            self.cursor.runner().set_in_app(true);
            let (synced, shootdown) = {
                let mut mm = self.mm.lock().unwrap_or_else(|e| e.into_inner());
                let synced = mm.sync_space(&mut self.cursor, space);
                let shootdown = if synced.is_ok() { mm.shootdown_due(&mut self.cursor) } else { None };
                (synced, shootdown)
            };
            if let Err(e) = synced {
                self.cursor.runner().set_in_app(false);
                log::error!("task {}: cannot update its address space: {e}", self.tid);
                self.handle.tg.begin_exit(ExitStatus::Signaled(SIGKILL));
                return;
            }
            // Rights this thread took away (a copy-on-write break, say) are
            // in force for the others before its app code goes on.
            if let Some(sd) = shootdown {
                crate::mm::await_shootdown(&self.mm, sd);
            }
            self.in_syscall = false;
            // Without a stub process (kvm) the app runs on this thread:
            // its time in the switch is the app's CPU time.
            if let Some(now) = self.guest_clock.and_then(crate::kernel::usage::cpu_clock) {
                self.handle.guest.begin(now);
            }
            let outcome = self.ctx.switch(space, &mut self.regs);
            if let Some(now) = self.guest_clock.and_then(crate::kernel::usage::cpu_clock) {
                self.handle.guest.end(now);
            }
            self.cursor.runner().set_in_app(false);
            match outcome {
                Ok(SwitchOutcome::Syscall) => {
                    self.in_syscall = true;
                    self.syscall();
                }
                Ok(SwitchOutcome::Fault { signo, code, addr, access, syndrome }) => {
                    if self.mm.lock().unwrap_or_else(|e| e.into_inner()).handle_fault(addr, access, &self.cursor) {
                        continue;
                    }
                    // A touch just below a MAP_GROWSDOWN mapping grows it.
                    let stack_limit = self.rlimits()[abi::flags::rlimit::RLIMIT_STACK as usize].cur;
                    if signo == SIGSEGV
                        && self.mm.lock().unwrap_or_else(|e| e.into_inner()).grow_down(addr, stack_limit)
                    {
                        continue;
                    }
                    self.trap = crate::arch::fault_trap(signo, code, access, syndrome);
                    // A touch past the end of a mapped file is SIGBUS, as on Linux.
                    let (signo, code) =
                        if self.mm().fault_is_past_eof(addr) { (abi::flags::signal::SIGBUS, 2) } else { (signo, code) };
                    log::debug!("task {}: signal {signo} code {code} at {addr:#x}, ip {:#x}", self.tid, self.regs.ip());
                    self.force_signal(SigInfo::fault(signo, code, addr));
                }
                Ok(SwitchOutcome::Interrupted) => {}
                Err(e) => {
                    log::error!("task {}: platform failure: {e}", self.tid);
                    self.handle.tg.begin_exit(ExitStatus::Signaled(SIGKILL));
                    return;
                }
            }
        }
    }

    /// Leaves this thread's state for a checkpoint and sleeps until the
    /// sandbox thaws ([`crate::checkpoint::Freezer`]).
    pub(super) fn park(&mut self) {
        let fp = self.space.as_deref_mut().and_then(|space| {
            let mut fp = Box::<FpState>::default();
            self.ctx.get_fp_state(space, &mut fp).ok().filter(|&got| got).map(|_| fp)
        });
        let parked = crate::checkpoint::Parked {
            regs: self.regs,
            fp,
            image: crate::checkpoint::thread_image(self),
            in_syscall: self.in_syscall,
            mm: self.mm.clone(),
            fds: self.fds.clone(),
            fs: self.fs.clone(),
            keyring: self.keys.thread.clone(),
        };
        self.kernel.freezer.park(self.tid, parked);
    }

    /// Sleeps while the process is stopped by a stop signal (a traced
    /// thread reports the stop to its tracer instead).
    fn wait_while_stopped(&mut self) {
        if self.handle.ptrace.is_traced() {
            self.ptrace_group_stop();
            return;
        }
        let tg = &self.handle.tg;
        if !tg.stopped_flag.load(std::sync::atomic::Ordering::Acquire) {
            return;
        }
        {
            let mut stopped = tg.stopped.lock().unwrap_or_else(|e| e.into_inner());
            while *stopped && !self.must_exit() && !self.kernel.freezer.requested() && !self.handle.ptrace.is_traced() {
                stopped = tg.stop_cv.wait(stopped).unwrap_or_else(|e| e.into_inner());
            }
        }
        // Attached while stopped: the stop becomes a ptrace-stop at once.
        if self.handle.ptrace.is_traced() {
            self.ptrace_group_stop();
        }
    }

    /// Delivers a synchronous signal the app caused: a blocked or ignored
    /// one cannot be put off, so it reverts to its default action.
    pub fn force_signal(&mut self, info: SigInfo) {
        let sig = info.signo();
        {
            let mut h = self.handle.tg.sighand.lock().unwrap_or_else(|e| e.into_inner());
            let a = h.get(sig);
            if a.handler == SIG_IGN || self.sigmask & bit(sig) != 0 {
                h.set(sig, SigAction::default());
            }
        }
        self.set_sigmask(self.sigmask & !bit(sig));
        self.handle.push_signal(info);
    }

    /// Makes the app run the interrupted syscall again, or, after
    /// ERESTART_RESTARTBLOCK, `restart_syscall` (which resumes
    /// [`Task::restart_block`]).
    fn rewind_syscall(&mut self, code: Errno) {
        crate::arch::rewind_syscall(&mut self.regs, code == Errno::ERESTART_RESTARTBLOCK);
    }

    /// Handles pending signals: runs default actions, or sets up one handler
    /// frame; and restarts or fails an interrupted syscall as Linux does.
    fn deliver_signals(&mut self) {
        let restart = if self.in_syscall && self.regs.syscall_nr() != u64::MAX {
            match -(self.regs.return_value() as i64) {
                e @ 512..=516 => Some(Errno(e as i32)),
                _ => None,
            }
        } else {
            None
        };
        let mut restart = restart;
        // `in_syscall` stays set while the restart is still to be decided:
        // a checkpoint that parks this thread in a stop below keeps it so,
        // and the restored thread decides it as this one would have.
        let mut delivered = false;
        while self.tracer_gave.is_some() || self.handle.pending_set() & !self.sigmask != 0 {
            // A signal a restored tracee's tracer gave it at the stop the
            // checkpoint caught it in goes first, seen already.
            let given = self.tracer_gave.take();
            let seen = given.is_some();
            let Some(info) = given
                .or_else(|| self.handle.pop_signal(self.sigmask))
                .or_else(|| self.handle.tg.pop_signal(self.sigmask))
            else {
                break;
            };
            // A tracee's tracer sees each signal first (but SIGKILL), and
            // may drop or change it.
            let info = if !seen && self.handle.ptrace.is_traced() && info.signo() != SIGKILL {
                match self.ptrace_signal(info) {
                    Some(i) => i,
                    None => continue,
                }
            } else {
                info
            };
            let sig = info.signo();
            let act = self.handle.tg.sighand.lock().unwrap_or_else(|e| e.into_inner()).get(sig);
            if act.handler == SIG_IGN {
                continue;
            }
            if act.handler == SIG_DFL {
                // Init ignores the default action of signals sent to it (it
                // only queued them because they were blocked), the
                // terminal's included; only faults the app caused still
                // apply (force_signal).
                if self.pid == 1 && sig != abi::flags::signal::SIGKILL && !is_forced_fault(&info) {
                    continue;
                }
                match default_action(sig) {
                    DefaultAction::Ignore | DefaultAction::Continue => continue,
                    DefaultAction::Stop => {
                        // The stop takes effect before any more app code
                        // runs, as Linux's do_signal_stop sleeps in place.
                        self.group_stop(sig);
                        self.wait_while_stopped();
                        continue;
                    }
                    DefaultAction::Terminate => {
                        self.exit_group(ExitStatus::Signaled(sig));
                        return;
                    }
                    DefaultAction::Core => {
                        self.exit_group(ExitStatus::Dumped(sig));
                        return;
                    }
                }
            }
            if let Some(code) = restart.take() {
                self.in_syscall = false;
                let again =
                    code == Errno::ERESTARTNOINTR || (code == Errno::ERESTARTSYS && act.flags & SA_RESTART != 0);
                if again {
                    self.rewind_syscall(code);
                } else {
                    self.regs.set_return(Errno::EINTR.as_return());
                }
            }
            if self.setup_frame(sig, &info, &act).is_err() {
                // No room for the frame (or no write access to it): as
                // Linux's force_sigsegv, a SIGSEGV (SI_KERNEL) comes
                // next, to its handler if it has one; a SIGSEGV whose own
                // frame failed has its handler reset, so that it kills.
                if sig == SIGSEGV {
                    let reset = SigAction { handler: crate::kernel::signal::SIG_DFL, ..act };
                    self.handle.tg.sighand.lock().unwrap_or_else(|e| e.into_inner()).set(sig, reset);
                }
                self.force_signal(SigInfo::new(SIGSEGV, code::SI_KERNEL));
                continue;
            }
            if act.flags & SA_RESETHAND != 0 {
                // Linux resets the handler only: the flags and mask stay
                // for sigaction to report.
                let reset = SigAction { handler: crate::kernel::signal::SIG_DFL, ..act };
                self.handle.tg.sighand.lock().unwrap_or_else(|e| e.into_inner()).set(sig, reset);
            }
            let mut mask = self.sigmask | act.mask;
            if act.flags & SA_NODEFER == 0 {
                mask |= bit(sig);
            }
            self.set_sigmask(mask);
            delivered = true;
            break;
        }
        if let Some(code) = restart {
            // Nothing ran a handler: the syscall starts over.
            self.rewind_syscall(code);
        }
        self.in_syscall = false;
        if !delivered {
            if let Some(m) = self.saved_mask.take() {
                self.set_sigmask(m);
            }
        }
    }

    fn on_altstack(&self, sp: u64) -> bool {
        self.altstack.size != 0 && sp > self.altstack.sp && sp - self.altstack.sp <= self.altstack.size
    }

    /// The `stack_t` to report for the current state.
    pub fn altstack_report(&self) -> (u64, u32, u64) {
        let flags = if self.altstack.size == 0 {
            SS_DISABLE
        } else if self.on_altstack(self.regs.sp()) {
            SS_ONSTACK
        } else {
            self.altstack.flags & !SS_ONSTACK
        };
        (self.altstack.sp, flags, self.altstack.size)
    }

    /// Writes the signal frame and points the registers at the handler.
    fn setup_frame(&mut self, sig: u32, info: &SigInfo, act: &SigAction) -> SysResult<()> {
        let mut fp = FpState::default();
        let have_fp = match self.space.as_deref_mut() {
            Some(space) => self.ctx.get_fp_state(space, &mut fp).unwrap_or(false),
            None => false,
        };
        let altstack = self.altstack_report();
        let vdso_base =
            if crate::arch::RESTORER_FROM_VDSO && act.flags & SA_RESTORER == 0 { self.mm().vdso_base() } else { None };
        let req = FrameRequest {
            sig,
            info,
            act,
            regs: &self.regs,
            fp: have_fp.then_some(&mut fp),
            on_altstack: act.flags & SA_ONSTACK != 0 && self.altstack.size != 0 && !self.on_altstack(self.regs.sp()),
            altstack_top: self.altstack.sp.wrapping_add(self.altstack.size),
            altstack,
            old_mask: self.saved_mask.take().unwrap_or(self.sigmask),
            vdso_base,
            trap: self.trap,
        };
        let regs = crate::arch::setup_frame(&mut self.mm(), req)?;
        self.regs = regs;
        Ok(())
    }

    /// rt_sigreturn: restores the registers, mask and FPU state saved by
    /// `setup_frame`. Returns the restored return register.
    pub fn sigreturn(&mut self) -> SysResult<u64> {
        // As Linux: a handler's return does not resume a restart block.
        self.restart_block = None;
        let restored = crate::arch::read_frame(&self.mm(), &self.regs);
        let Ok(restored) = restored else {
            self.force_signal(SigInfo::new(SIGSEGV, code::SI_KERNEL));
            return Err(Errno::EFAULT);
        };
        self.regs = restored.regs;
        let ret = self.regs.return_value();
        self.set_sigmask(restored.mask);
        match restored.fp {
            FpRestore::Reset => self.reset_fp_state(),
            FpRestore::Load(fp) => {
                if let Some(space) = self.space.as_deref_mut() {
                    let _ = self.ctx.set_fp_state(space, &fp);
                }
            }
            FpRestore::Fault => {
                self.force_signal(SigInfo::new(SIGSEGV, code::SI_KERNEL));
                return Ok(0);
            }
        }
        Ok(ret)
    }

    /// Resets the FPU to its state at execve.
    pub fn reset_fp_state(&mut self) {
        let fp = FpState::initial();
        if let Some(space) = self.space.as_deref_mut() {
            let _ = self.ctx.set_fp_state(space, &fp);
        }
    }

    /// Replaces the stub's view with a fresh address space (execve).
    pub fn switch_mm(&mut self, mm: std::sync::Arc<std::sync::Mutex<crate::mm::MemoryManager>>) {
        self.mm().detach(&self.cursor);
        self.mm = mm;
        self.cursor = crate::mm::SpaceCursor::for_runner(self.cursor.runner().clone());
    }

    /// Has the stub show the host the program's argv as its command line
    /// (what the host's `ps`, and `docker top` through `husk ps`, print),
    /// as a process of the host would: for a new stub, and after execve.
    pub(super) fn show_args_to_host(&mut self) {
        let Some(view) = self.handle.view() else { return };
        let Some(space) = self.space.as_deref_mut() else { return };
        if let Err(e) = space.show_args(&view.cmdline) {
            static ONCE: std::sync::Once = std::sync::Once::new();
            ONCE.call_once(|| log::info!("the host's ps will not show the app's command lines: {e}"));
        }
    }

    /// Leaves the stub (thread exit): forgets the address space and ends the
    /// stub process.
    pub(super) fn release_stub(&mut self) {
        if let Some(u) = self.handle.stub_usage() {
            self.handle.tg.exited_usage.lock().unwrap_or_else(|e| e.into_inner()).add(&u);
        }
        {
            // Under the lock that readers of the process's CPU time hold,
            // so that they count this thread once: live or exited.
            let mut exited = self.handle.tg.exited_cpu.lock().unwrap_or_else(|e| e.into_inner());
            exited.add(self.handle.cpu_time());
            self.handle.stub_pid.store(0, std::sync::atomic::Ordering::Release);
            self.handle.sentry_clock.store(super::NO_CLOCK, std::sync::atomic::Ordering::Release);
        }
        self.mm().detach(&self.cursor);
        *self.handle.interrupter.lock().unwrap_or_else(|e| e.into_inner()) = None;
        self.space = None;
    }

    /// Whether a signal is pending (for sigpending-like checks).
    pub fn pending_signals(&self) -> SigSet {
        self.handle.pending_set()
    }

    /// Takes a pending signal in `set` (for sigtimedwait), thread first.
    pub fn take_signal_in(&mut self, set: SigSet) -> Option<SigInfo> {
        let ready = self.handle.pending_set() & set;
        if ready == 0 {
            return None;
        }
        let sig = ready.trailing_zeros() + 1;
        self.handle.take_signal(sig).or_else(|| {
            let mut p = self.handle.tg.pending.lock().unwrap_or_else(|e| e.into_inner());
            let s = p.take(sig);
            self.handle.tg.pending_bits.store(p.set(), Ordering::Release);
            s
        })
    }
}
