//! `--network sandbox`: the Sentry's own TCP/IP stack (`netstack`, on
//! smoltcp) on the network namespace's interface. Each test makes two
//! namespaces of its own, joined by a veth pair: the sandbox's, where
//! `husk run` starts (as a CNI plugin would leave a container's), and the
//! servers' (`tests/nat/servers.py`). No other address is ever used.
//!
//! The socket API is compared with the same program run natively in the
//! sandbox's namespace against the same servers; the egress policy, the
//! interface the app sees, connections from outside, and the addresses
//! given back to the interface afterwards are checked on their own.

use std::process::Command;
use std::time::Duration;

#[path = "nat/common.rs"]
mod common;

use husk_suite::run::run_command;
use husk_suite::{husk_test, prog_rootfs, progs, Case, Link, Outcome};

const TIMEOUT: Duration = Duration::from_secs(120);

use common::{ip, Pair};

/// `husk run --network sandbox` of `case` in the sandbox's namespace of
/// `net`, with global flags `global` (before `run`).
fn husk_in(net: &Pair, platform: &str, case: &Case, global: &[String]) -> Outcome {
    let inner = husk_suite::run::husk_command(platform, case);
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &net.ns]).arg(inner.get_program()).args(global);
    cmd.args(inner.get_args());
    run_command(cmd, None, TIMEOUT, &format!("husk --platform {platform} in {}", net.ns)).split_husk_log()
}

fn sandbox_flags(rules: &[String]) -> Vec<String> {
    let mut v = vec!["--network".to_owned(), "sandbox".to_owned()];
    v.extend(rules.iter().flat_map(|r| ["--allow-egress".to_owned(), r.clone()]));
    v
}

husk_test! {
    /// Pings to an outside address through the stack's echo sockets: three
    /// echoes and their replies, then one socket pinging outside and the
    /// loopback, the same as natively from the sandbox's namespace; a
    /// destination no rule without a port names is unreachable, and
    /// audited as ICMP.
    fn sandbox_ping_outside(platform) {
        let net = Pair::new(212);
        // Natively, the namespace's default range admits nobody.
        ip(&["netns", "exec", &net.ns, "sysctl", "-q", "-w", "net.ipv4.ping_group_range=0 2147483647"]);
        let native_prog = progs::build("ping_outside", Link::Static);
        let native =
            Command::new("ip").args(["netns", "exec", &net.ns]).arg(&native_prog).arg(&net.server).output().expect("run natively");
        let native_out = String::from_utf8_lossy(&native.stdout).into_owned();
        assert!(native_out.contains("echo 3: 24 bytes, type 0 code 0, seq 3"), "native run:\n{native_out}");
        let (rootfs, prog) = prog_rootfs("ping_outside", Link::Static);
        let case = Case::new(&rootfs, &prog).args([net.server.clone()]).husk_flags(sandbox_flags(&[format!("{}/24", net.server)]));
        let husk = husk_in(&net, platform, &case, &[]);
        assert_eq!(husk.stdout_str(), native_out, "husk --platform {platform} differs from native; stderr:\n{}", husk.stderr_str());

        let log = tempfile::NamedTempFile::new().expect("a log file");
        let global = ["--log".to_owned(), log.path().display().to_string()];
        let case = Case::new(&rootfs, &prog)
            .args(["once".to_owned(), net.server.clone()])
            .husk_flags(sandbox_flags(&[format!("{}:9000", net.server)]));
        let denied = husk_in(&net, platform, &case, &global);
        assert_eq!(denied.stdout_str(), "once: sendto: EHOSTUNREACH\n", "{}", denied.stderr_str());
        let text = std::fs::read_to_string(log.path()).expect("read the log");
        let audits = common::egress_audits(&text);
        assert_eq!(audits.len(), 1, "one audit line; the log:\n{text}");
        assert_eq!(audits[0]["protocol"], "icmp");
        assert_eq!(audits[0]["destination"], format!("{}:0", net.server));
        assert_eq!(audits[0]["verdict"], "deny");
    }
}

