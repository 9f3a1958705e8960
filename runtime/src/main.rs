//! `husk`: the command-line front end of the Husk sandbox.
//!
//! `husk run` starts a Gofer process for the rootfs, boots a Sentry in this
//! process, runs the program to completion and exits with its status.
//! `husk gofer` is the Gofer's own entry point, which `husk run` execs.

mod sys;

use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "husk", version, about = "Husk: a user-space Linux kernel sandbox")]
struct Cli {
    /// Write Husk's own log (info and above, or RUST_LOG's filter) to FILE
    /// instead of only errors to stderr; the app's stderr stays its own.
    #[arg(long, global = true, value_name = "FILE")]
    log: Option<PathBuf>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run PROG from a rootfs inside a sandbox.
    Run(RunArgs),
    /// Serve a rootfs to a Sentry (started by `husk run`).
    #[command(hide = true)]
    Gofer {
        /// The rootfs to serve.
        #[arg(long)]
        rootfs: PathBuf,
        /// The connected socket to serve on.
        #[arg(long)]
        sock_fd: i32,
    },
}

#[derive(clap::Args)]
struct RunArgs {
    /// The root filesystem directory.
    #[arg(long)]
    rootfs: PathBuf,
    /// How the Sentry intercepts the app: systrap or ptrace. The default is
    /// systrap where the host supports it, else ptrace.
    #[arg(long)]
    platform: Option<String>,
    /// Print one line per syscall to stderr.
    #[arg(long)]
    strace: bool,
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
    /// The program (a path inside the rootfs) and its arguments.
    #[arg(last = true, required = true, value_name = "PROG [ARGS]...")]
    program: Vec<String>,
}

/// Exit statuses for failures of Husk itself, as `docker run` uses them.
const EXIT_SANDBOX_ERROR: u8 = 125;
const EXIT_CANNOT_EXECUTE: u8 = 126;
const EXIT_NOT_FOUND: u8 = 127;

/// The fd number the Gofer's socket gets in the Gofer process.
const GOFER_SOCK_FD: i32 = 3;

/// Sends Husk's log to `path` at info level, or only errors to stderr.
fn init_logging(path: Option<&std::path::Path>) -> anyhow::Result<()> {
    let default = if path.is_some() { "info" } else { "error" };
    let mut b = env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default));
    b.format(|buf, rec| {
        use std::io::Write;
        writeln!(buf, "husk: {}: {}", rec.level().as_str().to_lowercase(), rec.args())
    });
    if let Some(p) = path {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .with_context(|| format!("log file {}", p.display()))?;
        b.target(env_logger::Target::Pipe(Box::new(f)));
    }
    b.init();
    Ok(())
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
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
    if let Err(e) = init_logging(cli.log.as_deref()) {
        eprintln!("husk: {e:#}");
        return ExitCode::from(2);
    }
    match cli.command {
        Cmd::Run(args) => match run(args) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("husk: {e:#}");
                ExitCode::from(EXIT_SANDBOX_ERROR)
            }
        },
        Cmd::Gofer { rootfs, sock_fd } => match serve_gofer(&rootfs, sock_fd) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("husk: gofer: {e:#}");
                ExitCode::FAILURE
            }
        },
    }
}

fn parse_user(s: &str) -> Result<(u32, u32), String> {
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

fn serve_gofer(rootfs: &std::path::Path, sock_fd: i32) -> anyhow::Result<()> {
    let sock = sys::adopt_fd(sock_fd).context("gofer socket")?;
    gofer::serve(rootfs, sock)?;
    Ok(())
}

fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let meta = std::fs::metadata(&args.rootfs).with_context(|| format!("rootfs {}", args.rootfs.display()))?;
    if !meta.is_dir() {
        bail!("rootfs {}: not a directory", args.rootfs.display());
    }
    let envp = args
        .env
        .iter()
        .map(|kv| if kv.contains('=') { Ok(kv.clone().into_bytes()) } else { bail!("--env {kv:?}: expected K=V") })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let stdio = [
        std::io::stdin().as_fd().try_clone_to_owned(),
        std::io::stdout().as_fd().try_clone_to_owned(),
        std::io::stderr().as_fd().try_clone_to_owned(),
    ]
    .into_iter()
    .collect::<Result<Vec<_>, _>>()
    .context("duplicating stdio")?;

    let (sentry_sock, gofer_sock) = gofer::socketpair().context("creating the gofer socket")?;
    let mut cmd = Command::new("/proc/self/exe");
    cmd.arg("gofer").arg("--rootfs").arg(&args.rootfs).arg("--sock-fd").arg(GOFER_SOCK_FD.to_string());
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::inherit());
    // Out of this process's group, so that a terminal's ^C never reaches it.
    cmd.process_group(0);
    sys::pass_fd_and_tie_lifetime(&mut cmd, &gofer_sock, GOFER_SOCK_FD);
    let mut gofer_child = cmd.spawn().context("starting the gofer")?;
    drop(gofer_sock);

    let program = args.program[0].clone().into_bytes();
    let cfg = sentry::SandboxConfig {
        argv: args.program.iter().map(|a| a.clone().into_bytes()).collect(),
        program,
        envp,
        cwd: args.cwd.into_bytes(),
        hostname: args.hostname,
        strace: args.strace,
        platform: args.platform.unwrap_or_else(|| sentry::default_platform().to_string()),
        stdio,
        user: args.user.unwrap_or((0, 0)),
    };
    let result = sentry::Sandbox::boot(cfg, sentry_sock);
    let code = match result {
        Ok(sandbox) => {
            sys::forward_signals(sandbox.signaller());
            let status = sandbox.run();
            ExitCode::from(status.code() as u8)
        }
        Err(e) => {
            eprintln!("husk: {e}");
            match &e {
                sentry::BootError::Exec { errno, .. } if *errno == abi::Errno::ENOENT => ExitCode::from(EXIT_NOT_FOUND),
                sentry::BootError::Exec { .. } => ExitCode::from(EXIT_CANNOT_EXECUTE),
                _ => ExitCode::from(EXIT_SANDBOX_ERROR),
            }
        }
    };
    // The sandbox is over; the gofer holds no state worth an orderly end.
    let _ = gofer_child.kill();
    let _ = gofer_child.wait();
    Ok(code)
}
