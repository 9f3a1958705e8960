//! `--network nat`: the app's connections outside the sandbox, through the
//! relay, to servers in a network namespace each test makes for itself
//! (joined to the host's by a veth pair; no other address is ever used).
//! The socket API is compared with the same program run natively on the
//! host against the same servers; the egress policy, its audit lines and
//! the DNS forwarder are checked on their own.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

#[path = "nat/common.rs"]
mod common;

use husk_suite::debian::debian_rootfs;
use husk_suite::{husk_test, prog_rootfs, progs, run_husk, Case, Link, Outcome};

const TIMEOUT: Duration = Duration::from_secs(120);
/// The name the test's DNS server answers.
const NAME: &str = "pkg.husk.test";

/// A network namespace with a veth pair into the host's, and the servers
/// of `tests/nat/servers.py` on its side; all gone when dropped.
struct TestNet {
    ns: String,
    /// The servers' address (the namespace's end of the veth).
    server: String,
    servers: Child,
    _www: tempfile::TempDir,
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(out.status.success(), "ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
}

impl TestNet {
    fn new() -> TestNet {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let id = std::process::id() % 100_000;
        // Names fit IFNAMSIZ; the subnet is one of 10.211.1-250.0/30.
        let (ns, host_if, ns_if) = (format!("husknat{id}-{n}"), format!("hn{id}h{n}"), format!("hn{id}n{n}"));
        let net = (id * 8 + n) % 250 + 1;
        let (host_ip, server) = (format!("10.211.{net}.1"), format!("10.211.{net}.2"));
        let _ = Command::new("ip").args(["netns", "del", &ns]).output();
        ip(&["netns", "add", &ns]);
        ip(&["link", "add", &host_if, "type", "veth", "peer", "name", &ns_if]);
        ip(&["link", "set", &ns_if, "netns", &ns]);
        ip(&["addr", "add", &format!("{host_ip}/30"), "dev", &host_if]);
        ip(&["link", "set", &host_if, "up"]);
        ip(&["-n", &ns, "addr", "add", &format!("{server}/30"), "dev", &ns_if]);
        ip(&["-n", &ns, "link", "set", &ns_if, "up"]);
        ip(&["-n", &ns, "link", "set", "lo", "up"]);
        let www = tempfile::tempdir().expect("a web root");
        std::fs::write(www.path().join("index.html"), "hello from the test namespace\n").expect("write index.html");
        write_package_index(www.path());
        let servers = common::start_servers(&ns, &server, www.path(), NAME);
        TestNet { ns, server, servers, _www: www }
    }
}

impl Drop for TestNet {
    fn drop(&mut self) {
        let _ = self.servers.kill();
        let _ = self.servers.wait();
        // The veth pair goes with the namespace.
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).output();
    }
}

/// A PEP 503 package index under `www/simple`: one project, `huskdemo`,
/// with one pure-Python wheel.
fn write_package_index(www: &std::path::Path) {
    let dir = www.join("simple/huskdemo");
    std::fs::create_dir_all(&dir).expect("mkdir simple/huskdemo");
    let wheel = "huskdemo-1.0-py3-none-any.whl";
    let script = format!(
        "import zipfile\n\
         with zipfile.ZipFile('{}', 'w') as z:\n\
         \x20   z.writestr('huskdemo.py', 'ANSWER = 42\\n')\n\
         \x20   z.writestr('huskdemo-1.0.dist-info/METADATA', 'Metadata-Version: 2.1\\nName: huskdemo\\nVersion: 1.0\\n')\n\
         \x20   z.writestr('huskdemo-1.0.dist-info/WHEEL', 'Wheel-Version: 1.0\\nGenerator: t\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n')\n\
         \x20   z.writestr('huskdemo-1.0.dist-info/RECORD', '')\n",
        dir.join(wheel).display()
    );
    let made = Command::new("python3").args(["-c", &script]).status().expect("run python3");
    assert!(made.success(), "making the test wheel");
    std::fs::write(dir.join("index.html"), format!("<html><body><a href=\"{wheel}\">{wheel}</a></body></html>\n"))
        .expect("write the project page");
    std::fs::write(www.join("simple/index.html"), "<html><body><a href=\"huskdemo/\">huskdemo</a></body></html>\n")
        .expect("write the index page");
}

