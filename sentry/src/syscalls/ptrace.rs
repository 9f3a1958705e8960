//! ptrace(2) for the app's own debuggers and tracers (strace, gdb); the
//! semantics are in `kernel/task/ptrace.rs`.

use super::Args;
use crate::kernel::task::Task;
use crate::mm::SysResult;

pub fn ptrace(t: &mut Task, a: &Args) -> SysResult<u64> {
    t.ptrace(a.u64(0), a.i32(1), a.addr(2), a.u64(3))
}
