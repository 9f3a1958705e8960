//! Husk under Docker, the way people use gVisor with Docker: `docker run
//! --runtime=runc` (the reference) and `--runtime=husk` side by side, on
//! the offline busybox image (and the Debian test root as an image, for
//! python3), with the same observable results, and the specific expected
//! values, asserted for both.
//!
//! The daemon is the private dockerd of `tests/docker/dockerd.sh`,
//! started here if it is not running (see `husk_suite::docker`). Every
//! container is named after its case ([`unique_id`]) and removed when the
//! case ends, even when it fails ([`Container`]); then nothing of it may
//! be left on the host: no process, mount, bundle, runtime state or
//! cgroup. Where Husk differs by design (docs/docker.md, "What differs"),
//! the case asserts each runtime's documented value.

use std::fs;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

use husk_suite::docker::{cgroup, debian_image, docker, runtime_name};
use husk_suite::oci::{leftovers, unique_id, Runtime};
use husk_suite::pty::{run_on_pty, Step};
use husk_suite::{paths, runtime_test, Outcome};

/// Runs `docker ARGS`.
fn d(args: &[&str]) -> Outcome {
    docker().run(args)
}

/// `docker ARGS` that must succeed; its stdout.
fn d_ok(args: &[&str]) -> String {
    let out = d(args);
    assert_eq!(out.status, 0, "docker {args:?} failed:\n{}", out.describe());
    out.stdout_str()
}

/// The busybox image.
fn busybox() -> &'static str {
    &docker().busybox
}

/// A container of one case: `--name` and `--cidfile` for `docker run`,
/// removed (`docker rm -f`) when dropped, after which (unless the case
/// already failed) nothing of it may be left on the host.
struct Container {
    rt: Runtime,
    name: String,
    cidfile: PathBuf,
    _dir: tempfile::TempDir,
}

impl Container {
    fn new(case: &str, rt: Runtime) -> Self {
        let work = paths::work_dir();
        fs::create_dir_all(&work).expect("the test work directory");
        let dir = tempfile::Builder::new().prefix("docker-").tempdir_in(&work).expect("a temporary directory");
        Container { rt, name: unique_id(case, rt), cidfile: dir.path().join("cid"), _dir: dir }
    }

    /// `docker run --runtime=RT --name NAME --cidfile F FLAGS... IMAGE ARGS...`.
    fn run(&self, flags: &[&str], image: &str, args: &[&str]) -> Outcome {
        let runtime = format!("--runtime={}", runtime_name(self.rt));
        let cidfile = self.cidfile.to_string_lossy().into_owned();
        let mut argv = vec!["run", runtime.as_str(), "--name", self.name.as_str(), "--cidfile", cidfile.as_str()];
        argv.extend_from_slice(flags);
        argv.push(image);
        argv.extend_from_slice(args);
        d(&argv)
    }

    /// [`Container::run`] of the busybox image.
    fn bb(&self, flags: &[&str], args: &[&str]) -> Outcome {
        self.run(flags, busybox(), args)
    }

    /// `docker run -d ...` of the busybox image, which must start.
    fn detach(&self, flags: &[&str], args: &[&str]) {
        let mut all = vec!["-d"];
        all.extend_from_slice(flags);
        let out = self.bb(&all, args);
        assert_eq!(out.status, 0, "docker run -d:\n{}", out.describe());
    }

    /// The container's full id, from the cid file.
    fn id(&self) -> Option<String> {
        fs::read_to_string(&self.cidfile).ok().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
    }

    /// `docker inspect -f FORMAT NAME`, trimmed.
    fn inspect(&self, format: &str) -> String {
        d_ok(&["inspect", "-f", format, &self.name]).trim().to_owned()
    }

    /// `docker exec FLAGS... NAME ARGS...`.
    fn exec(&self, flags: &[&str], args: &[&str]) -> Outcome {
        let mut argv = vec!["exec"];
        argv.extend_from_slice(flags);
        argv.push(&self.name);
        argv.extend_from_slice(args);
        d(&argv)
    }

