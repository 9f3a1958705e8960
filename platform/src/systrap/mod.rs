//! The systrap platform: app syscalls trap with seccomp inside the stub, and
//! reach the Sentry through shared memory.
//!
//! Each address space is one stub process (not ptraced) running under a
//! seccomp filter that turns every app syscall into a SIGSYS. The stub's
//! handler, on an alternate stack in a region the Sentry shares, copies the
//! registers and siginfo into the control page, gives the turn to the Sentry
//! and waits for the reply; faults (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP)
//! take the same path. Address-space changes (mmap, munmap, mprotect) are
//! queued in the control page; the reply either resumes the app with the
//! registers given, after the stub has made the queued changes, or only has
//! it make them. Stubs after the first are cloned by a stub factory. See
//! `stub.rs` for the stub and the factory, `shared.rs` for the control page
//! and the handoff protocol, and `pool.rs` for where control regions live.
//!
//! Unlike ptrace, nothing binds a stub to the Sentry thread that created it:
//! any thread may switch to it, one at a time.
//!
//! # Threat model
//! App code shares its address space with the handler: it can write the
//! control page and jump into the stub's code. The Sentry therefore treats
//! everything it reads from the control page as untrusted input, copied out
//! once and then checked: the signal number must be one the handler is
//! installed for, the signal frame it points into must lie in the signal
//! stack, TLS bases must be user addresses, the syscall number is just a
//! `u64` that the Sentry's table lookup bounds-checks, the registers are only
//! handed back to the same app, and results of address-space requests only
//! decide whether an error is reported. The seccomp filter
//! confines what a hijacked stub can do to mapping the sandbox's own memory
//! file, changing its own mappings and TLS bases, futexes and rt_sigreturn,
//! so a lying stub hurts only its own sandbox.

mod arch;
mod pool;
mod shared;
mod stub;
mod sys;

use std::any::Any;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::{AddressSpace, Context, FpState, Interrupter, Platform, PlatformError, Prot, Regs, SwitchOutcome};
use shared::{Ctrl, S_APP, S_SENTRY, WAITING};

/// How long each side spins for its turn before it sleeps in FUTEX_WAIT.
const SPIN: Duration = Duration::from_micros(20);
/// How long the Sentry sleeps before it checks that the stub is alive.
const LIVENESS_PERIOD: Duration = Duration::from_millis(50);

/// The systrap platform.
pub struct SystrapPlatform {
    memfd: RawFd,
    region: stub::Region,
    /// Every stub's control region.
    pool: Arc<pool::CtrlPool>,
    /// The stub factory, started with the second address space (a sandbox
    /// whose app never forks needs none), or None if it could not start.
    factory: OnceLock<Option<stub::Factory>>,
    /// Set once the factory has died: stubs are forked from the Sentry again.
    factory_gone: AtomicBool,
    /// The control region of the stub the factory was last asked for, so
    /// that the next address space finds it ready: the factory clones it
    /// while the app runs.
    ahead: Mutex<Option<(pool::PoolSlot, Ctrl)>>,
    /// Set once the first address space (forked, never the factory's) is
    /// made.
    made_one: AtomicBool,
    fsgsbase: bool,
    /// `pause` iterations in [`SPIN`], for the stub.
    stub_spin: u64,
}

impl SystrapPlatform {
    /// A systrap platform whose address spaces map pages of `memfile`. The
    /// fd must stay open as long as the platform and its address spaces live.
    pub fn new(memfile: BorrowedFd<'_>) -> Result<Self, PlatformError> {
        sys::seccomp_trap_available().map_err(PlatformError::StubCreate)?;
        Ok(SystrapPlatform {
            memfd: memfile.as_raw_fd(),
            region: stub::region()?,
            pool: pool::CtrlPool::new().map_err(PlatformError::StubCreate)?,
            factory: OnceLock::new(),
            factory_gone: AtomicBool::new(false),
            ahead: Mutex::new(None),
            made_one: AtomicBool::new(false),
            fsgsbase: arch::has_fsgsbase(),
            stub_spin: spin_iterations(),
        })
    }

    /// Makes the stubs set TLS bases with arch_prctl even where the CPU
    /// lets user code use wrfsbase (for tests of that path).
    #[doc(hidden)]
    pub fn without_fsgsbase(mut self) -> Self {
        self.fsgsbase = false;
        self
    }

