//! seccomp(2) for the app: strict mode, and filters of classic BPF that the
//! Sentry runs on each of the thread's syscalls before it handles it, as
//! Linux's `__secure_computing` does after the ptrace entry stop.
//!
//! A filter is checked once, when it is installed, as Linux's
//! `seccomp_check_filter` and `bpf_check_classic` check it: every jump
//! lands inside the program, loads read aligned words of `seccomp_data`,
//! scratch memory indexes are below 16, and the last instruction returns.
//! Running it then cannot fail. Filters are immutable and shared by the
//! threads that inherit them, each pointing at the one installed before.

use std::collections::HashMap;
use std::sync::Arc;

/// Longest program (BPF_MAXINSNS).
pub const MAX_INSNS: usize = 4096;
/// Longest chain of filters a thread may hold, counted as Linux counts it:
/// each program's length plus 4 (MAX_INSNS_PER_PATH).
pub const MAX_INSNS_PER_PATH: usize = 32768;

/// The size of `struct seccomp_data`.
pub const DATA_SIZE: u32 = 64;

// Return actions, ordered by precedence through their signed value.
pub const RET_KILL_PROCESS: u32 = 0x8000_0000;
pub const RET_KILL_THREAD: u32 = 0x0000_0000;
pub const RET_TRAP: u32 = 0x0003_0000;
pub const RET_ERRNO: u32 = 0x0005_0000;
pub const RET_USER_NOTIF: u32 = 0x7fc0_0000;
pub const RET_TRACE: u32 = 0x7ff0_0000;
pub const RET_LOG: u32 = 0x7ffc_0000;
pub const RET_ALLOW: u32 = 0x7fff_0000;
const RET_ACTION_FULL: u32 = 0xffff_0000;
const RET_DATA: u32 = 0x0000_ffff;

/// One `struct sock_filter`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

impl Insn {
    /// From the 8 bytes of a `struct sock_filter`.
    pub fn from_bytes(b: [u8; 8]) -> Insn {
        Insn {
            code: u16::from_le_bytes([b[0], b[1]]),
            jt: b[2],
            jf: b[3],
            k: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        }
    }

    /// Packed into one word, for checkpoint images.
    pub fn to_u64(self) -> u64 {
        u64::from(self.code) | u64::from(self.jt) << 16 | u64::from(self.jf) << 24 | u64::from(self.k) << 32
    }

    pub fn from_u64(w: u64) -> Insn {
        Insn { code: w as u16, jt: (w >> 16) as u8, jf: (w >> 24) as u8, k: (w >> 32) as u32 }
    }
}

// Classic BPF opcode fields.
const CLASS: u16 = 0x07;
const LD: u16 = 0x00;
const LDX: u16 = 0x01;
const ST: u16 = 0x02;
const STX: u16 = 0x03;
const ALU: u16 = 0x04;
const JMP: u16 = 0x05;
const RET: u16 = 0x06;
const MISC: u16 = 0x07;
const W: u16 = 0x00;
const IMM: u16 = 0x00;
const ABS: u16 = 0x20;
const MEM: u16 = 0x60;
const LEN: u16 = 0x80;
const X: u16 = 0x08;
const A: u16 = 0x10;
const ADD: u16 = 0x00;
const SUB: u16 = 0x10;
const MUL: u16 = 0x20;
const DIV: u16 = 0x30;
const OR: u16 = 0x40;
const AND: u16 = 0x50;
const LSH: u16 = 0x60;
const RSH: u16 = 0x70;
const NEG: u16 = 0x80;
const MOD: u16 = 0x90;
const XOR: u16 = 0xa0;
const JA: u16 = 0x00;
const JEQ: u16 = 0x10;
const JGT: u16 = 0x20;
const JGE: u16 = 0x30;
const JSET: u16 = 0x40;
const TAX: u16 = 0x00;
const TXA: u16 = 0x80;
const MEMWORDS: u32 = 16;

