//! `unsafe` may appear only in the places docs/architecture.md and STYLE.md
//! name: the platform crate, the Sentry's memory-file module, and the thin
//! host-FFI modules called `sys.rs`. Like gVisor's checkunsafe.

use std::path::{Path, PathBuf};

const ALLOWED: &[&str] = &[
    "platform/",
    "sentry/src/mm/memfile.rs",
    "sentry/src/sys.rs",
    "gofer/src/sys.rs",
    "runtime/src/sys.rs",
    "netstack/src/sys.rs",
];
const CRATES: &[&str] = &["abi", "platform", "sentry", "gofer", "runtime", "netstack"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn unsafe_code_stays_in_its_named_places() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for c in CRATES {
        rust_files(&root.join(c), &mut files);
    }
    assert!(files.len() > 20, "found only {} source files", files.len());
    let mut offenders = Vec::new();
    for f in &files {
        let rel = f.strip_prefix(root).unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(f).unwrap();
        let uses_unsafe = text.lines().any(|l| {
            let code = l.split("//").next().unwrap_or("");
            code.contains("unsafe {") || code.contains("unsafe fn") || code.contains("unsafe impl")
        });
        if uses_unsafe && !ALLOWED.iter().any(|a| rel.starts_with(a)) {
            offenders.push(rel);
        }
    }
    assert!(offenders.is_empty(), "unsafe code outside its allowed places: {offenders:?}");
}
