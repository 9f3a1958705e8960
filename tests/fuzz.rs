//! The system-call fuzzer in the sandbox (issue 11): `tests/fuzz/sysfuzz.c`
//! runs as the init of a `husk run` sandbox and makes random system calls
//! with random and boundary arguments (see its header), while this test
//! watches the host side:
//!
//! - husk exits with the fuzzer's exit status, 0 (the run finished and the
//!   fuzzer's own memory was never changed by the processes it forked), and
//!   its stderr, which holds husk's log, has no Rust panic ("panicked at")
//!   and no Sentry error line (`husk: error:`, an internal failure such as
//!   a stub that could not replay an address-space change);
//! - host fds: the Sentry's and the Gofer's are back to their number from
//!   before the first batch once the last batch is over (the fuzzer waits
//!   at both points for this test to look: its `-S`), and the Sentry's
//!   stays within [`FD_BOUND`] of it all along;
//! - host processes and threads: the Sentry's stubs and threads are back to
//!   their number too, and once husk has exited, nothing it started is
//!   left on the host (this test is the subreaper of all of it).
//!
//! Each platform runs a fixed seed and one from the clock, [`SECONDS`]
//! each, and prints the seed and how to replay it. The fuzzer runs with
//! `-k`: it keeps clear of the Husk bugs it found that are not fixed yet
//! (listed in sysfuzz.c as KNOWN_BUG); `HUSK_FUZZ_KNOWN_BUGS=1` drops that.
//! Other knobs: `HUSK_FUZZ_SEED` (the seed of the clock-seeded tests),
//! `HUSK_FUZZ_SECONDS`, `HUSK_FUZZ_CALLS`. `tests/fuzz/soak.sh DURATION`
//! runs the clock-seeded tests in a loop for hours.
//!
//! The sandbox gets a memory limit (`--memory`, [`MEMORY`]): a fuzzed
//! program may fill its memory, never the host's.

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use husk_suite::{husk_test, paths, procs, run_husk, Case, Link, Rootfs};

/// The seed every run of the fixed-seed tests uses.
const FIXED_SEED: u64 = 20_261_206;
/// How long each run fuzzes (the fuzzer stops starting batches then).
const SECONDS: f64 = 5.0;
/// The sandbox's memory limit.
const MEMORY: &str = "4g";
/// How long a whole run may take before it is killed and fails.
const RUN_TIMEOUT: Duration = Duration::from_secs(240);
/// How many more host fds the Sentry or the Gofer may hold after the last
/// batch than before the first: the cache of Gofer-backed names the
/// batches reached (`/`, `/progs`, `/tmp`...) may have grown a little.
const FD_SLACK: usize = 8;
/// How many more host fds than before the first batch the Sentry may hold
/// at any moment: the app's open files that hold host fds are bounded by
/// its RLIMIT_NOFILE (1024 by default) per process.
const FD_BOUND: usize = 4096;

/// One run at a time: each counts the host processes and threads of its
/// sandbox, and what is left once husk has exited.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

husk_test! {
    /// The fixed seed, [`SECONDS`] on each platform.
    fn fuzz_syscalls_fixed_seed(platform) {
        fuzz(platform, FIXED_SEED);
    }
}

husk_test! {
    /// A seed from the clock (or `HUSK_FUZZ_SEED`), [`SECONDS`] on each
    /// platform; the seed is printed.
    fn fuzz_syscalls_time_seed(platform) {
        let seed = env_u64("HUSK_FUZZ_SEED").unwrap_or_else(clock_seed);
        fuzz(platform, seed);
    }
}

husk_test! {
    /// The ELF loader's bugs this fuzzing found, on a static PIE: an
    /// e_entry of u64::MAX (the entry plus the load bias overflowed, a
    /// Sentry panic in debug builds) and segments that sit above where
    /// the image is loaded (a "negative" bias, an underflow). Both load,
    /// with Linux's wrapping arithmetic, and crash as on Linux: SIGSEGV.
    fn fuzz_found_elf_loader_overflows(platform) {
        let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let rootfs = Rootfs::new();
        let hello = rootfs.prog("hello", Link::StaticPie);
        let elf = fs::read(rootfs.host_path(&hello)).expect("read the program");
        let mut entry_max = elf.clone();
        entry_max[24..32].copy_from_slice(&u64::MAX.to_le_bytes());
        rootfs.file_mode("/progs/entry-max", entry_max, 0o755);
        rootfs.file_mode("/progs/high-vaddr", shift_vaddrs(&elf, 0x6000_0000_0000), 0o755);
        for prog in ["/progs/entry-max", "/progs/high-vaddr"] {
            let case = Case::new(&rootfs, prog).expect_status(139);
            let out = run_husk(platform, &case);
            let all = format!("{}{}", out.stderr_str(), String::from_utf8_lossy(&out.husk_log));
            assert!(!all.contains("panicked"), "{prog}: the Sentry panicked:\n{}", out.describe());
            case.verify(&format!("husk --platform {platform}"), &out);
        }
    }
}

