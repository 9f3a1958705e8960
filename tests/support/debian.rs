//! A Debian bookworm root filesystem for the whole-system tests, made
//! once with debootstrap and cached.
//!
//! [`debian_rootfs`] returns `/var/cache/husk-test/debian-<hash>/` (or
//! under `$HUSK_TEST_CACHE`), the root directory itself. `<hash>` covers
//! the recipe: [`SUITE`], [`VARIANT`], [`PACKAGES`] and [`RECIPE_VERSION`]
//! (bump it when the steps after debootstrap change), so a changed recipe
//! builds a new root beside the old one.
//!
//! The recipe: `debootstrap --variant=minbase --include=PACKAGES SUITE
//! DIR MIRROR`, then precompiled Python bytecode for the standard library
//! and its test suite (so that no run wants to write `__pycache__`), apt's downloaded
//! packages and lists removed (they are only size), an `/etc/hosts` naming
//! the loopback localhost, and the `/husk-test`
//! tree of [`write_test_tree`] with fixed contents, owners and times.
//!
//! The build goes into a temporary directory beside the cache entry that
//! is renamed into place when complete, under an exclusive `flock` on
//! `debian-<hash>.lock`, so concurrent test processes build it once and
//! never see half of it. debootstrap runs in a private mount namespace
//! (`unshare --mount`), so the /proc and /sys it mounts in the target go
//! away with it even when it fails.
//!
//! The mirror is the one this host's apt uses for Debian (see
//! [`apt_mirror`]), or `$HUSK_DEBIAN_MIRROR`. It is never printed: messages
//! say `<mirror>` instead.
//!
//! Tests must treat the root as read-only (Husk serves it read-only);
//! native runs in it must use [`crate::Case::scratch_mounts`], which
//! keeps the program's writes out of it.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Instant;

use crate::rootfs::{fixed_time, set_times_recursive};

/// The Debian release.
pub const SUITE: &str = "bookworm";

/// debootstrap's package selection: only the Essential and required
/// packages (bash, coreutils, dpkg, findutils, grep, gzip, sed, tar, ...).
pub const VARIANT: &str = "minbase";

/// Added to the minbase set. `python3-minimal` is the interpreter with a
/// small standard library (threading, subprocess, hashlib, ...);
/// `libpython3-stdlib` brings the rest of it, which the tests use: json,
/// multiprocessing, concurrent, ctypes (and libffi);
/// `libpython3.11-testsuite` is CPython's own regression suite
/// (`python3 -m test`), the external conformance suite; `nodejs` is
/// Debian's Node.js, for the event-loop tests; `git`, `python3-pip`,
/// `procps` (ps, free, top, pgrep), `lsof` and `htop` are the real tools
/// the filesystem tests run.
pub const PACKAGES: &[&str] = &[
    "python3-minimal",
    "libpython3-stdlib",
    "libpython3.11-testsuite",
    "nodejs",
    "git",
    "python3-pip",
    "procps",
    "lsof",
    "htop",
];

/// The root's /etc/hosts (debootstrap writes none): Docker's lines for the
/// loopback.
const HOSTS: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n";

/// Names the steps that follow debootstrap; part of the cache key.
pub const RECIPE_VERSION: &str = "husk-debian-3: compileall but the suite's deliberately broken files, apt cleaned, \
     /etc/hosts for localhost, /husk-test tree v1";

/// Files of the standard library and its test suite that are not valid
/// Python on purpose (the suite's syntax and encoding error cases), left
/// out of the precompilation (`compileall -x`).
const NOT_PYTHON: &str = r"/(badsyntax_[^/]*|bad_coding2?|lib2to3/tests/data/.*)\.py$";

/// Where test fixtures are cached: `$HUSK_TEST_CACHE`, else
/// `/var/cache/husk-test`.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("HUSK_TEST_CACHE").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/var/cache/husk-test"))
}