fn allow(rules: &[String]) -> Vec<String> {
    rules.iter().flat_map(|r| ["--allow-egress".to_owned(), r.clone()]).collect()
}

husk_test! {
    /// The socket API to outside servers, as Linux gives it: blocking and
    /// non-blocking connect (EINPROGRESS, POLLOUT, SO_ERROR, a connect
    /// again), names, MSG_PEEK, MSG_WAITALL, MSG_DONTWAIT, FIONREAD,
    /// shutdown and EOF, a refused port, a megabyte each way through one
    /// non-blocking socket, edge-triggered epoll, connected and
    /// unconnected UDP with MSG_TRUNC, one unconnected UDP socket talking
    /// to two outside peers, then connected to one of them. The same
    /// program natively on the host gives the same output.
    fn nat_socket_api_matches_native(platform) {
        let net = TestNet::new();
        let native_prog = progs::build("nat_client", Link::Static);
        let native = Command::new(&native_prog).env("NAT_SERVER", &net.server).output().expect("run natively");
        let native_out = String::from_utf8_lossy(&native.stdout).into_owned();
        assert!(native_out.ends_with("done\n") && !native_out.contains(": bad"), "native run:\n{native_out}");
        let (rootfs, prog) = prog_rootfs("nat_client", Link::Static);
        let case = Case::new(&rootfs, &prog)
            .timeout(TIMEOUT)
            .env("NAT_SERVER", &net.server)
            .husk_flags(allow(&[
                format!("{}:9000", net.server),
                format!("{}:9001", net.server),
                format!("{}:53", net.server),
            ]));
        let husk = run_husk(platform, &case);
        assert_eq!(husk.stdout_str(), native_out, "husk --platform {platform} differs from native; stderr:\n{}", husk.stderr_str());
        // `--network host` (the namespace's own sockets, no policy): the
        // same, from this namespace as natively.
        // (Not run_husk: its `--network host` runs in a namespace of its
        // own, and this one must be the test's, which reaches the server.)
        let husk = Command::new(husk_suite::paths::husk_bin())
            .args(["run", "--platform", platform, "--network", "host", "--rootfs"])
            .arg(rootfs.path())
            .arg("--env")
            .arg(format!("NAT_SERVER={}", net.server))
            .args(["--", &prog])
            .output()
            .expect("run husk");
        assert_eq!(
            String::from_utf8_lossy(&husk.stdout),
            native_out,
            "--network host differs from native; stderr:\n{}",
            String::from_utf8_lossy(&husk.stderr)
        );
    }
}

/// `nat_client connect PORT` under `husk run` with `flags`.
fn connect_once(platform: &str, net: &TestNet, port: u16, flags: &[String]) -> Outcome {
    let (rootfs, prog) = prog_rootfs("nat_client", Link::Static);
    let case = Case::new(&rootfs, &prog)
        .timeout(TIMEOUT)
        .env("NAT_SERVER", &net.server)
        .args(["connect".to_owned(), port.to_string()])
        .husk_flags(flags.iter().cloned());
    run_husk(platform, &case)
}

