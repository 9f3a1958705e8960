//! The OCI runtime commands, with runc's command line and semantics, so that
//! containerd's runc.v2 shim can drive `husk` as it drives runc.
//!
//! Each container is one sandbox process (see [`sandbox`]) plus a state
//! directory under `--root` (see [`state`]); commands after `create` reach
//! the sandbox through its control socket (see [`control`]).

pub mod bundle;
pub mod cgroup;
pub mod checkpoint;
pub mod control;
pub mod hooks;
pub mod sandbox;
pub mod state;

use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use anyhow::{bail, Context};

use crate::Globals;
use cgroup::Cgroups;
use control::{Request, Response};
use state::{ContainerDir, State, Status};

/// `husk create`.
#[derive(clap::Args, Debug)]
pub struct CreateArgs {
    /// The bundle directory (holding config.json).
    #[arg(long, short = 'b', default_value = ".")]
    pub bundle: PathBuf,
    /// Write the sandbox process's pid here.
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    /// A unix socket to send the terminal's master fd to.
    #[arg(long)]
    pub console_socket: Option<PathBuf>,
    /// Accepted for runc compatibility (the Sentry never pivots the host).
    #[arg(long)]
    pub no_pivot: bool,
    /// Accepted for runc compatibility.
    #[arg(long)]
    pub no_new_keyring: bool,
    /// Extra fds to pass to the container (not supported beyond 0).
    #[arg(long, default_value_t = 0)]
    pub preserve_fds: u32,
    /// The container id.
    pub id: String,
    /// Restore from this checkpoint image instead of running the bundle's
    /// process (`husk restore`).
    #[arg(skip)]
    pub restore_image: Option<PathBuf>,
    /// A restore reads pages only as they are touched (`--page-loading
    /// on-demand`).
    #[arg(skip)]
    pub pages_on_demand: bool,
}

