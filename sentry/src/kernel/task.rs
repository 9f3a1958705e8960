//! One app thread: its state and its run loop.
//!
//! The run loop switches into the app through the platform until the thread
//! makes a syscall or faults, handles that, and goes round again, as
//! gVisor's `task_run.go` does.

use std::sync::Arc;

use abi::flags::rlimit::{RLIMIT_NOFILE, RLIMIT_STACK, RLIM_INFINITY, RLIM_NLIMITS};
use abi::types::Rlimit;
use platform::{Context, Regs, SwitchOutcome};

use super::fd_table::FdTable;
use super::{ExitStatus, Kernel};
use crate::mm::MemoryManager;
use crate::vfs::Dentry;

/// The filesystem view of a task: its root and working directory.
#[derive(Clone)]
pub struct FsContext {
    /// `/` for this task.
    pub root: Arc<Dentry>,
    /// The working directory.
    pub cwd: Arc<Dentry>,
}

/// User and group ids.
#[derive(Clone, Copy, Debug, Default)]
pub struct Credentials {
    /// Real user id.
    pub uid: u32,
    /// Effective user id.
    pub euid: u32,
    /// Real group id.
    pub gid: u32,
    /// Effective group id.
    pub egid: u32,
}

/// One registered signal action (`struct sigaction` as the kernel sees it).
#[derive(Clone, Copy, Debug, Default)]
pub struct SigAction {
    /// Handler address, SIG_DFL (0) or SIG_IGN (1).
    pub handler: u64,
    /// SA_* flags.
    pub flags: u64,
    /// The restorer trampoline.
    pub restorer: u64,
    /// Signals blocked while the handler runs.
    pub mask: u64,
}

/// A task's signal state. Dispositions and the mask are recorded; delivery
/// arrives with the signals work.
#[derive(Clone, Debug)]
pub struct SignalState {
    /// Actions for signals 1..=64 (index = signal - 1).
    pub actions: [SigAction; 64],
    /// Blocked signals.
    pub mask: u64,
}

impl Default for SignalState {
    fn default() -> Self {
        SignalState {
            actions: [SigAction::default(); 64],
            mask: 0,
        }
    }
}

/// One app thread.
pub struct Task {
    /// The sandbox.
    pub kernel: Arc<Kernel>,
    /// Thread id, in the sandbox's numbering.
    pub tid: i32,
    /// Process id, in the sandbox's numbering.
    pub pid: i32,
    /// Parent's process id (0 for the sandbox's init).
    pub ppid: i32,
    /// The address space.
    pub mm: MemoryManager,
    /// Open files.
    pub fds: FdTable,
    /// Root and working directory.
    pub fs: FsContext,
    /// Ids.
    pub creds: Credentials,
    /// Resource limits.
    pub rlimits: [Rlimit; RLIM_NLIMITS],
    /// Signal dispositions and mask.
    pub signals: SignalState,
    /// set_tid_address.
    pub clear_child_tid: u64,
    /// set_robust_list (head, length).
    pub robust_list: (u64, u64),
    /// The thread's registers while the Sentry handles an event.
    pub regs: Regs,
    /// Set when the thread has exited.
    pub exit: Option<ExitStatus>,
    ctx: Box<dyn Context>,
}

/// Linux's default limits for a new init process, as far as the app sees them.
fn default_rlimits() -> [Rlimit; RLIM_NLIMITS] {
    let mut r = [Rlimit {
        cur: RLIM_INFINITY,
        max: RLIM_INFINITY,
    }; RLIM_NLIMITS];
    r[RLIMIT_STACK as usize] = Rlimit {
        cur: 8 << 20,
        max: RLIM_INFINITY,
    };
    r[RLIMIT_NOFILE as usize] = Rlimit {
        cur: 1024,
        max: 1 << 20,
    };
    r[abi::flags::rlimit::RLIMIT_CORE as usize] = Rlimit {
        cur: 0,
        max: RLIM_INFINITY,
    };
    r[abi::flags::rlimit::RLIMIT_MEMLOCK as usize] = Rlimit {
        cur: 8 << 20,
        max: 8 << 20,
    };
    r[abi::flags::rlimit::RLIMIT_SIGPENDING as usize] = Rlimit {
        cur: 63_000,
        max: 63_000,
    };
    r[abi::flags::rlimit::RLIMIT_MSGQUEUE as usize] = Rlimit {
        cur: 819_200,
        max: 819_200,
    };
    r[abi::flags::rlimit::RLIMIT_NICE as usize] = Rlimit { cur: 0, max: 0 };
    r[abi::flags::rlimit::RLIMIT_RTPRIO as usize] = Rlimit { cur: 0, max: 0 };
    r
}

impl Task {
    /// The sandbox's first task (pid 1), with an empty address space.
    pub fn new_init(kernel: Arc<Kernel>, mm: MemoryManager, fds: FdTable, fs: FsContext) -> Task {
        let ctx = kernel.platform.new_context();
        Task {
            kernel,
            tid: 1,
            pid: 1,
            ppid: 0,
            mm,
            fds,
            fs,
            creds: Credentials::default(),
            rlimits: default_rlimits(),
            signals: SignalState::default(),
            clear_child_tid: 0,
            robust_list: (0, 0),
            regs: Regs::default(),
            exit: None,
            ctx,
        }
    }

    /// The RLIMIT_NOFILE soft limit.
    pub fn nofile_limit(&self) -> u64 {
        self.rlimits[RLIMIT_NOFILE as usize].cur
    }

    /// Runs the task until it exits.
    pub fn run(&mut self) -> ExitStatus {
        loop {
            let outcome = self.ctx.switch(self.mm.space_mut(), &mut self.regs);
            match outcome {
                Ok(SwitchOutcome::Syscall) => {
                    crate::syscalls::dispatch(self);
                    if let Some(status) = self.exit {
                        return status;
                    }
                }
                Ok(SwitchOutcome::Fault { signo, addr, code, .. }) => {
                    if self.mm.handle_fault(addr) {
                        continue;
                    }
                    log::debug!(
                        "app fault: signal {signo} code {code} at {addr:#x}, ip {:#x}",
                        self.regs.ip()
                    );
                    return ExitStatus::Signaled(signo);
                }
                Ok(SwitchOutcome::Interrupted) => {}
                Err(e) => {
                    log::error!("platform failure, ending the sandbox: {e}");
                    return ExitStatus::Signaled(abi::flags::signal::SIGKILL);
                }
            }
        }
    }
}
