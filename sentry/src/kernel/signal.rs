//! Signal data: sets, `siginfo_t`, pending queues, dispositions and default
//! actions.

use std::collections::VecDeque;

use abi::flags::signal::*;

/// A set of signals 1..=64, bit `n - 1` for signal `n`.
pub type SigSet = u64;

/// The bit of signal `sig`.
pub const fn bit(sig: u32) -> SigSet {
    1u64 << (sig - 1)
}

/// Signals that can be neither blocked nor caught.
pub const UNBLOCKABLE: SigSet = bit(SIGKILL) | bit(SIGSTOP);
/// The highest signal number.
pub const NSIG: u32 = 64;
/// The first real-time signal; these queue, the others coalesce.
pub const SIGRTMIN: u32 = 32;

/// `si_code` values.
pub mod code {
    /// Sent by kill.
    pub const SI_USER: i32 = 0;
    /// Sent by the kernel.
    pub const SI_KERNEL: i32 = 0x80;
    /// Sent by sigqueue.
    pub const SI_QUEUE: i32 = -1;
    /// Sent by a POSIX timer.
    pub const SI_TIMER: i32 = -2;
    /// Sent by a POSIX message queue's notification.
    pub const SI_MESGQ: i32 = -3;
    /// Sent by tkill/tgkill.
    pub const SI_TKILL: i32 = -6;
    /// SIGCHLD: exited.
    pub const CLD_EXITED: i32 = 1;
    /// SIGCHLD: killed.
    pub const CLD_KILLED: i32 = 2;
    /// SIGCHLD: killed, dumped core.
    pub const CLD_DUMPED: i32 = 3;
    /// SIGCHLD: stopped.
    pub const CLD_STOPPED: i32 = 5;
    /// SIGCHLD: continued.
    pub const CLD_CONTINUED: i32 = 6;
}

/// A `siginfo_t` (128 bytes), built field by field.
#[derive(Clone, Copy, Debug)]
pub struct SigInfo(pub [u8; 128]);

impl SigInfo {
    /// A siginfo with signal number and code.
    pub fn new(signo: u32, code: i32) -> SigInfo {
        let mut b = [0u8; 128];
        b[0..4].copy_from_slice(&(signo as i32).to_le_bytes());
        b[8..12].copy_from_slice(&code.to_le_bytes());
        SigInfo(b)
    }

    /// For kill-like senders: `si_pid` and `si_uid`.
    pub fn from_sender(signo: u32, code: i32, pid: i32, uid: u32) -> SigInfo {
        let mut s = SigInfo::new(signo, code);
        s.0[16..20].copy_from_slice(&pid.to_le_bytes());
        s.0[20..24].copy_from_slice(&uid.to_le_bytes());
        s
    }

    /// For faults: `si_addr`.
    pub fn fault(signo: u32, code: i32, addr: u64) -> SigInfo {
        let mut s = SigInfo::new(signo, code);
        s.0[16..24].copy_from_slice(&addr.to_le_bytes());
        s
    }

    /// For SIGCHLD: pid, uid and status.
    pub fn child(code: i32, pid: i32, uid: u32, status: i32) -> SigInfo {
        let mut s = SigInfo::from_sender(SIGCHLD, code, pid, uid);
        s.0[24..28].copy_from_slice(&status.to_le_bytes());
        s
    }

    /// The signal number.
    pub fn signo(&self) -> u32 {
        i32::from_le_bytes([self.0[0], self.0[1], self.0[2], self.0[3]]) as u32
    }

    /// `si_code`: positive when the kernel generated the signal.
    pub fn code(&self) -> i32 {
        i32::from_le_bytes([self.0[8], self.0[9], self.0[10], self.0[11]])
    }

    /// Overrides the signal number (rt_sigqueueinfo takes the caller's info).
    pub fn set_signo(&mut self, signo: u32) {
        self.0[0..4].copy_from_slice(&(signo as i32).to_le_bytes());
    }
}

/// The most signals one queue holds, whatever the senders' limits: the
/// Sentry's memory for them stays bounded (128 bytes each).
pub const MAX_QUEUED: usize = 1 << 18;

/// Pending signals of a task or a thread group.
#[derive(Default, Debug)]
pub struct SigPending {
    queue: VecDeque<SigInfo>,
    set: SigSet,
}

impl SigPending {
    /// The set of pending signals.
    pub fn set(&self) -> SigSet {
        self.set
    }

    /// Whether a signal matching `pred` is queued.
    pub fn any(&self, pred: impl Fn(&SigInfo) -> bool) -> bool {
        self.queue.iter().any(pred)
    }

    /// Drops the queued signals matching `pred`.
    pub fn remove_where(&mut self, pred: impl Fn(&SigInfo) -> bool) {
        self.queue.retain(|s| !pred(s));
        self.set = self.queue.iter().fold(0, |set, s| set | bit(s.signo()));
    }

