//! `husk`: the command-line front end of the Husk sandbox.
//!
//! `husk run --rootfs` starts a Gofer process for the rootfs, boots a Sentry in this
//! process, runs the program to completion and exits with its status.
//! `husk gofer` is the Gofer's own entry point, which `husk run` execs.

mod caps;
mod hostroot;
mod isolation;
mod limits;
mod logging;
mod mounts;
mod netsandbox;
mod oci;
mod relay;
mod sys;

use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};

use logging::LogFormat;

#[derive(Parser)]
#[command(name = "husk", version, about = "Husk: a user-space Linux kernel sandbox")]
struct Cli {
    #[command(flatten)]
    globals: Globals,
    #[command(subcommand)]
    command: Cmd,
}

/// Flags every command takes: runc's, and Husk's own.
#[derive(clap::Args, Clone, Debug)]
pub struct Globals {
    /// Where container state lives (one directory per container).
    #[arg(long, global = true, default_value = "/run/husk", value_name = "DIR")]
    pub root: PathBuf,
    /// Write Husk's own log to FILE instead of only errors to stderr; the
    /// app's stderr stays its own.
    #[arg(long, global = true, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// The log's format: text, or runc's JSON lines.
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Log at debug level.
    #[arg(long, global = true)]
    pub debug: bool,
    /// Also write a full debug log of each husk process into DIR.
    #[arg(long, global = true, value_name = "DIR")]
    pub debug_log: Option<PathBuf>,
    /// How the Sentry intercepts the app: systrap or ptrace. The default is
    /// systrap where the host supports it, else ptrace.
    #[arg(long, global = true)]
    pub platform: Option<String>,
    /// Print one line per syscall to stderr.
    #[arg(long, global = true)]
    pub strace: bool,
    /// OCI containers: the network of a bundle without the
    /// dev.husk.network annotation (sandbox, nat, host or none), as
    /// Docker's runtimeArgs give it.
    #[arg(long, global = true, value_name = "MODE")]
    pub default_network: Option<String>,
    /// OCI containers: an egress rule for a bundle without the
    /// dev.husk.network.allow-egress annotation (repeatable; as
    /// --allow-egress takes them).
    #[arg(long = "default-allow-egress", global = true, value_name = "RULE")]
    pub default_allow_egress: Vec<String>,
    /// Accepted for runc compatibility: systemd cgroup paths are refused.
    #[arg(long, global = true, hide = true)]
    pub systemd_cgroup: bool,
}

impl Globals {
    /// The platform to boot sandboxes on: `--platform`, or the host's best.
    pub fn platform_name(&self) -> String {
        self.platform.clone().unwrap_or_else(|| sentry::default_platform().to_string())
    }

    /// The flags to pass on to a husk process this one starts.
    pub fn forwarded_flags(&self) -> Vec<std::ffi::OsString> {
        let mut v: Vec<std::ffi::OsString> = vec!["--root".into(), self.root.clone().into()];
        if let Some(l) = &self.log {
            v.extend(["--log".into(), l.clone().into()]);
        }
        if self.log_format == LogFormat::Json {
            v.extend(["--log-format".into(), "json".into()]);
        }
        if self.debug {
            v.push("--debug".into());
        }
        if let Some(d) = &self.debug_log {
            v.extend(["--debug-log".into(), d.clone().into()]);
        }
        if let Some(p) = &self.platform {
            v.extend(["--platform".into(), p.into()]);
        }
        if self.strace {
            v.push("--strace".into());
        }
        if let Some(n) = &self.default_network {
            v.extend(["--default-network".into(), n.into()]);
        }
        for r in &self.default_allow_egress {
            v.extend(["--default-allow-egress".into(), r.into()]);
        }
        v
    }
}