    /// Waits up to `secs` for `docker inspect -f FORMAT` to print `want`.
    fn wait_for(&self, format: &str, want: &str, secs: u64) {
        let until = Instant::now() + Duration::from_secs(secs);
        loop {
            let now = self.inspect(format);
            if now == want {
                return;
            }
            assert!(Instant::now() < until, "{} is {now:?}, not {want:?}, after {secs} s", self.name);
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// `docker wait NAME`: the exit status.
    fn wait(&self) -> i32 {
        let out = d_ok(&["wait", &self.name]);
        out.trim().parse().unwrap_or_else(|_| panic!("docker wait printed {out:?}"))
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = d(&["rm", "-f", &self.name]);
        if thread::panicking() {
            return;
        }
        if let Some(id) = self.id() {
            let dk = docker();
            let left = leftovers(&id, &dk.bundle(&id), true, &dk.runtime_root(), &cgroup(&id));
            assert!(left.is_empty(), "container {} ({id}) left behind:\n  {}", self.name, left.join("\n  "));
        }
    }
}

/// A host port free now on 127.0.0.1.
fn free_port() -> u16 {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
    l.local_addr().expect("local address").port()
}

/// `GET /` from `addr`, retried for up to 10 s while nothing answers;
/// the whole response.
fn http_get(addr: SocketAddr) -> String {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let attempt = (|| -> std::io::Result<String> {
            let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
            s.set_read_timeout(Some(Duration::from_secs(5)))?;
            s.write_all(b"GET / HTTP/1.0\r\nHost: test\r\n\r\n")?;
            let mut text = String::new();
            s.read_to_string(&mut text)?;
            Ok(text)
        })();
        match attempt {
            Ok(text) if !text.is_empty() => return text,
            other => assert!(Instant::now() < until, "GET http://{addr}/ got nothing within 10 s: {other:?}"),
        }
        thread::sleep(Duration::from_millis(100));
    }
}

runtime_test! {
    /// `docker run --rm`: the container's stdout, stderr and exit status
    /// come back; then the container is gone.
    fn docker_run_exit_code_rm(rt) {
        let c = Container::new("rm", rt);
        let out = c.bb(&["--rm"], &["sh", "-c", "echo out; echo err >&2; exit 7"]);
        assert_eq!((out.status, out.stdout_str().as_str(), out.stderr_str().as_str()), (7, "out\n", "err\n"), "{}", out.describe());
        let listed = d_ok(&["ps", "-a", "-q", "--filter", &format!("name=^/{}$", c.name)]);
        assert_eq!(listed, "", "--rm removed the container");
    }
}

runtime_test! {
    /// A program that is not in the image gives 127, one that cannot be
    /// executed 126, as Docker reads the runtime's message; the message
    /// names the program.
    fn docker_run_missing_program(rt) {
        for (prog, status, words) in [
            ("/no/such/prog", 127, "no such file or directory"),
            ("nosuchprog", 127, "executable file not found in $PATH"),
            ("/etc/passwd", 126, "permission denied"),
        ] {
            let c = Container::new("missing", rt);
            let out = c.bb(&["--rm"], &[prog]);
            assert_eq!(out.status, status, "{prog}:\n{}", out.describe());
            let err = out.stderr_str();
            assert!(err.contains(&format!("exec: \"{prog}\"")) && err.contains(words), "{prog}:\n{}", out.describe());
        }
    }
}

runtime_test! {
    /// `docker run -d`, `docker wait` and `docker logs`: the two streams
    /// apart, and the exit status.
    fn docker_logs(rt) {
        let c = Container::new("logs", rt);
        c.detach(&[], &["sh", "-c", "echo out1; echo err1 >&2; echo out2; exit 3"]);
        assert_eq!(c.wait(), 3);
        let out = d(&["logs", &c.name]);
        assert_eq!((out.status, out.stdout_str().as_str(), out.stderr_str().as_str()), (0, "out1\nout2\n", "err1\n"), "{}", out.describe());
    }
}

runtime_test! {
    /// `docker run -it` on a pty: an interactive shell whose stdin is a
    /// terminal of the pty's size; what is typed runs, and `exit 5` is
    /// the status. The terminal is a pts of the container's own for both
    /// (Husk's the sandbox's pty, bridged to the console's). The console
    /// starts at 0x0 and Docker sizes it only after the start returns, so
    /// the shell may be quicker than the resize (CI saw `stty size` of 0
    /// rows under Husk): the check waits, a bounded while, for the size
    /// to arrive, and fails if it never does.
    fn docker_run_it(rt) {
        let c = Container::new("it", rt);
        let mut argv = docker().cli_args();
        let runtime = format!("--runtime={}", runtime_name(rt));
        argv.extend(["run", "--rm", "-it", &runtime, "--name", &c.name, busybox(), "sh"].map(String::from));
        let argv: Vec<std::ffi::OsString> = argv.into_iter().map(Into::into).collect();
        let out = run_on_pty(
            &argv,
            &[
                Step::Expect("# "),
                Step::Send(
                    "tty; for i in $(seq 50); do case \"$(stty size 2>&1)\" in *[1-9]*' '*[1-9]*) break;; esac; sleep 0.1; done; \
                     stty size; [ -t 0 ] && echo is-a-terminal; echo $((6*7))\r",
                ),
                Step::Expect("42"),
                Step::Send("exit 5\r"),
            ],
        );
        assert_eq!((out.failed.as_deref(), out.status), (None, 5), "{}", out.describe());
        let lines: Vec<String> = out.text().lines().map(|l| l.trim().to_owned()).collect();
        for want in ["/dev/pts/0", "24 80", "is-a-terminal", "42"] {
            assert!(lines.iter().any(|l| l == want), "no line {want:?} on the terminal:\n{}", out.describe());
        }
    }
}

runtime_test! {
    /// `docker exec -it` into a running container with no terminal of its
    /// own: the exec'd shell gets a pts of the container's (the first, as
    /// under runc), ^C reaches its foreground program only, and the exec
    /// ends with the shell's status as soon as it exits, while the
    /// container runs on.
    fn docker_exec_it(rt) {
        let c = Container::new("execit", rt);
        c.detach(&[], &["sleep", "1000"]);
        let mut argv = docker().cli_args();
        argv.extend(["exec", "-it", &c.name, "sh"].map(String::from));
        let argv: Vec<std::ffi::OsString> = argv.into_iter().map(Into::into).collect();
        let start = std::time::Instant::now();
        let out = run_on_pty(
            &argv,
            &[
                Step::Expect("# "),
                // (The marker comes from the foreground job itself, so that
                // ^C cannot reach the shell before the job is in the
                // foreground.)
                Step::Send("tty; [ -t 1 ] && echo is-a-terminal; sh -c 'echo sleeping-$((2+3)); exec sleep 100'\r"),
                Step::Expect("sleeping-5"),
                Step::Send("\u{3}"),
                Step::Expect("# "),
                Step::Send("echo $((6*7)); exit 3\r"),
            ],
        );
        assert_eq!((out.failed.as_deref(), out.status), (None, 3), "{}", out.describe());
        assert!(start.elapsed() < std::time::Duration::from_secs(60), "the exec lasted {:?}", start.elapsed());
        let lines: Vec<String> = out.text().lines().map(|l| l.trim().to_owned()).collect();
        for want in ["/dev/pts/0", "is-a-terminal", "42"] {
            assert!(lines.iter().any(|l| l == want), "no line {want:?} on the terminal:\n{}", out.describe());
        }
        assert!(out.text().contains("^C"), "^C echoed:\n{}", out.describe());
        assert_eq!(c.inspect("{{.State.Status}}"), "running");
    }
}

runtime_test! {
    /// `-v HOST:CTR` is read and written (the host sees the file the
    /// container wrote); `-v HOST:CTR:ro` refuses writes with EROFS.
    fn docker_volume(rt) {
        let c = Container::new("vol", rt);
        let host = tempfile::Builder::new().prefix("docker-vol-").tempdir_in(paths::work_dir()).expect("tempdir");
        fs::write(host.path().join("in.txt"), "from the host\n").expect("write in.txt");
        let rw = format!("{}:/data", host.path().display());
        let ro = format!("{}:/ro:ro", host.path().display());
        let out = c.bb(&["--rm", "-v", &rw, "-v", &ro], &["sh", "-c", "cat /data/in.txt; echo written > /data/out.txt; touch /ro/x"]);
        assert_eq!((out.status, out.stdout_str().as_str()), (1, "from the host\n"), "{}", out.describe());
        assert!(out.stderr_str().contains("Read-only file system"), "{}", out.describe());
        assert_eq!(fs::read_to_string(host.path().join("out.txt")).ok().as_deref(), Some("written\n"));
        assert!(!host.path().join("x").exists());
    }
}

runtime_test! {
    /// `-p 127.0.0.1:PORT:80` to busybox httpd in the container, reached
    /// from the host (docker-proxy), and the container's bridge address
    /// reached directly.
    fn docker_publish_port(rt) {
        let c = Container::new("port", rt);
        let port = free_port();
        let publish = format!("127.0.0.1:{port}:80");
        c.detach(&["-p", &publish], &["httpd", "-f", "-p", "80", "-h", "/www"]);
        let reply = http_get(SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
        assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"), "{reply}");
        assert!(reply.ends_with("\r\n\r\nhello from busybox httpd\n"), "{reply}");
        let ip: Ipv4Addr = c.inspect("{{.NetworkSettings.IPAddress}}").parse().expect("the container's address");
        let reply = http_get(SocketAddr::from((ip, 80)));
        assert!(reply.ends_with("\r\n\r\nhello from busybox httpd\n"), "{reply}");
    }
}

runtime_test! {
    /// `--memory 32m`: the container sees the limit in its cgroup files
    /// (Husk's view is cgroup v2's memory.max, runc's the host's v1
    /// hierarchy), and a program that grows past it is killed (137,
    /// OOMKilled).
    fn docker_memory_limit(rt) {
        let c = Container::new("mem", rt);
        let out = c.bb(&["--rm", "--memory", "32m"], &["sh", "-c", "cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes"]);
        assert_eq!((out.status, out.stdout_str().as_str()), (0, "33554432\n"), "{}", out.describe());
        let c = Container::new("oom", rt);
        // A string that doubles until it no longer fits.
        let out = c.bb(&["--memory", "32m"], &["awk", "BEGIN { s = \"x\"; while (1) s = s s }"]);
        assert_eq!(out.status, 137, "{}", out.describe());
        assert_eq!(c.inspect("{{.State.OOMKilled}} {{.State.ExitCode}}"), "true 137");
    }
}

runtime_test! {
    /// `--pids-limit`: the limit is in the container's cgroup files; a
    /// shell starting 40 background jobs under 20 cannot fork past it; a
    /// fork bomb under 30 leaves the container running within its limit
    /// on the host, and `docker rm -f` ends it.
    fn docker_pids_limit(rt) {
        let c = Container::new("pids", rt);
        let script = "cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max; \
                      i=0; while [ $i -lt 40 ]; do sleep 30 & i=$((i+1)); done; echo all-started";
        let out = c.bb(&["--rm", "--pids-limit", "20"], &["sh", "-c", script]);
        assert_eq!(out.stdout_str(), "20\n", "{}", out.describe());
        assert_ne!(out.status, 0, "{}", out.describe());
        assert!(out.stderr_str().contains("can't fork: Resource temporarily unavailable"), "{}", out.describe());

        let c = Container::new("bomb", rt);
        // (The shell forks once, the bomb's first, then execs its sleep: a
        // fork of its own that met the limit would end the container, under
        // runc too, and a loaded CI machine once let the bomb's children
        // reach it before the shell's second fork.)
        c.detach(&["--pids-limit", "30"], &["sh", "-c", "bomb() { bomb | bomb & }; bomb & exec sleep 1000"]);
        thread::sleep(Duration::from_secs(2));
        assert_eq!(c.inspect("{{.State.Status}}"), "running");
        let id = c.id().expect("the cid file");
        let current = fs::read_to_string(format!("/sys/fs/cgroup/pids/{}/pids.current", cgroup(&id)))
            .or_else(|_| fs::read_to_string(format!("/sys/fs/cgroup/{}/pids.current", cgroup(&id))))
            .expect("the container's pids cgroup");
        let current: u32 = current.trim().parse().expect("a number");
        assert!((1..=30).contains(&current), "{current} host tasks in the container's cgroup");
        let started = Instant::now();
        d_ok(&["rm", "-f", &c.name]);
        assert!(started.elapsed() < Duration::from_secs(20), "docker rm -f took {:?}", started.elapsed());
    }
}

runtime_test! {
    /// `--user UID:GID` and `--user NAME`: the app's ids, from the
    /// image's passwd; a user cannot write to root's /.
    fn docker_user(rt) {
        let c = Container::new("user", rt);
        let out = c.bb(&["--rm", "--user", "1000:1000"], &["id"]);
        assert_eq!((out.status, out.stdout_str().as_str()), (0, "uid=1000(user) gid=1000(user) groups=1000(user)\n"), "{}", out.describe());
        let c = Container::new("user", rt);
        let out = c.bb(&["--rm", "--user", "nobody"], &["sh", "-c", "id -u; id -g; touch /x"]);
        assert_eq!((out.status, out.stdout_str().as_str()), (1, "65534\n65534\n"), "{}", out.describe());
        assert!(out.stderr_str().contains("Permission denied"), "{}", out.describe());
    }
}

runtime_test! {
    /// `docker exec`: output and status of a process in the running
    /// container (its pid 1 is the init), with `-u`, `-w` and `-e`; a
    /// missing program is 126 with runc's words.
    fn docker_exec(rt) {
        let c = Container::new("exec", rt);
        c.detach(&[], &["sleep", "1000"]);
        let out = c.exec(&[], &["sh", "-c", "echo hi; cat /proc/1/cmdline; exit 3"]);
        assert_eq!((out.status, out.stdout_str().as_str()), (3, "hi\nsleep\u{0}1000\u{0}"), "{}", out.describe());
        let out = c.exec(&["-u", "1000", "-w", "/home/user", "-e", "X=1"], &["sh", "-c", "id -u; pwd; echo $X"]);
        assert_eq!((out.status, out.stdout_str().as_str()), (0, "1000\n/home/user\n1\n"), "{}", out.describe());
        let out = c.exec(&[], &["nosuch"]);
        assert_eq!(out.status, 126, "{}", out.describe());
        // (Docker 20.10's CLI prints this error on stdout.)
        let said = out.stdout_str() + &out.stderr_str();
        assert!(said.contains("exec: \"nosuch\": executable file not found in $PATH"), "{}", out.describe());
        assert_eq!(c.inspect("{{.State.Status}}"), "running");
    }
}

runtime_test! {
    /// `docker stop`: SIGTERM to an init with a handler ends it at once
    /// (its status is the handler's); an init without one ignores SIGTERM
    /// (as any pid 1) and gets SIGKILL after `-t`.
    fn docker_stop(rt) {
        let c = Container::new("stop", rt);
        c.detach(&[], &["sh", "-c", "trap 'echo got TERM; exit 3' TERM; echo ready; while true; do sleep 0.1; done"]);
        wait_log(&c, "ready\n");
        let started = Instant::now();
        d_ok(&["stop", "-t", "20", &c.name]);
        assert!(started.elapsed() < Duration::from_secs(10), "stop took {:?}", started.elapsed());
        assert_eq!(c.inspect("{{.State.ExitCode}}"), "3");
        assert_eq!(d_ok(&["logs", &c.name]), "ready\ngot TERM\n");

        let c = Container::new("stop", rt);
        c.detach(&[], &["sleep", "1000"]);
        let started = Instant::now();
        d_ok(&["stop", "-t", "1", &c.name]);
        assert!(started.elapsed() >= Duration::from_secs(1), "stop took {:?}", started.elapsed());
        assert_eq!(c.inspect("{{.State.ExitCode}} {{.State.Status}}"), "137 exited");
    }
}

/// Waits up to 10 s for `docker logs` to be `want`.
fn wait_log(c: &Container, want: &str) {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let now = d_ok(&["logs", &c.name]);
        if now == want {
            return;
        }
        assert!(Instant::now() < until, "{}'s log is {now:?}, not {want:?}, after 10 s", c.name);
        thread::sleep(Duration::from_millis(50));
    }
}

runtime_test! {
    /// `docker kill -s USR1` reaches the init's handler and the container
    /// keeps running; `docker kill` ends it with 137.
    fn docker_kill(rt) {
        let c = Container::new("kill", rt);
        c.detach(&[], &["sh", "-c", "trap 'echo got USR1' USR1; echo ready; while true; do sleep 0.1; done"]);
        wait_log(&c, "ready\n");
        d_ok(&["kill", "-s", "USR1", &c.name]);
        wait_log(&c, "ready\ngot USR1\n");
        assert_eq!(c.inspect("{{.State.Status}}"), "running");
        d_ok(&["kill", &c.name]);
        c.wait_for("{{.State.Status}}", "exited", 10);
        assert_eq!(c.inspect("{{.State.ExitCode}}"), "137");
    }
}

runtime_test! {
    /// `docker restart` runs the container again (a new sandbox under
    /// Husk): what it wrote to its root is still there, and it ran twice.
    fn docker_restart(rt) {
        let c = Container::new("restart", rt);
        c.detach(&[], &["sh", "-c", "echo start >> /starts; sleep 1000"]);
        c.wait_for("{{.State.Status}}", "running", 10);
        let first = c.inspect("{{.State.StartedAt}}");
        d_ok(&["restart", "-t", "1", &c.name]);
        c.wait_for("{{.State.Status}}", "running", 10);
        assert_ne!(c.inspect("{{.State.StartedAt}}"), first);
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            let out = c.exec(&[], &["cat", "/starts"]);
            if out.stdout_str() == "start\nstart\n" {
                break;
            }
            assert!(Instant::now() < until, "{}", out.describe());
            thread::sleep(Duration::from_millis(50));
        }
    }
}