husk_test! {
    /// Nothing outside is reachable unless --allow-egress names it: a
    /// denied connect is refused as Linux refuses one, and leaves one JSON
    /// audit line (time, sandbox, protocol, destination, verdict) in the
    /// log. `--network none` has no way out at all; --allow-egress without
    /// NAT, and a rule that is not one, are refused before anything starts.
    fn nat_egress_is_denied_by_default_and_audited(platform) {
        let net = TestNet::new();
        let log = tempfile::NamedTempFile::new().expect("a log file");
        let log_flag = ["--log".to_owned(), log.path().display().to_string()];
        // `--log` is a global flag: before `run`.
        let (rootfs, prog) = prog_rootfs("nat_client", Link::Static);
        let mut cmd = Command::new(husk_suite::paths::husk_bin());
        cmd.args(&log_flag).args(["run", "--rootfs"]).arg(rootfs.path()).args(["--platform", platform]);
        cmd.args(["--env", &format!("NAT_SERVER={}", net.server), "--", &prog, "connect", "9000"]);
        let out = cmd.output().expect("run husk");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "connect to 9000: ECONNREFUSED\n");
        let text = std::fs::read_to_string(log.path()).expect("read the log");
        let audits = common::egress_audits(&text);
        assert_eq!(audits.len(), 1, "one audit line; the log:\n{text}");
        let a = &audits[0];
        assert_eq!(a["destination"], format!("{}:9000", net.server));
        assert_eq!(a["verdict"], "deny");
        assert_eq!(a["protocol"], "tcp");
        assert!(a["sandbox"].as_str().is_some_and(|s| s.starts_with("run-")), "{a}");
        assert!(a["time"].as_str().is_some_and(|t| t.starts_with("20")), "{a}");

        // Allowed by address and port: the same connect goes through; the
        // next port stays refused.
        let ok = connect_once(platform, &net, 9000, &allow(&[format!("{}:9000", net.server)]));
        assert_eq!(ok.stdout_str(), "connect to 9000: ok\n", "{}", ok.stderr_str());
        let cidr = allow(&[format!("{}/30", net.server)]);
        assert_eq!(connect_once(platform, &net, 9000, &cidr).stdout_str(), "connect to 9000: ok\n");
        let port_only = allow(&[format!("{}:9000", net.server)]);
        assert_eq!(connect_once(platform, &net, 8080, &port_only).stdout_str(), "connect to 8080: ECONNREFUSED\n");
        // No network but the loopback.
        let none = ["--network".to_owned(), "none".to_owned()];
        assert_eq!(connect_once(platform, &net, 9000, &none).stdout_str(), "connect to 9000: ENETUNREACH\n");
        // Bad command lines.
        for bad in [vec!["--network", "none", "--allow-egress", "all"], vec!["--allow-egress", "10.0.0.0/99"]] {
            let bad: Vec<String> = bad.into_iter().map(str::to_owned).collect();
            let out = connect_once(platform, &net, 9000, &bad);
            assert_eq!(out.status, 125, "{bad:?} accepted: {}", out.stderr_str());
            assert!(out.stdout.is_empty());
        }
    }
}

