//! `tests/blocklist.txt`: known failures, one test name per line (the
//! name cargo prints, e.g. `fileread_static_ptrace`), `#` starts a comment.
//! A listed test returns early and says so on stderr; it still counts as
//! passed, so remove the line once the test passes.

use std::collections::HashSet;
use std::io::Write;
use std::sync::OnceLock;

/// Path of the blocklist, read at run time, so editing it needs no rebuild.
pub fn path() -> std::path::PathBuf {
    crate::paths::manifest_dir().join("tests").join("blocklist.txt")
}

/// The test names in a blocklist's text.
pub fn parse(text: &str) -> HashSet<String> {
    text.lines()
        .map(|line| line.split('#').next().unwrap_or("").trim())
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .collect()
}

fn names() -> &'static HashSet<String> {
    static NAMES: OnceLock<HashSet<String>> = OnceLock::new();
    NAMES.get_or_init(|| match std::fs::read_to_string(path()) {
        Ok(text) => parse(&text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => HashSet::new(),
        Err(e) => panic!("reading {}: {e}", path().display()),
    })
}

/// Whether `test` is listed.
pub fn is_listed(test: &str) -> bool {
    names().contains(test)
}

/// Whether `test` is listed; if so, prints a note that it is skipped.
/// The note goes straight to the process's stderr, past the test
/// harness's output capture, so it shows in a normal `cargo test` run.
pub fn skip(test: &str) -> bool {
    if !is_listed(test) {
        return false;
    }
    let _ = writeln!(std::io::stderr(), "note: skipping {test}: listed in tests/blocklist.txt");
    true
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn parse_skips_comments_and_blank_lines() {
        let names = parse("# header\n\nfoo_ptrace\n  bar_native  # flaky\n#baz\n");
        let mut v: Vec<_> = names.into_iter().collect();
        v.sort();
        assert_eq!(v, ["bar_native", "foo_ptrace"]);
    }

    #[test]
    fn the_checked_in_blocklist_parses() {
        let text = std::fs::read_to_string(super::path()).expect("tests/blocklist.txt exists");
        for name in parse(&text) {
            assert!(
                name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "{name:?} in tests/blocklist.txt is not a test name"
            );
        }
    }
}