runtime_test! {
    /// /tmp differs by design (docs/docker.md): runc's is the image's
    /// directory, so a file there outlives `docker restart`; over the
    /// image's empty /tmp Husk mounts a tmpfs (as gVisor does), which
    /// starts empty each time.
    fn docker_tmp_across_restart(rt) {
        let c = Container::new("tmp", rt);
        c.detach(&[], &["sleep", "1000"]);
        d_ok(&["exec", &c.name, "touch", "/tmp/mark"]);
        let mount = c.exec(&[], &["sh", "-c", "grep ' /tmp ' /proc/mounts | cut -d' ' -f1-3"]).stdout_str();
        d_ok(&["restart", "-t", "0", &c.name]);
        c.wait_for("{{.State.Status}}", "running", 10);
        let out = c.exec(&[], &["ls", "/tmp"]);
        let (want_mount, want_ls) = match rt {
            Runtime::Runc => ("", "mark\n"),
            Runtime::Husk => ("tmpfs /tmp tmpfs\n", ""),
        };
        assert_eq!((mount.as_str(), out.stdout_str().as_str()), (want_mount, want_ls), "{}", out.describe());
    }
}

runtime_test! {
    /// An image whose /tmp holds files keeps them: Husk mounts its tmpfs
    /// over /tmp only when the image's is empty (gVisor's rule), so they
    /// are there, as under runc, and /tmp is written through to the root.
    fn docker_image_tmp_is_kept(rt) {
        // The image: busybox with /tmp/from-image, committed under runc.
        let maker = Container::new("tmpimg", Runtime::Runc);
        let out = maker.bb(&[], &["sh", "-c", "echo image > /tmp/from-image"]);
        assert_eq!(out.status, 0, "{}", out.describe());
        let image = format!("husk-test/{}", maker.name);
        d_ok(&["commit", &maker.name, &image]);
        let c = Container::new("tmpimg", rt);
        let out = c.run(&["--rm"], &image, &["sh", "-c", "cat /tmp/from-image; grep -c ' /tmp ' /proc/mounts"]);
        let _ = d(&["rmi", &image]);
        assert_eq!(out.stdout_str(), "image\n0\n", "{}", out.describe());
    }
}