husk_test! {
    /// Pings to an outside address under NAT, by the relay's host ping
    /// socket, from husk run in a namespace of the test's (whose default
    /// route leads to the servers' namespace):
    /// - while that namespace's net.ipv4.ping_group_range admits nobody
    ///   (a new namespace's default), the host refuses the relay a ping
    ///   socket: the echo is unreachable, and the log says why;
    /// - once it admits everyone (as Docker sets it), three echoes and
    ///   their replies, then one socket pinging outside and the loopback,
    ///   the same as natively from that namespace;
    /// - a destination no rule without a port names is unreachable, and
    ///   audited as ICMP.
    fn nat_ping_outside(platform) {
        let net = common::Pair::new(213);
        let (rootfs, prog) = prog_rootfs("ping_outside", Link::Static);
        let ping = |rules: &[String], args: &[&str]| -> (String, String) {
            let log = tempfile::NamedTempFile::new().expect("a log file");
            let mut cmd = Command::new("ip");
            cmd.args(["netns", "exec", &net.ns]).arg(husk_suite::paths::husk_bin());
            cmd.arg("--log").arg(log.path()).args(["run", "--rootfs"]).arg(rootfs.path());
            cmd.args(["--platform", platform]).args(allow(rules)).args(["--", &prog]).args(args);
            let out = cmd.output().expect("run husk");
            let text = std::fs::read_to_string(log.path()).expect("read the log");
            (String::from_utf8_lossy(&out.stdout).into_owned(), text)
        };
        let (out, log) = ping(std::slice::from_ref(&net.server), &["once", &net.server]);
        assert_eq!(out, "once: sendto: EHOSTUNREACH\n", "log:\n{log}");
        assert!(log.contains("ping_group_range"), "the log does not say why:\n{log}");

        ip(&["netns", "exec", &net.ns, "sysctl", "-q", "-w", "net.ipv4.ping_group_range=0 2147483647"]);
        let native_prog = progs::build("ping_outside", Link::Static);
        let native = Command::new("ip")
            .args(["netns", "exec", &net.ns])
            .arg(&native_prog)
            .arg(&net.server)
            .output()
            .expect("run natively");
        let native_out = String::from_utf8_lossy(&native.stdout).into_owned();
        assert!(native_out.contains("echo 3: 24 bytes, type 0 code 0, seq 3"), "native run:\n{native_out}");
        let (out, log) = ping(&[format!("{}/24", net.server)], &[&net.server]);
        assert_eq!(out, native_out, "husk --platform {platform} differs from native; log:\n{log}");

        let (out, log) = ping(&[format!("{}:9000", net.server)], &["once", &net.server]);
        assert_eq!(out, "once: sendto: EHOSTUNREACH\n", "log:\n{log}");
        let audits = common::egress_audits(&log);
        assert_eq!(audits.len(), 1, "one audit line; the log:\n{log}");
        assert_eq!(audits[0]["protocol"], "icmp");
        assert_eq!(audits[0]["destination"], format!("{}:0", net.server));
        assert_eq!(audits[0]["verdict"], "deny");
    }
}

husk_test! {
    /// DNS through the forwarder at 10.0.2.3 (the sandbox's own
    /// /etc/resolv.conf names it; --dns points it at the test's
    /// nameserver), an allowlist by hostname, and HTTP with Python's
    /// urllib from the Debian root; an unknown name fails as it does
    /// natively, and an unlisted port is refused.
    fn nat_dns_and_http_by_hostname(platform) {
        let net = TestNet::new();
        let program = format!(
            "import socket, urllib.request\n\
             print(open('/etc/resolv.conf').read().split()[-1])\n\
             print(socket.gethostbyname('{NAME}') == '{server}')\n\
             print(urllib.request.urlopen('http://{NAME}:8080/index.html', timeout=20).read().decode(), end='')\n\
             try:\n    socket.getaddrinfo('nowhere.husk.test', 80)\n\
             except socket.gaierror as e:\n    print('unknown name:', e.errno == socket.EAI_NONAME)\n\
             try:\n    socket.create_connection(('{NAME}', 9000), timeout=20)\n\
             except OSError as e:\n    print('port 9000:', e.errno == 111)\n",
            server = net.server
        );
        let case = Case::in_root(debian_rootfs(), "/usr/bin/python3")
            .args(["-c".to_owned(), program])
            .timeout(Duration::from_secs(300))
            .husk_flags(["--dns".to_owned(), net.server.clone()])
            .husk_flags(allow(&[format!("{NAME}:8080")]));
        let out = run_husk(platform, &case);
        assert_eq!(
            out.stdout_str(),
            "10.0.2.3\nTrue\nhello from the test namespace\nunknown name: True\nport 9000: True\n",
            "stderr:\n{}",
            out.stderr_str()
        );
    }
}

/// A free TCP port of the host's loopback (for a moment).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// GET `path` from the host's 127.0.0.1:`port`; the response's body.
fn http_get(port: u16, path: &str) -> std::io::Result<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(20)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
    let mut text = String::new();
    s.read_to_string(&mut text)?;
    Ok(text.split_once("\r\n\r\n").map(|(_, body)| body.to_owned()).unwrap_or_default())
}

