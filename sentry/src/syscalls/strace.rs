//! `--strace`: one line per syscall on stderr, with decoded arguments and
//! the result. Only runs when switched on.

use std::io::Write;

use abi::Errno;

use super::{table, Args};
use crate::kernel::task::Task;

/// How to print one argument.
#[derive(Clone, Copy, Debug)]
pub enum Fmt {
    /// Signed decimal.
    Int,
    /// Hexadecimal (flags).
    Hex,
    /// Octal (modes).
    Oct,
    /// A pointer.
    Ptr,
    /// A file descriptor (AT_FDCWD by name).
    Fd,
    /// A NUL-terminated path in app memory.
    Path,
    /// A buffer whose length is argument N (printed after the call, so a
    /// read shows what it read).
    Buf(usize),
}

const SHOWN_BYTES: usize = 32;

fn quote(bytes: &[u8], out: &mut String, truncated: bool) {
    out.push('"');
    for &b in bytes {
        match b {
            b'\n' => out.push_str("\\n"),
            b'\t' => out.push_str("\\t"),
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push('"');
    if truncated {
        out.push_str("...");
    }
}

/// Prints the line for syscall `nr` that returned `ret`.
pub fn print(task: &Task, nr: u64, args: &Args, ret: u64) {
    let name = abi::SYSCALL_NAMES.get(nr as usize).copied().filter(|n| !n.is_empty());
    let mut line = format!("[pid {}] ", task.tid);
    match name {
        Some(n) => line.push_str(n),
        None => line.push_str(&format!("syscall_{nr}")),
    }
    line.push('(');
    let fmts = table::entry(nr).map(|e| e.args).unwrap_or(&[]);
    for (i, f) in fmts.iter().enumerate() {
        if i > 0 {
            line.push_str(", ");
        }
        let v = args.u64(i);
        match f {
            Fmt::Int => line.push_str(&(v as i64).to_string()),
            Fmt::Hex => line.push_str(&format!("{v:#x}")),
            Fmt::Oct => line.push_str(&format!("{v:#o}")),
            Fmt::Ptr if v == 0 => line.push_str("NULL"),
            Fmt::Ptr => line.push_str(&format!("{v:#x}")),
            Fmt::Fd if args.i32(i) == abi::flags::at::AT_FDCWD => line.push_str("AT_FDCWD"),
            Fmt::Fd => line.push_str(&args.i32(i).to_string()),
            Fmt::Path => match task.mm().read_cstr(v, crate::vfs::PATH_MAX) {
                Ok(p) => quote(&p, &mut line, false),
                Err(_) => line.push_str(&format!("{v:#x}")),
            },
            Fmt::Buf(len_arg) => {
                let len = args.u64(*len_arg) as usize;
                let shown = len.min(SHOWN_BYTES);
                let mut buf = vec![0u8; shown];
                match task.mm().copy_in(v, &mut buf) {
                    Ok(()) => quote(&buf, &mut line, len > shown),
                    Err(_) => line.push_str(&format!("{v:#x}")),
                }
            }
        }
    }
    line.push_str(") = ");
    let sret = ret as i64;
    if (-4095..0).contains(&sret) {
        let e = Errno(-sret as i32);
        line.push_str(&format!("-1 {} ({})", e.name(), std::io::Error::from_raw_os_error(e.0)));
    } else if matches!(fmts.first(), Some(Fmt::Ptr)) || nr == abi::nr::MMAP || nr == abi::nr::BRK {
        line.push_str(&format!("{ret:#x}"));
    } else {
        line.push_str(&sret.to_string());
    }
    line.push('\n');
    let _ = std::io::stderr().write_all(line.as_bytes());
}
