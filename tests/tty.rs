//! Terminals: `husk run` on a pty, as from an interactive terminal or
//! containerd with `terminal: true`. The app must get a real terminal:
//! isatty, termios and window-size ioctls passed to the host pty, its
//! session's controlling terminal with Linux's job control (foreground
//! group, SIGTTIN/SIGTTOU, /dev/tty), and ^C delivered to its foreground
//! group only, never to the stubs or the Gofer.
//!
//! Each case runs `tests/progs/tty.c` on a fresh pty through
//! `tests/support/pty_driver.py`, natively (chroot, the program being the
//! session leader that owns the pty, as `husk` is) and under Husk, and
//! compares everything the terminal showed: output, echoed input and the
//! terminal's own `^C`.

use husk_suite::pty::{husk_on_pty, native_on_pty, PtyOutcome, Step};
use husk_suite::{differential, differential_test, prog_rootfs, self_checking_case, Link, Rootfs, NATIVE};

/// A root with busybox, `/progs/tty`, and a `/dev/tty` node for the
/// native run (under Husk, the Sentry's /dev is mounted over it).
fn tty_rootfs() -> (Rootfs, String) {
    let rootfs = Rootfs::new();
    rootfs.busybox(&["sh"]).dir_mode("/tmp", 0o1777).dir("/dev");
    let prog = rootfs.prog("tty", Link::Static);
    let node = rootfs.host_path("/dev/tty");
    let made = std::process::Command::new("mknod")
        .args(["-m", "666"])
        .arg(&node)
        .args(["c", "5", "0"])
        .status()
        .expect("run mknod");
    assert!(made.success(), "mknod {} (the tests run as root)", node.display());
    (rootfs, prog)
}