runtime_test! {
    /// `docker pause` freezes the container (a loop's output stops, exec
    /// is refused) and `docker unpause` lets it go on.
    fn docker_pause(rt) {
        let c = Container::new("pause", rt);
        c.detach(&[], &["sh", "-c", "while true; do echo tick; sleep 0.05; done"]);
        let ticks = || d_ok(&["logs", &c.name]).lines().count();
        let until = Instant::now() + Duration::from_secs(10);
        while ticks() == 0 {
            assert!(Instant::now() < until, "no tick after 10 s");
            thread::sleep(Duration::from_millis(50));
        }
        d_ok(&["pause", &c.name]);
        assert_eq!(c.inspect("{{.State.Status}}"), "paused");
        let before = ticks();
        thread::sleep(Duration::from_millis(500));
        assert_eq!(ticks(), before, "the paused container went on");
        let out = c.exec(&[], &["true"]);
        assert!(out.status != 0 && out.stderr_str().contains("is paused"), "{}", out.describe());
        d_ok(&["unpause", &c.name]);
        assert_eq!(c.inspect("{{.State.Status}}"), "running");
        let until = Instant::now() + Duration::from_secs(10);
        while ticks() <= before {
            assert!(Instant::now() < until, "no tick after unpause");
            thread::sleep(Duration::from_millis(50));
        }
    }
}