    /// A new control region, set up for a stub's start.
    fn new_ctrl(&self) -> std::io::Result<(pool::PoolSlot, Ctrl)> {
        let slot = self.pool.alloc()?;
        let ctrl = Ctrl::map(self.pool.fd(), slot.offset())?;
        ctrl.state().store(S_APP, Ordering::SeqCst);
        ctrl.set(shared::SPIN, self.stub_spin);
        ctrl.set(shared::FSGS_MODE, u64::from(self.fsgsbase));
        arch::init_ctrl(&ctrl, self.region.sigstack());
        Ok((slot, ctrl))
    }

    /// Starts a stub, cloned by the factory or forked from the Sentry:
    /// its control region and pid.
    fn start_stub(&self) -> Result<(pool::PoolSlot, Ctrl, i32), PlatformError> {
        if let Some(factory) = self.factory() {
            let mut ahead = self.ahead.lock().unwrap_or_else(|e| e.into_inner());
            match self.take_from_factory(factory, &mut ahead) {
                Ok(stub) => return Ok(stub),
                Err(stub::FactoryError::Clone(e)) => return Err(PlatformError::StubCreate(e)),
                Err(stub::FactoryError::Gone) => {
                    log::warn!("systrap: the stub factory died; stubs are forked from the Sentry from now on");
                    self.factory_gone.store(true, Ordering::Relaxed);
                }
            }
        }
        let (slot, ctrl) = self.new_ctrl().map_err(PlatformError::StubCreate)?;
        let pid = stub::spawn(self.memfd, self.pool.fd().as_raw_fd(), slot.offset(), self.region)?;
        Ok((slot, ctrl, pid))
    }

    /// The stub asked for ahead (or, the first time, one asked for now),
    /// and a request for the next.
    fn take_from_factory(
        &self,
        factory: &stub::Factory,
        ahead: &mut Option<(pool::PoolSlot, Ctrl)>,
    ) -> Result<(pool::PoolSlot, Ctrl, i32), stub::FactoryError> {
        let (slot, ctrl) = match ahead.take() {
            Some(asked) => asked,
            None => {
                let region = self.new_ctrl().map_err(stub::FactoryError::Clone)?;
                factory.request(region.0.offset());
                region
            }
        };
        let pid = factory.collect()?;
        if let Ok(next) = self.new_ctrl() {
            factory.request(next.0.offset());
            *ahead = Some(next);
        }
        Ok((slot, ctrl, pid))
    }

    /// The stub factory, if it serves this address space: not the first
    /// one, and not once it has died.
    fn factory(&self) -> Option<&stub::Factory> {
        if self.factory_gone.load(Ordering::Relaxed) {
            return None;
        }
        if !self.made_one.swap(true, Ordering::Relaxed) {
            return None;
        }
        self.factory
            .get_or_init(|| match stub::Factory::start(self.memfd, self.pool.fd(), self.region) {
                Ok(f) => Some(f),
                Err(e) => {
                    log::warn!("systrap: no stub factory ({e}); stubs are forked from the Sentry");
                    None
                }
            })
            .as_ref()
    }

    /// The stub factory's pid, once it has started (for tests).
    #[doc(hidden)]
    pub fn factory_pid(&self) -> Option<i32> {
        self.factory.get().and_then(|f| f.as_ref()).map(stub::Factory::pid)
    }

    /// The systrap-specific address space behind `space`, if it is one.
    pub fn downcast(space: &mut dyn AddressSpace) -> Option<&mut SystrapAddressSpace> {
        space.as_any_mut().downcast_mut()
    }
}

/// How many `pause` iterations take [`SPIN`] on this CPU (measured once).
fn spin_iterations() -> u64 {
    static ITERS: OnceLock<u64> = OnceLock::new();
    *ITERS.get_or_init(|| {
        const N: u32 = 20_000;
        let t = Instant::now();
        for _ in 0..N {
            std::hint::spin_loop();
        }
        let per = (t.elapsed().as_nanos() / u128::from(N)).max(1);
        (SPIN.as_nanos() / per).clamp(16, 1 << 20) as u64
    })
}

/// The CPU this thread runs on (glibc reads it from the rseq area).
fn current_cpu() -> u64 {
    // SAFETY: sched_getcpu takes no arguments.
    let cpu = unsafe { libc::sched_getcpu() };
    u64::try_from(cpu).unwrap_or(u64::MAX - 1)
}