    /// The queued signals, oldest first.
    pub fn queued(&self) -> impl Iterator<Item = &SigInfo> {
        self.queue.iter()
    }

    /// How many signals are queued.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Queues a signal: standard signals coalesce, real-time ones queue, at
    /// most [`MAX_QUEUED`] of them (more are dropped: the senders that
    /// RLIMIT_SIGPENDING limits are refused with EAGAIN before this).
    pub fn push(&mut self, info: SigInfo) {
        let sig = info.signo();
        if sig < SIGRTMIN && self.set & bit(sig) != 0 {
            return;
        }
        if self.queue.len() >= MAX_QUEUED {
            return;
        }
        self.set |= bit(sig);
        self.queue.push_back(info);
    }

    /// Takes the lowest-numbered pending signal not in `blocked`.
    pub fn pop(&mut self, blocked: SigSet) -> Option<SigInfo> {
        let ready = self.set & !blocked;
        if ready == 0 {
            return None;
        }
        let sig = ready.trailing_zeros() + 1;
        self.take(sig)
    }

    /// Takes the first queued instance of `sig`.
    pub fn take(&mut self, sig: u32) -> Option<SigInfo> {
        let i = self.queue.iter().position(|s| s.signo() == sig)?;
        let info = self.queue.remove(i)?;
        if !self.queue.iter().any(|s| s.signo() == sig) {
            self.set &= !bit(sig);
        }
        Some(info)
    }

    /// Drops every pending instance of the signals in `set`.
    pub fn discard(&mut self, set: SigSet) {
        self.queue.retain(|s| set & bit(s.signo()) == 0);
        self.set &= !set;
    }
}

/// `SIG_DFL`.
pub const SIG_DFL: u64 = 0;
/// `SIG_IGN`.
pub const SIG_IGN: u64 = 1;
/// `sa_flags` bits.
pub const SA_NOCLDSTOP: u64 = 1;
/// Don't create zombies.
pub const SA_NOCLDWAIT: u64 = 2;
/// Pass siginfo.
pub const SA_SIGINFO: u64 = 4;
/// Run on the alternate stack.
pub const SA_ONSTACK: u64 = 0x0800_0000;
/// Restart interrupted syscalls.
pub const SA_RESTART: u64 = 0x1000_0000;
/// Don't block the signal in its handler.
pub const SA_NODEFER: u64 = 0x4000_0000;
/// Reset to SIG_DFL on delivery.
pub const SA_RESETHAND: u64 = 0x8000_0000;
/// `sa_restorer` is valid.
pub const SA_RESTORER: u64 = 0x0400_0000;

/// One registered action (`struct sigaction` as the kernel sees it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SigAction {
    /// Handler address, SIG_DFL or SIG_IGN.
    pub handler: u64,
    /// SA_* flags.
    pub flags: u64,
    /// The restorer trampoline.
    pub restorer: u64,
    /// Signals blocked while the handler runs.
    pub mask: SigSet,
}

/// The actions of a thread group.
#[derive(Clone, Debug)]
pub struct SigHandlers(pub [SigAction; NSIG as usize]);

impl Default for SigHandlers {
    fn default() -> Self {
        SigHandlers([SigAction::default(); NSIG as usize])
    }
}

impl SigHandlers {
    /// The action for `sig`.
    pub fn get(&self, sig: u32) -> SigAction {
        self.0[(sig - 1) as usize]
    }

    /// Replaces the action for `sig`.
    pub fn set(&mut self, sig: u32, a: SigAction) {
        self.0[(sig - 1) as usize] = a;
    }

    /// At execve: caught signals go back to SIG_DFL, ignored ones stay.
    pub fn reset_for_exec(&mut self) {
        for a in self.0.iter_mut() {
            if a.handler != SIG_IGN {
                *a = SigAction::default();
            }
        }
    }
}

/// What a signal does when its action is SIG_DFL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefaultAction {
    /// End the process.
    Terminate,
    /// End the process and report a core dump.
    Core,
    /// Nothing.
    Ignore,
    /// Stop the process.
    Stop,
    /// Continue a stopped process.
    Continue,
}

/// Linux's default action for `sig`.
pub fn default_action(sig: u32) -> DefaultAction {
    match sig {
        SIGQUIT | SIGILL | SIGTRAP | SIGABRT | SIGBUS | SIGFPE | SIGSEGV | SIGSYS | 24 | 25 => DefaultAction::Core,
        SIGCHLD | 23 | 28 => DefaultAction::Ignore,
        SIGSTOP | 20 | 21 | 22 => DefaultAction::Stop,
        SIGCONT => DefaultAction::Continue,
        _ => DefaultAction::Terminate,
    }
}

/// Whether `sig` is a stop signal.
pub fn is_stop(sig: u32) -> bool {
    default_action(sig) == DefaultAction::Stop
}