runtime_test! {
    /// `docker diff` and `docker commit` see what the container wrote to
    /// its root (the overlay's upper layer); a container of the new image
    /// reads it.
    fn docker_commit(rt) {
        let c = Container::new("commit", rt);
        c.detach(&[], &["sh", "-c", "echo committed > /written; mkdir -p /etc/app; echo conf > /etc/app/conf; sleep 1000"]);
        let until = Instant::now() + Duration::from_secs(10);
        while c.exec(&[], &["test", "-e", "/etc/app/conf"]).status != 0 {
            assert!(Instant::now() < until, "the container wrote nothing in 10 s");
            thread::sleep(Duration::from_millis(50));
        }
        let diff = d_ok(&["diff", &c.name]);
        for line in ["A /written", "C /etc", "A /etc/app", "A /etc/app/conf"] {
            assert!(diff.lines().any(|l| l == line), "docker diff has no {line:?}:\n{diff}");
        }
        let image = format!("husk-test/{}", c.name);
        d_ok(&["commit", &c.name, &image]);
        let r = Container::new("commit-run", rt);
        let out = r.run(&["--rm"], &image, &["cat", "/written", "/etc/app/conf"]);
        let _ = d(&["rmi", &image]);
        assert_eq!((out.status, out.stdout_str().as_str()), (0, "committed\nconf\n"), "{}", out.describe());
    }
}

runtime_test! {
    /// `docker stats --no-stream` of a busy container: memory and CPU
    /// above zero; PIDs counts the cgroup's host tasks (runc: the app's
    /// one process; Husk: the sandbox's host threads, never the app's).
    fn docker_stats(rt) {
        let c = Container::new("stats", rt);
        c.detach(&[], &["sh", "-c", "while true; do :; done"]);
        thread::sleep(Duration::from_millis(500));
        let out = d_ok(&["stats", "--no-stream", "--format", "{{.MemUsage}}|{{.CPUPerc}}|{{.PIDs}}", &c.name]);
        let fields: Vec<&str> = out.trim().split('|').collect();
        assert_eq!(fields.len(), 3, "{out}");
        let mem: f64 = fields[0].split(|ch: char| !ch.is_ascii_digit() && ch != '.').next().and_then(|n| n.parse().ok()).unwrap_or(0.0);
        assert!(mem > 0.0, "memory usage: {out}");
        let cpu: f64 = fields[1].trim_end_matches('%').parse().unwrap_or(0.0);
        assert!(cpu > 0.0, "CPU: {out}");
        let pids: u32 = fields[2].parse().unwrap_or(0);
        match rt {
            Runtime::Runc => assert_eq!(pids, 1, "{out}"),
            Runtime::Husk => assert!(pids >= 2, "the sandbox's host threads: {out}"),
        }
    }
}