#[derive(Subcommand)]
enum Cmd {
    /// Run PROG from a rootfs in a sandbox (`--rootfs DIR -- PROG`), or
    /// create, start and wait for an OCI container (`[--bundle B] ID`).
    Run(Box<RunArgs>),
    /// Create a container from an OCI bundle; it waits for `start`.
    Create(oci::CreateArgs),
    /// Start a created container.
    Start {
        /// The container id.
        id: String,
    },
    /// Print a container's OCI state JSON.
    State {
        /// The container id.
        id: String,
    },
    /// List containers.
    List {
        /// table or json.
        #[arg(long, short = 'f', default_value = "table")]
        format: String,
        /// Only ids.
        #[arg(long, short = 'q')]
        quiet: bool,
    },
    /// List a container's host processes.
    Ps {
        /// table or json.
        #[arg(long, short = 'f', default_value = "table")]
        format: String,
        /// The container id.
        id: String,
        /// Accepted for runc compatibility (ps(1) options).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
        ps_args: Vec<String>,
    },
    /// Send a signal to a container's init (or every process, --all).
    Kill {
        /// Every process of the container.
        #[arg(long, short = 'a')]
        all: bool,
        /// The container id.
        id: String,
        /// A signal name or number.
        #[arg(default_value = "SIGTERM")]
        signal: String,
    },
    /// Freeze every process of a container.
    Pause {
        /// The container id.
        id: String,
    },
    /// Thaw a paused container.
    Resume {
        /// The container id.
        id: String,
    },
    /// Run a new process in a running container.
    Exec(Box<oci::ExecArgs>),
    /// Write a running container to a checkpoint image (and end it, unless
    /// --leave-running).
    Checkpoint(Box<oci::checkpoint::CheckpointArgs>),
    /// Bring a container back from a checkpoint image.
    Restore(Box<oci::checkpoint::RestoreArgs>),
    /// Delete a container (--force: even a running one).
    Delete {
        /// Kill it first if it runs.
        #[arg(long, short = 'f')]
        force: bool,
        /// The container id.
        id: String,
    },
    /// Write a default config.json.
    Spec {
        /// The bundle directory.
        #[arg(long, short = 'b', default_value = ".")]
        bundle: PathBuf,
        /// Accepted for runc compatibility.
        #[arg(long)]
        rootless: bool,
    },
    /// Print the OCI features JSON.
    Features,
    /// Husk's own diagnostics.
    Debug {
        #[command(subcommand)]
        what: DebugCmd,
    },
    /// Serve a rootfs to a Sentry (started by husk itself).
    #[command(hide = true)]
    Gofer {
        /// The rootfs to serve.
        #[arg(long)]
        rootfs: PathBuf,
        /// The connected socket to serve on.
        #[arg(long)]
        sock_fd: i32,
        /// An extra root to serve (a bind-mount source), repeatable.
        #[arg(long = "mount", value_name = "SRC")]
        mounts: Vec<PathBuf>,
        /// Serve the rootfs writable.
        #[arg(long)]
        writable: bool,
    },
    /// A container's sandbox process (started by `husk create`).
    #[command(hide = true)]
    Sandbox(oci::sandbox::SandboxArgs),
    /// A sandbox's network relay (started by husk itself).
    #[command(hide = true)]
    Relay(relay::RelayArgs),
}

#[derive(clap::Subcommand)]
enum DebugCmd {
    /// Print each seccomp filter's syscalls, for review.
    Seccomp,
    /// Print every syscall the app may make, with how fully Husk serves it
    /// (full, partial, refused, or not at all: ENOSYS) and why.
    Syscalls,
}