/// Checks that the host can run the systrap platform: seccomp's
/// SECCOMP_RET_TRAP exists, and a stub starts, traps a syscall into the
/// Sentry and reports a fault. Returns why not otherwise.
pub fn probe() -> Result<(), PlatformError> {
    let mem = sys::memfd(c"husk-systrap-probe", shared::PAGE).map_err(PlatformError::StubCreate)?;
    // A syscall, then an undefined instruction.
    let code = arch::PROBE_CODE;
    // SAFETY: writes our own buffer into our own memfd.
    let n = unsafe { libc::pwrite(mem.as_raw_fd(), code.as_ptr().cast(), code.len(), 0) };
    if n != code.len() as isize {
        return Err(PlatformError::StubCreate(std::io::Error::last_os_error()));
    }
    let platform = SystrapPlatform::new(mem.as_fd())?;
    let mut space = platform.new_address_space()?;
    let at = platform.min_user_address();
    space.map_file(at, shared::PAGE as u64, 0, Prot(Prot::READ | Prot::EXEC))?;
    let mut ctx = platform.new_context();
    let mut regs = arch::probe_regs(at);
    let pid = SystrapPlatform::downcast(space.as_mut()).map_or(0, |s| s.pid);
    let unexpected = |what| PlatformError::Protocol { pid, what };
    if ctx.switch(space.as_mut(), &mut regs)? != SwitchOutcome::Syscall || regs.syscall_nr() != libc::SYS_getpid as u64
    {
        return Err(unexpected("probe: no syscall stop"));
    }
    match ctx.switch(space.as_mut(), &mut regs)? {
        SwitchOutcome::Fault { signo, .. } if signo == libc::SIGILL as u32 => Ok(()),
        _ => Err(unexpected("probe: no SIGILL")),
    }
}

impl Drop for SystrapPlatform {
    fn drop(&mut self) {
        // The stub asked for ahead is the Sentry's child, not the factory's.
        let asked = self.ahead.get_mut().unwrap_or_else(|e| e.into_inner()).take();
        if let (Some(_region), Some(Some(factory))) = (asked, self.factory.get()) {
            if let Ok(pid) = factory.collect() {
                sys::kill(pid);
                sys::reap(pid);
            }
        }
    }
}

/// Stubs killed, for the reaper thread: each pid with its control region.
type ReapQueue = Mutex<std::sync::mpsc::Sender<(i32, Option<pool::PoolSlot>)>>;

/// Reaps a killed stub and then gives back its control region, on a thread
/// of its own: the host tears the stub's address space down meanwhile, off
/// the app's path (its exit, or its exec).
fn reap_later(pid: i32, slot: Option<pool::PoolSlot>) {
    static REAPER: OnceLock<Option<ReapQueue>> = OnceLock::new();
    let queue = REAPER.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel::<(i32, Option<pool::PoolSlot>)>();
        std::thread::Builder::new()
            .name("husk-systrap-reaper".into())
            .spawn(move || {
                stub::block_all_signals();
                for (pid, slot) in rx {
                    sys::reap(pid);
                    drop(slot);
                }
            })
            .ok()
            .map(|_| Mutex::new(tx))
    });
    let unsent = match queue {
        Some(tx) => tx.lock().unwrap_or_else(|e| e.into_inner()).send((pid, slot)).err().map(|e| e.0),
        None => Some((pid, slot)),
    };
    if let Some((pid, slot)) = unsent {
        sys::reap(pid);
        drop(slot);
    }
}

impl Platform for SystrapPlatform {
    fn name(&self) -> &'static str {
        "systrap"
    }

    fn max_user_address(&self) -> u64 {
        self.region.base
    }

    fn new_address_space(&self) -> Result<Box<dyn AddressSpace>, PlatformError> {
        let (slot, ctrl, pid) = self.start_stub()?;
        let mut space = SystrapAddressSpace {
            pid,
            ctrl,
            stub_ctrl: self.region.ctrl(),
            stub_region: self.region.base,
            pidfd: sys::pidfd_open(pid).map(Arc::new),
            memfd: self.memfd,
            fsgsbase: self.fsgsbase,
            fs_base: None,
            gs_base: None,
            parked: false,
            dead: None,
            spin: SPIN,
            slot: Some(slot),
            queued: 0,
            ops_nr: [0; shared::MAX_OPS],
        };
        // The stub gives the first turn once it is set up.
        space.wait_turn()?;
        Ok(Box::new(space))
    }

    fn new_context(&self) -> Box<dyn Context> {
        Box::new(SystrapContext {
            running: Arc::new(SystrapInterrupter {
                pid: AtomicI32::new(0),
                pidfd: Mutex::new(None),
                pending: AtomicBool::new(false),
            }),
        })
    }
}