/// `husk exec`.
#[derive(clap::Args, Debug)]
pub struct ExecArgs {
    /// An OCI process JSON file (instead of ARGS).
    #[arg(long, short = 'p')]
    pub process: Option<PathBuf>,
    /// Return once the process has started.
    #[arg(long, short = 'd')]
    pub detach: bool,
    /// Write the process's host pid (its proxy's) here.
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    /// A unix socket to send the terminal's master fd to.
    #[arg(long)]
    pub console_socket: Option<PathBuf>,
    /// Give the process a terminal.
    #[arg(long, short = 't')]
    pub tty: bool,
    /// Environment variables, K=V.
    #[arg(long, short = 'e')]
    pub env: Vec<String>,
    /// The working directory.
    #[arg(long)]
    pub cwd: Option<String>,
    /// UID[:GID].
    #[arg(long, short = 'u')]
    pub user: Option<String>,
    /// Additional groups.
    #[arg(long = "additional-gids", short = 'g')]
    pub additional_gids: Vec<u32>,
    /// Set no_new_privs for the process.
    #[arg(long)]
    pub no_new_privs: bool,
    /// Accepted for runc compatibility.
    #[arg(long)]
    pub preserve_fds: Option<u32>,
    /// Add a capability to the process's bounding, effective and permitted
    /// sets (repeatable), as runc does.
    #[arg(long)]
    pub cap: Vec<String>,
    /// Accepted for runc compatibility.
    #[arg(long)]
    pub process_label: Option<String>,
    /// Accepted for runc compatibility.
    #[arg(long)]
    pub apparmor: Option<String>,
    /// Internal: report "started" on this fd (a detached exec's proxy).
    #[arg(long, hide = true)]
    pub ready_fd: Option<i32>,
    /// The container id.
    pub id: String,
    /// The command and its arguments, when there is no --process.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

/// The exit status for a failed command, as runc's.
const FAILED: u8 = 1;

fn fail(e: anyhow::Error) -> ExitCode {
    crate::report_error(&e);
    ExitCode::from(FAILED)
}

/// Runs `f`, turning an error into a logged message and exit status 1.
pub fn run_command(f: impl FnOnce() -> anyhow::Result<()>) -> ExitCode {
    match f() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

// ---- create, start, run ---------------------------------------------------

/// `husk create`: returns once the sandbox is ready, its program loaded.
pub fn create(g: &Globals, args: &CreateArgs) -> anyhow::Result<()> {
    create_sandbox(g, args).map(drop)
}

/// Creates the container and returns its sandbox process (a child of this
/// process, which `husk run` waits for).
fn create_sandbox(g: &Globals, args: &CreateArgs) -> anyhow::Result<std::process::Child> {
    if args.preserve_fds > 0 {
        bundle::log_once("--preserve-fds is not supported; only stdio reaches the container");
    }
    let plan = bundle::load(&args.bundle)?;
    let dir = ContainerDir::create(&g.root, &args.id)?;
    let mut cgroups = Cgroups::default();
    let mut child: Option<std::process::Child> = None;
    let result = (|| {
        let relative = cgroup::relative_path(plan.cgroups_path.as_deref(), &args.id)?;
        cgroups = match Cgroups::create(&relative, &plan.resources) {
            Ok(cg) => cg,
            // Limits that cannot be applied fail the create; without limits,
            // the cgroup only serves pause, resume and ps, which then say
            // why they cannot work.
            Err(e) if plan.resources == bundle::Resources::default() => {
                log::warn!("no cgroup for the container ({e:#}): pause and resume will not work");
                Cgroups::default()
            }
            Err(e) => return Err(e),
        };
        // The overlay's store on disk, removed if the create fails, else
        // by delete.
        let overlay_dir = match sandbox::overlay_disk_of(plan.readonly_root, &plan.annotations)? {
            Some(parent) => {
                gofer::check_root(&parent).with_context(|| format!("the overlay's directory {}", parent.display()))?;
                Some(crate::hostroot::private_dir(&parent, "husk-overlay", 0o700)?)
            }
            None => None,
        };
        let listener = control::listen_at(dir.dir_fd())?;
        let console = if plan.process.terminal {
            let sock =
                args.console_socket.as_deref().context("process.terminal is set but there is no --console-socket")?;
            Some(new_console(sock, plan.process.console_size)?)
        } else {
            if args.console_socket.is_some() {
                log::warn!("--console-socket given but process.terminal is false: no terminal is made");
            }
            None
        };
        let (ready_r, ready_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("creating a pipe")?;
        // With hooks to run before the Sentry boots: the sandbox process says
        // when its network namespace is there, and waits for them.
        let hook_pipes = if plan.hooks.create_runtime.is_empty() {
            None
        } else {
            let there = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("creating a pipe")?;
            let go = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("creating a pipe")?;
            Some((there, go))
        };
        let mut cmd = Command::new("/proc/self/exe");
        cmd.args(g.forwarded_flags()).arg("sandbox");
        cmd.arg("--id").arg(&args.id).arg("--bundle").arg(&plan.bundle);
        cmd.arg("--ready-fd").arg("3").arg("--control-fd").arg("4");
        if let Some(d) = &overlay_dir {
            cmd.arg("--overlay-dir").arg(d.path());
        }
        let mut fds = vec![(ready_w.as_raw_fd(), 3), (listener.as_raw_fd(), 4)];
        if let Some(((_, there_w), (go_r, _))) = &hook_pipes {
            cmd.arg("--hooks-fd").arg("5").arg("--go-fd").arg("6");
            fds.extend([(there_w.as_raw_fd(), 5), (go_r.as_raw_fd(), 6)]);
        }
        let image = args.restore_image.as_deref().map(checkpoint::open_image).transpose()?;
        if let Some(files) = &image {
            cmd.arg("--restore-state-fd").arg("7").arg("--restore-pages-fd").arg("8");
            if args.pages_on_demand {
                cmd.arg("--restore-pages-on-demand");
            }
            fds.extend([(files.state.as_raw_fd(), 7), (files.pages.as_raw_fd(), 8)]);
            if let Some(disk) = &files.disk {
                cmd.arg("--restore-disk-fd").arg("9");
                fds.push((disk.as_raw_fd(), 9));
            }
        }
        for d in &cgroups.dirs {
            cmd.arg("--cgroup").arg(d);
        }
        cmd.current_dir("/");
        if let Some(tty) = &console {
            cmd.stdin(Stdio::from(tty.try_clone()?));
            cmd.stdout(Stdio::from(tty.try_clone()?));
            cmd.stderr(Stdio::from(tty.try_clone()?));
        }
        crate::sys::prepare_child(
            &mut cmd,
            crate::sys::ChildSetup { fds, new_session: true, controlling_tty: console.is_some() },
        );
        let c = child.insert(cmd.spawn().context("starting the sandbox process")?);
        let pid = c.id() as i32;
        drop(ready_w);
        drop(image);
        drop(console);
        if let Some(((there_r, there_w), (go_r, go_w))) = hook_pipes {
            drop((there_w, go_r));
            let mut there = [0u8; 1];
            // EOF: the sandbox process failed first; its report says why.
            if std::fs::File::from(there_r).read(&mut there).unwrap_or(0) == 1 {
                let state = hooks::state_json(&args.id, "creating", pid, &plan.bundle, &plan.annotations);
                hooks::run_all("prestart/createRuntime", &plan.hooks.create_runtime, &state)?;
                std::io::Write::write_all(&mut std::fs::File::from(go_w), b"g").context("resuming the sandbox")?;
            }
        }
        let mut report = String::new();
        std::fs::File::from(ready_r).read_to_string(&mut report).context("waiting for the sandbox")?;
        if report != "ok" {
            if report.is_empty() {
                let status = c.wait().map(|s| format!("{s}")).unwrap_or_default();
                bail!("the sandbox process ended during start-up ({status})");
            }
            bail!("{report}");
        }
        let pid_start = state::proc_stat(pid).context("the sandbox process vanished")?.start;
        let st = State {
            id: args.id.clone(),
            pid,
            pid_start,
            bundle: plan.bundle.clone(),
            rootfs: plan.rootfs.clone(),
            created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
            status: Status::Created,
            annotations: plan.annotations.clone(),
            cgroups: cgroups.dirs.clone(),
            owner: nix::unistd::getuid().as_raw(),
            overlay_dir: overlay_dir.as_ref().map(|d| d.path().to_owned()),
        };
        dir.save(&st)?;
        if let Some(p) = &args.pid_file {
            write_pid_file(p, pid)?;
        }
        if let Some(d) = overlay_dir {
            d.keep();
        }
        Ok(())
    })();
    match result {
        Ok(()) => Ok(child.take().expect("spawned")),
        Err(e) => {
            if let Some(mut c) = child {
                let _ = c.kill();
                let _ = c.wait();
            }
            cgroups.kill_all();
            cgroups.remove();
            let _ = dir.remove();
            Err(e)
        }
    }
}

/// The pid file: the decimal pid, no newline, written atomically.
fn write_pid_file(path: &Path, pid: i32) -> anyhow::Result<()> {
    let abs = if path.is_absolute() { path.to_path_buf() } else { std::env::current_dir()?.join(path) };
    state::write_atomic(&abs, pid.to_string().as_bytes(), 0o644)
}

/// Makes a pty of `size` (rows, columns), sends its master to `socket` and
/// returns the replica.
fn new_console(socket: &Path, size: Option<(u16, u16)>) -> anyhow::Result<OwnedFd> {
    let ws = size.map(|(rows, cols)| nix::pty::Winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 });
    let pty = nix::pty::openpty(ws.as_ref(), None).context("creating a pty")?;
    let sock = std::os::unix::net::UnixStream::connect(socket)
        .with_context(|| format!("connecting to the console socket {}", socket.display()))?;
    let name = b"/dev/ptmx";
    let iov = [std::io::IoSlice::new(name)];
    let fds = [pty.master.as_raw_fd()];
    let cmsg = [nix::sys::socket::ControlMessage::ScmRights(&fds)];
    nix::sys::socket::sendmsg::<()>(sock.as_raw_fd(), &iov, &cmsg, nix::sys::socket::MsgFlags::empty(), None)
        .context("sending the terminal to the console socket")?;
    Ok(pty.slave)
}

/// `husk start`.
pub fn start(g: &Globals, id: &str) -> anyhow::Result<()> {
    let dir = ContainerDir::open(&g.root, id)?;
    let mut st = dir.load()?;
    match st.current_status() {
        Status::Created => {}
        Status::Stopped => bail!("cannot start a container that has stopped"),
        s => bail!("cannot start an already {s} container"),
    }
    control::connect_at(dir.dir_fd())?.call(&Request::Start, &[])?;
    st.status = Status::Running;
    dir.save(&st)?;
    if let Ok(plan) = bundle::load(&st.bundle) {
        let state = hooks::state_json(&st.id, "running", st.pid, &st.bundle, &st.annotations);
        hooks::run_all_warning("poststart", &plan.hooks.poststart, &state);
    }
    Ok(())
}

/// `husk run` with a bundle: create, start, wait, delete.
pub fn run(g: &Globals, args: &CreateArgs, detach: bool) -> anyhow::Result<ExitCode> {
    let mut child = create_sandbox(g, args)?;
    if let Err(e) = start(g, &args.id) {
        let _ = delete(g, &args.id, true);
        return Err(e);
    }
    if detach {
        return Ok(ExitCode::SUCCESS);
    }
    let status = child.wait().context("waiting for the sandbox")?;
    let code = crate::shell_status(status);
    delete(g, &args.id, true)?;
    Ok(ExitCode::from(code as u8))
}

// ---- state, list, ps ------------------------------------------------------

/// `husk state`.
pub fn state(g: &Globals, id: &str) -> anyhow::Result<()> {
    let dir = ContainerDir::open(&g.root, id)?;
    let st = dir.load()?;
    println!("{}", serde_json::to_string_pretty(&st.oci_json())?);
    Ok(())
}

/// `husk list`.
pub fn list(g: &Globals, format: &str, quiet: bool) -> anyhow::Result<()> {
    let mut states = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&g.root) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Ok(dir) = ContainerDir::open(&g.root, &name) {
                if let Ok(st) = dir.load() {
                    states.push(st);
                }
            }
        }
    }
    states.sort_by(|a, b| a.id.cmp(&b.id));
    if quiet {
        for s in &states {
            println!("{}", s.id);
        }
        return Ok(());
    }
    match format {
        "json" => println!("{}", serde_json::Value::Array(states.iter().map(State::oci_json).collect())),
        "table" => {
            println!("{:<12} {:<10} {:<10} {:<40} {:<30} OWNER", "ID", "PID", "STATUS", "BUNDLE", "CREATED");
            for s in &states {
                let status = s.current_status();
                let pid = if status == Status::Stopped { 0 } else { s.pid };
                println!("{:<12} {:<10} {:<10} {:<40} {:<30} root", s.id, pid, status, s.bundle.display(), s.created);
            }
        }
        other => bail!("invalid format option {other:?}"),
    }
    Ok(())
}