husk_test! {
    /// `python3 -m http.server` in the sandbox answers a client inside it
    /// (urllib on the loopback) and, published with `-p`, one on the host;
    /// the app sees that one come from the gateway. A published port in
    /// use on the host fails `husk run` before anything starts.
    fn nat_publish_port(platform) {
        let port = free_port();
        let program = "import http.server, threading, urllib.request, sys\n\
             class H(http.server.SimpleHTTPRequestHandler):\n\
             \x20   def log_message(self, fmt, *args):\n\
             \x20       print('client', self.client_address[0], flush=True)\n\
             srv = http.server.ThreadingHTTPServer(('', 8000), lambda *a: H(*a, directory='/etc'))\n\
             threading.Thread(target=srv.serve_forever, daemon=True).start()\n\
             body = urllib.request.urlopen('http://127.0.0.1:8000/hostname', timeout=20).read().decode().strip()\n\
             print('inside:', body, flush=True)\n\
             print('ready', flush=True)\n\
             sys.stdin.read()\n";
        let case = Case::in_root(debian_rootfs(), "/usr/bin/python3")
            .args(["-c", program])
            .husk_flags(["-p".to_owned(), format!("127.0.0.1:{port}:8000")]);
        let mut child = husk_suite::run::husk_command(platform, &case)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start husk");
        let mut out = BufReader::new(child.stdout.take().expect("stdout"));
        let mut lines = Vec::new();
        for _ in 0..3 {
            let mut l = String::new();
            out.read_line(&mut l).expect("read");
            lines.push(l.trim().to_owned());
            if l.trim() == "ready" {
                break;
            }
        }
        // (The Debian root's own /etc/hostname.)
        assert_eq!(lines, ["client 127.0.0.1", "inside: husk-debian", "ready"]);
        let body = http_get(port, "/hostname");
        let mut l = String::new();
        out.read_line(&mut l).expect("read");
        // The port is taken while the sandbox runs.
        let again = Command::new(husk_suite::paths::husk_bin())
            .args(["run", "--rootfs", "/", "-p", &format!("127.0.0.1:{port}:80"), "--", "/bin/true"])
            .output()
            .expect("run husk");
        drop(child.stdin.take());
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(body.expect("GET from the host"), "husk-debian\n");
        assert_eq!(l.trim(), "client 10.0.2.2", "the host's client as the app sees it");
        assert_eq!(again.status.code(), Some(125), "{}", String::from_utf8_lossy(&again.stderr));
        assert!(String::from_utf8_lossy(&again.stderr).contains(&format!("listening on 127.0.0.1:{port}")));
    }
}

husk_test! {
    /// `-p HOSTPORT:PORT/udp`: datagrams from two host clients reach the
    /// sandbox's UDP socket (an IPv4 one, then an IPv6 one), from the
    /// gateway and a port standing for each client (its own while no
    /// other client has it), and the app's replies reach each client from
    /// the published port. A datagram to a gateway port that stands for
    /// no client goes nowhere.
    fn nat_publish_udp_port(platform) {
        let (rootfs, prog) = prog_rootfs("udp_echo", Link::Static);
        for family in ["4", "6"] {
            let port = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
            let case = Case::new(&rootfs, &prog)
                .args([family, "5353", "3"])
                .husk_flags(["-p".to_owned(), format!("127.0.0.1:{port}:5353/udp")]);
            let mut child = husk_suite::run::husk_command(platform, &case)
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("start husk");
            let mut out = BufReader::new(child.stdout.take().expect("stdout"));
            let mut l = String::new();
            out.read_line(&mut l).expect("read");
            assert_eq!(l, "ready\n");
            let client = || {
                let c = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
                c.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
                c
            };
            let (a, b) = (client(), client());
            let mut heard = Vec::new();
            for (c, msg) in [(&a, "one"), (&b, "two"), (&a, "three")] {
                c.send_to(msg.as_bytes(), ("127.0.0.1", port)).expect("send");
                let mut buf = [0u8; 64];
                let (n, from) = c.recv_from(&mut buf).expect("the sandbox's reply");
                assert_eq!(&buf[..n], format!("echo:{msg}").as_bytes());
                assert_eq!(from.to_string(), format!("127.0.0.1:{port}"), "replies come from the published port");
                heard.push(c.local_addr().expect("addr").port());
            }
            let mut rest = String::new();
            std::io::Read::read_to_string(&mut out, &mut rest).expect("read");
            let status = child.wait().expect("wait");
            let gw = if family == "6" { "::ffff:10.0.2.2" } else { "10.0.2.2" };
            let want: String = heard
                .iter()
                .zip(["one", "two", "three"])
                .map(|(p, m)| format!("from {gw} {p}: {m}\n"))
                .chain([format!("done {}\n", if family == "6" { 0 } else { 1 })])
                .collect();
            assert_eq!(rest, want, "IPv{family}");
            assert!(status.success(), "IPv{family}: {status}");
        }
    }
}