/// An address space: one stub process, its control region and the state of
/// its one thread that the Sentry tracks.
pub struct SystrapAddressSpace {
    pid: i32,
    ctrl: Ctrl,
    /// The control region's address in the stub.
    stub_ctrl: u64,
    /// The stub region's address in the stub.
    stub_region: u64,
    /// A pidfd of the stub, for interrupts (None where the host has none).
    pidfd: Option<Arc<OwnedFd>>,
    memfd: RawFd,
    /// (x86_64's: the stub uses rd/wr{fs,gs}base.)
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    fsgsbase: bool,
    /// The fs and gs bases the stub thread has, when known (without
    /// FSGSBASE the Sentry tracks them and sets them only on change;
    /// x86_64's).
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    fs_base: Option<u64>,
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    gs_base: Option<u64>,
    /// The stub waits in its handler for a reply.
    parked: bool,
    /// The stub's wait status, once it has ended.
    dead: Option<i32>,
    spin: Duration,
    /// The control region's slot in the pool, given back once the stub is
    /// reaped.
    slot: Option<pool::PoolSlot>,
    /// How many address-space changes are queued in the control page.
    queued: usize,
    /// Their syscall numbers (the page itself is the app's to write).
    ops_nr: [u16; shared::MAX_OPS],
}

impl SystrapAddressSpace {
    /// The stub's host pid (for `ps` and diagnostics).
    pub fn host_pid(&self) -> i32 {
        self.pid
    }

    fn died(&self) -> PlatformError {
        PlatformError::StubDied { pid: self.pid, status: self.dead.unwrap_or(0) }
    }

    /// Gives the turn to the stub.
    fn give(&mut self) {
        self.parked = false;
        self.ctrl.set(shared::SENTRY_CPU, current_cpu());
        if shared::give_to_stub(self.ctrl.state()) {
            sys::futex_wake(self.ctrl.state_ptr());
        }
    }

    /// Waits until the stub gives the turn back: spins for `self.spin`, then
    /// sleeps, checking every [`LIVENESS_PERIOD`] that the stub still lives.
    fn wait_turn(&mut self) -> Result<(), PlatformError> {
        use std::sync::atomic::Ordering;
        let state = self.ctrl.state();
        let start = Instant::now();
        let mut spins = 0u32;
        // The stub on our CPU cannot make progress while we spin.
        let mut sleeping = self.ctrl.get(shared::STUB_CPU) == current_cpu();
        loop {
            let s = state.load(Ordering::Acquire);
            if shared::is_turn(s, S_SENTRY) {
                self.parked = true;
                return Ok(());
            }
            if !sleeping {
                std::hint::spin_loop();
                spins = spins.wrapping_add(1);
                sleeping = spins.is_multiple_of(64) && start.elapsed() >= self.spin;
                continue;
            }
            // Announce that we sleep, unless the turn changed meanwhile. A
            // value that is neither turn (written by the app) is waited on as
            // it is: only a liveness check or the stub changes it.
            let expect = if s == S_APP {
                match state.compare_exchange(S_APP, S_APP | WAITING, Ordering::SeqCst, Ordering::SeqCst) {
                    Ok(_) => S_APP | WAITING,
                    Err(_) => continue,
                }
            } else {
                s
            };
            if sys::futex_wait(self.ctrl.state_ptr(), expect, LIVENESS_PERIOD) == sys::Wait::TimedOut {
                if let Some(status) = sys::try_wait(self.pid) {
                    self.dead = Some(status);
                    return Err(self.died());
                }
            }
        }
    }

    /// Queues an address-space change (`nr` with `args`, run from the
    /// stub's code page) for the stub's next turn, which makes it before any
    /// app instruction runs: a fault's mapping and the resume after it cost
    /// one round trip, and a new stub's whole address space one more or
    /// less. The stub must be parked.
    fn queue(&mut self, nr: i64, args: [u64; 6]) -> Result<(), PlatformError> {
        if !self.parked {
            return Err(self.died());
        }
        if self.queued == shared::MAX_OPS {
            self.flush()?;
        }
        let at = shared::OPS + self.queued * shared::OP_LEN;
        self.ctrl.set(at, nr as u64);
        for (i, a) in args.iter().enumerate() {
            self.ctrl.set(at + 8 * (i + 1), *a);
        }
        self.queued += 1;
        self.ops_nr[self.queued - 1] = nr as u16;
        Ok(())
    }