/// The sandbox's host processes: those in its cgroup, else the sandbox
/// process and its descendants.
fn host_pids(st: &State) -> Vec<i32> {
    let cg = Cgroups { dirs: st.cgroups.clone() };
    let mut pids = cg.pids();
    if pids.is_empty() && st.current_status() != Status::Stopped {
        pids = descendants(st.pid);
    }
    pids.sort_unstable();
    pids
}

/// `pid` and every process below it, from /proc.
fn descendants(pid: i32) -> Vec<i32> {
    let parent_of: Vec<(i32, i32)> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse::<i32>().ok())
        .filter_map(|p| state::proc_stat(p).map(|st| (p, st.ppid)))
        .collect();
    let mut out = vec![pid];
    let mut i = 0;
    while i < out.len() {
        let cur = out[i];
        out.extend(parent_of.iter().filter(|(_, pp)| *pp == cur).map(|(p, _)| *p));
        i += 1;
    }
    out
}

/// The host pids that stand for the app's processes: the stubs holding
/// their address spaces, each showing its process's command line (see
/// `AddressSpace::show_args`), as runc's `ps` gives the app's own host
/// processes. The Sentry names them in its pid namespace; each of the
/// sandbox's host processes says in its /proc/PID/status's NSpid line
/// (innermost last) what it is there. None if the Sentry cannot say:
/// the container is paused (its cgroup frozen, so no answer would come),
/// not started, or gone.
fn app_host_pids(dir: &ContainerDir, st: &State) -> Option<Vec<i32>> {
    if st.current_status() != Status::Running {
        return None;
    }
    let Ok(Response::Pids(procs)) = control::connect_at(dir.dir_fd()).and_then(|c| c.call(&Request::Pids, &[])) else {
        return None;
    };
    let innermost = |host: i32| -> Option<(i32, i32)> {
        let status = std::fs::read_to_string(format!("/proc/{host}/status")).ok()?;
        let line = status.lines().find_map(|l| l.strip_prefix("NSpid:"))?;
        Some((line.split_whitespace().last()?.parse().ok()?, host))
    };
    let by_ns: std::collections::HashMap<i32, i32> = host_pids(st).into_iter().filter_map(innermost).collect();
    let mut pids: Vec<i32> = procs.iter().filter_map(|(_, stub)| by_ns.get(stub).copied()).collect();
    pids.sort_unstable();
    Some(pids).filter(|p| !p.is_empty())
}

