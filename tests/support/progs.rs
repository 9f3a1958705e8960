//! Compiling the C programs in `tests/progs/` at test time.
//!
//! `build("hello", Link::Static)` compiles `tests/progs/hello.c` into
//! `target/husk-test/progs/hello-static`, once: the output is reused until
//! the source, a shared header (`common.h`, `ipc_common.h`) or this file
//! (which holds the flags) is newer.
//! Concurrent tests compile into unique temporary names and rename, so
//! they never see a half-written binary.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::SystemTime;

use crate::paths;

/// How a test program is linked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    /// `cc -static`: an ET_EXEC loaded at its link address.
    Static,
    /// `cc -static-pie`: an ET_DYN that relocates itself, loaded anywhere.
    StaticPie,
}

impl Link {
    /// Both ways, for cases that run each.
    pub const ALL: [Link; 2] = [Link::Static, Link::StaticPie];

    /// `static` or `static-pie`: the binary's name suffix.
    pub fn suffix(self) -> &'static str {
        match self {
            Link::Static => "static",
            Link::StaticPie => "static-pie",
        }
    }

    fn flags(self) -> &'static [&'static str] {
        match self {
            Link::Static => &["-static", "-no-pie"],
            Link::StaticPie => &["-static-pie", "-fPIE"],
        }
    }
}

fn mtime(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Compiles `tests/progs/<name>.c` (if needed) and returns the binary.
///
/// # Panics
///
/// When the source is missing or the compiler fails; the message has the
/// compiler's output.
pub fn build(name: &str, link: Link) -> PathBuf {
    let src = paths::progs_src_dir().join(format!("{name}.c"));
    assert!(src.is_file(), "no test program {}", src.display());
    let out_dir = paths::work_dir().join("progs");
    let out = out_dir.join(format!("{name}-{}", link.suffix()));

    let inputs = [
        src.clone(),
        paths::progs_src_dir().join("common.h"),
        paths::progs_src_dir().join("ipc_common.h"),
        paths::manifest_dir().join(file!()),
    ];
    let newest_input = inputs.iter().filter_map(|p| mtime(p)).max();
    if let (Some(built), Some(newest)) = (mtime(&out), newest_input) {
        if built >= newest {
            return out;
        }
    }

    std::fs::create_dir_all(&out_dir).expect("create target/husk-test/progs");
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let tmp = out_dir.join(format!(
        ".{name}-{}.{}.{}.tmp",
        link.suffix(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = Command::new("cc")
        .args(["-O1", "-g", "-Wall", "-Wextra"])
        .args(link.flags())
        .arg("-o")
        .arg(&tmp)
        .arg(&src)
        .output()
        .unwrap_or_else(|e| panic!("running cc (is gcc installed?): {e}"));
    if !result.status.success() {
        let _ = std::fs::remove_file(&tmp);
        panic!(
            "cc {} {} failed ({}):\n{}",
            link.flags().join(" "),
            src.display(),
            result.status,
            String::from_utf8_lossy(&result.stderr)
        );
    }
    std::fs::rename(&tmp, &out).expect("rename the compiled program into place");
    out
}