    /// Has the stub make the queued changes now.
    fn flush(&mut self) -> Result<(), PlatformError> {
        if self.queued == 0 {
            return Ok(());
        }
        self.ctrl.set(shared::OPS_N, self.queued as u64);
        self.ctrl.set(shared::REQ, shared::REQ_OPS);
        self.give();
        self.wait_turn()?;
        self.ops_done()
    }

    /// After the stub's turn: an error if a queued change failed.
    fn ops_done(&mut self) -> Result<(), PlatformError> {
        let queued = std::mem::take(&mut self.queued);
        let left = self.ctrl.get(shared::OPS_N);
        if left == 0 {
            return Ok(());
        }
        let nr = usize::try_from(left)
            .ok()
            .and_then(|left| queued.checked_sub(left))
            .map_or(-1, |i| i64::from(self.ops_nr[i]));
        let op = match nr {
            libc::SYS_mmap => "mmap",
            libc::SYS_munmap => "munmap",
            libc::SYS_mprotect => "mprotect",
            libc::SYS_prctl => "prctl",
            _ => return Err(PlatformError::Protocol { pid: self.pid, what: "bad count of queued operations left" }),
        };
        let errno = -(self.ctrl.get(shared::RESULT) as i64) as i32;
        Err(PlatformError::AddressSpaceOp { op, pid: self.pid, errno })
    }

    /// Resumes the app with `regs` and waits for its next event.
    fn run(&mut self, regs: &mut Regs) -> Result<SwitchOutcome, PlatformError> {
        if !self.parked {
            return Err(self.died());
        }
        self.put_state(regs)?;
        self.ctrl.set(shared::OPS_N, self.queued as u64);
        self.ctrl.set(shared::REQ, shared::REQ_RESUME);
        self.give();
        self.wait_turn()?;
        self.ops_done()?;
        self.event(regs)
    }
}

impl AddressSpace for SystrapAddressSpace {
    fn host_pid(&self) -> Option<i32> {
        Some(self.pid)
    }

    fn map_file(&mut self, addr: u64, len: u64, file_offset: u64, prot: Prot) -> Result<(), PlatformError> {
        let flags = (libc::MAP_SHARED | libc::MAP_FIXED) as u64;
        let args = [addr, len, u64::from(prot.0), flags, self.memfd as u64, file_offset];
        self.queue(libc::SYS_mmap, args)
    }

    fn unmap(&mut self, addr: u64, len: u64) -> Result<(), PlatformError> {
        self.queue(libc::SYS_munmap, [addr, len, 0, 0, 0, 0])
    }

    fn protect(&mut self, addr: u64, len: u64, prot: Prot) -> Result<(), PlatformError> {
        self.queue(libc::SYS_mprotect, [addr, len, u64::from(prot.0), 0, 0, 0])
    }