/// Why a program is refused (EINVAL for each).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("empty or longer than 4096 instructions")]
    Length,
    #[error("instruction {0} is not allowed in a seccomp filter")]
    Opcode(usize),
    #[error("instruction {0} jumps out of the program")]
    Jump(usize),
    #[error("instruction {0} reads outside seccomp_data or scratch memory")]
    Load(usize),
    #[error("instruction {0} divides by zero")]
    DivideByZero(usize),
    #[error("the program does not end with a return")]
    NoReturn,
}

/// Checks a program as Linux does when it is installed.
pub fn check(prog: &[Insn]) -> Result<(), FilterError> {
    if prog.is_empty() || prog.len() > MAX_INSNS {
        return Err(FilterError::Length);
    }
    for (pc, i) in prog.iter().enumerate() {
        let left = prog.len() - pc - 1;
        match i.code {
            c if c == LD | W | ABS => {
                if i.k >= DATA_SIZE || !i.k.is_multiple_of(4) {
                    return Err(FilterError::Load(pc));
                }
            }
            c if c == LD | W | LEN || c == LDX | W | LEN => {}
            c if c == LD | IMM || c == LDX | IMM => {}
            c if c == LD | MEM || c == LDX | MEM || c == ST || c == STX => {
                if i.k >= MEMWORDS {
                    return Err(FilterError::Load(pc));
                }
            }
            c if c == ALU | NEG => {}
            c if c & CLASS == ALU => {
                let op = c & 0xf0;
                if ![ADD, SUB, MUL, DIV, OR, AND, LSH, RSH, MOD, XOR].contains(&op) || c & !0xf8 != ALU {
                    return Err(FilterError::Opcode(pc));
                }
                if c & X == 0 && (op == DIV || op == MOD) && i.k == 0 {
                    return Err(FilterError::DivideByZero(pc));
                }
            }
            c if c == JMP | JA => {
                if i.k as usize >= left {
                    return Err(FilterError::Jump(pc));
                }
            }
            c if c & CLASS == JMP => {
                let op = c & 0xf0;
                if ![JEQ, JGT, JGE, JSET].contains(&op) || c & !0xf8 != JMP {
                    return Err(FilterError::Opcode(pc));
                }
                if usize::from(i.jt) >= left || usize::from(i.jf) >= left {
                    return Err(FilterError::Jump(pc));
                }
            }
            c if c == RET || c == RET | A => {}
            c if c == MISC | TAX || c == MISC | TXA => {}
            _ => return Err(FilterError::Opcode(pc)),
        }
    }
    match prog.last().map(|i| i.code) {
        Some(c) if c == RET || c == RET | A => Ok(()),
        _ => Err(FilterError::NoReturn),
    }
}

/// How many eBPF instructions Linux's `bpf_convert_filter` makes of a
/// checked program: 3 to start (A and X cleared, the context kept); a
/// return of a constant 2; a division or remainder by X 5 (a check for
/// zero); a conditional jump 1, or 2 if neither branch falls through
/// (JSET: unless the true one does), plus 1 to compare with a constant
/// whose top bit is set; anything else 1. Linux limits a thread's filters
/// by that count, not by the instructions given.
fn converted_len(prog: &[Insn]) -> usize {
    3 + prog
        .iter()
        .map(|i| match i.code & CLASS {
            RET if i.code & A == 0 => 2,
            ALU if i.code & X != 0 && matches!(i.code & 0xf0, DIV | MOD) => 5,
            JMP if i.code & 0xf0 != JA => {
                let wide = usize::from(i.code & X == 0 && (i.k as i32) < 0);
                let branches = match (i.jt, i.jf) {
                    (_, 0) => 1,
                    (0, _) if i.code & 0xf0 != JSET => 1,
                    _ => 2,
                };
                wide + branches
            }
            _ => 1,
        })
        .sum::<usize>()
}