/// `husk ps`: the app's processes as host pids (their stubs; see
/// [`app_host_pids`]), else, when the Sentry cannot say, the sandbox's
/// host processes.
pub fn ps(g: &Globals, id: &str, format: &str) -> anyhow::Result<()> {
    let dir = ContainerDir::open(&g.root, id)?;
    let st = dir.load()?;
    let pids = app_host_pids(&dir, &st).unwrap_or_else(|| host_pids(&st));
    match format {
        "json" => println!("{}", serde_json::to_string(&pids)?),
        "table" => {
            println!("{:<8} CMD", "PID");
            for p in pids {
                let cmd = std::fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default();
                let cmd: Vec<String> = cmd
                    .split(|&b| b == 0)
                    .filter(|a| !a.is_empty())
                    .map(|a| String::from_utf8_lossy(a).into())
                    .collect();
                println!("{p:<8} {}", cmd.join(" "));
            }
        }
        other => bail!("invalid format option {other:?}"),
    }
    Ok(())
}

// ---- kill, pause, resume, delete ------------------------------------------

/// Parses a signal as runc does: a number, or a name with or without SIG.
pub fn parse_signal(s: &str) -> anyhow::Result<i32> {
    if let Ok(n) = s.parse::<i32>() {
        if (0..=64).contains(&n) {
            return Ok(n);
        }
        bail!("signal {n} out of range");
    }
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") { upper } else { format!("SIG{upper}") };
    if let Some(rt) = name.strip_prefix("SIGRTMIN") {
        let off: i32 = if rt.is_empty() { 0 } else { rt.trim_start_matches('+').parse().context("bad signal")? };
        return Ok(libc::SIGRTMIN() + off);
    }
    name.parse::<nix::sys::signal::Signal>().map(|s| s as i32).map_err(|_| anyhow::anyhow!("unknown signal {s:?}"))
}