runtime_test! {
    /// `docker top` lists host processes, one row per app process with
    /// its command line, in Docker's default `ps -ef` columns too: runc's
    /// are the app's own processes; Husk's the stubs that hold their
    /// address spaces, which show the host the app's command lines
    /// (docs/docker.md). A `docker exec`'d process is listed as it runs.
    fn docker_top(rt) {
        let c = Container::new("top", rt);
        c.detach(&[], &["sleep", "1000"]);
        let out = d_ok(&["top", &c.name, "-o", "pid,args"]);
        let rows: Vec<&str> = out.lines().skip(1).map(str::trim).collect();
        assert_eq!(rows.len(), 1, "{out}");
        assert!(rows[0].ends_with(" sleep 1000"), "{out}");
        let exec = d(&["exec", "-d", &c.name, "sleep", "999"]);
        assert_eq!(exec.status, 0, "{}", exec.describe());
        // `exec -d` returns before the process runs: wait, a bounded while.
        let args = |out: &str| {
            let mut a: Vec<String> =
                out.lines().skip(1).filter_map(|l| l.split_once(" sleep ").map(|(_, a)| a.trim().to_owned())).collect();
            a.sort_unstable();
            a
        };
        let mut out = d_ok(&["top", &c.name]);
        for _ in 0..50 {
            if args(&out).len() >= 2 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
            out = d_ok(&["top", &c.name]);
        }
        assert_eq!(args(&out), ["1000", "999"], "{out}");
        assert_eq!(out.lines().count(), 3, "{out}");
    }
}

runtime_test! {
    /// /etc/hosts, /etc/resolv.conf and /etc/hostname are the files Docker
    /// wrote for the container; the hostname is the short id, and the
    /// hosts file names the container's address.
    fn docker_etc_files(rt) {
        let c = Container::new("etc", rt);
        c.detach(&[], &["sleep", "1000"]);
        let id = c.id().expect("the cid file");
        let ip = c.inspect("{{.NetworkSettings.IPAddress}}");
        for (file, path) in [
            ("/etc/hosts", "{{.HostsPath}}"),
            ("/etc/resolv.conf", "{{.ResolvConfPath}}"),
            ("/etc/hostname", "{{.HostnamePath}}"),
        ] {
            let host = fs::read_to_string(c.inspect(path)).expect("Docker's file");
            let out = c.exec(&[], &["cat", file]);
            assert_eq!((out.status, out.stdout_str()), (0, host), "{file}");
        }
        let out = c.exec(&[], &["sh", "-c", "hostname; cat /etc/hostname; grep -c \"^127.0.0.1\tlocalhost$\" /etc/hosts; grep \"$(hostname)\" /etc/hosts"]);
        let short = &id[..12];
        assert_eq!(out.stdout_str(), format!("{short}\n{short}\n1\n{ip}\t{short}\n"), "{}", out.describe());
    }
}

runtime_test! {
    /// /dev/shm is a 64 MiB tmpfs, `--shm-size` another size, and it
    /// holds no more (ENOSPC).
    fn docker_dev_shm(rt) {
        let c = Container::new("shm", rt);
        let out = c.bb(&["--rm"], &["sh", "-c", "df -k /dev/shm | tail -n 1 | awk '{print $2}'"]);
        assert_eq!((out.status, out.stdout_str().as_str()), (0, "65536\n"), "{}", out.describe());
        let c = Container::new("shm", rt);
        let out = c.bb(&["--rm", "--shm-size", "16m"], &["sh", "-c", "df -k /dev/shm | tail -n 1 | awk '{print $2}'; dd if=/dev/zero of=/dev/shm/big bs=1M count=20"]);
        assert_eq!((out.status, out.stdout_str().as_str()), (1, "16384\n"), "{}", out.describe());
        assert!(out.stderr_str().contains("No space left on device"), "{}", out.describe());
    }
}

runtime_test! {
    /// Docker's default capabilities, `--cap-drop`, `--cap-add`, `ALL`,
    /// and a non-root `--user` (no effective ones, the default bounding set).
    fn docker_capabilities(rt) {
        let caps = |flags: &[&str]| {
            let c = Container::new("caps", rt);
            let mut all = vec!["--rm"];
            all.extend_from_slice(flags);
            let out = c.bb(&all, &["sh", "-c", "grep -E '^Cap(Eff|Bnd)' /proc/self/status | cut -f2 | tr '\\n' ' '"]);
            assert_eq!(out.status, 0, "{}", out.describe());
            out.stdout_str()
        };
        assert_eq!(caps(&[]), "00000000a80425fb 00000000a80425fb ");
        // NET_RAW (13) dropped, SYS_ADMIN (21) added.
        assert_eq!(caps(&["--cap-drop", "NET_RAW", "--cap-add", "SYS_ADMIN"]), "00000000a82405fb 00000000a82405fb ");
        assert_eq!(caps(&["--cap-drop", "ALL"]), "0000000000000000 0000000000000000 ");
        assert_eq!(caps(&["--user", "1000"]), "0000000000000000 00000000a80425fb ");
    }
}

runtime_test! {
    /// `--init`: Docker's init (tini) is pid 1 with the command as its
    /// child; `docker stop`'s SIGTERM reaches the child through it, so the
    /// container ends at once with 143, without waiting for SIGKILL.
    fn docker_init(rt) {
        let c = Container::new("init", rt);
        let out = c.bb(&["--rm", "--init"], &["sh", "-c", "tr '\\0' ' ' < /proc/1/cmdline; echo; [ $$ != 1 ] && echo not-pid-1"]);
        assert_eq!((out.status, out.stdout_str().as_str()), (0, "/sbin/docker-init -- sh -c tr '\\0' ' ' < /proc/1/cmdline; echo; [ $$ != 1 ] && echo not-pid-1 \nnot-pid-1\n"), "{}", out.describe());
        let c = Container::new("init", rt);
        c.detach(&["--init"], &["sh", "-c", "echo ready; sleep 1000"]);
        wait_log(&c, "ready\n");
        let started = Instant::now();
        d_ok(&["stop", "-t", "20", &c.name]);
        assert!(started.elapsed() < Duration::from_secs(10), "stop took {:?}: tini did not get SIGTERM", started.elapsed());
        assert_eq!(c.inspect("{{.State.ExitCode}}"), "143");
    }
}