/// What a filter sees of a syscall (`struct seccomp_data`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Data {
    pub nr: i32,
    pub arch: u32,
    pub ip: u64,
    pub args: [u64; 6],
}

impl Data {
    /// The aligned 32-bit word at `off` (checked by [`check`]).
    fn word(&self, off: u32) -> u32 {
        let half = |v: u64| if off.is_multiple_of(8) { v as u32 } else { (v >> 32) as u32 };
        match off {
            0 => self.nr as u32,
            4 => self.arch,
            8 | 12 => half(self.ip),
            16..=63 => half(self.args[((off - 16) / 8) as usize]),
            _ => 0,
        }
    }
}

/// Runs a checked program.
pub fn run(prog: &[Insn], data: &Data) -> u32 {
    let (mut a, mut x) = (0u32, 0u32);
    let mut mem = [0u32; MEMWORDS as usize];
    let mut pc = 0usize;
    while let Some(i) = prog.get(pc) {
        pc += 1;
        let operand = if i.code & X != 0 { x } else { i.k };
        match i.code & CLASS {
            LD => {
                a = match i.code & 0xe0 {
                    ABS => data.word(i.k),
                    LEN => DATA_SIZE,
                    MEM => mem[(i.k % MEMWORDS) as usize],
                    _ => i.k,
                }
            }
            LDX => {
                x = match i.code & 0xe0 {
                    LEN => DATA_SIZE,
                    MEM => mem[(i.k % MEMWORDS) as usize],
                    _ => i.k,
                }
            }
            ST => mem[(i.k % MEMWORDS) as usize] = a,
            STX => mem[(i.k % MEMWORDS) as usize] = x,
            ALU => {
                a = match i.code & 0xf0 {
                    ADD => a.wrapping_add(operand),
                    SUB => a.wrapping_sub(operand),
                    MUL => a.wrapping_mul(operand),
                    // A division by a zero X ends the program with 0, as
                    // Linux's classic BPF does.
                    DIV => match a.checked_div(operand) {
                        Some(v) => v,
                        None => return 0,
                    },
                    MOD => match a.checked_rem(operand) {
                        Some(v) => v,
                        None => return 0,
                    },
                    OR => a | operand,
                    AND => a & operand,
                    LSH => a.checked_shl(operand).unwrap_or(0),
                    RSH => a.checked_shr(operand).unwrap_or(0),
                    XOR => a ^ operand,
                    _ => a.wrapping_neg(),
                }
            }
            JMP => {
                let taken = match i.code & 0xf0 {
                    JA => {
                        pc += i.k as usize;
                        continue;
                    }
                    JEQ => a == operand,
                    JGT => a > operand,
                    JGE => a >= operand,
                    _ => a & operand != 0,
                };
                pc += usize::from(if taken { i.jt } else { i.jf });
            }
            RET => return if i.code & A != 0 { a } else { i.k },
            _ => {
                if i.code & 0xf8 == TXA {
                    a = x;
                } else {
                    x = a;
                }
            }
        }
    }
    // Unreachable for a checked program, which ends with a return.
    RET_KILL_PROCESS
}

/// One installed filter and those installed before it.
#[derive(Debug)]
pub struct Filter {
    pub prog: Vec<Insn>,
    /// SECCOMP_FILTER_FLAG_LOG.
    pub log: bool,
    pub prev: Option<Arc<Filter>>,
}

impl Filter {
    /// The instructions of the whole chain, as Linux counts them when this
    /// filter is added: its own, and those before it 4 more each, each
    /// program counted as it is once converted to eBPF.
    pub fn path_len(&self) -> usize {
        converted_len(&self.prog) + self.chain().skip(1).map(|f| converted_len(&f.prog) + 4).sum::<usize>()
    }

    /// This filter, then each one before it.
    pub fn chain(&self) -> impl Iterator<Item = &Filter> {
        std::iter::successors(Some(self), |f| f.prev.as_deref())
    }