husk_test! {
    /// The socket API through the Sentry's own stack, as Linux gives it
    /// on the same interface: blocking and non-blocking connect, names,
    /// MSG_PEEK, MSG_WAITALL, MSG_DONTWAIT, FIONREAD, shutdown and EOF, a
    /// refused port, a megabyte each way, edge-triggered epoll, connected
    /// and unconnected UDP with MSG_TRUNC, one UDP socket talking to two
    /// outside peers. Afterwards the interface has
    /// its addresses and routes back.
    fn sandbox_socket_api_matches_native(platform) {
        let net = Pair::new(212);
        let before = net.host_side();
        let native_prog = progs::build("nat_client", Link::Static);
        let native = Command::new("ip")
            .args(["netns", "exec", &net.ns])
            .arg(&native_prog)
            .env("NAT_SERVER", &net.server)
            .output()
            .expect("run natively");
        let native_out = String::from_utf8_lossy(&native.stdout).into_owned();
        assert!(native_out.ends_with("done\n") && !native_out.contains(": bad"), "native run:\n{native_out}");
        let (rootfs, prog) = prog_rootfs("nat_client", Link::Static);
        let case = Case::new(&rootfs, &prog)
            .env("NAT_SERVER", &net.server)
            .husk_flags(sandbox_flags(&[
                format!("{}:9000", net.server),
                format!("{}:9001", net.server),
                format!("{}:53", net.server),
            ]));
        let husk = husk_in(&net, platform, &case, &[]);
        assert_eq!(husk.stdout_str(), native_out, "husk --platform {platform} differs from native; stderr:\n{}", husk.stderr_str());
        // The watcher gives the addresses back just after husk exits.
        let until = std::time::Instant::now() + Duration::from_secs(5);
        while net.host_side() != before && std::time::Instant::now() < until {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(net.host_side(), before, "the interface's addresses and routes are not back");
    }
}

husk_test! {
    /// Nothing outside is reachable unless --allow-egress names it: a
    /// denied connect is refused as Linux refuses one and leaves one JSON
    /// audit line in the log; DNS over UDP to an allowed server works.
    fn sandbox_egress_is_denied_by_default_and_audited(platform) {
        let net = Pair::new(212);
        let log = tempfile::NamedTempFile::new().expect("a log file");
        let global = ["--log".to_owned(), log.path().display().to_string()];
        let (rootfs, prog) = prog_rootfs("nat_client", Link::Static);
        let connect = |port: u16, rules: &[String]| {
            let case = Case::new(&rootfs, &prog)
                .env("NAT_SERVER", &net.server)
                .args(["connect".to_owned(), port.to_string()])
                .husk_flags(sandbox_flags(rules));
            husk_in(&net, platform, &case, &global)
        };
        let denied = connect(9000, &[]);
        assert_eq!(denied.stdout_str(), "connect to 9000: ECONNREFUSED\n", "{}", denied.stderr_str());
        let text = std::fs::read_to_string(log.path()).expect("read the log");
        let audits = common::egress_audits(&text);
        assert_eq!(audits.len(), 1, "one audit line; the log:\n{text}");
        assert_eq!(audits[0]["destination"], format!("{}:9000", net.server));
        assert_eq!(audits[0]["verdict"], "deny");
        assert_eq!(audits[0]["protocol"], "tcp");
        assert!(audits[0]["sandbox"].as_str().is_some_and(|s| s.starts_with("run-")), "{}", audits[0]);

        let allowed = connect(9000, &[format!("{}:9000", net.server)]);
        assert_eq!(allowed.stdout_str(), "connect to 9000: ok\n", "{}", allowed.stderr_str());
        let other_port = connect(8080, &[format!("{}:9000", net.server)]);
        assert_eq!(other_port.stdout_str(), "connect to 8080: ECONNREFUSED\n");
        let subnet = connect(9000, &[format!("{}/24", net.server)]);
        assert_eq!(subnet.stdout_str(), "connect to 9000: ok\n");
        // Connections made and dropped at once, many times: a close that
        // races the stack's driver must neither hang nor be lost.
        let churn = Case::new(&rootfs, &prog)
            .env("NAT_SERVER", &net.server)
            .args(["churn", "9000", "500"])
            .husk_flags(sandbox_flags(&[format!("{}:9000", net.server)]));
        let out = husk_in(&net, platform, &churn, &[]);
        assert_eq!(out.stdout_str(), "churn: 500 connections\n", "{}", out.describe());

        // A hostname rule is asked again, through the sandbox's own stack,
        // once its TTL runs out: `moving.pkg.husk.test` first resolves to
        // an address of no use, then to the server.
        let (rootfs2, prog2) = prog_rootfs("nat_client", Link::Static);
        rootfs2.busybox(&["sh", "sleep"]);
        let twice = Case::new(&rootfs2, "/bin/sh")
            .env("NAT_SERVER", &net.server)
            .args(["-c", &format!("{prog2} connect 9000; sleep 6; {prog2} connect 9000")])
            .husk_flags(sandbox_flags(&["moving.pkg.husk.test:9000".to_owned()]))
            .husk_flags(["--dns", net.server.as_str()]);
        let out = husk_in(&net, platform, &twice, &[]);
        assert_eq!(out.stdout_str(), "connect to 9000: ECONNREFUSED\nconnect to 9000: ok\n", "{}", out.describe());

        // UDP: a DNS question to the servers' nameserver.
        let bb = husk_suite::Rootfs::new();
        bb.busybox(&["nslookup"]).dir("/etc");
        let dns = Case::new(&bb, "/bin/nslookup")
            .args(["pkg.husk.test", &net.server])
            .husk_flags(sandbox_flags(&[format!("{}:53", net.server)]));
        let out = husk_in(&net, platform, &dns, &[]);
        assert!(out.stdout_str().contains(&format!("Address: {}", net.server)), "{}", out.describe());
    }
}

husk_test! {
    /// The app sees the namespace's interface as it was (name, hardware
    /// address, address, default route), through netlink and /proc/net,
    /// and cannot change it; the host side no longer holds the address
    /// while the sandbox does.
    fn sandbox_interface_as_tools_show_it(platform) {
        let net = Pair::new(212);
        let link = ip(&["-n", &net.ns, "-o", "link", "show", "dev", &net.ifname]);
        let mac = link.split_whitespace().skip_while(|w| *w != "link/ether").nth(1).expect("a MAC").to_owned();
        let rootfs = husk_suite::Rootfs::new();
        rootfs.busybox(&["sh", "ip", "cat", "grep", "sleep"]).dir_mode("/tmp", 0o1777).dir("/dev");
        let script = format!(
            "ip -4 addr show {0} | grep inet; ip link show {0} | grep -o 'link/ether [0-9a-f:]*'; ip route; \
             ip addr add 192.0.2.1/24 dev {0} 2>&1; grep -c {0} /proc/net/dev; sleep 1",
            net.ifname
        );
        let case = Case::new(&rootfs, "/bin/sh").args(["-c", &script]).husk_flags(sandbox_flags(&[]));
        let out = husk_in(&net, platform, &case, &[]);
        let n = &net.ifname;
        let subnet = net.sandbox.rsplit_once('.').map_or("", |(a, _)| a);
        let want = format!(
            "    inet {sb}/24 brd {subnet}.255 scope global {n}\n\
             link/ether {mac}\n\
             default via {srv} dev {n} \n\
             {subnet}.0/24 dev {n} scope link  src {sb} \n\
             ip: RTNETLINK answers: Operation not permitted\n\
             1\n",
            sb = net.sandbox,
            srv = net.server,
        );
        assert_eq!(out.stdout_str(), want, "stderr:\n{}", out.stderr_str());
    }
}

husk_test! {
    /// A server in the sandbox answers clients in the servers' namespace
    /// (and the sandbox itself, on its own address); a port nothing
    /// listens on is refused.
    fn sandbox_serves_its_namespace(platform) {
        let net = Pair::new(212);
        let rootfs = husk_suite::Rootfs::new();
        rootfs.busybox(&["sh", "httpd", "wget", "sleep", "cat"]).dir_mode("/tmp", 0o1777).dir("/dev").dir("/www");
        std::fs::write(rootfs.path().join("www/index.html"), "served from the sandbox\n").expect("write");
        let script = format!(
            "httpd -p 8000 -h /www; sleep 1; wget -q -O- http://{}:8000/; sleep 4",
            net.sandbox
        );
        let case = Case::new(&rootfs, "/bin/sh").args(["-c", &script]).husk_flags(sandbox_flags(&[]));
        let sandbox = &net.sandbox;
        let (husk, ok, refused) = std::thread::scope(|s| {
            let h = s.spawn(|| husk_in(&net, platform, &case, &[]));
            std::thread::sleep(Duration::from_secs(2));
            let get = |port: u16| {
                Command::new("ip")
                    .args(["netns", "exec", &net.server_ns, "python3", "-c"])
                    .arg(format!(
                        "import urllib.request,sys\n\
                         try: print(urllib.request.urlopen('http://{sandbox}:{port}/', timeout=10).read().decode(), end='')\n\
                         except Exception as e: print(type(e).__name__, getattr(e, 'reason', e))"
                    ))
                    .output()
                    .expect("python3")
            };
            let ok = get(8000);
            let refused = get(8001);
            (h.join().expect("husk"), ok, refused)
        });
        assert_eq!(String::from_utf8_lossy(&ok.stdout), "served from the sandbox\n", "{}", husk.describe());
        assert_eq!(String::from_utf8_lossy(&refused.stdout), "URLError [Errno 111] Connection refused\n");
        assert_eq!(husk.stdout_str(), "served from the sandbox\n", "{}", husk.describe());
    }
}

husk_test! {
    /// Without an interface in the namespace the sandbox has its loopback
    /// only; rules need a network with a way out; the host's own network
    /// namespace is never taken (its addresses stay where they are).
    fn sandbox_without_an_interface_is_loopback_only(platform) {
        let ns = format!("hsb{}-empty-{platform}", std::process::id() % 100_000);
        let _ = Command::new("ip").args(["netns", "del", &ns]).output();
        ip(&["netns", "add", &ns]);
        let (rootfs, prog) = prog_rootfs("nat_client", Link::Static);
        let case = Case::new(&rootfs, &prog)
            .env("NAT_SERVER", "10.212.0.1")
            .args(["connect", "9000"])
            .husk_flags(sandbox_flags(&["10.212.0.1".to_owned()]));
        let inner = husk_suite::run::husk_command(platform, &case);
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &ns]).arg(inner.get_program()).args(inner.get_args());
        let out = run_command(cmd, None, TIMEOUT, "husk").split_husk_log();
        let _ = Command::new("ip").args(["netns", "del", &ns]).output();
        assert_eq!(out.stdout_str(), "connect to 9000: ENETUNREACH\n", "{}", out.describe());
        let bad = Case::new(&rootfs, &prog)
            .args(["connect", "9000"])
            .husk_flags(["--network", "none", "--allow-egress", "all"]);
        let out = husk_suite::run_husk(platform, &bad);
        assert_eq!(out.status, 125, "{}", out.describe());
        let host_before = ip(&["-4", "-o", "addr"]);
        let in_host = Case::new(&rootfs, &prog).args(["connect", "9000"]).husk_flags(sandbox_flags(&[]));
        let out = husk_suite::run_husk(platform, &in_host);
        assert_eq!(out.status, 125, "{}", out.describe());
        assert!(out.stderr_str().contains("host's own network namespace"), "{}", out.describe());
        assert_eq!(ip(&["-4", "-o", "addr"]), host_before);
    }
}
