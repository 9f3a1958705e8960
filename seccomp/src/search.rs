//! A filter that finds the syscall number by binary search.
//!
//! seccompiler compiles a filter as one chain of comparisons, syscall after
//! syscall: a call near its end runs some hundred BPF instructions. The
//! Sentry's filter runs on every syscall of every stub (they inherit it), so
//! here the syscall number is looked up in a balanced tree of comparisons
//! first: a call allowed whatever its arguments returns after about ten
//! instructions, a call not listed is denied as fast, and only the few with
//! argument rules go on to seccompiler's program, which then holds just them.

use std::collections::BTreeMap;

use seccompiler::{sock_filter, BpfProgram, SeccompAction, SeccompFilter, SeccompRule};

use crate::bpf::{
    BPF_JA as JA, BPF_JEQ_K as JEQ_K, BPF_JGE_K as JGE_K, BPF_LD_W_ABS as LD_W_ABS, BPF_RET_K as RET_K, OFF_ARCH,
    OFF_NR, SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO,
};
use crate::{Allowed, Deny, Error, ARCH, AUDIT_ARCH};

/// Leaves of the tree compare this many numbers one by one.
const LEAF: usize = 4;

/// Where a jump goes, resolved once the search is laid out.
#[derive(Clone, Copy)]
enum To {
    Next,
    Allow,
    Deny,
    Enosys,
    /// seccompiler's program of the calls with argument rules.
    Rules,
    Label(usize),
}

/// What the search decides for one listed number.
#[derive(Clone, Copy)]
enum Leaf {
    Allow,
    Rules,
    Enosys,
}

#[derive(Default)]
struct Asm {
    ins: Vec<(sock_filter, To, To)>,
    labels: Vec<Option<usize>>,
}

impl Asm {
    fn stmt(&mut self, code: u16, k: u32) {
        self.ins.push((sock_filter { code, jt: 0, jf: 0, k }, To::Next, To::Next));
    }
    fn jump(&mut self, code: u16, k: u32, t: To, f: To) {
        self.ins.push((sock_filter { code, jt: 0, jf: 0, k }, t, f));
    }
    fn label(&mut self) -> usize {
        self.labels.push(None);
        self.labels.len() - 1
    }
    fn place(&mut self, l: usize) {
        self.labels[l] = Some(self.ins.len());
    }

    /// The comparisons that find `nr` among `entries` (sorted by number).
    fn search(&mut self, entries: &[(u32, Leaf)]) {
        let to = |leaf: Leaf| match leaf {
            Leaf::Allow => To::Allow,
            Leaf::Rules => To::Rules,
            Leaf::Enosys => To::Enosys,
        };
        if entries.len() <= LEAF {
            for &(nr, leaf) in entries {
                self.jump(JEQ_K, nr, to(leaf), To::Next);
            }
            self.jump(JA, 0, To::Deny, To::Deny);
            return;
        }
        let mid = entries.len() / 2;
        let upper = self.label();
        self.jump(JGE_K, entries[mid].0, To::Label(upper), To::Next);
        self.search(&entries[..mid]);
        self.place(upper);
        self.search(&entries[mid..]);
    }

    /// Lays the search out, followed by its three returns, and then `rules`.
    fn finish(self, deny: u32, rules: BpfProgram) -> Result<BpfProgram, Error> {
        let body = self.ins.len();
        let (allow, denied, enosys, rules_at) = (body, body + 1, body + 2, body + 3);
        let labels = self.labels;
        let target = |to: To, at: usize| -> Result<usize, Error> {
            let dest = match to {
                To::Next => at + 1,
                To::Allow => allow,
                To::Deny => denied,
                To::Enosys => enosys,
                To::Rules => rules_at,
                To::Label(l) => labels[l].ok_or_else(|| Error::Build("an unplaced label".into()))?,
            };
            Ok(dest - at - 1)
        };
        let mut out = Vec::with_capacity(body + 3 + rules.len());
        for (at, (mut ins, t, f)) in self.ins.into_iter().enumerate() {
            if ins.code == JA {
                ins.k = u32::try_from(target(t, at)?).map_err(|_| Error::Build("a jump too far".into()))?;
            } else if ins.code == JEQ_K || ins.code == JGE_K {
                let short = |d: usize| u8::try_from(d).map_err(|_| Error::Build("a jump too far".into()));
                ins.jt = short(target(t, at)?)?;
                ins.jf = short(target(f, at)?)?;
            }
            out.push(ins);
        }
        out.push(sock_filter { code: RET_K, jt: 0, jf: 0, k: SECCOMP_RET_ALLOW });
        out.push(sock_filter { code: RET_K, jt: 0, jf: 0, k: deny });
        out.push(sock_filter { code: RET_K, jt: 0, jf: 0, k: SECCOMP_RET_ERRNO | libc::ENOSYS as u32 });
        out.extend(rules);
        Ok(out)
    }
}

/// `allowed` as a filter with `deny` for calls outside it, and the calls
/// of `enosys` answered ENOSYS, the syscall number found by binary search.
/// Another architecture goes to seccompiler's program, which refuses it.
pub fn build_searched(allowed: Vec<Allowed>, deny: Deny, enosys: &[i64]) -> Result<BpfProgram, Error> {
    let mut entries = BTreeMap::new();
    let mut ruled: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    for a in allowed {
        let nr = u32::try_from(a.nr).map_err(|_| Error::Build(format!("syscall number {}", a.nr)))?;
        if a.rules.is_empty() {
            entries.insert(nr, Leaf::Allow);
        } else {
            entries.insert(nr, Leaf::Rules);
            ruled.insert(a.nr, a.rules);
        }
    }
    for &nr in enosys {
        let nr = u32::try_from(nr).map_err(|_| Error::Build(format!("syscall number {nr}")))?;
        entries.insert(nr, Leaf::Enosys);
    }
    let rules: BpfProgram = SeccompFilter::new(ruled, deny.action(), SeccompAction::Allow, ARCH)
        .map_err(|e| Error::Build(e.to_string()))?
        .try_into()
        .map_err(|e: seccompiler::BackendError| Error::Build(e.to_string()))?;
    let entries: Vec<(u32, Leaf)> = entries.into_iter().collect();
    let mut asm = Asm::default();
    asm.stmt(LD_W_ABS, OFF_ARCH);
    asm.jump(JEQ_K, AUDIT_ARCH, To::Next, To::Rules);
    asm.stmt(LD_W_ABS, OFF_NR);
    asm.search(&entries);
    asm.finish(u32::from(deny.action()), rules)
}