husk_test! {
    /// Under NAT the sandbox has eth0 (10.0.2.15/24) with a default route
    /// through 10.0.2.2, as busybox's ip and ifconfig (netlink and the
    /// SIOCGIF* ioctls) and /proc/net show it, and none of it can be
    /// changed; a listening socket shows in /proc/net/tcp.
    fn nat_interfaces_as_tools_show_them(platform) {
        let rootfs = husk_suite::Rootfs::new();
        rootfs.busybox(&["sh", "ip", "ifconfig", "cat", "grep", "nc", "sleep"]).dir_mode("/tmp", 0o1777).dir("/dev");
        let script = "ip -4 addr show eth0 | grep inet; ip route; ifconfig eth0 | grep 'inet addr'; \
             ip addr add 192.0.2.1/24 dev lo 2>&1; ifconfig lo down 2>&1; \
             cat /proc/net/route | grep eth0; \
             nc -l -p 8080 & sleep 1; grep -h ' 0A ' /proc/net/tcp /proc/net/tcp6 | grep -c ':1F90 '; kill $!";
        let case = Case::new(&rootfs, "/bin/sh").args(["-c", script]).timeout(TIMEOUT);
        let out = run_husk(platform, &case);
        assert_eq!(
            out.stdout_str(),
            "    inet 10.0.2.15/24 brd 10.0.2.255 scope global eth0\n\
             default via 10.0.2.2 dev eth0 \n\
             10.0.2.0/24 dev eth0 scope link  src 10.0.2.15 \n\
             \x20         inet addr:10.0.2.15  Bcast:10.0.2.255  Mask:255.255.255.0\n\
             ip: RTNETLINK answers: Operation not permitted\n\
             ifconfig: SIOCSIFFLAGS: Operation not permitted\n\
             eth0\t00000000\t0202000A\t0003\t0\t0\t0\t00000000\t0\t0\t0                                                                            \n\
             eth0\t0002000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0                                                                            \n\
             1\n",
            "stderr:\n{}",
            out.stderr_str()
        );
    }
}