    fn show_args(&mut self, cmdline: &[u8]) -> Result<(), PlatformError> {
        let Some(args) = crate::cmdline_within(cmdline, shared::ARGS_MAX) else { return Ok(()) };
        // The first stub to try makes the calls at once, on their own, to
        // learn whether the host lets it (one built without
        // CONFIG_CHECKPOINT_RESTORE refuses): a refusal in the queue would
        // fail the changes queued after it, which the stub then skips.
        // Once it worked, the calls wait in the queue for the stub's next
        // turn, the app's resume: no round trip of their own on fork and
        // exec.
        let probing = match crate::SHOWS_ARGS.load(Ordering::Relaxed) {
            crate::ARGS_REFUSED => return Ok(()),
            crate::ARGS_SHOWN => false,
            _ => true,
        };
        if probing {
            self.flush()?;
        }
        self.ctrl.write_bytes(shared::ARGS_STAGING, &args);
        let page = self.stub_region + shared::ARGS_PAGE as u64;
        let len = args.len() as u64;
        for (i, w) in crate::prctl_mm_map(page, page + len).iter().enumerate() {
            self.ctrl.set(shared::MM_MAP + 8 * i, *w);
        }
        let (read, write) = (u64::from(Prot::READ), u64::from(Prot::READ | Prot::WRITE));
        let staged = self.stub_ctrl + shared::ARGS_STAGING as u64;
        self.queue(libc::SYS_mprotect, [page, shared::PAGE as u64, write, 0, 0, 0])?;
        self.queue(shared::OP_COPY as i64, [page, staged, len, 0, 0, 0])?;
        self.queue(libc::SYS_mprotect, [page, shared::PAGE as u64, read, 0, 0, 0])?;
        let size = 8 * crate::PRCTL_MM_MAP_WORDS as u64;
        let map = self.stub_ctrl + shared::MM_MAP as u64;
        self.queue(libc::SYS_prctl, [libc::PR_SET_MM as u64, libc::PR_SET_MM_MAP as u64, map, size, 0, 0])?;
        if !probing {
            return Ok(());
        }
        match self.flush() {
            Ok(()) => crate::SHOWS_ARGS.store(crate::ARGS_SHOWN, Ordering::Relaxed),
            Err(e @ PlatformError::AddressSpaceOp { op: "prctl", .. }) => {
                crate::SHOWS_ARGS.store(crate::ARGS_REFUSED, Ordering::Relaxed);
                return Err(e);
            }
            Err(e) => return Err(e),
        }
        Ok(())
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

impl Drop for SystrapAddressSpace {
    fn drop(&mut self) {
        if self.dead.is_none() {
            sys::kill(self.pid);
            reap_later(self.pid, self.slot.take());
        }
    }
}

/// Interrupts a context by signalling the stub it last ran in: the handler
/// reports the signal as an event, and `switch` returns `Interrupted`. If the
/// stub is parked in its handler, the signal waits until the next resume.
///
/// The signal goes through a pidfd where the host has them, so a stub that
/// has ended and whose pid was reused is never confused with another process.
pub struct SystrapInterrupter {
    pid: AtomicI32,
    pidfd: Mutex<Option<Arc<OwnedFd>>>,
    /// An interrupt that came before the context ever ran, when there was
    /// no stub to signal.
    pending: AtomicBool,
}

impl SystrapInterrupter {
    /// Makes `space`'s stub the one to signal.
    fn track(&self, space: &SystrapAddressSpace) {
        if self.pid.load(Ordering::Relaxed) != space.pid {
            let mut pidfd = self.pidfd.lock().unwrap_or_else(|e| e.into_inner());
            *pidfd = space.pidfd.clone();
            self.pid.store(space.pid, Ordering::Release);
        }
    }
}

impl Interrupter for SystrapInterrupter {
    fn interrupt(&self) {
        // Under the lock, so that `track` cannot slip in between.
        let pidfd = self.pidfd.lock().unwrap_or_else(|e| e.into_inner());
        let pid = self.pid.load(Ordering::Acquire);
        match pidfd.as_ref() {
            Some(fd) => sys::pidfd_signal(fd.as_fd(), stub::INTERRUPT_SIGNAL),
            None if pid > 0 => sys::signal(pid, stub::INTERRUPT_SIGNAL),
            None => self.pending.store(true, Ordering::SeqCst),
        }
    }
}

/// A context: one app thread, run in whichever stub its address space is
/// (one stub thread per address space; its state lives with the address
/// space).
pub struct SystrapContext {
    running: Arc<SystrapInterrupter>,
}

fn systrap_space(space: &mut dyn AddressSpace) -> Result<&mut SystrapAddressSpace, PlatformError> {
    SystrapPlatform::downcast(space).ok_or(PlatformError::WrongAddressSpace)
}

impl Context for SystrapContext {
    fn switch(&mut self, space: &mut dyn AddressSpace, regs: &mut Regs) -> Result<SwitchOutcome, PlatformError> {
        let space = systrap_space(space)?;
        self.running.track(space);
        if self.running.pending.swap(false, Ordering::SeqCst) {
            return Ok(SwitchOutcome::Interrupted);
        }
        space.run(regs)
    }

    fn interrupter(&self) -> Option<Arc<dyn Interrupter>> {
        Some(self.running.clone())
    }

    /// The FPU state the host kernel saved in the signal frame the stub is
    /// parked in (with XSAVE, the whole area); before the thread first ran,
    /// the state its first resume will load, or `Ok(false)` for a clean FPU.
    fn get_fp_state(&mut self, space: &mut dyn AddressSpace, fp: &mut FpState) -> Result<bool, PlatformError> {
        systrap_space(space)?.get_fp(fp)
    }

    /// Replaces the state that `rt_sigreturn` will load: the one in the
    /// frame the stub is parked in or, before the thread first ran, the one
    /// the first resume's frame points at.
    fn set_fp_state(&mut self, space: &mut dyn AddressSpace, fp: &FpState) -> Result<bool, PlatformError> {
        systrap_space(space)?.set_fp(fp)
    }
}