/// The recipe's hash, hex: FNV-1a (64-bit) of the suite, variant, package
/// list and [`RECIPE_VERSION`].
pub fn recipe_hash() -> String {
    let recipe =
        format!("suite={SUITE}\nvariant={VARIANT}\npackages={}\nrecipe={RECIPE_VERSION}\n", PACKAGES.join(","));
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in recipe.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// The cached Debian root, built first if needed (a minute or more: see
/// the module documentation).
///
/// # Panics
///
/// When the build fails (no network, no debootstrap, not root), with the
/// end of debootstrap's log.
pub fn debian_rootfs() -> PathBuf {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let cache = cache_dir();
        let name = format!("debian-{}", recipe_hash());
        let dir = cache.join(&name);
        if is_complete(&dir) {
            return dir;
        }
        fs::create_dir_all(&cache).unwrap_or_else(|e| panic!("creating {}: {e}", cache.display()));
        let lock_path = cache.join(format!("{name}.lock"));
        let lock = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .unwrap_or_else(|e| panic!("opening {}: {e}", lock_path.display()));
        rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive)
            .unwrap_or_else(|e| panic!("flock {}: {e}", lock_path.display()));
        if !is_complete(&dir) {
            build(&cache, &name);
        }
        drop(lock);
        dir
    })
    .clone()
}

fn is_complete(dir: &Path) -> bool {
    dir.join("usr/bin/python3").exists() && dir.join("husk-test").is_dir()
}