    /// Whether `other` is this filter or one installed before it.
    pub fn descends_from(self: &Arc<Filter>, other: &Arc<Filter>) -> bool {
        std::iter::successors(Some(self), |f| f.prev.as_ref()).any(|f| Arc::ptr_eq(f, other))
    }

    /// Every filter's verdict, the most restrictive first by Linux's order
    /// (the lowest action as a signed number; the first such in the chain).
    pub fn verdict(&self, data: &Data) -> u32 {
        let mut best = RET_ALLOW;
        for f in self.chain() {
            let v = run(&f.prog, data);
            if ((v & RET_ACTION_FULL) as i32) < ((best & RET_ACTION_FULL) as i32) {
                best = v;
            }
        }
        best
    }
}

/// A thread's seccomp mode (PR_GET_SECCOMP's 0, 1 or 2).
#[derive(Clone, Debug, Default)]
pub enum Mode {
    #[default]
    Disabled,
    Strict,
    Filter(Arc<Filter>),
}

impl Mode {
    pub fn number(&self) -> u32 {
        match self {
            Mode::Disabled => 0,
            Mode::Strict => 1,
            Mode::Filter(_) => 2,
        }
    }

    /// How many filters the thread holds (/proc's Seccomp_filters).
    pub fn filters(&self) -> usize {
        match self {
            Mode::Filter(f) => f.chain().count(),
            _ => 0,
        }
    }
}

/// A thread's mode as a checkpoint keeps it.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ModeImage {
    pub strict: bool,
    /// The thread's filters, newest first.
    pub filters: Vec<FilterImage>,
}

/// One filter in a checkpoint: threads that share it share its key.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FilterImage {
    pub key: u64,
    pub log: bool,
    /// Its instructions, each packed by [`Insn::to_u64`].
    pub prog: Vec<u64>,
}

impl Mode {
    /// The mode as a checkpoint keeps it.
    pub fn image(&self) -> ModeImage {
        match self {
            Mode::Disabled => ModeImage::default(),
            Mode::Strict => ModeImage { strict: true, filters: Vec::new() },
            Mode::Filter(f) => ModeImage {
                strict: false,
                filters: std::iter::successors(Some(f), |f| f.prev.as_ref())
                    .map(|f| FilterImage {
                        key: Arc::as_ptr(f) as usize as u64,
                        log: f.log,
                        prog: f.prog.iter().map(|i| i.to_u64()).collect(),
                    })
                    .collect(),
            },
        }
    }

    /// The mode a checkpoint kept, its filters checked again as when they
    /// were installed; `seen` gives threads that shared a filter one
    /// filter again.
    pub fn from_image(image: &ModeImage, seen: &mut HashMap<u64, Arc<Filter>>) -> Result<Mode, FilterError> {
        if image.strict {
            return Ok(Mode::Strict);
        }
        let mut newest: Option<Arc<Filter>> = None;
        for f in image.filters.iter().rev() {
            let filter = match seen.get(&f.key) {
                Some(shared) => shared.clone(),
                None => {
                    let prog: Vec<Insn> = f.prog.iter().map(|&w| Insn::from_u64(w)).collect();
                    check(&prog)?;
                    let filter = Arc::new(Filter { prog, log: f.log, prev: newest.clone() });
                    if filter.path_len() > MAX_INSNS_PER_PATH {
                        return Err(FilterError::Length);
                    }
                    seen.insert(f.key, filter.clone());
                    filter
                }
            };
            newest = Some(filter);
        }
        Ok(newest.map_or(Mode::Disabled, Mode::Filter))
    }
}

/// What to do with a syscall.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Allow,
    /// Fail it with this errno, without running it.
    Errno(u16),
    /// SIGSYS (SYS_SECCOMP) with the action's data as its si_errno.
    Trap(u16),
    /// PTRACE_EVENT_SECCOMP with this message, or ENOSYS untraced.
    Trace(u16),
    /// Kill the thread (or the process, if it is its only thread).
    KillThread,
    KillProcess,
    /// Strict mode: SIGKILL.
    KillStrict,
}