/// `elf` with every program header's addresses (and the entry) moved up
/// by `delta`, the file offsets kept.
fn shift_vaddrs(elf: &[u8], delta: u64) -> Vec<u8> {
    let mut out = elf.to_vec();
    let word = |b: &[u8], at: usize| u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"));
    let half = |b: &[u8], at: usize| usize::from(u16::from_le_bytes([b[at], b[at + 1]]));
    let (phoff, phnum) = (word(elf, 32) as usize, half(elf, 56));
    for i in 0..phnum {
        for field in [16, 24] {
            let at = phoff + 56 * i + field;
            let v = word(&out, at) + delta;
            out[at..at + 8].copy_from_slice(&v.to_le_bytes());
        }
    }
    let entry = word(&out, 24) + delta;
    out[24..32].copy_from_slice(&entry.to_le_bytes());
    out
}

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    let v = v.trim();
    let parsed = match v.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => v.parse(),
    };
    Some(parsed.unwrap_or_else(|e| panic!("{name}={v}: {e}")))
}

fn clock_seed() -> u64 {
    let t = SystemTime::now().duration_since(UNIX_EPOCH).expect("the clock is past 1970");
    // Six digits' worth of the clock and the pid: short to type back in.
    (t.as_nanos() as u64 ^ u64::from(std::process::id()).rotate_left(20)) % 1_000_000_000
}

fn mtime(path: &Path) -> Option<SystemTime> {
    fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Compiles `tests/fuzz/sysfuzz.c` into `target/husk-test/progs/sysfuzz`
/// (once: again only when the source or this file is newer). Static and
/// without the stack protector: the fuzzer's batches run with %fs moved.
fn sysfuzz_binary() -> PathBuf {
    let src = paths::manifest_dir().join("tests").join("fuzz").join("sysfuzz.c");
    let out_dir = paths::work_dir().join("progs");
    let out = out_dir.join("sysfuzz");
    let newest = [src.clone(), paths::manifest_dir().join(file!())].iter().filter_map(|p| mtime(p)).max();
    if let (Some(built), Some(newest)) = (mtime(&out), newest) {
        if built >= newest {
            return out;
        }
    }
    fs::create_dir_all(&out_dir).expect("create target/husk-test/progs");
    let tmp = out_dir.join(format!(".sysfuzz.{}.tmp", std::process::id()));
    let result = Command::new("cc")
        .args(["-static", "-O1", "-g", "-Wall", "-Wextra", "-fno-stack-protector", "-o"])
        .arg(&tmp)
        .arg(&src)
        .output()
        .unwrap_or_else(|e| panic!("running cc (is gcc installed?): {e}"));
    if !result.status.success() {
        let _ = fs::remove_file(&tmp);
        panic!("cc {} failed ({}):\n{}", src.display(), result.status, String::from_utf8_lossy(&result.stderr));
    }
    fs::rename(&tmp, &out).expect("rename the fuzzer into place");
    out
}

/// What the test counts of the sandbox's host side at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Sample {
    sentry_fds: usize,
    gofer_fds: usize,
    sentry_threads: usize,
    /// The Sentry's child processes other than the Gofer: the stubs.
    stubs: usize,
}

fn count_fds(pid: i32) -> usize {
    fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0)
}

fn count_threads(pid: i32) -> usize {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix("Threads:")).and_then(|n| n.trim().parse().ok()).unwrap_or(0)
}

/// The Sentry and the Gofer below `husk` (with `--memory`, husk is a
/// supervisor and the Sentry its child): the Gofer is the process running
/// `husk gofer`, and the Sentry its parent.
fn sentry_and_gofer(husk: i32) -> Option<(i32, i32)> {
    let below = procs::descendants(husk);
    let gofer = below.iter().find(|p| p.cmdline.split(' ').nth(1) == Some("gofer") && !p.is_zombie())?;
    Some((gofer.ppid, gofer.pid))
}

fn sample(husk: i32) -> Option<Sample> {
    let (sentry, gofer) = sentry_and_gofer(husk)?;
    let stubs =
        procs::descendants(sentry).iter().filter(|p| p.ppid == sentry && p.pid != gofer && !p.is_zombie()).count();
    Some(Sample {
        sentry_fds: count_fds(sentry),
        gofer_fds: count_fds(gofer),
        sentry_threads: count_threads(sentry),
        stubs,
    })
}

/// A sample once the counts have stopped moving (stubs and threads of
/// the processes just reaped take a moment to go), or the last one.
fn settled_sample(husk: i32) -> Option<Sample> {
    let mut last = sample(husk)?;
    for _ in 0..40 {
        thread::sleep(Duration::from_millis(50));
        let now = sample(husk)?;
        if now == last {
            return Some(now);
        }
        last = now;
    }
    Some(last)
}