/// Builds `cache/name` (the caller holds the lock).
fn build(cache: &Path, name: &str) {
    // Leftovers of builds that were killed: nobody else builds now.
    let tmp_prefix = format!(".{name}.tmp-");
    for entry in fs::read_dir(cache).expect("read the cache directory").flatten() {
        if entry.file_name().to_string_lossy().starts_with(&tmp_prefix) {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
    let tmp = cache.join(format!("{tmp_prefix}{}", std::process::id()));
    let log_path = cache.join(format!("{name}.log"));
    let mirror = apt_mirror();
    let started = Instant::now();
    let mut log = fs::File::create(&log_path).unwrap_or_else(|e| panic!("creating {}: {e}", log_path.display()));
    let _ = writeln!(
        log,
        "debootstrap --variant={VARIANT} --include={} {SUITE} {} <mirror>",
        PACKAGES.join(","),
        tmp.display()
    );
    let status = Command::new(crate::paths::unshare_bin())
        .args(["--mount", "--propagation", "private", "--"])
        .arg(debootstrap_bin())
        .arg(format!("--variant={VARIANT}"))
        .arg(format!("--include={}", PACKAGES.join(",")))
        .arg(SUITE)
        .arg(&tmp)
        .arg(&mirror)
        .env_clear()
        .env("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        .env("LC_ALL", "C")
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone().expect("dup the log"))
        .stderr(log.try_clone().expect("dup the log"))
        .status()
        .unwrap_or_else(|e| panic!("running debootstrap (apt-get install debootstrap): {e}"));
    if !status.success() {
        let text = fs::read_to_string(&log_path).unwrap_or_default().replace(&mirror, "<mirror>");
        let tail: Vec<&str> = text.lines().rev().take(30).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        let _ = fs::remove_dir_all(&tmp);
        panic!(
            "debootstrap of the Debian test root failed ({status}); log {}:\n{}",
            log_path.display(),
            tail.join("\n")
        );
    }
    let _ = writeln!(log, "debootstrap took {:.0?}", started.elapsed());

    // Python bytecode for the whole standard library, so that runs only
    // read (some of it comes precompiled, some does not).
    let out = Command::new(crate::paths::chroot_bin())
        .arg(&tmp)
        .args(["/usr/bin/python3", "-m", "compileall", "-q", "-j", "0", "-x", NOT_PYTHON, "/usr/lib/python3.11"])
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .output()
        .expect("running compileall");
    assert!(
        out.status.success(),
        "python3 -m compileall in the Debian root failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // Downloaded packages and package lists: only size.
    remove_files_in(&tmp.join("var/cache/apt/archives"), |n| n.ends_with(".deb"));
    remove_files_in(&tmp.join("var/cache/apt"), |n| n.ends_with(".bin"));
    remove_files_in(&tmp.join("var/lib/apt/lists"), |n| n != "lock");

    write_test_tree(&tmp.join("husk-test"));
    // debootstrap leaves the host's resolv.conf and hostname: make them fixed.
    let _ = fs::write(tmp.join("etc/hostname"), "husk-debian\n");
    let _ = fs::write(tmp.join("etc/resolv.conf"), "");
    // What a container runtime gives every container: the loopback names.
    let _ = fs::write(tmp.join("etc/hosts"), HOSTS);

    // An incomplete root left by hand (a complete one is never rebuilt).
    let dir = cache.join(name);
    if dir.exists() {
        fs::remove_dir_all(&dir).unwrap_or_else(|e| panic!("removing the incomplete {}: {e}", dir.display()));
    }
    fs::rename(&tmp, &dir).expect("rename the Debian root into place");
    let _ = writeln!(log, "ready after {:.0?}", started.elapsed());
}

fn remove_files_in(dir: &Path, pick: impl Fn(&str) -> bool) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type().is_ok_and(|t| t.is_file()) && pick(&name) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

fn debootstrap_bin() -> PathBuf {
    ["/usr/sbin/debootstrap", "/sbin/debootstrap", "/usr/bin/debootstrap"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("debootstrap"))
}

/// Numbers for `sort -n` (unsorted, with duplicates and negatives).
pub const NUMBERS: &str = "10\n9\n100\n-3\n42\n7\n42\n0\n1000\n-20\n";

/// Words for `sort`, `uniq` and `grep`.
pub const WORDS: &str = "pear\nbanana\napple\ncherry\nbanana\nfig\ngrape\nkiwi\napple\ndate\n";

/// Writes the `/husk-test` tree: a few files, directories and symlinks
/// with fixed contents, modes, owners (one file belongs to uid 1000, which
/// has no passwd entry) and times (2020-01-02 03:04:05 UTC).
///
/// ```text
/// /husk-test/numbers.txt  words.txt
/// /husk-test/hello.sh                      #!/bin/bash script, mode 0755
/// /husk-test/tree/a.txt  b.txt  empty  exec.sh (0755)  owned-by-1000
///                 link -> a.txt  dirlink -> sub
///                 sub/c.txt  sub/deeper/d.txt
/// ```
pub fn write_test_tree(top: &Path) {
    let file = |rel: &str, contents: &str, mode: u32| {
        let path = top.join(rel);
        fs::create_dir_all(path.parent().unwrap()).expect("mkdir -p");
        fs::write(&path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).expect("chmod");
    };
    file("numbers.txt", NUMBERS, 0o644);
    file("words.txt", WORDS, 0o644);
    file("hello.sh", "#!/bin/bash\necho \"hello from $0 with $# args: $*\"\nexit 7\n", 0o755);
    file("tree/a.txt", "alpha\n", 0o644);
    file("tree/b.txt", &"bravo line\n".repeat(300), 0o644);
    file("tree/empty", "", 0o600);
    file("tree/exec.sh", "#!/bin/sh\necho exec\n", 0o755);
    file("tree/owned-by-1000", "not root's\n", 0o640);
    file("tree/sub/c.txt", "charlie\n", 0o644);
    file("tree/sub/deeper/d.txt", "delta\n", 0o444);
    symlink("a.txt", top.join("tree/link")).expect("symlink");
    symlink("sub", top.join("tree/dirlink")).expect("symlink");
    for dir in ["", "tree", "tree/sub", "tree/sub/deeper"] {
        fs::set_permissions(top.join(dir), fs::Permissions::from_mode(0o755)).expect("chmod dir");
    }
    rustix::fs::chown(
        top.join("tree/owned-by-1000"),
        Some(rustix::fs::Uid::from_raw(1000)),
        Some(rustix::fs::Gid::from_raw(1000)),
    )
    .expect("chown owned-by-1000");
    set_times_recursive(top, fixed_time());
}

/// The Debian archive URI this host's apt uses, or `$HUSK_DEBIAN_MIRROR`.
///
/// Reads `/etc/apt/sources.list.d/*.sources` (deb822) and
/// `/etc/apt/sources.list` plus `/etc/apt/sources.list.d/*.list` (one-line
/// format). Prefers a `deb` source for [`SUITE`]; else takes any `deb`
/// source that is not a security archive (the same archive serves every
/// release).
///
/// # Panics
///
/// When there is no such source, saying to set `HUSK_DEBIAN_MIRROR`.
pub fn apt_mirror() -> String {
    if let Some(m) = std::env::var_os("HUSK_DEBIAN_MIRROR") {
        return m.to_string_lossy().into_owned();
    }
    let mut sources = Vec::new();
    let mut files = vec![PathBuf::from("/etc/apt/sources.list")];
    if let Ok(dir) = fs::read_dir("/etc/apt/sources.list.d") {
        let mut more: Vec<PathBuf> = dir.flatten().map(|e| e.path()).collect();
        more.sort();
        files.extend(more);
    }
    for file in files {
        let Ok(text) = fs::read_to_string(&file) else {
            continue;
        };
        match file.extension().and_then(|e| e.to_str()) {
            Some("sources") => sources.extend(parse_deb822(&text)),
            Some("list") => sources.extend(parse_one_line(&text)),
            _ if file.ends_with("sources.list") => sources.extend(parse_one_line(&text)),
            _ => {}
        }
    }
    pick_mirror(&sources, SUITE).unwrap_or_else(|| {
        panic!(
            "no Debian apt source found in /etc/apt to debootstrap {SUITE} from; \
             set HUSK_DEBIAN_MIRROR to a Debian archive URL"
        )
    })
}

/// One `deb` source: its URIs and suites.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct AptSource {
    pub uris: Vec<String>,
    pub suites: Vec<String>,
}

/// The `deb` stanzas of a deb822 `.sources` file (`Enabled: no` ones
/// left out).
pub fn parse_deb822(text: &str) -> Vec<AptSource> {
    let mut out = Vec::new();
    for stanza in text.split("\n\n") {
        let (mut types, mut enabled, mut src) = (Vec::new(), true, AptSource::default());
        for line in stanza.lines() {
            if line.starts_with('#') {
                continue;
            }
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let words = || value.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
            match key.trim().to_ascii_lowercase().as_str() {
                "types" => types = words(),
                "uris" => src.uris = words(),
                "suites" => src.suites = words(),
                "enabled" => enabled = !value.trim().eq_ignore_ascii_case("no"),
                _ => {}
            }
        }
        if enabled && types.iter().any(|t| t == "deb") && !src.uris.is_empty() {
            out.push(src);
        }
    }
    out
}

/// The `deb` lines of a one-line-format `sources.list`.
pub fn parse_one_line(text: &str) -> Vec<AptSource> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        let mut words = line.split_whitespace();
        if words.next() != Some("deb") {
            continue;
        }
        let mut rest: Vec<&str> = words.collect();
        // Options: "[arch=amd64 signed-by=...]", maybe over several words.
        if rest.first().is_some_and(|w| w.starts_with('[')) {
            let end = rest.iter().position(|w| w.ends_with(']')).unwrap_or(0);
            rest.drain(..=end);
        }
        if let [uri, suite, ..] = rest[..] {
            out.push(AptSource { uris: vec![uri.to_owned()], suites: vec![suite.to_owned()] });
        }
    }
    out
}

