//! The run loop and signal delivery.
//!
//! The loop runs the app until it makes a syscall or faults, handles that,
//! delivers pending signals, brings the stub's mappings up to date, and goes
//! round again, as gVisor's `task_run.go` does.

use std::sync::atomic::Ordering;

use abi::flags::signal::{SIGKILL, SIGSEGV};
use abi::Errno;
use platform::{
    fp_layout, FpLayout, FpState, SwitchOutcome, FP_XSTATE_MAGIC1, FP_XSTATE_MAGIC2, FX_SW_BYTES, XFEATURE_FPSSE,
    XSAVE_HEADER, XSAVE_MIN,
};

use super::Task;
use crate::kernel::signal::*;
use crate::kernel::ExitStatus;
use crate::mm::SysResult;

/// `uc_flags`: the frame saves ss (`UC_SIGCONTEXT_SS`), and sigreturn
/// restores it strictly (`UC_STRICT_RESTORE_SS`).
const UC_FLAGS: u64 = 0x2 | 0x4;
/// `uc_flags`: the FPU state is an XSAVE area (`UC_FP_XSTATE`), set where
/// the CPU has XSAVE.
const UC_FP_XSTATE: u64 = 0x1;
/// The XSAVE components whose state includes MXCSR (SSE, AVX).
const XFEATURE_MXCSR_USERS: u64 = 0b110;
/// Size of the kernel's `struct ucontext` on x86_64.
const UCONTEXT_SIZE: u64 = 304;
/// Offset of `uc_mcontext` in `struct ucontext`.
const MCONTEXT_OFF: u64 = 40;
/// Size of `struct sigcontext`.
const SIGCONTEXT_SIZE: usize = 256;
/// Offset of `uc_sigmask` in `struct ucontext`.
const SIGMASK_OFF: u64 = 296;
/// `struct rt_sigframe`: return address, ucontext, siginfo.
const FRAME_SIZE: u64 = 8 + UCONTEXT_SIZE + 128;
/// Bytes below the stack pointer the x86_64 ABI lets code use.
const RED_ZONE: u64 = 128;
/// eflags bits sigreturn lets the app set.
const FIX_EFLAGS: u64 = 0x40000 | 0x800 | 0x400 | 0x100 | 0x80 | 0x40 | 0x10 | 0x4 | 0x1 | 0x10000;
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
                self.space = Some(s);
                if let (Some(fp), Some(space)) = (self.inherited_fp.take(), self.space.as_deref_mut()) {
                    if let Err(e) = self.ctx.set_fp_state(space, &fp) {
                        log::warn!("task {}: cannot give it its parent's FPU state: {e}", self.tid);
                    }
                }
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
            let outcome = self.ctx.switch(space, &mut self.regs);
            self.cursor.runner().set_in_app(false);
            match outcome {
                Ok(SwitchOutcome::Syscall) => {
                    self.in_syscall = true;
                    self.syscall();
                }
                Ok(SwitchOutcome::Fault { signo, code, addr, access }) => {
                    if self.mm.lock().unwrap_or_else(|e| e.into_inner()).handle_fault(addr, access, &self.cursor) {
                        continue;
                    }
                    // A touch past the end of a mapped file is SIGBUS, as on Linux.
                    let (signo, code) =
                        if self.mm().fault_is_past_eof(addr) { (abi::flags::signal::SIGBUS, 2) } else { (signo, code) };
                    log::debug!("task {}: signal {signo} code {code} at {addr:#x}, ip {:#x}", self.tid, self.regs.rip);
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
        self.regs.rax =
            if code == Errno::ERESTART_RESTARTBLOCK { abi::nr::RESTART_SYSCALL } else { self.regs.orig_rax };
        self.regs.rip = self.regs.rip.wrapping_sub(2);
    }

    /// Handles pending signals: runs default actions, or sets up one handler
    /// frame; and restarts or fails an interrupted syscall as Linux does.
    fn deliver_signals(&mut self) {
        let restart = if self.in_syscall && self.regs.orig_rax != u64::MAX {
            match -(self.regs.rax as i64) {
                e @ 512..=516 => Some(Errno(e as i32)),
                _ => None,
            }
        } else {
            None
        };
        let mut restart = restart;
        self.in_syscall = false;
        let mut delivered = false;
        while self.handle.pending_set() & !self.sigmask != 0 {
            let Some(info) = self.handle.pop_signal(self.sigmask).or_else(|| self.handle.tg.pop_signal(self.sigmask))
            else {
                break;
            };
            // A tracee's tracer sees each signal first (but SIGKILL), and
            // may drop or change it.
            let info = if self.handle.ptrace.is_traced() && info.signo() != SIGKILL {
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
                let again =
                    code == Errno::ERESTARTNOINTR || (code == Errno::ERESTARTSYS && act.flags & SA_RESTART != 0);
                if again {
                    self.rewind_syscall(code);
                } else {
                    self.regs.rax = Errno::EINTR.as_return();
                }
            }
            if self.setup_frame(sig, &info, &act).is_err() {
                // No room for the frame: Linux kills with SIGSEGV.
                self.exit_group(ExitStatus::Dumped(SIGSEGV));
                return;
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
        } else if self.on_altstack(self.regs.rsp) {
            SS_ONSTACK
        } else {
            self.altstack.flags & !SS_ONSTACK
        };
        (self.altstack.sp, flags, self.altstack.size)
    }

    /// Writes an `rt_sigframe` and points the registers at the handler.
    fn setup_frame(&mut self, sig: u32, info: &SigInfo, act: &SigAction) -> SysResult<()> {
        let r = self.regs;
        let use_alt = act.flags & SA_ONSTACK != 0 && self.altstack.size != 0 && !self.on_altstack(r.rsp);
        let mut sp = if use_alt { self.altstack.sp + self.altstack.size } else { r.rsp.wrapping_sub(RED_ZONE) };
        let layout = fp_layout();
        let mut fp = FpState::default();
        let have_fp = match self.space.as_deref_mut() {
            Some(space) => self.ctx.get_fp_state(space, &mut fp).unwrap_or(false),
            None => false,
        };
        let mut fp_addr = 0;
        // As Linux's fpu__alloc_mathframe: the XSAVE area and its trailing
        // magic word, 64-byte aligned.
        let fp_len = if layout.xsave { layout.size + 4 } else { 512 };
        if have_fp {
            sp = sp.wrapping_sub(fp_len as u64) & !63;
            fp_addr = sp;
            // As Linux's save_xstate_epilog; x87 and SSE are marked present
            // so that a handler that edits only the legacy area is heard on
            // sigreturn.
            if layout.xsave {
                fp.mark_sigframe(layout);
            }
        }
        let frame = (sp.wrapping_sub(FRAME_SIZE) & !15).wrapping_sub(8);
        let mut sc = [0u64; SIGCONTEXT_SIZE / 8];
        let gp = [
            r.r8, r.r9, r.r10, r.r11, r.r12, r.r13, r.r14, r.r15, r.rdi, r.rsi, r.rbp, r.rbx, r.rdx, r.rax, r.rcx,
            r.rsp, r.rip, r.eflags,
        ];
        sc[..18].copy_from_slice(&gp);
        // cs, gs, fs, ss as four u16s.
        sc[18] = (r.cs & 0xffff) | ((r.ss & 0xffff) << 48);
        if sig == SIGSEGV {
            // cr2: the faulting address.
            sc[22] = u64::from_le_bytes(info.0[16..24].try_into().unwrap_or([0; 8]));
        }
        sc[23] = fp_addr;
        let (ss_sp, ss_flags, ss_size) = self.altstack_report();
        let mut uc = Vec::with_capacity(UCONTEXT_SIZE as usize);
        let uc_flags = if layout.xsave { UC_FLAGS | UC_FP_XSTATE } else { UC_FLAGS };
        uc.extend_from_slice(&uc_flags.to_le_bytes());
        uc.extend_from_slice(&0u64.to_le_bytes());
        uc.extend_from_slice(&ss_sp.to_le_bytes());
        uc.extend_from_slice(&u64::from(ss_flags).to_le_bytes());
        uc.extend_from_slice(&ss_size.to_le_bytes());
        for w in sc {
            uc.extend_from_slice(&w.to_le_bytes());
        }
        let old_mask = self.saved_mask.take().unwrap_or(self.sigmask);
        uc.extend_from_slice(&old_mask.to_le_bytes());
        debug_assert_eq!(uc.len() as u64, UCONTEXT_SIZE);
        let restorer = if act.flags & SA_RESTORER != 0 { act.restorer } else { 0 };
        let mut bytes = Vec::with_capacity(FRAME_SIZE as usize);
        bytes.extend_from_slice(&restorer.to_le_bytes());
        bytes.extend_from_slice(&uc);
        bytes.extend_from_slice(&info.0);
        {
            let mut mm = self.mm();
            mm.copy_out(frame, &bytes)?;
            if have_fp {
                mm.copy_out(fp_addr, &fp.bytes[..layout.size.min(fp_len)])?;
                if layout.xsave {
                    mm.copy_out(fp_addr + layout.size as u64, &FP_XSTATE_MAGIC2.to_le_bytes())?;
                }
            }
        }
        self.regs.rdi = u64::from(sig);
        self.regs.rsi = frame + 8 + UCONTEXT_SIZE;
        self.regs.rdx = frame + 8;
        self.regs.rax = 0;
        self.regs.rsp = frame;
        self.regs.rip = act.handler;
        self.regs.eflags &= !(0x100 | 0x400 | 0x10000);
        self.regs.orig_rax = u64::MAX;
        Ok(())
    }

    /// rt_sigreturn: restores the registers, mask and FPU state saved by
    /// `setup_frame`. Returns the restored rax.
    pub fn sigreturn(&mut self) -> SysResult<u64> {
        // As Linux: a handler's return does not resume a restart block.
        self.restart_block = None;
        let frame = self.regs.rsp.wrapping_sub(8);
        let mut uc = [0u8; UCONTEXT_SIZE as usize];
        if self.mm().copy_in(frame + 8, &mut uc).is_err() {
            self.force_signal(SigInfo::new(SIGSEGV, code::SI_KERNEL));
            return Err(Errno::EFAULT);
        }
        let word = |i: usize| -> u64 {
            let at = (MCONTEXT_OFF as usize) + i * 8;
            u64::from_le_bytes(uc[at..at + 8].try_into().unwrap_or([0; 8]))
        };
        let r = &mut self.regs;
        [r.r8, r.r9, r.r10, r.r11, r.r12, r.r13, r.r14, r.r15, r.rdi, r.rsi, r.rbp, r.rbx, r.rdx, r.rax, r.rcx] = [
            word(0),
            word(1),
            word(2),
            word(3),
            word(4),
            word(5),
            word(6),
            word(7),
            word(8),
            word(9),
            word(10),
            word(11),
            word(12),
            word(13),
            word(14),
        ];
        r.rsp = word(15);
        r.rip = word(16);
        r.eflags = (r.eflags & !FIX_EFLAGS) | (word(17) & FIX_EFLAGS);
        r.orig_rax = u64::MAX;
        let rax = r.rax;
        let fp_addr = word(23);
        let mask = u64::from_le_bytes(uc[SIGMASK_OFF as usize..SIGMASK_OFF as usize + 8].try_into().unwrap_or([0; 8]));
        self.set_sigmask(mask);
        // As Linux's fpu__restore_sig: no FPU state resets the FPU; a frame
        // the CPU would refuse is SIGSEGV, after the registers and mask were
        // restored.
        if fp_addr == 0 {
            self.reset_fp_state();
            return Ok(rax);
        }
        let mut fp = FpState::default();
        let loaded = read_fp_frame(&self.mm(), fp_addr, fp_layout(), &mut fp);
        if loaded.is_err() {
            self.force_signal(SigInfo::new(SIGSEGV, code::SI_KERNEL));
            return Ok(0);
        }
        if let Some(space) = self.space.as_deref_mut() {
            let _ = self.ctx.set_fp_state(space, &fp);
        }
        Ok(rax)
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

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn le64(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

/// Reads the FPU state of a signal frame at `addr` into `fp` as Linux's
/// sigreturn would load it, or `Err` where Linux's XRSTOR or FXRSTOR
/// would fault (the caller sends SIGSEGV).
///
/// With a valid marker (magic1, a plausible `xstate_size`, magic2 after the
/// area) the whole XSAVE area is taken: components outside the frame's
/// `xfeatures` or absent from `xstate_bv` come back in their initial state,
/// and a `xstate_bv` bit the CPU does not enable, a nonzero `xcomp_bv` or
/// reserved MXCSR bits are faults. Without the marker only the legacy
/// (FXSAVE) area is taken and every other component is reset.
fn read_fp_frame(mm: &crate::mm::MemoryManager, addr: u64, layout: &FpLayout, fp: &mut FpState) -> Result<(), Errno> {
    mm.copy_in(addr, &mut fp.bytes[..512])?;
    let b = &fp.bytes;
    let xstate_size = le32(b, FX_SW_BYTES + 16) as usize;
    let full = layout.xsave
        && le32(b, FX_SW_BYTES) == FP_XSTATE_MAGIC1
        && (XSAVE_MIN..=layout.size).contains(&xstate_size)
        && xstate_size <= le32(b, FX_SW_BYTES + 4) as usize
        && {
            let mut magic2 = [0u8; 4];
            mm.copy_in(addr.wrapping_add(xstate_size as u64), &mut magic2)?;
            u32::from_le_bytes(magic2) == FP_XSTATE_MAGIC2
        };
    // XRSTOR's requested-feature bitmap: the frame's xfeatures, within XCR0.
    let rfbm = if full { le64(b, FX_SW_BYTES + 8) & layout.xcr0 } else { XFEATURE_FPSSE };
    fp.bytes[FX_SW_BYTES..512].fill(0);
    if !full {
        // FXRSTOR needs 16-byte alignment and a valid MXCSR.
        if !addr.is_multiple_of(16) || fp.mxcsr() & !layout.mxcsr_mask != 0 {
            return Err(Errno::EFAULT);
        }
        if layout.xsave {
            fp.bytes[XSAVE_HEADER..layout.size].fill(0);
            fp.set_xstate_bv(XFEATURE_FPSSE);
        }
        return Ok(());
    }
    // XRSTOR reads the header, then only the components it loads.
    mm.copy_in(addr + XSAVE_HEADER as u64, &mut fp.bytes[XSAVE_HEADER..XSAVE_MIN])?;
    let bv = fp.xstate_bv();
    let xcomp_bv = le64(&fp.bytes, XSAVE_HEADER + 8);
    let reserved = le64(&fp.bytes, XSAVE_HEADER + 16);
    if !addr.is_multiple_of(64) || bv & !layout.xcr0 != 0 || xcomp_bv != 0 || reserved != 0 {
        return Err(Errno::EFAULT);
    }
    if rfbm & XFEATURE_MXCSR_USERS != 0 && fp.mxcsr() & !layout.mxcsr_mask != 0 {
        return Err(Errno::EFAULT);
    }
    let load = bv & rfbm & layout.features;
    if load & !XFEATURE_FPSSE != 0 {
        mm.copy_in(addr + XSAVE_MIN as u64, &mut fp.bytes[XSAVE_MIN..layout.size])?;
    }
    fp.bytes[XSAVE_HEADER + 8..XSAVE_MIN].fill(0);
    fp.set_xstate_bv(load);
    Ok(())
}
