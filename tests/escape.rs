//! Escape attempts: symlinks and `..` paths that point outside the root
//! must resolve inside it, as they do under `chroot`.
//!
//! Each test's temporary directory holds the root (`rootfs/`) and, beside
//! it, `host-marker.txt` with a unique string. Symlinks in the root point
//! at the marker every way we can think of; the sandbox must never print
//! the marker, and must behave exactly as the native `chroot` run does.

use std::sync::Arc;

use husk_suite::{differential, differential_test, Case, Link, Rootfs};

const SANDBOX_PASSWD: &str = "sandbox-passwd-line";

struct Setup {
    rootfs: Rootfs,
    /// The marker's contents: must never appear in any output.
    marker: Arc<String>,
    /// The marker's absolute host path, without the leading `/`.
    marker_rel: String,
}

fn setup() -> Setup {
    let rootfs = Rootfs::new();
    let marker = format!(
        "HUSK-HOST-MARKER-{}-{:x}",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
    );
    let marker_path = rootfs.outside().join("host-marker.txt");
    std::fs::write(&marker_path, format!("{marker}\n")).expect("write the host marker");
    assert_eq!(marker_path.parent(), rootfs.path().parent(), "the marker sits beside the root");
    let marker_abs = marker_path.to_str().expect("utf-8 path").to_owned();
    let marker_rel = marker_abs.trim_start_matches('/').to_owned();
    let ups = "../".repeat(12);

    rootfs
        .busybox(&["cat"])
        .file("/etc/passwd", format!("{SANDBOX_PASSWD}\n"))
        .dir("/sub")
        // Relative symlinks that climb past the root.
        .symlink("/escape_rel", format!("{ups}etc/shadow"))
        .symlink("/escape_rel_passwd", format!("{ups}etc/passwd"))
        .symlink("/escape_rel_marker", format!("{ups}{marker_rel}"))
        .symlink("/escape_parent_marker", "../host-marker.txt")
        .symlink("/sub/deeplink", "../../host-marker.txt")
        .symlink("/chain1", "chain2")
        .symlink("/chain2", "sub/../../host-marker.txt")
        // Absolute symlinks: resolved from the sandbox's root.
        .symlink("/escape_abs", "/etc/hostname")
        .symlink("/escape_abs_marker", &marker_abs)
        .symlink("/escape_abs_passwd", "/etc/passwd")
        // Directory symlinks that point above the root.
        .symlink("/updir", "..")
        .symlink("/dirlink", ups.trim_end_matches('/'));
    Setup { rootfs, marker: Arc::new(marker), marker_rel }
}

fn no_marker(marker: &Arc<String>) -> impl Fn(&husk_suite::Outcome) + Send + Sync + 'static {
    let marker = Arc::clone(marker);
    move |out| {
        assert!(
            !out.stdout_str().contains(marker.as_str()) && !out.stderr_str().contains(marker.as_str()),
            "the host-only marker leaked into the sandbox"
        );
    }
}

differential_test! {
    /// Opens each escape path with a small C program that prints the first
    /// line or the errno name.
    fn escape_paths(platform) {
        let s = setup();
        let prog = s.rootfs.prog("readpaths", Link::Static);
        let rel = &s.marker_rel;
        let probes: Vec<(String, &str)> = vec![
            ("/etc/passwd".into(), SANDBOX_PASSWD),
            ("/escape_rel".into(), "ENOENT"),
            ("/escape_rel_passwd".into(), SANDBOX_PASSWD),
            ("/escape_rel_marker".into(), "ENOENT"),
            ("/escape_parent_marker".into(), "ENOENT"),
            ("/sub/deeplink".into(), "ENOENT"),
            ("/chain1".into(), "ENOENT"),
            ("/escape_abs".into(), "ENOENT"),
            ("/escape_abs_marker".into(), "ENOENT"),
            ("/escape_abs_passwd".into(), SANDBOX_PASSWD),
            ("/updir/host-marker.txt".into(), "ENOENT"),
            ("/updir/rootfs/etc/passwd".into(), "ENOENT"),
            ("/updir/etc/passwd".into(), SANDBOX_PASSWD),
            ("/dirlink/etc/passwd".into(), SANDBOX_PASSWD),
            (format!("/dirlink/{rel}"), "ENOENT"),
            ("/../../../etc/passwd".into(), SANDBOX_PASSWD),
            ("/../host-marker.txt".into(), "ENOENT"),
            (format!("/../../../../../../../../{rel}"), "ENOENT"),
            ("/proc/self/root/etc/passwd".into(), "ENOENT"),
            (format!("/proc/self/root/{rel}"), "ENOENT"),
            ("@/:../host-marker.txt".into(), "ENOENT"),
            ("@/:../../etc/passwd".into(), SANDBOX_PASSWD),
            ("@/sub:../../host-marker.txt".into(), "ENOENT"),
            ("@/updir:host-marker.txt".into(), "ENOENT"),
        ];
        let mut expected: String = probes.iter().map(|(path, result)| format!("{path}: {result}\n")).collect();
        expected.push_str(&format!(
            "cwd after 32 x chdir(..): /\n\
             relative etc/passwd from there: {SANDBOX_PASSWD}\n\
             openat(/, ../../../etc/passwd): {SANDBOX_PASSWD}\n\
             openat(/, ../../..): ok\n\
             cwd after fchdir to it: /\n"
        ));
        let case = Case::new(&s.rootfs, prog)
            .args(probes.iter().map(|(path, _)| path.clone()))
            .compare_stderr()
            .expect_stdout(expected)
            .check(no_marker(&s.marker));
        differential(platform, &case);
    }
}

differential_test! {
    /// busybox `cat` through the escaping symlinks: each one fails.
    fn escape_busybox_cat(platform) {
        let s = setup();
        for path in ["/escape_parent_marker", "/escape_abs_marker", "/updir/host-marker.txt", "/chain1"] {
            let case = Case::new(&s.rootfs, "/bin/busybox")
                .args(["cat", path])
                .compare_stderr()
                .expect_status(1)
                .expect_stdout("")
                .check(no_marker(&s.marker));
            differential(platform, &case);
        }
        let case = Case::new(&s.rootfs, "/bin/busybox")
            .args(["cat", "/dirlink/etc/passwd"])
            .compare_stderr()
            .expect_stdout(format!("{SANDBOX_PASSWD}\n"));
        differential(platform, &case);
    }
}