#[derive(clap::Args)]
struct RunArgs {
    /// The root filesystem directory (local mode). Without it, the app
    /// runs on the host's own /usr, /etc (less its secrets) and library
    /// directories, beneath overlays, with an empty /root, /home and /var.
    #[arg(long)]
    rootfs: Option<PathBuf>,
    /// Set an environment variable for the app (repeatable); the app gets no
    /// other environment.
    #[arg(long = "env", value_name = "K=V")]
    env: Vec<String>,
    /// The working directory inside the sandbox.
    #[arg(long, default_value = "/")]
    cwd: String,
    /// The sandbox's hostname.
    #[arg(long, default_value = "husk")]
    hostname: String,
    /// Run the app as UID (and GID, default the same number) inside the
    /// sandbox.
    #[arg(long, value_name = "UID[:GID]", value_parser = parse_user)]
    user: Option<(u32, u32)>,
    /// Add a Linux capability to the app's set (repeatable; ALL for every
    /// one), as `docker run --cap-add`. The set starts as Docker's
    /// default; a non-root --user gets it only as its bounding set.
    #[arg(long = "cap-add", value_name = "CAP")]
    cap_add: Vec<String>,
    /// Take a capability out of the app's set (repeatable; ALL for every
    /// one), as `docker run --cap-drop`.
    #[arg(long = "cap-drop", value_name = "CAP")]
    cap_drop: Vec<String>,
    /// OCI mode: the bundle directory.
    #[arg(long, short = 'b')]
    bundle: Option<PathBuf>,
    /// OCI mode: write the sandbox process's pid here.
    #[arg(long)]
    pid_file: Option<PathBuf>,
    /// OCI mode: the console socket.
    #[arg(long)]
    console_socket: Option<PathBuf>,
    /// OCI mode: return once started.
    #[arg(long, short = 'd')]
    detach: bool,
    /// OCI mode: accepted for runc compatibility.
    #[arg(long)]
    no_pivot: bool,
    /// OCI mode: the container id.
    id: Option<String>,
    /// Local mode: bind-mount a host directory or file at DEST
    /// (repeatable): read-write, its changes reaching HOST through the
    /// Gofer, unless `:ro` is given (then writes fail with EROFS).
    #[arg(long = "volume", value_name = "HOST:DEST[:ro]")]
    volume: Vec<String>,
    /// Local mode: mount an empty tmpfs at DEST (repeatable).
    #[arg(long = "tmpfs", value_name = "DEST")]
    tmpfs: Vec<String>,
    /// Local mode: a read-only root (writes fail with EROFS), as `docker
    /// run --read-only`. Without it the root is an overlay: the app may
    /// change anything, the changes stay in the sandbox's memory, and the
    /// rootfs directory is never written.
    #[arg(long, conflicts_with = "root_writes")]
    read_only: bool,
    /// Local mode: where the app's writes to the root go. `overlay` (the
    /// default): an overlay in the sandbox's memory, the rootfs never
    /// written. `host`: into the --rootfs directory itself, through the
    /// Gofer (weaker: the sandbox changes a host directory).
    #[arg(long, value_name = "overlay|host", value_parser = ["overlay", "host"])]
    root_writes: Option<String>,
    /// Local mode: where the overlays keep what the app changes. `memory`
    /// (the default): the sandbox's memory, counted against its limit.
    /// `disk:DIR`: files' data in a private directory made under DIR
    /// (removed at exit), so that big writes do not use RAM.
    #[arg(long, value_name = "memory|disk:DIR")]
    overlay: Option<String>,
    /// Local mode: the most memory the sandbox's host processes may use
    /// (bytes, or with k, m or g); past it the sandbox is killed (exit 137).
    #[arg(long, value_name = "SIZE")]
    memory: Option<String>,
    /// Local mode: the most tasks (processes and threads) the app may have;
    /// a fork or clone past it fails with EAGAIN.
    #[arg(long, value_name = "N")]
    pids: Option<u64>,
    /// Local mode: the CPU time the sandbox may use, in CPUs (0.5: half of
    /// one).
    #[arg(long, value_name = "N")]
    cpus: Option<f64>,
    /// Local mode: the cgroup (a path under each cgroup hierarchy, as
    /// `docker run --cgroup-parent` takes it) under which a sandbox with
    /// limits gets its own; `husk` by default. Rootless, with limits: one
    /// that this user may write (delegated to it), which must be named.
    #[arg(long, value_name = "PATH")]
    cgroup_parent: Option<PathBuf>,
    /// Local mode: the sandbox's network. `nat` (the default): its own
    /// loopback, and outside addresses through user-mode NAT, as far as
    /// --allow-egress allows (nothing, unless it names them); DNS through
    /// the forwarder at 10.0.2.3. `sandbox`: the network namespace's own
    /// interface (say, a veth), taken for the sandbox's TCP/IP stack, with
    /// its addresses and default routes (root only; --allow-egress
    /// applies; the addresses return to the interface when the sandbox
    /// ends). `host` (weaker isolation): the app's Internet sockets are
    /// host sockets of this network namespace, with no egress policy, as
    /// `docker run --network host`. `none`: the loopback only.
    #[arg(long, value_name = "nat|sandbox|host|none", default_value = "nat", value_parser = ["nat", "sandbox", "host", "none"])]
    network: String,
    /// Local mode, `--network nat` or `sandbox`: let the app reach DEST (repeatable):
    /// `all`, a CIDR (10.1.0.0/16), an address, ADDR:PORT, a hostname
    /// (resolved at start), or HOST:PORT. Anything else is refused
    /// (ECONNREFUSED) and logged as a JSON audit line.
    #[arg(long = "allow-egress", value_name = "DEST")]
    allow_egress: Vec<String>,
    /// Local mode, `--network nat`: the nameserver the sandbox's DNS
    /// forwarder asks (repeatable); by default the host's own, from its
    /// /etc/resolv.conf. Under `sandbox`: the nameserver asked for the
    /// hostnames of --allow-egress.
    #[arg(long = "dns", value_name = "IP")]
    dns: Vec<std::net::IpAddr>,
    /// Local mode, `--network nat`: publish the sandbox's TCP (or, with
    /// `/udp`, UDP) PORT on the host's HOSTPORT (of HOSTIP, or of every
    /// address), as `docker run -p` (repeatable). The app sees such
    /// connections and datagrams come from the gateway, 10.0.2.2 (a UDP
    /// client as a port of the gateway's own, which the app's replies go
    /// back to).
    #[arg(long = "publish", short = 'p', value_name = "[HOSTIP:]HOSTPORT:PORT[/udp]")]
    publish: Vec<String>,
    /// Local mode: kept for old command lines; the sandbox's own procfs is
    /// always at /proc.
    #[arg(long, hide = true)]
    proc: bool,
    /// Local mode: the program (a path inside the rootfs) and its arguments.
    #[arg(last = true, value_name = "PROG [ARGS]...")]
    program: Vec<String>,
}