impl Action {
    /// The action for a filter verdict.
    pub fn of(verdict: u32) -> Action {
        let data = (verdict & RET_DATA) as u16;
        match verdict & RET_ACTION_FULL {
            RET_ALLOW | RET_LOG => Action::Allow,
            // Linux caps the errno at MAX_ERRNO.
            RET_ERRNO => Action::Errno(data.min(4095)),
            RET_TRAP => Action::Trap(data),
            RET_TRACE => Action::Trace(data),
            // No listener can exist (NEW_LISTENER is refused), and Linux
            // fails the call with ENOSYS when there is none.
            RET_USER_NOTIF => Action::Errno(abi::Errno::ENOSYS.0 as u16),
            RET_KILL_THREAD => Action::KillThread,
            _ => Action::KillProcess,
        }
    }
}

/// Whether a thread in strict mode may make syscall `nr`: read, write,
/// exit and rt_sigreturn.
pub fn strict_allows(nr: u64) -> bool {
    use abi::nr::{EXIT, READ, RT_SIGRETURN, WRITE};
    [READ, WRITE, EXIT, RT_SIGRETURN].contains(&nr)
}

/// Whether the action is one this kernel has (SECCOMP_GET_ACTION_AVAIL).
pub fn action_available(action: u32) -> bool {
    [RET_KILL_PROCESS, RET_KILL_THREAD, RET_TRAP, RET_ERRNO, RET_USER_NOTIF, RET_TRACE, RET_LOG, RET_ALLOW]
        .contains(&action)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stmt(code: u16, k: u32) -> Insn {
        Insn { code, jt: 0, jf: 0, k }
    }
    fn jump(code: u16, k: u32, jt: u8, jf: u8) -> Insn {
        Insn { code, jt, jf, k }
    }

    /// Fails getpid (39) with EPERM, allows the rest.
    fn deny_getpid() -> Vec<Insn> {
        vec![stmt(LD | W | ABS, 0), jump(JMP | JEQ, 39, 0, 1), stmt(RET, RET_ERRNO | 1), stmt(RET, RET_ALLOW)]
    }

    #[test]
    fn a_filter_matches_on_the_number_and_the_arguments() {
        let p = deny_getpid();
        check(&p).unwrap();
        assert_eq!(run(&p, &Data { nr: 39, ..Default::default() }), RET_ERRNO | 1);
        assert_eq!(run(&p, &Data { nr: 40, ..Default::default() }), RET_ALLOW);
        // The high half of the second argument, and arithmetic on it.
        let p = vec![
            stmt(LD | W | ABS, 28),
            stmt(ALU | ADD, 1),
            stmt(ST, 3),
            stmt(LDX | MEM, 3),
            stmt(MISC | TXA, 0),
            jump(JMP | JEQ, 8, 0, 1),
            stmt(RET, RET_TRAP | 7),
            stmt(RET | A, 0),
        ];
        check(&p).unwrap();
        let mut d = Data::default();
        d.args[1] = 7 << 32;
        assert_eq!(run(&p, &d), RET_TRAP | 7);
        d.args[1] = 1;
        assert_eq!(run(&p, &d), 1, "RET A returns the accumulator");
    }

    #[test]
    fn bad_programs_are_refused() {
        assert_eq!(check(&[]), Err(FilterError::Length));
        assert_eq!(check(&vec![stmt(RET, 0); MAX_INSNS + 1]), Err(FilterError::Length));
        assert_eq!(check(&[stmt(LD | W | ABS, 64), stmt(RET, 0)]), Err(FilterError::Load(0)));
        assert_eq!(check(&[stmt(LD | W | ABS, 2), stmt(RET, 0)]), Err(FilterError::Load(0)));
        assert_eq!(check(&[stmt(LD | MEM, 16), stmt(RET, 0)]), Err(FilterError::Load(0)));
        assert_eq!(check(&[jump(JMP | JEQ, 0, 1, 0), stmt(RET, 0)]), Err(FilterError::Jump(0)));
        assert_eq!(check(&[stmt(JMP | JA, 1), stmt(RET, 0)]), Err(FilterError::Jump(0)));
        assert_eq!(check(&[stmt(ALU | DIV, 0), stmt(RET, 0)]), Err(FilterError::DivideByZero(0)));
        assert_eq!(check(&[stmt(LD | W | ABS, 0)]), Err(FilterError::NoReturn));
        // LD | B | ABS (a byte load) is not for seccomp.
        assert_eq!(check(&[stmt(0x30, 0), stmt(RET, 0)]), Err(FilterError::Opcode(0)));
        // A division by a zero X ends the program with 0 (kill).
        let p = [stmt(LDX | IMM, 0), stmt(ALU | DIV | X, 0), stmt(RET, RET_ALLOW)];
        check(&p).unwrap();
        assert_eq!(run(&p, &Data::default()), 0);
    }

    #[test]
    fn the_most_restrictive_verdict_of_the_chain_wins() {
        let allow = Arc::new(Filter { prog: vec![stmt(RET, RET_ALLOW)], log: false, prev: None });
        let errno = Arc::new(Filter { prog: deny_getpid(), log: false, prev: Some(allow.clone()) });
        let kill = Arc::new(Filter {
            prog: vec![
                stmt(LD | W | ABS, 0),
                jump(JMP | JEQ, 39, 0, 1),
                stmt(RET, RET_KILL_PROCESS),
                stmt(RET, RET_LOG),
            ],
            log: false,
            prev: Some(errno.clone()),
        });
        let getpid = Data { nr: 39, ..Default::default() };
        assert_eq!(Action::of(errno.verdict(&getpid)), Action::Errno(1));
        assert_eq!(Action::of(kill.verdict(&getpid)), Action::KillProcess);
        assert_eq!(Action::of(kill.verdict(&Data { nr: 1, ..Default::default() })), Action::Allow);
        // Converted: 3 + 1 + 1 + 2 + 2 (= 9) for `kill` and `errno`, 3 + 2 for `allow`.
        assert_eq!(kill.path_len(), 9 + (9 + 4) + (5 + 4));
        assert!(kill.descends_from(&allow) && !allow.descends_from(&kill));
        assert_eq!(Action::of(RET_ERRNO | 0xffff), Action::Errno(4095));
        for i in deny_getpid() {
            assert_eq!(Insn::from_u64(i.to_u64()), i);
        }
    }

    #[test]
    fn a_checkpoint_keeps_the_chain_and_its_sharing() {
        let base = Arc::new(Filter { prog: deny_getpid(), log: true, prev: None });
        let a =
            Mode::Filter(Arc::new(Filter { prog: vec![stmt(RET, RET_ALLOW)], log: false, prev: Some(base.clone()) }));
        let b = Mode::Filter(base);
        let mut seen = HashMap::new();
        let (ia, ib) = (a.image(), b.image());
        let (ra, rb) = (Mode::from_image(&ia, &mut seen).unwrap(), Mode::from_image(&ib, &mut seen).unwrap());
        let (Mode::Filter(ra), Mode::Filter(rb)) = (ra, rb) else { panic!("filters lost") };
        assert!(ra.descends_from(&rb), "the shared filter is one filter again");
        assert_eq!(ra.chain().count(), 2);
        assert!(rb.log && rb.prog == deny_getpid());
        // A corrupt program is refused.
        let mut bad = ib.clone();
        bad.filters[0].prog.pop();
        assert!(Mode::from_image(&bad, &mut HashMap::new()).is_err());
        assert!(matches!(Mode::from_image(&ModeImage::default(), &mut seen), Ok(Mode::Disabled)));
    }
}