/// The run being checked, for the failure messages.
struct Run<'a> {
    platform: &'a str,
    seed: u64,
    seconds: f64,
}

/// Fails the run; `kind` is how `tests/fuzz/soak.sh` counts it.
fn fail(kind: &str, run: &Run<'_>, details: &str) -> ! {
    let Run { platform, seed, seconds } = run;
    panic!(
        "fuzz failure [{kind}] on {platform}, seed {seed}: {details}\n\
         replay: HUSK_FUZZ_SEED={seed} HUSK_FUZZ_SECONDS={seconds} cargo test --test fuzz \
         fuzz_syscalls_time_seed_{platform} -- --nocapture\n\
         (or by hand: husk run --platform {platform} --rootfs ROOT -- /progs/sysfuzz -k -v {seed} 0 {seconds}, \
         ROOT holding target/husk-test/progs/sysfuzz as /progs/sysfuzz, without -k under HUSK_FUZZ_KNOWN_BUGS=1; \
         -b B -B 1 runs batch B alone)"
    );
}

fn fuzz(platform: &str, seed: u64) {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    procs::become_subreaper();
    let seconds = std::env::var("HUSK_FUZZ_SECONDS").ok().and_then(|s| s.parse::<f64>().ok()).unwrap_or(SECONDS);
    let calls = env_u64("HUSK_FUZZ_CALLS").unwrap_or(0);
    let known_bugs = std::env::var_os("HUSK_FUZZ_KNOWN_BUGS").is_some_and(|v| v == "1");
    eprintln!("fuzz: platform {platform}, seed {seed}, {seconds} s");
    let run = Run { platform, seed, seconds };

    let rootfs = Rootfs::new();
    rootfs.dir_mode("/tmp", 0o1777).dir("/dev").dir("/progs");
    let built = sysfuzz_binary();
    // Hard-linked rather than copied: see `Rootfs::prog` (ETXTBSY).
    if fs::hard_link(&built, rootfs.host_path("/progs/sysfuzz")).is_err() {
        rootfs.copy("/progs/sysfuzz", &built);
    }

    let mut args = vec!["-S".to_string()];
    if !known_bugs {
        args.push("-k".into());
    }
    args.extend([seed.to_string(), calls.to_string(), seconds.to_string()]);
    let mut child = Command::new(paths::husk_bin())
        .arg("run")
        .arg("--rootfs")
        .arg(rootfs.path())
        .args(["--platform", platform, "--memory", MEMORY, "--", "/progs/sysfuzz"])
        .args(&args)
        .process_group(0)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting husk: {e}"));
    let husk = i32::try_from(child.id()).expect("pid fits i32");
    let deadline = Instant::now() + RUN_TIMEOUT;

    let (lines_tx, lines) = mpsc::channel::<String>();
    let stdout = child.stdout.take().expect("piped stdout");
    thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = Vec::new();
        while reader.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
            let text = String::from_utf8_lossy(&line).trim_end_matches('\n').to_owned();
            if lines_tx.send(text).is_err() {
                break;
            }
            line.clear();
        }
    });
    let stderr_buf = Arc::new(Mutex::new(Vec::new()));
    let mut stderr = child.stderr.take().expect("piped stderr");
    let sink = Arc::clone(&stderr_buf);
    let stderr_done = thread::spawn(move || {
        let mut chunk = [0u8; 65536];
        while let Ok(n) = stderr.read(&mut chunk) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(&chunk[..n]);
        }
    });
    let mut stdin: Option<ChildStdin> = child.stdin.take();
    let mut output = Vec::new();
    let context = |output: &[String], stderr: &Mutex<Vec<u8>>| {
        let err = String::from_utf8_lossy(&stderr.lock().unwrap_or_else(|e| e.into_inner())).into_owned();
        let err: String = err.lines().filter(|l| !l.starts_with("husk: warn")).take(60).collect::<Vec<_>>().join("\n");
        format!("\n--- the fuzzer's output ---\n{}\n--- husk's stderr (no warnings) ---\n{err}\n---", output.join("\n"))
    };

    let mut before = None;
    let mut after = None;
    let watching = Arc::new(AtomicBool::new(false));
    let max_fds = Arc::new(Mutex::new(0usize));
    let mut watcher = None;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = match lines.recv_timeout(left) {
            Ok(line) => line,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                procs::kill_tree(husk);
                let _ = child.wait();
                fail("timeout", &run, &format!("no end within {RUN_TIMEOUT:?}{}", context(&output, &stderr_buf)));
            }
        };
        if line == "sysfuzz: ready" {
            before = settled_sample(husk);
            watching.store(true, Ordering::SeqCst);
            let (w, m) = (Arc::clone(&watching), Arc::clone(&max_fds));
            watcher = Some(thread::spawn(move || {
                while w.load(Ordering::SeqCst) {
                    if let Some(s) = sample(husk) {
                        let mut max = m.lock().unwrap_or_else(|e| e.into_inner());
                        *max = (*max).max(s.sentry_fds);
                    }
                    thread::sleep(Duration::from_millis(50));
                }
            }));
            let _ = stdin.as_mut().map(|s| s.write_all(b"go\n"));
        } else if line == "sysfuzz: batches done" {
            watching.store(false, Ordering::SeqCst);
            if let Some(w) = watcher.take() {
                let _ = w.join();
            }
            after = settled_sample(husk);
            let _ = stdin.as_mut().map(|s| s.write_all(b"go\n"));
            stdin = None;
        }
        output.push(line);
    }
    drop(stdin);
    watching.store(false, Ordering::SeqCst);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for husk") {
            break status;
        }
        if Instant::now() >= deadline {
            procs::kill_tree(husk);
            let _ = child.wait();
            fail("timeout", &run, &format!("husk did not exit{}", context(&output, &stderr_buf)));
        }
        thread::sleep(Duration::from_millis(10));
    };
    let _ = stderr_done.join();
    let code = status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
    for line in output.iter().filter(|l| l.starts_with("sysfuzz: ")) {
        eprintln!("{line}");
    }

    // Nothing of the run may be left on the host.
    let until = Instant::now() + Duration::from_secs(10);
    let mut left = procs::live_descendants_of_self();
    while !left.is_empty() && Instant::now() < until {
        reap_zombie_children();
        thread::sleep(Duration::from_millis(50));
        left = procs::live_descendants_of_self();
    }
    reap_zombie_children();

    let err = String::from_utf8_lossy(&stderr_buf.lock().unwrap_or_else(|e| e.into_inner())).into_owned();
    if let Some(l) = err.lines().find(|l| l.contains("panicked at")) {
        fail("panic", &run, &format!("the Sentry panicked: {l}{}", context(&output, &stderr_buf)));
    }
    if let Some(l) = err.lines().find(|l| l.starts_with("husk: error:")) {
        fail("sentry-error", &run, &format!("{l}{}", context(&output, &stderr_buf)));
    }
    // The Sentry's own seccomp filter stopped a host call the app's caused.
    if let Some(l) = err.lines().find(|l| l.contains("seccomp filter refuses")) {
        fail("sentry-seccomp", &run, &format!("{l}{}", context(&output, &stderr_buf)));
    }
    if !left.is_empty() {
        for p in &left {
            procs::kill(p.pid);
        }
        fail("process-leak", &run, &format!("host processes left after husk exited: {left:?}"));
    }
    if code != 0 || !output.iter().any(|l| l == "sysfuzz: finished") {
        fail("exit", &run, &format!("husk exited with {code}{}", context(&output, &stderr_buf)));
    }
    let (Some(before), Some(after)) = (before, after) else {
        fail("exit", &run, &format!("the Sentry or its Gofer was not found{}", context(&output, &stderr_buf)));
    };
    let max = *max_fds.lock().unwrap_or_else(|e| e.into_inner());
    eprintln!("fuzz: host side before the first batch {before:?}, after the last {after:?}; most Sentry fds {max}");
    if after.sentry_fds > before.sentry_fds + FD_SLACK || after.gofer_fds > before.gofer_fds + FD_SLACK {
        fail("fd-leak", &run, &format!("host fds before the first batch {before:?}, after the last {after:?}"));
    }
    if max > before.sentry_fds + FD_BOUND {
        fail("fd-leak", &run, &format!("the Sentry held {max} host fds, {before:?} before"));
    }
    if after.sentry_threads > before.sentry_threads || after.stubs > before.stubs {
        fail(
            "process-leak",
            &run,
            &format!("host threads or stubs before the first batch {before:?}, after the last {after:?}"),
        );
    }
    let summary = output.iter().find(|l| l.starts_with("sysfuzz: summary:")).map(String::as_str).unwrap_or("");
    let hangs = output.iter().filter(|l| l.starts_with("sysfuzz: hang:")).count();
    eprintln!("fuzz result: ok, platform {platform}, seed {seed}, hangs {hangs}; {summary}");
}

/// Reaps this process's zombie children (the subreaper gets the orphans
/// of the run); husk itself was waited for already.
fn reap_zombie_children() {
    let me = i32::try_from(std::process::id()).expect("pid fits i32");
    for p in procs::all().into_iter().filter(|p| p.ppid == me && p.is_zombie()) {
        if let Some(pid) = rustix::process::Pid::from_raw(p.pid) {
            let _ = rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::NOHANG);
        }
    }
}
