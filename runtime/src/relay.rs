//! `--network nat`: the relay process (`husk relay`, hidden), and how
//! `husk run` starts it.
//!
//! The relay is started before the sandbox's namespaces are made, so it
//! stays in the host's network namespace while the Sentry has none but
//! its own loopback. It reads the egress policy (resolving hostnames)
//! while it may still open files, then moves into an empty mount
//! namespace, drops every capability and installs its seccomp filter
//! (`seccomp::relay`: no path, sockets of the Internet families only)
//! before it reads the Sentry's first request. See `netrelay`.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitCode, Stdio};

use anyhow::Context;

use crate::{sys, Globals};

/// The fd number the relay's socket gets in the relay process.
const RELAY_SOCK_FD: i32 = 3;

/// `husk relay`'s arguments.
#[derive(clap::Args)]
pub struct RelayArgs {
    /// The connected socket to serve on.
    #[arg(long)]
    sock_fd: i32,
    /// The sandbox's name in audit lines.
    #[arg(long)]
    sandbox: String,
    /// An egress rule (repeatable).
    #[arg(long = "allow-egress")]
    allow_egress: Vec<String>,
    /// A nameserver for the DNS forwarder (repeatable; the first is used).
    #[arg(long)]
    dns: Vec<IpAddr>,
}

/// A running relay, killed and reaped when dropped.
pub struct Relay(std::process::Child);

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The nameservers of the host's /etc/resolv.conf.
pub fn host_nameservers() -> Vec<IpAddr> {
    let text = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|rest| rest.trim().split('%').next().and_then(|a| a.parse().ok()))
        .collect()
}

/// The sandbox's /etc/resolv.conf: its DNS forwarder.
pub fn sandbox_resolv_conf() -> Vec<u8> {
    format!("# Husk: the sandbox's DNS forwarder (--network nat)\nnameserver {}\n", netrelay::DNS_ADDR).into_bytes()
}

/// Checks the egress rules as the relay will read them, so that a bad one
/// fails `husk run` before anything starts.
pub fn check_rules(rules: &[String], dns: &[IpAddr]) -> anyhow::Result<()> {
    netrelay::Policy::parse(rules, &nameservers(dns))?;
    Ok(())
}

fn nameservers(dns: &[IpAddr]) -> Vec<SocketAddr> {
    dns.iter().map(|&ip| SocketAddr::new(ip, 53)).collect()
}

/// Starts the relay for `sandbox`; returns it and the Sentry's end of its
/// socket.
pub fn start(g: &Globals, sandbox: &str, rules: &[String], dns: &[IpAddr]) -> anyhow::Result<(Relay, OwnedFd)> {
    let (sentry_end, relay_end) = gofer::fdpass::seqpacket_pair().context("creating the relay socket")?;
    let mut cmd = Command::new("/proc/self/exe");
    cmd.args(g.forwarded_flags());
    cmd.arg("relay").arg("--sock-fd").arg(RELAY_SOCK_FD.to_string()).arg("--sandbox").arg(sandbox);
    for r in rules {
        cmd.arg("--allow-egress").arg(r);
    }
    for d in dns {
        cmd.arg("--dns").arg(d.to_string());
    }
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::inherit());
    // Out of this process's group, so that a terminal's ^C never reaches it.
    cmd.process_group(0);
    sys::pass_fd_and_tie_lifetime(&mut cmd, &relay_end, RELAY_SOCK_FD);
    let child = cmd.spawn().context("starting the network relay")?;
    Ok((Relay(child), sentry_end))
}

/// `husk relay`: serves the Sentry until its end closes.
pub fn main(g: &Globals, args: RelayArgs) -> ExitCode {
    match serve(g, args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("relay: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn serve(g: &Globals, args: RelayArgs) -> anyhow::Result<()> {
    let sock = sys::adopt_fd(args.sock_fd).context("relay socket")?;
    let dns = nameservers(&args.dns);
    let policy = netrelay::Policy::parse(&args.allow_egress, &dns)?;
    let cfg = netrelay::ServeConfig { policy, dns };
    let mut audit_out: Box<dyn Write> = match &g.log {
        Some(p) => Box::new(std::fs::OpenOptions::new().create(true).append(true).open(p).context("log file")?),
        None => Box::new(std::io::stderr()),
    };
    // Confined from here on: namespaces of its own but the network's, no
    // path, no capability, the relay's filter.
    use nix::sched::{unshare, CloneFlags};
    if let Err(e) = unshare(CloneFlags::CLONE_NEWIPC | CloneFlags::CLONE_NEWUTS | CloneFlags::CLONE_NEWCGROUP) {
        log::info!("the relay keeps the host's IPC, UTS and cgroup namespaces: {e}");
    }
    if let Err(e) = crate::isolation::enter_empty_root(false) {
        log::info!("the relay keeps the host's mount namespace: {e:#}");
    }
    sys::drop_all_capabilities().context("dropping capabilities")?;
    seccomp::install(&seccomp::relay()?)?;
    let sandbox = args.sandbox;
    netrelay::serve(sock, cfg, |a| {
        if a.allowed {
            log::info!("relay: {} {} allowed", a.proto, a.dst);
            return;
        }
        let _ = audit_out.write_all(audit_line(&sandbox, &a, &chrono_now()).as_bytes());
    })
    .context("serving the Sentry")
}

fn chrono_now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// One audit record, a JSON line: time, sandbox, protocol, destination
/// and verdict.
pub fn audit_line(sandbox: &str, a: &netrelay::Audit, time: &str) -> String {
    let v = serde_json::json!({
        "audit": "egress",
        "time": time,
        "sandbox": sandbox,
        "protocol": a.proto,
        "destination": a.dst.to_string(),
        "verdict": if a.allowed { "allow" } else { "deny" },
    });
    format!("{v}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_lines_are_one_json_object_each() {
        let a = netrelay::Audit { proto: "tcp", dst: "192.0.2.1:443".parse().unwrap(), allowed: false };
        let line = audit_line("run-7", &a, "2026-12-06T00:00:00Z");
        assert!(line.ends_with('\n') && line.matches('\n').count() == 1);
        let v: serde_json::Value = serde_json::from_str(line.trim_end()).unwrap();
        assert_eq!(v["destination"], "192.0.2.1:443");
        assert_eq!(v["verdict"], "deny");
        assert_eq!(v["sandbox"], "run-7");
        assert_eq!(v["protocol"], "tcp");
    }
}