/// The first URI of a source for `suite`, else of any source that is not
/// a security archive.
pub fn pick_mirror(sources: &[AptSource], suite: &str) -> Option<String> {
    let is_security = |s: &AptSource| {
        s.suites.iter().any(|x| x.ends_with("-security")) || s.uris.iter().any(|u| u.contains("security"))
    };
    sources
        .iter()
        .find(|s| s.suites.iter().any(|x| x == suite) && !is_security(s))
        .or_else(|| sources.iter().find(|s| !is_security(s)))
        .and_then(|s| s.uris.first().cloned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deb822_stanzas() {
        let text = "Types: deb\n# a comment\nURIs: http://MIRROR/debian\nSuites: bookworm bookworm-updates\n\
                    Components: main\n\nTypes: deb\nURIs: http://MIRROR/debian-security\n\
                    Suites: bookworm-security\n\nTypes: deb-src\nURIs: http://SRC/debian\nSuites: bookworm\n\n\
                    Types: deb\nEnabled: no\nURIs: http://OFF/debian\nSuites: bookworm\n";
        let sources = parse_deb822(text);
        assert_eq!(sources.len(), 2);
        assert_eq!(sources[0].uris, ["http://MIRROR/debian"]);
        assert_eq!(sources[0].suites, ["bookworm", "bookworm-updates"]);
        assert_eq!(pick_mirror(&sources, "bookworm").as_deref(), Some("http://MIRROR/debian"));
        // Another release on the host: the same archive serves bookworm.
        assert_eq!(pick_mirror(&sources, "trixie").as_deref(), Some("http://MIRROR/debian"));
    }

    #[test]
    fn one_line_sources() {
        let text = "# deb http://COMMENTED/debian bookworm main\n\
                    deb [arch=amd64 signed-by=/k.gpg] http://SEC/debian-security bookworm-security main\n\
                    deb-src http://SRC/debian bookworm main\n\
                    deb http://MIRROR/debian bookworm main contrib\n";
        let sources = parse_one_line(text);
        assert_eq!(sources.len(), 2);
        assert_eq!(pick_mirror(&sources, "bookworm").as_deref(), Some("http://MIRROR/debian"));
        assert_eq!(pick_mirror(&[], "bookworm"), None);
    }

    #[test]
    fn recipe_hash_is_stable_hex() {
        let h = recipe_hash();
        assert_eq!(h.len(), 16);
        assert!(h.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(h, recipe_hash());
    }
}