husk_test! {
    /// `pip install --index-url` from a package index in the test's
    /// namespace: it works when --allow-egress names the index, and is
    /// refused, with an audit line, when it does not.
    fn nat_pip_install_from_a_local_index(platform) {
        let net = TestNet::new();
        let server = &net.server;
        let index = format!("http://{server}:8080/simple");
        let script = format!(
            "pip3 install -q --root-user-action=ignore --no-cache-dir --disable-pip-version-check --retries 0 --timeout 20 \
             --trusted-host {server} --index-url {index} --target /tmp/t huskdemo 2>&1 | tail -1; \
             PYTHONPATH=/tmp/t python3 -c 'import huskdemo; print(huskdemo.ANSWER)' 2>&1 | tail -1"
        );
        let case = |rules: &[String]| {
            Case::in_root(debian_rootfs(), "/bin/sh")
                .args(["-c".to_owned(), script.clone()])
                .env("PATH", "/usr/local/bin:/usr/bin:/bin")
                .env("HOME", "/root")
                .timeout(Duration::from_secs(300))
                .husk_flags(allow(rules))
        };
        let ok = run_husk(platform, &case(&[format!("{}:8080", net.server)]));
        assert_eq!(ok.stdout_str(), "42\n", "stderr:\n{}", ok.stderr_str());
        let denied = run_husk(platform, &case(&[]));
        let out = denied.stdout_str();
        assert!(out.ends_with("ModuleNotFoundError: No module named 'huskdemo'\n"), "{out}");
        let audit = format!("\"destination\":\"{}:8080\"", net.server);
        assert!(
            denied.stderr_str().lines().any(|l| l.contains(&audit) && l.contains("\"verdict\":\"deny\"")),
            "no audit line for the index in:\n{}",
            denied.stderr_str()
        );
    }
}

/// A bundle (the returned root's parent) running the test program `prog`
/// with `args`, told the servers' address, in this process's network
/// namespace (joined to the test's by the veth), with `annotations`.
fn nat_bundle(net: &TestNet, prog: &str, args: &[&str], annotations: serde_json::Value) -> husk_suite::Rootfs {
    let (rootfs, prog) = prog_rootfs(prog, Link::Static);
    rootfs.dir("/proc").dir("/etc");
    let mut argv = vec![prog];
    argv.extend(args.iter().map(|a| a.to_string()));
    let config = serde_json::json!({
        "ociVersion": "1.0.2",
        "process": {
            "user": {"uid": 0, "gid": 0},
            "args": argv,
            "env": ["PATH=/bin", format!("NAT_SERVER={}", net.server)],
            "cwd": "/"
        },
        "root": {"path": "rootfs", "readonly": true},
        "annotations": annotations,
        "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
        "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"},
                                 {"type": "network", "path": "/proc/self/ns/net"}]}
    });
    let bundle = rootfs.outside();
    std::fs::write(bundle.join("config.json"), serde_json::to_vec(&config).expect("JSON")).expect("config.json");
    rootfs
}