/// Runs `tty MODE` natively and, unless `platform` is native, under Husk on
/// the same script; each run must finish its script and exit 0 with every
/// line of `expect`, and the two terminals must show the same thing.
fn tty_case(platform: &str, mode: &str, steps: &[Step<'_>], expect: &[&str]) {
    let (rootfs, prog) = tty_rootfs();
    let check = |side: &str, out: &PtyOutcome| {
        assert!(out.failed.is_none() && out.status == 0, "{side} run of `tty {mode}`:\n{}", out.describe());
        let text = out.text();
        // The terminal echoes ^C where it was typed, before the next line.
        let missing: Vec<_> =
            expect.iter().filter(|l| !text.lines().any(|t| t.trim_start_matches("^C") == **l)).collect();
        assert!(missing.is_empty(), "{side} run of `tty {mode}` lacks {missing:?}:\n{}", out.describe());
        assert!(!text.contains(": bad"), "{side} run of `tty {mode}` failed a self-check:\n{}", out.describe());
    };
    let native = native_on_pty(rootfs.path(), &prog, &[mode], steps);
    check("native (the case itself is wrong, not Husk)", &native);
    if platform == NATIVE {
        return;
    }
    let husk = husk_on_pty(platform, rootfs.path(), &prog, &[mode], steps);
    check(&format!("husk --platform {platform}"), &husk);
    assert_eq!(
        native.text(),
        husk.text(),
        "the terminal shows something else under husk --platform {platform}:\n===== native =====\n{}\n===== husk =====\n{}",
        native.describe(),
        husk.describe()
    );
}

differential_test! {
    /// isatty on 0, 1 and 2 (one open file, O_RDWR, as a shell's dup'ed
    /// stdio), /dev/tty, TIOCGSID/TIOCGPGRP, FIONREAD, TIOCOUTQ, tcdrain,
    /// tcflush and tcflow with Linux's EINVAL, EFAULT for bad pointers and
    /// ENOTTY for unknown requests and non-terminals.
    fn tty_basics(platform) {
        tty_case(platform, "basics", &[], &[
            "isatty 0 1 2: 1 1 1",
            "open /dev/tty: ok",
            "via /dev/tty",
            "tcflush bad queue: EINVAL",
            "TCGETS to a bad pointer: EFAULT",
            "TIOCSPGRP from a bad pointer: EFAULT",
            "unknown tty ioctl 0x54ff: ENOTTY",
            "TCGETS on a pipe: ENOTTY",
        ]);
    }
}

differential_test! {
    /// TCGETS/TCSETS round trip: typed input is echoed by the host's line
    /// discipline until the app turns ECHO off; canonical reads return a
    /// line; poll on the terminal waits for input.
    fn tty_echo(platform) {
        tty_case(
            platform,
            "echo",
            &[Step::Expect("ready1"), Step::Send("abc\n"), Step::Expect("ready2"), Step::Send("secret\n")],
            &["poll with nothing typed: 0", "abc", "read 1: 4 [abc]", "ECHO is off: ok", "read 2: 7 [secret]"],
        );
    }
}

differential_test! {
    /// TIOCGWINSZ sees the size the terminal set (30x100); the app's
    /// TIOCSWINSZ raises one SIGWINCH in its foreground group (a child
    /// included), none for the same size again; a resize from the
    /// terminal's side reaches the app as SIGWINCH too.
    fn tty_winsize(platform) {
        tty_case(
            platform,
            "winsize",
            &[Step::Winsize(30, 100), Step::Expect("ready-resize"), Step::Winsize(50, 132)],
            &[
                "size: 30 rows 100 cols",
                "SIGWINCH seen by the time TIOCSWINSZ returned: 1",
                "the child saw SIGWINCH: ok",
                "SIGWINCH count: 1",
                "size: 40 rows 120 cols",
                "resized by the terminal: SIGWINCH count 2, size 50 rows 132 cols",
            ],
        );
    }
}

differential_test! {
    /// ^C typed at the terminal kills the foreground child (busybox sleep
    /// run by busybox sh) and reaches the app's own SIGINT handler with
    /// si_code SI_KERNEL; a second ^C leaves the app (and under Husk its
    /// stub and the Gofer) alive to run another program.
    fn tty_sigint(platform) {
        tty_case(
            platform,
            "sigint",
            &[Step::Expect("ready"), Step::Send("\u{3}"), Step::Expect("ready2"), Step::Send("\u{3}")],
            &[
                "foreground child: killed by SIGINT",
                "handler saw: SIGINT, si_code SI_KERNEL: ok",
                "second ^C handled",
                "a new program runs after ^C",
                "echo: exited 0",
            ],
        );
    }
}

differential_test! {
    /// TIOCSPGRP: EPERM for another session's group, ESRCH for no such
    /// group, EINVAL for -1, a group of the session works, and from the
    /// background with SIGTTOU ignored too; TIOCSCTTY rules; setsid drops
    /// the terminal (/dev/tty ENXIO); TIOCNOTTY in a member.
    fn tty_pgrp(platform) {
        tty_case(platform, "pgrp", &[], &[
            "after setsid: /dev/tty ENXIO ok, TIOCGPGRP ENOTTY ok, TIOCSCTTY of an owned tty EPERM ok",
            "tcsetpgrp to another session's group: EPERM",
            "tcsetpgrp to no such group: ESRCH",
            "tcsetpgrp to -1: EINVAL",
            "tcsetpgrp to my child's group: ok",
            "tcsetpgrp back, from the background, SIGTTOU ignored: ok",
            "TIOCSCTTY by a process that is not a session leader: EPERM",
            "TIOCNOTTY in a member, then /dev/tty ENXIO: ok",
        ]);
    }
}

differential_test! {
    /// Job control: a background read stops with SIGTTIN (EIO when SIGTTIN
    /// is ignored or blocked); background writes pass without TOSTOP and
    /// stop with SIGTTOU with it (unless SIGTTOU is ignored); a background
    /// tcsetattr stops with SIGTTOU, tcgetattr does not.
    fn tty_jobctl(platform) {
        tty_case(platform, "jobctl", &[], &[
            "background read: stopped by SIGTTIN",
            "background read, SIGTTIN ignored: exited 5",
            "background read, SIGTTIN blocked: exited 5",
            "background write, no TOSTOP: exited 0",
            "background tcsetattr: stopped by SIGTTOU",
            "background tcgetattr: exited 0",
            "background write, TOSTOP: stopped by SIGTTOU",
            "background write, TOSTOP, SIGTTOU ignored: exited 0",
        ]);
    }
}

differential_test! {
    /// Pseudo-terminals (`tests/progs/pty.c`): /dev/ptmx, /dev/pts/N and
    /// ttyname, the lock and TIOCGPTPEER, the default termios, canonical
    /// mode (echo, ICRNL/ONLCR, erase, kill, word erase, EOF, VLNEXT), raw
    /// mode with VMIN and VTIME, ^C to the foreground group with its echo,
    /// window sizes through the master, hangups both ways (the session
    /// leader's SIGHUP, EOF and EIO on the replica, EIO on the master),
    /// bounded queues with O_NONBLOCK, and openpty and forkpty. The root
    /// has /dev/pts and a /dev/ptmx link for the native run, which mounts
    /// a devpts instance there.
    fn pty(platform, link) {
        let (rootfs, prog) = prog_rootfs("pty", link);
        rootfs.dir("/dev/pts").symlink("/dev/ptmx", "pts/ptmx");
        let case = self_checking_case(&rootfs, &prog, std::time::Duration::from_secs(120)).expect_lines(&[
            "open a locked replica: EIO",
            "ttyname(replica) is ptsname: ok",
            "c_lflag: 0105073",
            "canonical: a line: 5 \"abcd\\n\"",
            "canonical: their echo: \"\\r\\n12345\\r\\nhello wor\\b \\b\\b \\bld\\b \\b\\b \\b\\b \\bthere\\r\\n\"",
            "canonical: EOF on an empty line: 0 \"\"",
            "raw: VMIN 0 VTIME 2, nothing: 0 \"\"",
            "job control: the child's line: \"child: tcgetpgrp is me 1, tcgetsid 1, stat's tty_nr 1 tpgid 1\\r\\n\"",
            "job control: child killed by SIGINT",
            "job control: echo: \"^C\"",
            "winsize now: 24 80",
            "hung up: read 0, write EIO, poll HUP 1, tcgetattr EIO, tcgetpgrp EIO",
            "session leader on hangup: killed by SIGHUP",
            "master read after: EIO",
            "forkpty child: exited 0",
        ]);
        differential(platform, &case);
    }
}