/// Exit statuses for failures of Husk itself, as `docker run` uses them.
const EXIT_SANDBOX_ERROR: u8 = 125;
const EXIT_CANNOT_EXECUTE: u8 = 126;
const EXIT_NOT_FOUND: u8 = 127;

/// The fd number the Gofer's socket gets in the Gofer process.
const GOFER_SOCK_FD: i32 = 3;

/// Reports a command's failure: to the log (where containerd's shim reads
/// it) and, when the log is a file, to stderr as well.
pub fn report_error(e: &anyhow::Error) {
    let msg = format!("{e:#}");
    log::error!("{msg}");
    if LOG_TO_FILE.load(std::sync::atomic::Ordering::Relaxed) {
        eprintln!("husk: {msg}");
    }
}

static LOG_TO_FILE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The status a shell reports for a host process: N, or 128 + the signal.
pub fn shell_status(s: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(0))
}

fn command_name(c: &Cmd) -> &'static str {
    match c {
        Cmd::Run(_) => "run",
        Cmd::Create(_) => "create",
        Cmd::Start { .. } => "start",
        Cmd::State { .. } => "state",
        Cmd::List { .. } => "list",
        Cmd::Ps { .. } => "ps",
        Cmd::Kill { .. } => "kill",
        Cmd::Pause { .. } => "pause",
        Cmd::Resume { .. } => "resume",
        Cmd::Exec(_) => "exec",
        Cmd::Checkpoint(_) => "checkpoint",
        Cmd::Restore(_) => "restore",
        Cmd::Delete { .. } => "delete",
        Cmd::Spec { .. } => "spec",
        Cmd::Features => "features",
        Cmd::Debug { .. } => "debug",
        Cmd::Gofer { .. } => "gofer",
        Cmd::Sandbox(_) => "sandbox",
        Cmd::Relay(_) => "relay",
    }
}

/// The Gofer's arguments, read without clap: the Gofer is started for every
/// sandbox, and building the whole command line's parser costs it more than
/// its own start-up (page faults in a nested VM are dear).
/// Its roots come back in the Gofer's order: the rootfs, then each
/// `--mount`.
fn gofer_fast_path(args: &[std::ffi::OsString]) -> Option<(i32, Vec<gofer::ExtraRoot>)> {
    let mut it = args.iter();
    let (mut rootfs, mut sock_fd, mut mounts) = (None::<gofer::ExtraRoot>, None, Vec::<gofer::ExtraRoot>::new());
    while let Some(a) = it.next() {
        match a.to_str()? {
            "--rootfs" => rootfs = Some(PathBuf::from(it.next()?).into()),
            "--sock-fd" => sock_fd = Some(it.next()?.to_str()?.parse().ok()?),
            "--mount" => mounts.push(PathBuf::from(it.next()?).into()),
            // A path beneath the last --mount never to serve.
            "--hide" => mounts.last_mut()?.hide.push(it.next()?.to_str()?.to_owned()),
            // The last root named (the rootfs, or a --mount) is writable.
            "--writable" => match mounts.last_mut() {
                Some(m) => m.writable = true,
                None => rootfs.as_mut()?.writable = true,
            },
            _ => return None,
        }
    }
    let mut roots = vec![rootfs?];
    roots.extend(mounts);
    Some((sock_fd?, roots))
}

/// runc's flag parser takes a long flag after a single dash too, and
/// containerd's shim passes restore's `-no-subreaper` so: the long form
/// clap knows.
fn runc_spelling(arg: std::ffi::OsString) -> std::ffi::OsString {
    if arg == "-no-subreaper" {
        "--no-subreaper".into()
    } else {
        arg
    }
}