/// `husk kill`.
pub fn kill(g: &Globals, id: &str, signal: &str, all: bool) -> anyhow::Result<()> {
    let sig = parse_signal(signal)?;
    let dir = ContainerDir::open(&g.root, id)?;
    let st = dir.load()?;
    let status = st.current_status();
    if status == Status::Stopped {
        bail!("container not running");
    }
    let paused = status == Status::Paused;
    let cg = Cgroups { dirs: st.cgroups.clone() };
    if paused {
        // A frozen sandbox cannot answer its control socket: thaw it for
        // the delivery (the signal is queued, as Linux queues it for a
        // frozen task), then freeze it again, unless it is being killed.
        cg.set_frozen(false)?;
    }
    let sent = control::connect_at(dir.dir_fd()).and_then(|c| c.call(&Request::Kill { signal: sig, all }, &[]));
    if paused && sig != libc::SIGKILL {
        cg.set_frozen(true)?;
    }
    sent.map(drop)
}

/// `husk pause` and `husk resume`.
pub fn pause(g: &Globals, id: &str, pause: bool) -> anyhow::Result<()> {
    let dir = ContainerDir::open(&g.root, id)?;
    let mut st = dir.load()?;
    match (st.current_status(), pause) {
        (Status::Running, true) | (Status::Paused, false) => {}
        (Status::Running, false) => bail!("container {id} is not paused"),
        (s, _) => bail!("container {id} is not running (it is {s})"),
    }
    Cgroups { dirs: st.cgroups.clone() }.set_frozen(pause)?;
    st.status = if pause { Status::Paused } else { Status::Running };
    dir.save(&st)
}

