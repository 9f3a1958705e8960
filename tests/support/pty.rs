//! Running a program on a fresh pty, as an interactive terminal would,
//! through `tests/support/pty_driver.py` (python3's `pty` module): the
//! program is a session leader with the pty's replica as its controlling
//! terminal and stdio, and a script types into the master, resizes the
//! window and waits for output.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::process::Command;

use crate::paths;

/// What a run on a pty produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PtyOutcome {
    /// Exit status, or 128+N when killed by signal N.
    pub status: i32,
    /// Everything read from the master: output and echoed input, with the
    /// terminal's `\r\n` line ends.
    pub output: String,
    /// Why a script step failed (a timeout waiting for output), if one did.
    pub failed: Option<String>,
}

impl PtyOutcome {
    /// The output with `\r\n` turned into `\n`.
    pub fn text(&self) -> String {
        self.output.replace("\r\n", "\n")
    }

    /// A readable dump, for failure messages.
    pub fn describe(&self) -> String {
        let mut s = format!("exit status {}", self.status);
        if let Some(f) = &self.failed {
            let _ = write!(s, " (script step failed: {f})");
        }
        let _ = write!(s, "\n--- terminal ---\n{}\n--- end ---", self.text());
        s
    }
}

/// One step of a driver script.
pub enum Step<'a> {
    /// Wait until the output since the last `Expect` holds this text.
    Expect(&'a str),
    /// Type this (`"\u{3}"` is ^C).
    Send(&'a str),
    /// Resize the window to rows x columns from the master's side (before
    /// the program starts, when at the start of the script).
    Winsize(u16, u16),
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn script_json(steps: &[Step<'_>]) -> String {
    let items: Vec<String> = steps
        .iter()
        .map(|s| match s {
            Step::Expect(t) => format!("{{\"expect\": {}}}", json_string(t)),
            Step::Send(t) => format!("{{\"send\": {}}}", json_string(t)),
            Step::Winsize(r, c) => format!("{{\"winsize\": [{r}, {c}]}}"),
        })
        .collect();
    format!("[{}]", items.join(", "))
}

/// Runs `argv` on a fresh 24x80 pty, playing `steps`.
///
/// # Panics
///
/// When the driver itself cannot run or reports nonsense.
pub fn run_on_pty(argv: &[OsString], steps: &[Step<'_>]) -> PtyOutcome {
    let driver = paths::manifest_dir().join("tests/support/pty_driver.py");
    let out = Command::new("python3")
        .arg(&driver)
        .arg(script_json(steps))
        .args(argv)
        .env("PTY_DRIVER_TIMEOUT", "60")
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", driver.display()));
    assert!(out.status.success(), "the pty driver failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut parts = text.splitn(3, '\n');
    let status = parts
        .next()
        .and_then(|l| l.strip_prefix("status "))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("the pty driver printed no status: {text:?}"));
    let failed = match parts.next().and_then(|l| l.strip_prefix("failed ")) {
        Some("-") => None,
        Some(why) => Some(why.to_owned()),
        None => panic!("the pty driver printed no step result: {text:?}"),
    };
    PtyOutcome { status, output: parts.next().unwrap_or("").to_owned(), failed }
}

/// Runs `prog ARGS` natively on a pty: `chroot ROOT PROG ARGS`.
pub fn native_on_pty(root: &std::path::Path, prog: &str, args: &[&str], steps: &[Step<'_>]) -> PtyOutcome {
    let mut argv: Vec<OsString> = vec![paths::chroot_bin().into(), root.into(), prog.into()];
    argv.extend(args.iter().map(OsString::from));
    run_on_pty(&argv, steps)
}

/// Runs `prog ARGS` under `husk run --platform PLATFORM` on a pty.
pub fn husk_on_pty(
    platform: &str,
    root: &std::path::Path,
    prog: &str,
    args: &[&str],
    steps: &[Step<'_>],
) -> PtyOutcome {
    let mut argv: Vec<OsString> = vec![
        paths::husk_bin().into(),
        "run".into(),
        "--rootfs".into(),
        root.into(),
        "--platform".into(),
        platform.into(),
        "--".into(),
        prog.into(),
    ];
    argv.extend(args.iter().map(OsString::from));
    run_on_pty(&argv, steps)
}