fn main() -> ExitCode {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if argv.get(1).is_some_and(|a| a == "gofer") {
        // Anything unusual falls through to clap, for its error message.
        if let Some((sock_fd, roots)) = gofer_fast_path(&argv[2..]) {
            return match serve_gofer(sock_fd, &roots) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("husk: gofer: {e:#}");
                    ExitCode::FAILURE
                }
            };
        }
    }
    let cli = match Cli::try_parse_from(argv.into_iter().map(runc_spelling)) {
        Ok(c) => c,
        Err(e) if matches!(e.kind(), clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion) => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            // One line: clap's first line, without its usage block.
            let msg = e.to_string();
            let first = msg.lines().next().unwrap_or("invalid arguments").trim_start_matches("error: ");
            eprintln!("husk: {first} (see 'husk --help')");
            return ExitCode::from(2);
        }
    };
    let g = cli.globals;
    let log_cfg = logging::LogConfig {
        file: g.log.as_deref(),
        format: g.log_format,
        debug: g.debug,
        debug_dir: g.debug_log.as_deref().map(|d| (d, command_name(&cli.command))),
    };
    if let Err(e) = logging::init(&log_cfg) {
        eprintln!("husk: {e:#}");
        return ExitCode::from(2);
    }
    LOG_TO_FILE.store(g.log.is_some(), std::sync::atomic::Ordering::Relaxed);
    if g.systemd_cgroup {
        log::warn!("--systemd-cgroup: systemd cgroup paths are not supported; cgroupfs paths are used");
    }
    match cli.command {
        Cmd::Run(args) => run_either(&g, *args),
        Cmd::Create(args) => oci::run_command(|| oci::create(&g, &args)),
        Cmd::Start { id } => oci::run_command(|| oci::start(&g, &id)),
        Cmd::State { id } => oci::run_command(|| oci::state(&g, &id)),
        Cmd::List { format, quiet } => oci::run_command(|| oci::list(&g, &format, quiet)),
        Cmd::Ps { format, id, .. } => oci::run_command(|| oci::ps(&g, &id, &format)),
        Cmd::Kill { all, id, signal } => oci::run_command(|| oci::kill(&g, &id, &signal, all)),
        Cmd::Pause { id } => oci::run_command(|| oci::pause(&g, &id, true)),
        Cmd::Resume { id } => oci::run_command(|| oci::pause(&g, &id, false)),
        Cmd::Exec(args) => match oci::exec(&g, &args) {
            Ok(code) => code,
            Err(e) => {
                report_error(&e);
                ExitCode::from(255)
            }
        },
        Cmd::Checkpoint(args) => oci::run_command(|| oci::checkpoint::checkpoint(&g, &args)),
        Cmd::Restore(args) => match oci::checkpoint::restore(&g, &args) {
            Ok(code) => code,
            Err(e) => {
                report_error(&e);
                ExitCode::from(1)
            }
        },
        Cmd::Delete { force, id } => oci::run_command(|| oci::delete(&g, &id, force)),
        Cmd::Spec { bundle, .. } => oci::run_command(|| oci::spec(&bundle)),
        Cmd::Features => {
            println!("{}", serde_json::to_string_pretty(&oci::features()).unwrap_or_default());
            ExitCode::SUCCESS
        }
        Cmd::Debug { what: DebugCmd::Seccomp } => {
            for (filter, syscalls) in seccomp::describe() {
                println!("{filter}: {} syscalls", syscalls.len());
                for s in syscalls {
                    println!("  {s}");
                }
            }
            println!(
                "(sentry: clone3 and getcwd are answered ENOSYS; a call outside the list raises SIGSYS, which ends the Sentry)"
            );
            ExitCode::SUCCESS
        }
        Cmd::Debug { what: DebugCmd::Syscalls } => {
            use sentry::syscalls::table::{listing, Support};
            let rows = listing();
            let mut counts = [0usize; 4];
            for (nr, name, support) in &rows {
                let (i, level, note) = match support {
                    Support::Full => (0, "full", ""),
                    Support::Partial(n) => (1, "partial", *n),
                    Support::Refused(n) => (2, "refused", *n),
                    Support::None => (3, "none", "ENOSYS"),
                };
                counts[i] += 1;
                println!("{nr:>4} {name:<24} {level:<8} {note}");
            }
            println!(
                "{} syscalls: {} full, {} partial, {} refused, {} not implemented (ENOSYS)",
                rows.len(),
                counts[0],
                counts[1],
                counts[2],
                counts[3]
            );
            ExitCode::SUCCESS
        }
        Cmd::Gofer { rootfs, sock_fd, mounts, writable } => match serve_gofer(sock_fd, &{
            let mut roots = vec![gofer::ExtraRoot { path: rootfs, hide: Vec::new(), writable }];
            roots.extend(mounts.into_iter().map(gofer::ExtraRoot::from));
            roots
        }) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("husk: gofer: {e:#}");
                ExitCode::FAILURE
            }
        },
        Cmd::Sandbox(args) => oci::sandbox::main(&g, args),
        Cmd::Relay(args) => relay::main(&g, args),
    }
}