/// `husk delete`.
pub fn delete(g: &Globals, id: &str, force: bool) -> anyhow::Result<()> {
    let dir = match ContainerDir::open(&g.root, id) {
        Ok(d) => d,
        // runc: --force on a missing container is not an error.
        Err(_) if force && !g.root.join(id).join("state.json").exists() => {
            if g.root.join(id).exists() {
                let _ = std::fs::remove_dir_all(g.root.join(id));
            }
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    let st = dir.load()?;
    let status = st.current_status();
    if matches!(status, Status::Running | Status::Paused) && !force {
        bail!("cannot delete container {id} that is not stopped: {status}");
    }
    let cg = Cgroups { dirs: st.cgroups.clone() };
    if status != Status::Stopped {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(st.pid), nix::sys::signal::Signal::SIGKILL);
    }
    cg.kill_all();
    // Wait for the sandbox's host processes to go, so nothing is left when
    // delete returns.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while (state::process_alive(st.pid, st.pid_start) || !cg.pids().is_empty()) && std::time::Instant::now() < deadline
    {
        cg.kill_all();
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    cg.remove();
    if let Some(d) = &st.overlay_dir {
        let _ = std::fs::remove_dir_all(d);
    }
    dir.remove()?;
    // The bundle may be gone by now: then there is nothing to run.
    if let Ok(plan) = bundle::load(&st.bundle) {
        let state = hooks::state_json(&st.id, "stopped", 0, &st.bundle, &st.annotations);
        hooks::run_all_warning("poststop", &plan.hooks.poststop, &state);
    }
    Ok(())
}

// ---- exec -------------------------------------------------------------------

/// `husk exec`. Without `--detach`, this process waits and exits with the
/// process's status; with it, a copy of this command (the process's proxy,
/// whose pid goes in the pid file) does.
pub fn exec(g: &Globals, args: &ExecArgs) -> anyhow::Result<ExitCode> {
    let dir = ContainerDir::open(&g.root, &args.id)?;
    let st = dir.load()?;
    let status = st.current_status();
    if status != Status::Running {
        bail!("cannot exec in a container that is not running (it is {status})");
    }
    let base = bundle::load(&st.bundle).ok().map(|b| b.process);
    let plan = exec_plan(args, base)?;
    if args.detach {
        drop(dir);
        return exec_detached(g, args, plan.terminal);
    }
    let mut ready = match args.ready_fd {
        Some(fd) => Some(std::fs::File::from(crate::sys::adopt_fd(fd)?)),
        None => None,
    };
    let started = (|| {
        let ch = control::connect_at(dir.dir_fd())?;
        // The lock is only for the state: the process may run for long.
        drop(dir);
        let stdio = if plan.terminal {
            let sock =
                args.console_socket.as_deref().context("a terminal was asked for but there is no --console-socket")?;
            let tty = new_console(sock, plan.console_size)?;
            vec![tty.try_clone()?, tty.try_clone()?, tty]
        } else {
            sandbox::stdio()?
        };
        let raw: Vec<i32> = stdio.iter().map(|f| f.as_raw_fd()).collect();
        let req = Request::Exec(plan);
        match ch.call(&req, &raw)? {
            Response::Started(_) => Ok(ch),
            other => bail!("unexpected answer from the sandbox: {other:?}"),
        }
    })();
    // The detached exec that started this proxy waits for a word: "ok",
    // or why the process did not start, which it reports as its own error.
    let ch = match (started, ready.as_mut()) {
        (Ok(ch), Some(r)) => {
            let _ = std::io::Write::write_all(r, b"ok");
            ch
        }
        (Ok(ch), None) => ch,
        (Err(e), Some(r)) => {
            let _ = std::io::Write::write_all(r, format!("{e:#}").as_bytes());
            return Err(e);
        }
        (Err(e), None) => return Err(e),
    };
    drop(ready);
    let ch = std::sync::Arc::new(ch);
    crate::sys::forward_signals_to(ch.clone());
    loop {
        match ch.recv::<Response>()? {
            Some((Response::Exited(code), _)) => return Ok(ExitCode::from(code as u8)),
            Some(_) => continue,
            None => bail!("the sandbox ended"),
        }
    }
}

/// The process an exec runs: `--process FILE`, or ARGS with the flags.
fn exec_plan(args: &ExecArgs, base: Option<bundle::ProcessPlan>) -> anyhow::Result<bundle::ProcessPlan> {
    if let Some(p) = &args.process {
        let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
        let proc: oci_spec::runtime::Process =
            serde_json::from_str(&text).with_context(|| format!("parsing {}", p.display()))?;
        return bundle::process_plan(&proc);
    }
    if args.args.is_empty() {
        bail!("exec needs --process or a command");
    }
    // As runc: the container's own process, with the flags over it.
    let mut p = base.unwrap_or_else(|| bundle::ProcessPlan {
        env: vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string()],
        cwd: "/".into(),
        ..Default::default()
    });
    p.args = args.args.clone();
    for kv in &args.env {
        let key = kv.split_once('=').map_or(kv.as_str(), |(k, _)| k);
        p.env.retain(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) != key);
        p.env.push(kv.clone());
    }
    if let Some(cwd) = &args.cwd {
        p.cwd = cwd.clone();
    }
    if let Some(u) = &args.user {
        (p.uid, p.gid) = crate::parse_user(u).map_err(|e| anyhow::anyhow!("--user: {e}"))?;
    }
    if !args.additional_gids.is_empty() {
        p.groups = args.additional_gids.clone();
    }
    p.terminal = args.tty;
    p.no_new_privileges |= args.no_new_privs;
    if !args.cap.is_empty() {
        let mut caps = p.caps.unwrap_or_else(|| crate::caps::unspecified(p.uid));
        crate::caps::add_exec_caps(&mut caps, &args.cap).context("--cap")?;
        p.caps = Some(caps);
    }
    Ok(p)
}