/// `husk run --bundle` of `nat_client connect 9000` in a bundle whose
/// network namespace is this process's (joined to the test's by the veth)
/// and whose annotations are `annotations`: (status, stdout, stderr).
fn oci_connect(net: &TestNet, annotations: serde_json::Value) -> (i32, String, String) {
    let rootfs = nat_bundle(net, "nat_client", &["connect", "9000"], annotations);
    let bundle = rootfs.outside();
    let state = tempfile::tempdir().expect("a state root");
    let id = format!("nat-oci-{}-{}", std::process::id(), NEXT_OCI.fetch_add(1, Ordering::Relaxed));
    let out = Command::new(husk_suite::paths::husk_bin())
        .arg("--root")
        .arg(state.path())
        .args(["run", "--bundle"])
        .arg(bundle)
        .arg(&id)
        .output()
        .expect("run husk");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

static NEXT_OCI: AtomicU32 = AtomicU32::new(0);

/// OCI containers (containerd, `husk run --bundle`): the annotation
/// `dev.husk.network=nat` gives the container NAT through a relay in its
/// network namespace, under `dev.husk.network.allow-egress`'s rules;
/// without the annotation, the default `sandbox` network, which in the
/// host's own namespace (this bundle's) is the loopback only; `host`
/// gives it that namespace's sockets; a bad one fails the create.
#[test]
fn nat_oci_annotations() {
    if husk_suite::blocklist::skip("nat_oci_annotations") {
        return;
    }
    let net = TestNet::new();
    let nat = |rules: &str| serde_json::json!({"dev.husk.network": "nat", "dev.husk.network.allow-egress": rules});
    let (status, out, err) = oci_connect(&net, nat(&format!("{}:9000", net.server)));
    assert_eq!((status, out.as_str()), (0, "connect to 9000: ok\n"), "{err}");
    let (_, out, _) = oci_connect(&net, nat(&format!("{}:8080", net.server)));
    assert_eq!(out, "connect to 9000: ECONNREFUSED\n");
    let (_, out, _) = oci_connect(&net, serde_json::json!({}));
    assert_eq!(out, "connect to 9000: ENETUNREACH\n");
    // `host`: the namespace's own sockets, with no policy.
    let (status, out, err) = oci_connect(&net, serde_json::json!({"dev.husk.network": "host"}));
    assert_eq!((status, out.as_str()), (0, "connect to 9000: ok\n"), "{err}");
    let (status, out, err) = oci_connect(&net, serde_json::json!({"dev.husk.network": "bridge"}));
    assert!(status != 0 && out.is_empty() && err.contains("dev.husk.network"), "{status} {out} {err}");
}

/// A checkpoint of a container with a TCP connection to a server outside
/// it (through the relay): the restore brings the connection back reset,
/// as gVisor's does (ECONNRESET, then EPIPE, no peer), and the restored
/// container makes new connections out as before.
#[test]
fn a_restore_resets_connections_outside_the_sandbox() {
    if husk_suite::blocklist::skip("a_restore_resets_connections_outside_the_sandbox") {
        return;
    }
    let net = TestNet::new();
    let annotations =
        serde_json::json!({"dev.husk.network": "nat", "dev.husk.network.allow-egress": format!("{}:9000", net.server)});
    let rootfs = nat_bundle(&net, "ckpt_outside", &[], annotations);
    let bundle = rootfs.outside();
    let state = tempfile::tempdir().expect("a state root");
    let id = format!("nat-ckpt-{}", std::process::id());
    let errors = state.path().join("stderr");
    let husk = |args: &[&str], out: Option<&std::path::Path>| {
        let mut cmd = Command::new(husk_suite::paths::husk_bin());
        cmd.arg("--root").arg(state.path()).args(args).stdin(Stdio::null());
        // Files, not pipes: a detached container keeps its stdio.
        let stdout = match out {
            Some(out) => std::fs::File::create(out).expect("output file"),
            None => std::fs::File::create(state.path().join("stdout")).expect("stdout file"),
        };
        cmd.stdout(stdout).stderr(std::fs::File::create(&errors).expect("stderr file"));
        let status = cmd.status().expect("run husk");
        assert!(status.success(), "husk {args:?}: {}", std::fs::read_to_string(&errors).unwrap_or_default());
    };
    let wait_for = |path: &std::path::Path, text: &str| {
        let deadline = std::time::Instant::now() + TIMEOUT;
        while !std::fs::read_to_string(path).is_ok_and(|s| s.contains(text)) {
            assert!(std::time::Instant::now() < deadline, "{} never said {text:?}", path.display());
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let bundle_arg = bundle.to_str().expect("utf-8");
    let (first, second) = (bundle.join("first.out"), bundle.join("second.out"));
    let image = bundle.join("image");
    husk(&["run", "-d", "--bundle", bundle_arg, &id], Some(&first));
    wait_for(&first, "ready\n");
    assert_eq!(std::fs::read_to_string(&first).expect("output"), "before: echoed\nready\n");
    husk(&["checkpoint", "--image-path", image.to_str().expect("utf-8"), &id], None);
    husk(
        &["restore", "-d", "--image-path", image.to_str().expect("utf-8"), "--bundle", bundle_arg, &id],
        Some(&second),
    );
    husk(&["kill", &id, "SIGUSR1"], None);
    wait_for(&second, "a new connection");
    husk(&["delete", "--force", &id], None);
    assert_eq!(
        std::fs::read_to_string(&second).expect("output"),
        "after: recv Connection reset by peer\nafter: send Broken pipe\n\
         after: getpeername Transport endpoint is not connected\na new connection: echoed\n"
    );
}