/// `husk run`: local mode with `--rootfs`, OCI mode with a container id.
fn run_either(g: &Globals, args: RunArgs) -> ExitCode {
    match (&args.rootfs, &args.id) {
        (Some(_), None) if !args.program.is_empty() => match run(g, args) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("husk: {e:#}");
                ExitCode::from(EXIT_SANDBOX_ERROR)
            }
        },
        (Some(_), None) => {
            eprintln!("husk: run --rootfs needs a program after -- (see 'husk --help')");
            ExitCode::from(2)
        }
        // No rootfs: the host's own system, beneath overlays.
        (None, None) if !args.program.is_empty() => match run(g, args) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("husk: {e:#}");
                ExitCode::from(EXIT_SANDBOX_ERROR)
            }
        },
        (None, Some(id)) => {
            let create = oci::CreateArgs {
                bundle: args.bundle.clone().unwrap_or_else(|| PathBuf::from(".")),
                pid_file: args.pid_file.clone(),
                console_socket: args.console_socket.clone(),
                no_pivot: args.no_pivot,
                no_new_keyring: false,
                preserve_fds: 0,
                id: id.clone(),
                restore_image: None,
                pages_on_demand: false,
            };
            match oci::run(g, &create, args.detach) {
                Ok(code) => code,
                Err(e) => {
                    report_error(&e);
                    ExitCode::from(1)
                }
            }
        }
        _ => {
            eprintln!("husk: run needs a program (-- PROG, with --rootfs DIR or on the host's system), or a container id (see 'husk --help')");
            ExitCode::from(2)
        }
    }
}

pub fn parse_user(s: &str) -> Result<(u32, u32), String> {
    let (u, g) = match s.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (s, None),
    };
    let uid: u32 = u.parse().map_err(|_| format!("{u:?} is not a numeric uid"))?;
    let gid: u32 = match g {
        Some(g) => g.parse().map_err(|_| format!("{g:?} is not a numeric gid"))?,
        None => uid,
    };
    Ok((uid, gid))
}

/// A running Gofer, killed and reaped when this is dropped: once the sandbox
/// is over it holds no state worth an orderly end.
pub struct Gofer(std::process::Child);

impl Drop for Gofer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts a Gofer for `roots` (the rootfs first, then the bind-mount
/// sources); returns it and the Sentry's end of its socket. The Gofer
/// also dies with the thread that started it.
pub fn spawn_gofer(roots: &[gofer::ExtraRoot]) -> anyhow::Result<(Gofer, OwnedFd)> {
    let (sentry_sock, gofer_sock) = gofer::socketpair().context("creating the gofer socket")?;
    Ok((spawn_gofer_on(roots, gofer_sock)?, sentry_sock))
}

/// Starts a Gofer for `roots` serving on `gofer_sock`.
pub fn spawn_gofer_on(roots: &[gofer::ExtraRoot], gofer_sock: OwnedFd) -> anyhow::Result<Gofer> {
    let (rootfs, mounts) = roots.split_first().context("no rootfs to serve")?;
    let mut cmd = Command::new("/proc/self/exe");
    cmd.arg("gofer").arg("--rootfs").arg(&rootfs.path).arg("--sock-fd").arg(GOFER_SOCK_FD.to_string());
    if rootfs.writable {
        cmd.arg("--writable");
    }
    for src in mounts {
        cmd.arg("--mount").arg(&src.path);
        if src.writable {
            cmd.arg("--writable");
        }
        for h in &src.hide {
            cmd.arg("--hide").arg(h);
        }
    }
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::inherit());
    // Out of this process's group, so that a terminal's ^C never reaches it.
    cmd.process_group(0);
    sys::pass_fd_and_tie_lifetime(&mut cmd, &gofer_sock, GOFER_SOCK_FD);
    let child = cmd.spawn().context("starting the gofer")?;
    Ok(Gofer(child))
}

fn serve_gofer(sock_fd: i32, roots: &[gofer::ExtraRoot]) -> anyhow::Result<()> {
    let sock = sys::adopt_fd(sock_fd).context("gofer socket")?;
    gofer::serve_all_confined(roots, sock)?;
    Ok(())
}

/// The app's environment: `--env`'s variables, over `base`'s (in order;
/// a later K= replaces an earlier one).
fn app_env(base: Vec<(String, String)>, asked: &[String]) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut env = base;
    for kv in asked {
        let Some((k, v)) = kv.split_once('=') else { bail!("--env {kv:?}: expected K=V") };
        match env.iter_mut().find(|(ek, _)| ek == k) {
            Some(e) => e.1 = v.to_owned(),
            None => env.push((k.to_owned(), v.to_owned())),
        }
    }
    Ok(env.into_iter().map(|(k, v)| format!("{k}={v}").into_bytes()).collect())
}