/// Runs this exec again without `--detach` as the process's proxy, waits
/// for it to report the process started, and writes its pid file.
fn exec_detached(g: &Globals, args: &ExecArgs, terminal: bool) -> anyhow::Result<ExitCode> {
    let (ready_r, ready_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("creating a pipe")?;
    let mut cmd = Command::new("/proc/self/exe");
    cmd.args(g.forwarded_flags()).arg("exec").arg("--ready-fd").arg("3");
    let argv: Vec<String> = std::env::args().collect();
    // Everything after "exec" but --detach and --pid-file (and its value).
    let pos = argv.iter().position(|a| a == "exec").context("no exec in the command line")?;
    let mut rest = argv[pos + 1..].iter();
    while let Some(a) = rest.next() {
        if a == "--detach" || a == "-d" {
            continue;
        }
        if a == "--pid-file" {
            rest.next();
            continue;
        }
        if a.starts_with("--pid-file=") {
            continue;
        }
        cmd.arg(a);
    }
    cmd.current_dir("/");
    // With a terminal, the process's stdio is the new pty, and this
    // command's own stdio is its caller's: containerd's shim reads it
    // until every holder has closed it, so the proxy, which outlives this
    // command, must not hold it (as runc's detached processes do not).
    if terminal {
        cmd.stdin(std::process::Stdio::null()).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
    }
    crate::sys::prepare_child(
        &mut cmd,
        crate::sys::ChildSetup { fds: vec![(ready_w.as_raw_fd(), 3)], new_session: true, controlling_tty: false },
    );
    let mut child = cmd.spawn().context("starting the exec proxy")?;
    drop(ready_w);
    let mut report = String::new();
    std::fs::File::from(ready_r).read_to_string(&mut report)?;
    if report != "ok" {
        let status = child.wait()?;
        if report.is_empty() {
            bail!("exec failed ({status}); see the log for why");
        }
        bail!("{report}");
    }
    if let Some(p) = &args.pid_file {
        write_pid_file(p, child.id() as i32)?;
    }
    Ok(ExitCode::SUCCESS)
}

// ---- spec, features -------------------------------------------------------

/// `husk spec`: writes a default config.json into the bundle.
pub fn spec(bundle: &Path) -> anyhow::Result<()> {
    let path = bundle.join("config.json");
    if path.exists() {
        bail!("File {} exists. Remove it first", path.display());
    }
    let mut s = oci_spec::runtime::Spec::default();
    if let Some(p) = s.process_mut() {
        p.set_args(Some(vec!["sh".into()]));
        p.set_terminal(Some(true));
    }
    let text = serde_json::to_string_pretty(&s)?;
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
}

/// `husk features`: the OCI runtime features document.
pub fn features() -> serde_json::Value {
    serde_json::json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": oci_spec::runtime::VERSION,
        "hooks": [],
        "mountOptions": ["bind", "rbind", "ro", "rw", "nosuid", "nodev", "noexec", "mode"],
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "uts"],
            "capabilities": abi::flags::capability::NAMES.as_slice(),
            "cgroup": { "v1": true, "v2": true, "systemd": false, "systemdUser": false },
            "seccomp": { "enabled": false },
            "apparmor": { "enabled": false },
            "selinux": { "enabled": false }
        },
        "annotations": {
            "io.github.husk.platforms": sentry::PLATFORMS.join(","),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_parse_as_runc_parses_them() {
        assert_eq!(parse_signal("9").unwrap(), 9);
        assert_eq!(parse_signal("KILL").unwrap(), 9);
        assert_eq!(parse_signal("SIGTERM").unwrap(), 15);
        assert_eq!(parse_signal("sigusr1").unwrap(), 10);
        assert_eq!(parse_signal("RTMIN+2").unwrap(), libc::SIGRTMIN() + 2);
        assert!(parse_signal("SIGNOPE").is_err());
        assert!(parse_signal("65").is_err());
    }

    #[test]
    fn spec_writes_a_config_that_parses_back_and_refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        spec(dir.path()).unwrap();
        let text = std::fs::read_to_string(dir.path().join("config.json")).unwrap();
        let s: oci_spec::runtime::Spec = serde_json::from_str(&text).unwrap();
        let p = s.process().as_ref().unwrap();
        assert_eq!(p.args().as_deref(), Some(&["sh".to_string()][..]));
        assert_eq!(p.terminal(), Some(true));
        assert!(spec(dir.path()).unwrap_err().to_string().contains("exists"));
    }

    #[test]
    fn features_name_what_husk_supports() {
        let f = features();
        assert_eq!(f["ociVersionMin"], "1.0.0");
        assert!(f["linux"]["namespaces"].as_array().unwrap().iter().any(|n| n == "network"));
        assert!(f["linux"]["capabilities"].as_array().unwrap().iter().any(|n| n == "CAP_SYS_ADMIN"));
    }

    #[test]
    fn exec_plans_come_from_flags_or_a_process_file() {
        let args = |v: &[&str]| {
            use clap::Parser;
            #[derive(Parser)]
            struct T {
                #[command(flatten)]
                e: ExecArgs,
            }
            T::parse_from(std::iter::once("t").chain(v.iter().copied())).e
        };
        let p =
            exec_plan(&args(&["--env", "A=1", "--cwd", "/tmp", "--user", "7:8", "c1", "sh", "-c", "x"]), None).unwrap();
        assert_eq!(p.args, ["sh", "-c", "x"]);
        assert!(p.env.contains(&"A=1".to_string()));
        assert_eq!((p.cwd.as_str(), p.uid, p.gid), ("/tmp", 7, 8));
        assert!(exec_plan(&args(&["c1"]), None).is_err());
        // The container's process is the base: its env, cwd and user, with
        // the flags over them.
        let base = bundle::ProcessPlan {
            args: vec!["init".into()],
            env: vec!["PATH=/bin".into(), "A=0".into(), "B=2".into()],
            cwd: "/home".into(),
            uid: 5,
            gid: 6,
            ..Default::default()
        };
        let p = exec_plan(&args(&["--env", "A=1", "c1", "id"]), Some(base)).unwrap();
        assert_eq!(p.env, ["PATH=/bin", "B=2", "A=1"]);
        assert_eq!((p.cwd.as_str(), p.uid, p.gid, p.args.clone()), ("/home", 5, 6, vec!["id".to_string()]));
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("p.json");
        std::fs::write(&f, r#"{"args":["ls"],"cwd":"/","user":{"uid":1,"gid":2},"env":["X=y"],"terminal":true}"#)
            .unwrap();
        let p = exec_plan(&args(&["--process", f.to_str().unwrap(), "c1"]), None).unwrap();
        assert_eq!((p.args.clone(), p.uid, p.gid, p.terminal), (vec!["ls".to_string()], 1, 2, true));
    }
}