runtime_test! {
    /// `--read-only` with `--tmpfs`: the root refuses writes (EROFS), the
    /// tmpfs takes them.
    fn docker_read_only(rt) {
        let c = Container::new("ro", rt);
        let out = c.bb(&["--rm", "--read-only", "--tmpfs", "/scratch"], &["sh", "-c", "touch /x; echo t=$?; echo y > /scratch/y && cat /scratch/y; grep -c '^tmpfs /scratch tmpfs rw' /proc/mounts"]);
        assert_eq!((out.status, out.stdout_str().as_str()), (0, "t=1\ny\n1\n"), "{}", out.describe());
        assert!(out.stderr_str().contains("touch: /x: Read-only file system"), "{}", out.describe());
    }
}

runtime_test! {
    /// Docker's tmpfs mounts (`--tmpfs`, /dev/shm) are nosuid, nodev and
    /// noexec, as /proc/mounts says: a program copied there cannot be
    /// executed (EACCES).
    fn docker_tmpfs_noexec(rt) {
        let c = Container::new("noexec", rt);
        let script = "cp /bin/busybox /scratch/echo; /scratch/echo ran; \
                      grep -E ' /(scratch|dev/shm) ' /proc/mounts | cut -d' ' -f2-4";
        let out = c.bb(&["--rm", "--tmpfs", "/scratch"], &["sh", "-c", script]);
        let want = "/dev/shm tmpfs rw,nosuid,nodev,noexec,relatime,size=65536k\n/scratch tmpfs rw,nosuid,nodev,noexec,relatime\n";
        assert_eq!((out.status, out.stdout_str().as_str()), (0, want), "{}", out.describe());
        assert!(out.stderr_str().contains("/scratch/echo: Permission denied"), "{}", out.describe());
    }
}

runtime_test! {
    /// A file on a noexec tmpfs is not mapped executable either: mmap
    /// with PROT_EXEC is EPERM, and mprotect adding PROT_EXEC to a mapping
    /// of it EACCES (python3's mmap and ctypes, in the Debian image).
    fn docker_tmpfs_noexec_mappings(rt) {
        let c = Container::new("noexec-map", rt);
        let script = "import ctypes, mmap, os\n\
                      open('/scratch/f', 'wb').write(b'x' * 4096)\n\
                      fd = os.open('/scratch/f', os.O_RDWR)\n\
                      try:\n    mmap.mmap(fd, 4096, prot=mmap.PROT_READ | mmap.PROT_EXEC); print('mapped')\n\
                      except OSError as e:\n    print('mmap', e.errno)\n\
                      m = mmap.mmap(fd, 4096, flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ | mmap.PROT_WRITE)\n\
                      addr = ctypes.addressof(ctypes.c_char.from_buffer(m))\n\
                      libc = ctypes.CDLL(None, use_errno=True)\n\
                      r = libc.mprotect(ctypes.c_void_p(addr), 4096, mmap.PROT_READ | mmap.PROT_EXEC)\n\
                      print('mprotect', r, ctypes.get_errno())\n";
        let out = c.run(&["--rm", "--tmpfs", "/scratch"], debian_image(), &["python3", "-c", script]);
        assert_eq!((out.status, out.stdout_str().as_str()), (0, "mmap 1\nmprotect -1 13\n"), "{}", out.describe());
    }
}

runtime_test! {
    /// `--network none`: the loopback only; the bridge is unreachable.
    fn docker_network_none(rt) {
        let c = Container::new("nonet", rt);
        let out = c.bb(&["--rm", "--network", "none"], &["sh", "-c", "ls /sys/class/net; ip -o -4 addr | awk '{print $2, $4}'; nc -w 2 172.17.0.1 1"]);
        assert_eq!((out.status, out.stdout_str().as_str()), (1, "lo\nlo 127.0.0.1/8\n"), "{}", out.describe());
        assert!(out.stderr_str().contains("Network is unreachable"), "{}", out.describe());
    }
}

runtime_test! {
    /// `--add-host NAME:ADDR` is in /etc/hosts and names the address: a
    /// server the container runs on it is reached by that name.
    fn docker_add_host(rt) {
        let c = Container::new("addhost", rt);
        let out = c.bb(&["--rm", "--add-host", "srv.test:127.0.0.2"], &["sh", "-c", "grep srv.test /etc/hosts; httpd -p 127.0.0.2:8080 -h /www; wget -q -O- http://srv.test:8080/"]);
        assert_eq!((out.status, out.stdout_str().as_str()), (0, "127.0.0.2\tsrv.test\nhello from busybox httpd\n"), "{}", out.describe());
    }
}

runtime_test! {
    /// A health check (`docker exec` underneath) reaches healthy once its
    /// command passes.
    fn docker_health_check(rt) {
        let c = Container::new("health", rt);
        c.detach(
            &["--health-cmd", "test -e /ready", "--health-interval", "1s", "--health-retries", "3"],
            &["sh", "-c", "sleep 1; touch /ready; sleep 1000"],
        );
        assert_eq!(c.inspect("{{.State.Health.Status}}"), "starting");
        c.wait_for("{{.State.Health.Status}}", "healthy", 20);
    }
}

runtime_test! {
    /// python3 from the Debian test root imported as an image.
    fn docker_python3(rt) {
        let c = Container::new("py", rt);
        let script = "import hashlib, json, os, sys; print(json.dumps([sys.version_info[:2], os.getpid(), hashlib.sha256(b'husk').hexdigest()[:12]]))";
        let out = c.run(&["--rm"], debian_image(), &["python3", "-c", script]);
        assert_eq!((out.status, out.stdout_str().as_str()), (0, "[[3, 11], 1, \"c8b1f4b76229\"]\n"), "{}", out.describe());
    }
}