fn run(g: &Globals, args: RunArgs) -> anyhow::Result<ExitCode> {
    let limits = limits::RunLimits::new(args.memory.as_deref(), args.pids, args.cpus)?;
    // With limits, this process supervises a second `husk run` in a
    // cgroup of its own.
    if limits.any() && std::env::var_os(limits::INNER_ENV).is_none() {
        return limits::supervise(&limits, args.cgroup_parent.as_deref());
    }
    let mounts = mounts::parse(&args.volume, &args.tmpfs)?;
    let host_writes = args.root_writes.as_deref() == Some("host");
    // Started by another user than root: the rootless mode, in a user
    // namespace of its own where that user is root, so that every other
    // namespace and the Sentry's confinement can still be made.
    let nat = args.network == "nat";
    let on_interface = args.network == "sandbox";
    let host_network = args.network == "host";
    if host_network {
        log::info!("--network host: the app's sockets are the host's (weaker isolation)");
    }
    if !nat && !args.publish.is_empty() {
        bail!("-p needs --network nat");
    }
    if !nat && !on_interface && !args.dns.is_empty() {
        bail!("--dns needs --network nat or sandbox");
    }
    if !nat && !on_interface && !args.allow_egress.is_empty() {
        bail!("--allow-egress needs --network nat or sandbox");
    }
    let published = args.publish.iter().map(|p| relay::parse_publish(p)).collect::<anyhow::Result<Vec<_>>>()?;
    let dns = if args.dns.is_empty() { relay::host_nameservers() } else { args.dns.clone() };
    if nat {
        relay::check_rules(&args.allow_egress, &dns)?;
    }
    sentry::sandbox_cpus();
    if !nix::unistd::geteuid().is_root() {
        isolation::enter_user_namespace().context("rootless mode needs user namespaces (or run husk as root)")?;
    }
    // The interface is taken before the namespaces are left.
    let network_stack = if on_interface {
        netsandbox::take(g, &format!("run-{}", std::process::id()), &args.allow_egress, &dns, true)?
    } else {
        None
    };
    // The relay stays in the host's network namespace: it starts first.
    let (relay, relay_sock) = if nat {
        let (r, s) = relay::start(g, &format!("run-{}", std::process::id()), &args.allow_egress, &dns, &published)?;
        (Some(r), Some(s))
    } else {
        (None, None)
    };
    sys::isolate_namespaces(!host_network);
    // With a rootfs, the app sees only --env; on the host's system it
    // starts with docker run's usual variables.
    let (rootfs, _host_root, extra, specs, base_env) = match &args.rootfs {
        Some(rootfs) => {
            let meta = std::fs::metadata(rootfs).with_context(|| format!("rootfs {}", rootfs.display()))?;
            if !meta.is_dir() {
                bail!("rootfs {}: not a directory", rootfs.display());
            }
            (rootfs.clone(), None, mounts.sources, mounts.specs, Vec::new())
        }
        None => {
            if host_writes {
                bail!("--root-writes host needs --rootfs: the host's own system directories are never written");
            }
            let host = hostroot::build(&g.root, mounts.sources.len())?;
            let mut extra = mounts.sources;
            extra.extend(host.sources);
            let mut specs = sentry::default_mounts();
            specs.extend(host.specs);
            specs.extend(mounts.asked);
            let terminal = std::io::IsTerminal::is_terminal(&std::io::stdin());
            let env = hostroot::default_env(&args.hostname, args.user.map_or(0, |u| u.0), terminal);
            (host.root.path().to_owned(), Some(host.root), extra, Some(specs), env)
        }
    };
    // Under NAT the sandbox asks its own DNS forwarder, as Docker's
    // containers get a resolv.conf of their own.
    let specs = match specs {
        _ if !nat => specs,
        _ if args.rootfs.is_some() && !rootfs.join("etc").is_dir() => specs,
        specs => {
            let mut specs = specs.unwrap_or_else(sentry::default_mounts);
            specs.push(sentry::MountSpec {
                destination: b"/etc/resolv.conf".to_vec(),
                kind: sentry::MountKind::File { contents: relay::sandbox_resolv_conf() },
                readonly: true,
            });
            Some(specs)
        }
    };
    let envp = app_env(base_env, &args.env)?;
    let stdio = oci::sandbox::stdio()?;
    // A root on a kernel pseudo-filesystem (procfs, sysfs, devtmpfs, ...)
    // is refused before anything starts (the OCI path does it when it
    // reads the bundle; the Gofer checks again on what it opens).
    gofer::check_root(&rootfs).context("rootfs")?;
    for src in &extra {
        gofer::check_root(&src.path).context("volume")?;
    }
    // The overlays' disk store: a private directory under DIR, gone with
    // the sandbox (its files are unlinked as soon as they are made).
    let overlay_dir = match args.overlay.as_deref() {
        None | Some("memory") => None,
        Some(o) => {
            let Some(dir) = o.strip_prefix("disk:").filter(|d| !d.is_empty()) else {
                bail!("--overlay {o:?}: expected memory or disk:DIR");
            };
            if args.read_only || host_writes {
                bail!("--overlay {o}: the root is no overlay with --read-only or --root-writes host");
            }
            gofer::check_root(Path::new(dir)).with_context(|| format!("--overlay {o}"))?;
            Some(
                hostroot::private_dir(Path::new(dir), "husk-overlay", 0o700)
                    .with_context(|| format!("--overlay {o}"))?,
            )
        }
    };
    let mut roots = vec![gofer::ExtraRoot { path: rootfs, hide: Vec::new(), writable: host_writes }];
    roots.extend(extra);
    let overlay_disk = overlay_dir.as_ref().map(|d| {
        roots.push(gofer::ExtraRoot { path: d.path().to_owned(), hide: Vec::new(), writable: true });
        roots.len() - 2
    });
    let (sentry_sock, gofer_sock) = gofer::socketpair().context("creating the gofer socket")?;
    let (relay_requests, relay_ingress) = match relay_sock {
        Some(ends) => (Some(ends.requests), Some(ends.ingress)),
        None => (None, None),
    };
    let cfg = sentry::SandboxConfig {
        init: sentry::ProcessConfig {
            program: args.program[0].clone().into_bytes(),
            argv: args.program.iter().map(|a| a.clone().into_bytes()).collect(),
            envp,
            cwd: args.cwd.into_bytes(),
            user: args.user.unwrap_or((0, 0)),
            groups: Vec::new(),
            stdio,
            rlimits: Vec::new(),
            no_new_privs: false,
            caps: caps::for_husk_run(&args.cap_add, &args.cap_drop, args.user.map_or(0, |u| u.0))?,
        },
        hostname: args.hostname,
        strace: g.strace,
        // Chosen in the Sentry's process: probing the host's best platform
        // starts a thread, and this one must have none when it forks.
        platform: g.platform.clone().unwrap_or_default(),
        mounts: specs,
        root: match (args.read_only, host_writes) {
            (true, _) => sentry::RootWrites::ReadOnly,
            (false, true) => sentry::RootWrites::Host,
            (false, false) => sentry::RootWrites::Overlay,
        },
        overlay_disk,
        limits: limits.sentry_limits(),
        relay: relay_requests,
        relay_ingress,
        network_stack,
        host_network,
    };
    // The Sentry is a process of its own: the first of a new pid namespace
    // where root may make one, confined before it boots. This one stays
    // outside, unconfined, to start the Gofer (into that namespace too),
    // pass signals on and clean up after the sandbox.
    sys::new_pid_namespace();
    let sentry_pid = match sys::fork_sentry().context("starting the Sentry")? {
        sys::Forked::Sentry => {
            drop(gofer_sock);
            std::process::exit(sentry_main(cfg, sentry_sock));
        }
        sys::Forked::Parent(pid) => pid,
    };
    drop(sentry_sock);
    // The Sentry's end of the relay's socket is the Sentry's alone, so
    // that the relay sees it close when the Sentry ends.
    drop(cfg);
    let gofer = match spawn_gofer_on(&roots, gofer_sock) {
        Ok(g) => g,
        Err(e) => {
            sys::kill_and_reap(sentry_pid);
            return Err(e);
        }
    };
    sys::forward_signals_to_pid(sentry_pid);
    let status = sys::wait_for_child(sentry_pid).context("waiting for the Sentry")?;
    drop(gofer);
    drop(relay);
    drop(overlay_dir);
    Ok(ExitCode::from(shell_status(status) as u8))
}

/// The Sentry process of `husk run`: confines itself, boots the sandbox
/// on the Gofer connection `gofer`, runs it and returns the exit status.
fn sentry_main(mut cfg: sentry::SandboxConfig, gofer: OwnedFd) -> i32 {
    if cfg.platform.is_empty() {
        cfg.platform = sentry::default_platform().to_string();
    }
    if std::process::id() == 1 {
        sys::receive_forwarded_signals_as_namespace_init();
    }
    isolation::confine_sentry(&cfg.platform);
    match sentry::Sandbox::boot(cfg, gofer) {
        Ok(sandbox) => {
            sys::forward_signals(sandbox.signaller());
            let status = sandbox.run();
            i32::from(status.code() as u8)
        }
        Err(e) => {
            eprintln!("husk: {e}");
            i32::from(match &e {
                sentry::BootError::Exec { errno, .. } if *errno == abi::Errno::ENOENT => EXIT_NOT_FOUND,
                sentry::BootError::Exec { .. } => EXIT_CANNOT_EXECUTE,
                _ => EXIT_SANDBOX_ERROR,
            })
        }
    }
}
