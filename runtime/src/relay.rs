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

/// The fd numbers the relay's sockets get in the relay process: its
/// requests, its pushes of incoming connections, then one listener per
/// published port.
const RELAY_SOCK_FD: i32 = 3;
const RELAY_INGRESS_FD: i32 = 4;
const FIRST_LISTENER_FD: i32 = 5;
/// Most ports one sandbox may publish.
const MAX_PUBLISHED: usize = 8;

/// A published port (`-p [HOSTIP:]HOSTPORT:PORT[/tcp|/udp]`): the host
/// address the relay listens on, and the sandbox's port its connections
/// (or datagrams) go to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Publish {
    /// Where on the host (0.0.0.0 unless HOSTIP is given, as Docker).
    pub host: SocketAddr,
    /// The sandbox's port.
    pub port: u16,
    /// UDP rather than TCP.
    pub udp: bool,
}

/// Parses `-p`'s value.
pub fn parse_publish(spec: &str) -> anyhow::Result<Publish> {
    let bad = || anyhow::anyhow!("-p {spec:?}: expected [HOSTIP:]HOSTPORT:PORT[/tcp|/udp]");
    let (body, udp) = match spec.rsplit_once('/') {
        Some((b, "tcp")) => (b, false),
        Some((b, "udp")) => (b, true),
        Some(_) => return Err(bad()),
        None => (spec, false),
    };
    let (rest, port) = body.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().ok().filter(|&p| p != 0).ok_or_else(bad)?;
    let (ip, host_port) = match rest.rsplit_once(':') {
        Some((ip, hp)) => (ip.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>().map_err(|_| bad())?, hp),
        None => (IpAddr::from([0, 0, 0, 0]), rest),
    };
    let host_port: u16 = host_port.parse().ok().filter(|&p| p != 0).ok_or_else(bad)?;
    Ok(Publish { host: SocketAddr::new(ip, host_port), port, udp })
}

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
    /// The socket on which connections to published ports go to the Sentry.
    #[arg(long)]
    ingress_fd: Option<i32>,
    /// A published port: FD=PORT/tcp, a listening socket passed in as FD
    /// whose connections go to the sandbox's PORT, or FD=PORT/udp, a bound
    /// UDP socket whose datagrams go there (repeatable).
    #[arg(long = "published")]
    published: Vec<String>,
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

/// The Sentry's ends of a relay's two sockets.
pub struct RelayEnds {
    /// Requests and replies.
    pub requests: OwnedFd,
    /// Connections to published ports.
    pub ingress: OwnedFd,
}

/// Starts the relay for `sandbox`, with the host's listeners for
/// `published` made here first (so that a port in use fails `husk run`
/// with a clear message); returns it and the Sentry's ends of its sockets.
pub fn start(
    g: &Globals,
    sandbox: &str,
    rules: &[String],
    dns: &[IpAddr],
    published: &[Publish],
) -> anyhow::Result<(Relay, RelayEnds)> {
    if published.len() > MAX_PUBLISHED {
        anyhow::bail!("-p: at most {MAX_PUBLISHED} ports");
    }
    let listeners: Vec<OwnedFd> = published
        .iter()
        .map(|p| {
            let (socket, what) = if p.udp {
                (netrelay::bind_udp(p.host), "binding UDP")
            } else {
                (netrelay::listen_on(p.host), "listening on")
            };
            socket.map(OwnedFd::from).with_context(|| format!("-p: {what} {}", p.host))
        })
        .collect::<anyhow::Result<_>>()?;
    let (sentry_end, relay_end) = gofer::fdpass::seqpacket_pair().context("creating the relay socket")?;
    let (sentry_ingress, relay_ingress) = gofer::fdpass::seqpacket_pair().context("creating the relay socket")?;
    let mut cmd = Command::new("/proc/self/exe");
    cmd.args(g.forwarded_flags());
    cmd.arg("relay").arg("--sock-fd").arg(RELAY_SOCK_FD.to_string()).arg("--sandbox").arg(sandbox);
    cmd.arg("--ingress-fd").arg(RELAY_INGRESS_FD.to_string());
    for r in rules {
        cmd.arg("--allow-egress").arg(r);
    }
    for d in dns {
        cmd.arg("--dns").arg(d.to_string());
    }
    let mut fds = vec![(&relay_end, RELAY_SOCK_FD), (&relay_ingress, RELAY_INGRESS_FD)];
    for (i, (p, l)) in published.iter().zip(&listeners).enumerate() {
        let fd = FIRST_LISTENER_FD + i as i32;
        let proto = if p.udp { "udp" } else { "tcp" };
        cmd.arg("--published").arg(format!("{fd}={}/{proto}", p.port));
        fds.push((l, fd));
    }
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::inherit());
    // Out of this process's group, so that a terminal's ^C never reaches it.
    cmd.process_group(0);
    sys::pass_fds_and_tie_lifetime(&mut cmd, &fds);
    let child = cmd.spawn().context("starting the network relay")?;
    Ok((Relay(child), RelayEnds { requests: sentry_end, ingress: sentry_ingress }))
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
    let ingress = args.ingress_fd.map(sys::adopt_fd).transpose().context("relay ingress socket")?;
    let mut published = Vec::new();
    for p in &args.published {
        let bad = || anyhow::anyhow!("--published {p:?}: expected FD=PORT/tcp or FD=PORT/udp");
        let (fd, rest) = p.split_once('=').ok_or_else(bad)?;
        let (port, proto) = rest.split_once('/').ok_or_else(bad)?;
        let port: u16 = port.parse().map_err(|_| bad())?;
        let fd = sys::adopt_fd(fd.parse().map_err(|_| bad())?).context("a published port's socket")?;
        published.push(match proto {
            "tcp" => netrelay::Published::tcp(fd.into(), port),
            "udp" => netrelay::Published::udp(fd.into(), port),
            _ => return Err(bad()),
        });
    }
    let dns = nameservers(&args.dns);
    let policy = netrelay::Policy::parse(&args.allow_egress, &dns)?;
    let cfg = netrelay::ServeConfig { policy, dns, published };
    let mut audit_out = crate::netsandbox::audit_sink(g)?;
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
    netrelay::serve(sock, ingress, cfg, |a| {
        if a.allowed {
            log::info!("relay: {} {} allowed", a.proto, a.dst);
            return;
        }
        let _ = audit_out.write_all(audit_line(&sandbox, &a, &crate::logging::chrono_now()).as_bytes());
    })
    .context("serving the Sentry")
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
    fn publish_specs_parse_as_docker_writes_them() {
        let p = |s: &str| parse_publish(s).map(|p| (p.host.to_string(), p.port, p.udp));
        assert_eq!(p("8080:80").unwrap(), ("0.0.0.0:8080".into(), 80, false));
        assert_eq!(p("127.0.0.1:8080:80/tcp").unwrap(), ("127.0.0.1:8080".into(), 80, false));
        assert_eq!(p("[::1]:8080:80").unwrap(), ("[::1]:8080".into(), 80, false));
        assert_eq!(p("127.0.0.1:5353:53/udp").unwrap(), ("127.0.0.1:5353".into(), 53, true));
        for bad in ["80", "x:80", "8080:0", "0:80", "8080:80/sctp", "1.2.3:8080:80", "8080:80/"] {
            assert!(parse_publish(bad).is_err(), "{bad} accepted");
        }
    }

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