/// The default bridge's gateway: as its IPAM configuration says, or, where
/// dockerd leaves that out (20.10 does when it made docker0 itself), the
/// bridge interface's own address.
fn bridge_gateway() -> String {
    let said = d_ok(&["network", "inspect", "bridge", "-f", "{{range .IPAM.Config}}{{.Gateway}}{{end}}"]);
    if !said.trim().is_empty() {
        return said.trim().to_owned();
    }
    let name = d_ok(&["network", "inspect", "bridge", "-f", "{{index .Options \"com.docker.network.bridge.name\"}}"]);
    let out = std::process::Command::new("ip")
        .args(["-4", "-o", "addr", "show", "dev", name.trim()])
        .output()
        .expect("ip addr");
    let text = String::from_utf8_lossy(&out.stdout);
    // "9: docker0    inet 172.17.0.1/16 brd ...": the address before the slash.
    let cidr = text.split_whitespace().skip_while(|w| *w != "inet").nth(1).unwrap_or_default();
    cidr.split('/').next().unwrap_or_default().to_owned()
}

/// A TCP server on the bridge's gateway address (the host's side of
/// docker0), which greets each client; it stops when dropped.
struct GatewayServer {
    addr: SocketAddr,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl GatewayServer {
    fn start() -> Self {
        let gw: Ipv4Addr = bridge_gateway().parse().expect("the bridge's gateway address");
        let l = TcpListener::bind((gw, 0)).expect("bind on the bridge's gateway");
        l.set_nonblocking(true).expect("nonblocking");
        let addr = l.local_addr().expect("local address");
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        thread::spawn(move || {
            while !flag.load(std::sync::atomic::Ordering::SeqCst) {
                match l.accept() {
                    Ok((mut s, _)) => {
                        let _ = s.write_all(b"hello from the gateway\n");
                    }
                    Err(_) => thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        GatewayServer { addr, stop }
    }

    /// The container's script: connect and print what the server says.
    fn client_script(&self) -> String {
        format!("nc -w 3 {} {} </dev/null", self.addr.ip(), self.addr.port())
    }
}

impl Drop for GatewayServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

runtime_test! {
    /// Egress: a server on the bridge's gateway address is reached under
    /// runc; under `husk`, whose egress is denied by default, the connect
    /// is refused (ECONNREFUSED).
    fn docker_egress_default(rt) {
        let server = GatewayServer::start();
        let c = Container::new("egress", rt);
        let out = c.bb(&["--rm"], &["sh", "-c", &server.client_script()]);
        match rt {
            Runtime::Runc => assert_eq!((out.status, out.stdout_str().as_str()), (0, "hello from the gateway\n"), "{}", out.describe()),
            Runtime::Husk => {
                assert_eq!((out.status, out.stdout_str().as_str()), (1, ""), "{}", out.describe());
                assert!(out.stderr_str().contains("Connection refused"), "{}", out.describe());
            }
        }
    }
}

/// Egress under the runtime entry `husk-open` (`runtimeArgs:
/// ["--default-allow-egress", "all"]`): the gateway's server is reached,
/// as under runc.
#[test]
fn docker_egress_allowed_by_runtime_args_husk() {
    if husk_suite::blocklist::skip("docker_egress_allowed_by_runtime_args_husk") {
        return;
    }
    let server = GatewayServer::start();
    let c = Container::new("egress-open", Runtime::Husk);
    let out =
        d(&["run", "--rm", "--runtime=husk-open", "--name", &c.name, busybox(), "sh", "-c", &server.client_script()]);
    assert_eq!((out.status, out.stdout_str().as_str()), (0, "hello from the gateway\n"), "{}", out.describe());
}

/// `docker checkpoint create` and `docker start --checkpoint` (dockerd's
/// experimental mode, which tests/docker/dockerd.sh turns on): the
/// checkpoint ends the container, and the start restores it, counting on
/// from where it stopped rather than from 0. Husk only: runc needs CRIU,
/// and Debian's criu 3.17 fails to dump on this machine ("criu failed:
/// type DUMP"), so there is nothing to set beside it.
#[test]
fn docker_checkpoint_and_start_from_it_husk() {
    if husk_suite::blocklist::skip("docker_checkpoint_and_start_from_it_husk") {
        return;
    }
    let c = Container::new("ckpt", Runtime::Husk);
    c.detach(&[], &["sh", "-c", "i=0; while true; do echo $i; i=$((i+1)); sleep 0.05; done"]);
    let counted = || -> Vec<u64> { d_ok(&["logs", &c.name]).lines().filter_map(|l| l.trim().parse().ok()).collect() };
    let until = Instant::now() + Duration::from_secs(20);
    while counted().len() < 5 {
        assert!(Instant::now() < until, "the loop never counted to 5");
        thread::sleep(Duration::from_millis(50));
    }
    d_ok(&["checkpoint", "create", &c.name, "cp1"]);
    assert_eq!(c.inspect("{{.State.Status}}"), "exited", "a checkpoint without --leave-running ends it");
    let before = counted().len();
    d_ok(&["start", "--checkpoint", "cp1", &c.name]);
    let until = Instant::now() + Duration::from_secs(20);
    while counted().len() < before + 5 {
        assert!(Instant::now() < until, "the restored loop does not count");
        thread::sleep(Duration::from_millis(50));
    }
    let all = counted();
    let expected: Vec<u64> = (0..all.len() as u64).collect();
    assert_eq!(all, expected, "the count went on from where the checkpoint stopped it");
}
