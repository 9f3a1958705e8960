#!/usr/bin/env python3
"""Side-by-side whole-process benchmarks: native, Husk (systrap, ptrace, kvm) and
gVisor's runsc (ptrace), alternating within each repetition.

    python3 benches/harness.py            # full run, about 5 to 10 minutes
    python3 benches/harness.py --quick    # fewer and smaller runs, < 2 minutes

It prints a markdown table, the geometric mean of each contender's ratios to
native, and writes RESULTS/latest.png, a plot of the ratios (with matplotlib:
/usr/bin/python3 with Debian's python3-matplotlib; without, a note says why not).

Every workload runs the same static program (benches/progs/hbench.c, built
here with `cc -static`) or the same real program from the same rootfs under
every contender:

  native        the program in a chroot of the rootfs (os.chroot before exec)
  husk-systrap  target/release/husk run --platform systrap --rootfs ROOTFS
  husk-ptrace   target/release/husk run --platform ptrace --rootfs ROOTFS
  husk-kvm      target/release/husk run --platform kvm --rootfs ROOTFS (skipped,
                with a note, where the host's KVM cannot run the platform)
  runsc-ptrace  runsc --platform=ptrace run with an OCI bundle whose root is
                ROOTFS (read-only) and whose /tmp is a tmpfs

One more workload runs through a real containerd 1.6: "ctr run --rm of true"
(the offline busybox image's `true`), with runc and with husk as
`ctr run --runc-binary`, in a table of its own whose ratio is to runc. It uses
the private containerd of tests/containerd/containerd.sh (started if needed)
and is skipped, with a note, when containerd, ctr or runc is missing.
Likewise through Docker 20.10, in a third table: "docker run --rm busybox
true" and "docker run --rm debian python3 -c pass" (the Debian root imported
as an image), with `--runtime=runc` and `--runtime=husk`, under the private
dockerd of tests/docker/dockerd.sh (started if needed, with this husk as its
runtime), skipped with a note when Docker is missing.

The busybox-style rootfs (hbench, a static `true`, busybox) is made under
/dev/shm, so that its /tmp is a tmpfs natively too; python3 and tar+gzip run
from the cached Debian rootfs (/var/cache/husk-test/debian-*), which nothing
writes into; the git and pip workloads work in a fixture directory of the
harness's own, mounted read-write at /mnt (a private bind mount natively,
`--volume` under Husk, a bind mount in runsc's bundle). Must run as root
(chroot, mounts, runsc).

Output: a markdown table on stdout (median, min, max and ratio to native per
contender; a contender that cannot run, or a workload that fails, gets a note
instead of numbers), benches/results/<UTC time>.json for the run, one line
appended to benches/results/history.jsonl, and, with --docs FILE, the table
written into FILE between the harness markers (appended if they are absent).
"""

from __future__ import annotations

import argparse
import ctypes
import datetime as _dt
import glob
import hashlib
import json
import math
import os
import platform as _platform
import shutil
import signal
import stat as _stat
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PROGS = REPO / "benches" / "progs"
RESULTS = REPO / "benches" / "results"
CONTENDERS = ["native", "husk-systrap", "husk-ptrace", "husk-kvm", "runsc-ptrace"]
DOCS_BEGIN = "<!-- harness:begin (written by benches/harness.py --docs) -->"
DOCS_END = "<!-- harness:end -->"
ENV = {"PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "PYTHONDONTWRITEBYTECODE": "1"}


# ---------------------------------------------------------------------------
# Pure logic (unit-tested in benches/test_harness.py)


def parse_number(stdout: str) -> float:
    """The number a workload program printed: its last non-empty line."""
    lines = [line.strip() for line in stdout.splitlines() if line.strip()]
    if not lines:
        raise ValueError("the program printed nothing")
    try:
        return float(lines[-1])
    except ValueError:
        raise ValueError(f"not a number: {lines[-1][:80]!r}") from None


def parse_vmrss_kib(status_text: str) -> int:
    """VmRSS in KiB from the text of /proc/PID/status (0 for a kernel thread
    or a zombie, which have none)."""
    for line in status_text.splitlines():
        if line.startswith("VmRSS:"):
            parts = line.split()
            return int(parts[1])
    return 0


def parse_ppid(stat_text: str) -> int:
    """The parent pid from the text of /proc/PID/stat (the comm field may hold
    spaces and parentheses, so split after its last ')')."""
    rest = stat_text[stat_text.rindex(")") + 2 :].split()
    return int(rest[1])


def descendants(root: int, parents: dict[int, int]) -> set[int]:
    """root and every pid whose chain of parents (pid -> ppid) reaches root."""
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    out, todo = {root}, [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in out:
                out.add(child)
                todo.append(child)
    return out


def summarize(samples: list[float]) -> dict:
    """median, min and max of the samples (None for no samples)."""
    if not samples:
        return {"median": None, "min": None, "max": None, "n": 0}
    return {
        "median": statistics.median(samples),
        "min": min(samples),
        "max": max(samples),
        "n": len(samples),
    }


def ratio(value: float | None, native: float | None) -> float | None:
    """value / native, or None when either is missing or native is 0."""
    if value is None or native is None or native == 0:
        return None
    return value / native


def fmt_value(v: float | None) -> str:
    """A figure with three significant digits or so; '' for None."""
    if v is None:
        return ""
    a = abs(v)
    if a >= 100:
        return f"{v:,.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3g}"


def fmt_ratio(r: float | None) -> str:
    if r is None:
        return ""
    return f"{r:.1f}×" if r >= 10 else f"{r:.2f}×"


def markdown_table(results: list[dict], contenders: list[str], baseline: str = "native") -> str:
    """One row per workload and contender: median, min, max, ratio to the
    baseline's median, and a note (why a cell is empty, or how many samples
    failed)."""
    out = [
        f"| workload | unit | contender | median | min | max | vs {baseline} | note |",
        "|---|---|---|---:|---:|---:|---:|---|",
    ]
    for w in results:
        native = w["contenders"].get(baseline, {}).get("median")
        for c in contenders:
            cell = w["contenders"].get(c, {})
            med = cell.get("median")
            r = ratio(med, native) if c != baseline else (1.0 if med is not None else None)
            note = cell.get("note", "").replace("|", "\\|").replace("\n", " ")
            name = w["name"].replace("|", "\\|")
            out.append(
                f"| {name} | {w['unit']} | {c} | {fmt_value(med)} | {fmt_value(cell.get('min'))} "
                f"| {fmt_value(cell.get('max'))} | {fmt_ratio(r)} | {note} |"
            )
    return "\n".join(out) + "\n"


def geometric_means(results: list[dict], contenders: list[str], baseline: str = "native") -> dict[str, float]:
    """Per contender, the geometric mean of its ratios to the baseline's
    median, over the workloads where both have one (lower is faster)."""
    means = {}
    for c in contenders:
        logs = []
        for w in results:
            r = ratio(w["contenders"].get(c, {}).get("median"), w["contenders"].get(baseline, {}).get("median"))
            if r is not None and r > 0:
                logs.append(math.log(r))
        if logs:
            means[c] = math.exp(sum(logs) / len(logs))
    return means


def geometric_mean_line(results: list[dict], contenders: list[str], baseline: str = "native") -> str:
    means = geometric_means(results, contenders, baseline)
    parts = [f"{c} {fmt_ratio(m)}" for c, m in means.items() if c != baseline]
    return f"Geometric mean of the ratios to {baseline}: " + ", ".join(parts) + "\n" if parts else ""


def plot(results: list[dict], contenders: list[str], path: Path, baseline: str = "native") -> str | None:
    """A PNG at path: each workload's ratio to the baseline per contender
    (log scale); None when written, else why not."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "no matplotlib (apt-get install python3-matplotlib)"
    others = [c for c in contenders if c != baseline]
    names = [w["name"] for w in results]
    fig, ax = plt.subplots(figsize=(10, 0.32 * len(names) * max(1, len(others)) / 2 + 1.5))
    height = 0.8 / max(1, len(others))
    for i, c in enumerate(others):
        vals = [ratio(w["contenders"].get(c, {}).get("median"), w["contenders"].get(baseline, {}).get("median"))
                for w in results]
        ys = [j + i * height for j in range(len(names))]
        ax.barh(ys, [v if v else 0 for v in vals], height=height, label=c)
    ax.set_yticks([j + 0.4 - height / 2 for j in range(len(names))])
    ax.set_yticklabels(names, fontsize=7)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_xlabel(f"time relative to {baseline} (log scale; lower is faster)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None


def update_docs(text: str, section: str) -> str:
    """text with what lies between the harness markers replaced by section, or
    with the markers and section appended when the markers are absent."""
    block = f"{DOCS_BEGIN}\n{section.rstrip()}\n{DOCS_END}\n"
    if DOCS_BEGIN in text and DOCS_END in text:
        head, rest = text.split(DOCS_BEGIN, 1)
        _, tail = rest.split(DOCS_END, 1)
        return head + block + tail.lstrip("\n")
    return text.rstrip("\n") + "\n\n" + block


def append_history(path: Path, record: dict) -> None:
    """Appends record as one JSON line to path (creating it and its dir)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record, sort_keys=True) + "\n")


def read_history(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def parse_env(text: str) -> dict[str, str]:
    """KEY=VALUE lines (as `containerd.sh env` prints them) as a dict; blank
    lines are skipped, anything else without '=' is an error."""
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        key, sep, value = line.partition("=")
        if not sep or not key:
            raise ValueError(f"not KEY=VALUE: {line[:80]!r}")
        out[key] = value
    return out


def ctr_run_argv(ctd: dict[str, str], runtime: str, cid: str, argv: list[str]) -> list[str]:
    """`ctr run --rm --runc-binary RUNTIME IMAGE CID ARGV...` against the
    containerd described by ctd (containerd.sh env's ADDRESS, NAMESPACE, IMAGE)."""
    return (["ctr", "--address", ctd["ADDRESS"], "--namespace", ctd["NAMESPACE"], "run", "--rm",
             "--runc-binary", runtime, ctd["IMAGE"], cid] + argv)


# ---------------------------------------------------------------------------
# Workloads


@dataclass
class Workload:
    name: str
    unit: str
    rootfs: str  # "small", "debian" or "build" (a compiler root)
    argv: list[str]  # inside the rootfs
    measure: str  # "printed" (the program's number), "wall" or "rss"
    scale: float = 1.0  # printed ns -> unit
    reps: int = 5
    timeout: float = 120.0
    volume: str | None = None  # a fixture of Env.volume, mounted read-write at /mnt
    outside: bool = False  # talks to Env.sink() ({SINK_IP} {SINK_PORT} in argv), outside the sandbox
    # With outside: runs in a network namespace of its own whose veth leads
    # to the sink's (Env.sandbox_ns()); Husk with --network sandbox.
    on_interface: bool = False


# The sqlite3 row: N single-row INSERTs in one transaction into a new
# database file in /tmp, committed; prints the ns they took.
SQLITE_INSERTS = """
import os, sqlite3, sys, tempfile, time
n = int(sys.argv[1])
path = os.path.join(tempfile.mkdtemp(), "bench.db")
db = sqlite3.connect(path)
db.execute("create table t (id integer primary key, name text, value real)")
t = time.perf_counter_ns()
with db:
    for i in range(n):
        db.execute("insert into t (name, value) values (?, ?)", ("row %d" % i, i * 0.5))
print(time.perf_counter_ns() - t)
"""


# The HTTP row: a threading http.server on the loopback answering a fixed
# body, and N GETs from http.client, each on a new connection (HTTP/1.0);
# prints the mean ns per request.
HTTP_LOOP = """
import http.client, http.server, sys, threading, time
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "5")
        self.end_headers()
        self.wfile.write(b"hello")
    def log_message(self, *a):
        pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
threading.Thread(target=srv.serve_forever, daemon=True).start()
port, n = srv.server_address[1], int(sys.argv[1])
def get():
    c = http.client.HTTPConnection("127.0.0.1", port)
    c.request("GET", "/")
    assert c.getresponse().read() == b"hello"
    c.close()
get()
t = time.perf_counter_ns()
for _ in range(n):
    get()
print((time.perf_counter_ns() - t) / n)
"""


def workloads(quick: bool) -> list[Workload]:
    q = quick
    reps = 3 if q else 7
    tree = "share/doc" if q else "lib/x86_64-linux-gnu"  # ~10 MB / ~50 MB of /usr
    return [
        Workload("getpid ×%s" % ("1e5" if q else "1e6"), "ns/op", "small",
                 ["/bin/hbench", "getpid", "100000" if q else "1000000"], "printed", reps=1 if q else 3),
        Workload("clock_gettime(MONOTONIC) ×%s" % ("1e5" if q else "1e6"), "ns/op", "small",
                 ["/bin/hbench", "clock", "100000" if q else "1000000"], "printed", reps=1 if q else 3),
        Workload("read 1 B /dev/zero", "ns/op", "small",
                 ["/bin/hbench", "read", "20000" if q else "100000"], "printed", reps=reps),
        Workload("open+close", "ns/op", "small",
                 ["/bin/hbench", "openclose", "5000" if q else "20000", "/bin/hbench"], "printed", reps=reps),
        Workload("stat", "ns/op", "small",
                 ["/bin/hbench", "stat", "5000" if q else "20000", "/bin/hbench"], "printed", reps=reps),
        Workload("fork+exit+wait", "µs/op", "small",
                 ["/bin/hbench", "fork", "50" if q else "200"], "printed", 1e-3, reps=reps),
        Workload("fork+exec(true)+wait", "µs/op", "small",
                 ["/bin/hbench", "forkexec", "30" if q else "100", "/bin/true"], "printed", 1e-3, reps=reps),
        Workload("start to exit of true", "ms", "small", ["/bin/true"], "wall", reps=5 if q else 15),
        Workload("file 100 MiB write+read (/tmp)", "ms", "small",
                 ["/bin/hbench", "file", "100", "/tmp"], "printed", 1e-6, reps=reps),
        Workload("pipe 100 MiB", "ms", "small", ["/bin/hbench", "pipe", "100"], "printed", 1e-6, reps=reps),
        Workload("create+write+close 10k small files (/tmp)", "µs/file", "small",
                 ["/bin/hbench", "smallfiles", "2000" if q else "10000", "/tmp"], "printed", 1e-3, reps=reps),
        Workload("create+write+close 10k small files (/, the root)", "µs/file", "small",
                 ["/bin/hbench", "smallfiles", "2000" if q else "10000", "/"], "printed", 1e-3, reps=reps),
        Workload("unix stream %s" % ("256 MiB" if q else "1 GiB"), "ms", "small",
                 ["/bin/hbench", "unix", "256" if q else "1024"], "printed", 1e-6, reps=reps),
        Workload("epoll ping-pong (socketpair)", "µs/round trip", "small",
                 ["/bin/hbench", "epollpp", "5000" if q else "20000"], "printed", 1e-3, reps=reps),
        Workload("eventfd wake-ups (2 threads)", "µs/round trip", "small",
                 ["/bin/hbench", "eventfd", "5000" if q else "20000"], "printed", 1e-3, reps=reps),
        Workload("TCP %s, loopback" % ("256 MiB" if q else "1 GiB"), "ms", "small",
                 ["/bin/hbench", "tcp", "256" if q else "1024"], "printed", 1e-6, reps=reps),
        Workload("TCP connect+close, loopback", "µs/op", "small",
                 ["/bin/hbench", "tcpconn", "500" if q else "2000"], "printed", 1e-3, reps=reps),
        # To a sink in a network namespace of the harness's own, over a veth:
        # natively from the host's namespace, under Husk through --network
        # nat (--allow-egress naming the sink).
        Workload("TCP %s to a server outside (NAT)" % ("256 MiB" if q else "1 GiB"), "ms", "small",
                 ["/bin/hbench", "tcp", "256" if q else "1024", "{SINK_IP}", "{SINK_PORT}"], "printed", 1e-6,
                 reps=reps, outside=True),
        Workload("TCP connect+close to a server outside (NAT)", "µs/op", "small",
                 ["/bin/hbench", "tcpconn", "200" if q else "1000", "{SINK_IP}", "{SINK_PORT}"], "printed", 1e-3,
                 reps=reps, outside=True),
        # The same, from a namespace whose veth leads to the sink's, as CNI
        # leaves a container's: natively there, under Husk with --network
        # sandbox (the Sentry's own TCP/IP stack on that veth).
        Workload("TCP %s over a veth (--network sandbox)" % ("256 MiB" if q else "1 GiB"), "ms", "small",
                 ["/bin/hbench", "tcp", "256" if q else "1024", "{SINK_IP}", "{SINK_PORT}"], "printed", 1e-6,
                 reps=reps, outside=True, on_interface=True),
        Workload("TCP connect+close over a veth (--network sandbox)", "µs/op", "small",
                 ["/bin/hbench", "tcpconn", "200" if q else "1000", "{SINK_IP}", "{SINK_PORT}"], "printed", 1e-3,
                 reps=reps, outside=True, on_interface=True),
        Workload("HTTP request loop (http.server + http.client, loopback)", "µs/request", "debian",
                 ["/usr/bin/python3", "-c", HTTP_LOOP, "200" if q else "1000"], "printed", 1e-3, reps=reps),
        Workload("first touch 1 GiB", "ms", "small",
                 ["/bin/hbench", "fault", "1024"], "printed", 1e-6, reps=1 if q else 3),
        Workload("python3 -c pass", "ms", "debian", ["/usr/bin/python3", "-c", "pass"], "wall",
                 reps=3 if q else 7),
        # Real workloads (issue 15): import-heavy start-up, a database, many
        # small processes, another runtime's start-up.
        Workload("python3 import asyncio, json, email, http.client", "ms", "debian",
                 ["/usr/bin/python3", "-c", "import asyncio, json, email, http.client"], "wall",
                 reps=3 if q else 7),
        Workload("sqlite3: insert %s rows (python3, a file in /tmp)" % ("20k" if q else "100k"), "ms", "debian",
                 ["/usr/bin/python3", "-c", SQLITE_INSERTS, "20000" if q else "100000"], "printed", 1e-6,
                 reps=3 if q else 5),
        Workload("shell loop of %s /bin/true" % ("200" if q else "1,000"), "ms", "debian",
                 ["/bin/bash", "-c", "for ((i = 0; i < %s; i++)); do /bin/true; done" % ("200" if q else "1000")],
                 "wall", reps=3 if q else 5, timeout=300),
        Workload("node -e 0 (start-up)", "ms", "debian", ["/usr/bin/node", "-e", "0"], "wall",
                 reps=3 if q else 7),
        Workload("gcc -O2 of a 2,000-line C file", "ms", "build",
                 ["/bin/sh", "-c", "printf '%s' \"$0\" > /tmp/big.c && s=$(date +%s%N) && "
                  "gcc -O2 -c -o /tmp/big.o /tmp/big.c && e=$(date +%s%N) && echo $((e - s))",
                  c_source(200, 99)],  # about 2,000 lines
                 "printed", 1e-6, reps=3 if q else 5, timeout=300),
        Workload("make -j2 of a small C project (9 files)", "ms", "build",
                 ["/bin/sh", "-c", "s=$(date +%s%N) && make -s -B -j2 -C /mnt >/dev/null && e=$(date +%s%N) "
                  "&& echo $((e - s))"], "printed", 1e-6, reps=3 if q else 5, timeout=300, volume="cproject"),
        Workload(f"tar+gzip of /usr/{tree}", "ms", "debian",
                 ["/bin/sh", "-c", f"tar -cf - -C /usr {tree} | gzip > /dev/null"], "wall",
                 reps=1 if q else 3, timeout=300),
        # Timed inside the sandbox (date +%s%N around the command), on a
        # read-write volume at /mnt: a bind mount natively, a Gofer-served
        # host directory under Husk and runsc.
        Workload("git status, 10k-file repo in a volume", "ms", "debian",
                 ["/bin/sh", "-c", "cd /mnt && s=$(date +%s%N) && git status --porcelain >/dev/null "
                  "&& e=$(date +%s%N) && echo $((e - s))"], "printed", 1e-6,
                 reps=reps, timeout=300, volume="gitrepo"),
        Workload("pip install of a local wheel, into a volume", "ms", "debian",
                 ["/bin/sh", "-c", "rm -rf /mnt/t && s=$(date +%s%N) && pip3 install -q --no-index --no-deps "
                  "--no-cache-dir --target /mnt/t /mnt/huskdemo-1.0-py3-none-any.whl 2>/dev/null "
                  "&& e=$(date +%s%N) && rm -rf /mnt/t && echo $((e - s))"], "printed", 1e-6,
                 reps=reps, timeout=300, volume="wheel"),
        Workload("peak RSS, sleeping app", "MiB", "small",
                 ["/bin/hbench", "sleep", "1000" if q else "2000"], "rss", reps=1 if q else 3),
    ]


# ---------------------------------------------------------------------------
# Running


class Failure(Exception):
    pass


@dataclass
class Env:
    work: Path
    small: Path
    debian: Path | None
    husk: Path
    runsc: str | None
    counter: int = 0
    notes: dict[str, str] = field(default_factory=dict)  # contender -> why skipped
    sink_server: subprocess.Popen | None = None

    SINK_NS = "husk-bench-sink"
    SINK_HOST, SINK_IP, SINK_PORT = "10.212.0.1", "10.212.0.2", 9100

    def sink(self) -> tuple[str, int]:
        """A TCP sink outside any sandbox, made on first use: a network
        namespace joined to the host's by a veth pair, with a server that
        reads each connection to EOF and then closes it."""
        if self.sink_server is not None:
            return self.SINK_IP, self.SINK_PORT
        ns = self.SINK_NS
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        for cmd in (["ip", "netns", "add", ns],
                    ["ip", "link", "add", "hbsink0", "type", "veth", "peer", "name", "hbsink1"],
                    ["ip", "link", "set", "hbsink1", "netns", ns],
                    ["ip", "addr", "add", f"{self.SINK_HOST}/30", "dev", "hbsink0"],
                    ["ip", "link", "set", "hbsink0", "up"],
                    ["ip", "-n", ns, "addr", "add", f"{self.SINK_IP}/30", "dev", "hbsink1"],
                    ["ip", "-n", ns, "link", "set", "hbsink1", "up"],
                    ["ip", "-n", ns, "link", "set", "lo", "up"]):
            p = subprocess.run(cmd, capture_output=True, text=True)
            if p.returncode != 0:
                raise Failure(f"{' '.join(cmd)}: {p.stderr.strip()}")
        server = ("import socket, threading\n"
                  "l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
                  f"l.bind(('{self.SINK_IP}', {self.SINK_PORT})); l.listen(1024); print('ready', flush=True)\n"
                  "def serve(c):\n"
                  "    while c.recv(1 << 16): pass\n"
                  "    c.close()\n"
                  "while True:\n"
                  "    c, _ = l.accept(); threading.Thread(target=serve, args=(c,), daemon=True).start()\n")
        self.sink_server = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", server],
                                            stdout=subprocess.PIPE, text=True)
        if self.sink_server.stdout is None or self.sink_server.stdout.readline().strip() != "ready":
            raise Failure("the sink server did not start")
        return self.SINK_IP, self.SINK_PORT

    SANDBOX_NS = "husk-bench-sbx"
    SBX_IP, SBX_GW = "10.212.1.2", "10.212.1.1"

    def sandbox_ns(self) -> str:
        """A network namespace whose veth (SBX_IP, default route via the
        sink's namespace) leads to the sink, made on first use."""
        self.sink()
        ns = self.SANDBOX_NS
        if Path(f"/var/run/netns/{ns}").exists():
            return ns
        for cmd in (["ip", "netns", "add", ns],
                    ["ip", "link", "add", "hbsbx0", "type", "veth", "peer", "name", "hbsbx1"],
                    ["ip", "link", "set", "hbsbx0", "netns", ns],
                    ["ip", "link", "set", "hbsbx1", "netns", self.SINK_NS],
                    ["ip", "-n", ns, "addr", "add", f"{self.SBX_IP}/24", "dev", "hbsbx0"],
                    ["ip", "-n", ns, "link", "set", "hbsbx0", "up"],
                    ["ip", "-n", ns, "link", "set", "lo", "up"],
                    ["ip", "-n", ns, "route", "add", "default", "via", self.SBX_GW],
                    ["ip", "-n", self.SINK_NS, "addr", "add", f"{self.SBX_GW}/24", "dev", "hbsbx1"],
                    ["ip", "-n", self.SINK_NS, "link", "set", "hbsbx1", "up"]):
            p = subprocess.run(cmd, capture_output=True, text=True)
            if p.returncode != 0:
                raise Failure(f"{' '.join(cmd)}: {p.stderr.strip()}")
        return ns

    def close_sink(self) -> None:
        if self.sink_server is not None:
            self.sink_server.kill()
            self.sink_server.wait()
            subprocess.run(["ip", "netns", "del", self.SANDBOX_NS], capture_output=True)
            subprocess.run(["ip", "netns", "del", self.SINK_NS], capture_output=True)

    def volume(self, name: str) -> Path:
        """The fixture directory `name` under the work directory, made on
        first use: "gitrepo", a git repository of 10,000 committed files in
        100 directories (made by the Debian root's git, natively); "wheel",
        a directory holding a wheel of one module."""
        path = self.work / f"volume-{name}"
        if path.exists():
            return path
        path.mkdir()
        if name == "wheel":
            import zipfile
            with zipfile.ZipFile(path / "huskdemo-1.0-py3-none-any.whl", "w") as z:
                z.writestr("huskdemo.py", "ANSWER = 42\n")
                z.writestr("huskdemo-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: huskdemo\nVersion: 1.0\n")
                z.writestr("huskdemo-1.0.dist-info/WHEEL",
                           "Wheel-Version: 1.0\nGenerator: t\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
                z.writestr("huskdemo-1.0.dist-info/RECORD", "")
            return path
        if name == "cproject":
            write_c_project(path)
            return path
        if name != "gitrepo":
            raise ValueError(name)
        for d in range(100):
            (path / f"d{d:02}").mkdir()
            for f in range(100):
                (path / f"d{d:02}" / f"f{f:02}.txt").write_text(f"file {d} {f}\n")
        script = ("cd /mnt && git init -q . && git add . && git -c user.email=b@b -c user.name=b commit -qm tree "
                  "&& git status --porcelain | wc -l")
        argv, enter, _ = command(self, "native", self.rootfs("debian"), ["/bin/sh", "-c", script], path)
        p = subprocess.run(argv, preexec_fn=enter, env=ENV, capture_output=True, text=True, timeout=600)
        if p.returncode != 0 or p.stdout.strip() != "0":
            shutil.rmtree(path, ignore_errors=True)
            raise Failure(f"making the git fixture failed: {p.stderr.strip()[-160:]}")
        return path

    def rootfs(self, which: str) -> Path:
        if which == "debian":
            if self.debian is None:
                raise Failure("no Debian rootfs under /var/cache/husk-test (run the Debian tests once)")
            return self.debian
        if which == "build":
            return build_root()
        return self.small


# The compiler root: Debian's minbase with gcc and make, made once by
# debootstrap (network needed the first time) and cached by its recipe.
BUILD_SUITE, BUILD_PACKAGES = "bookworm", ["gcc", "make", "libc6-dev"]
BUILD_RECIPE = f"suite={BUILD_SUITE} variant=minbase packages={','.join(BUILD_PACKAGES)} v1"


def build_root() -> Path:
    """The cached compiler root, made on first use."""
    key = hashlib.sha256(BUILD_RECIPE.encode()).hexdigest()[:16]
    root = Path("/var/cache/husk-test") / f"debian-build-{key}"
    if (root / ".complete").exists():
        return root
    if shutil.which("debootstrap") is None:
        raise Failure("no compiler root, and no debootstrap to make one (apt-get install debootstrap)")
    shutil.rmtree(root, ignore_errors=True)
    root.parent.mkdir(parents=True, exist_ok=True)
    p = subprocess.run(["debootstrap", "--variant=minbase", f"--include={','.join(BUILD_PACKAGES)}", BUILD_SUITE,
                        str(root), "http://deb.debian.org/debian"], capture_output=True, text=True, timeout=1800)
    if p.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        raise Failure(f"debootstrap of the compiler root failed: {p.stderr.strip()[-200:]}")
    shutil.rmtree(root / "var/cache/apt/archives", ignore_errors=True)
    (root / ".complete").write_text(BUILD_RECIPE + "\n")
    return root


def c_source(functions: int, seed: int) -> str:
    """A C file of `functions` small functions (about 10 lines each), some
    loops and arithmetic for the optimiser, and a main calling them all."""
    out = ["#include <stdio.h>", "#include <string.h>", ""]
    for i in range(functions):
        out += [f"static unsigned long f{seed}_{i}(unsigned long x) {{",
                "    unsigned long acc = x;",
                f"    for (int i = 0; i < {i % 7 + 3}; i++) {{",
                f"        acc = acc * {2 * i + 3} + (acc >> {i % 5 + 1});",
                f"        if (acc % {i % 11 + 2} == 0) acc ^= {i * 2654435761 % 1000003}UL;",
                "    }",
                f"    char buf[{16 + i % 48}];",
                "    memset(buf, (int)(acc & 0x7f), sizeof buf);",
                "    return acc + (unsigned long)buf[acc % sizeof buf];",
                "}"]
    out += [f"unsigned long run{seed}(unsigned long x) {{", "    unsigned long s = x;"]
    out += [f"    s += f{seed}_{i}(s);" for i in range(functions)]
    out += ["    return s;", "}"]
    return "\n".join(out) + "\n"


def write_c_project(path: Path) -> None:
    """/mnt's C project for the make row: 8 files of 25 functions and a
    Makefile that builds them into one program."""
    for n in range(8):
        (path / f"part{n}.c").write_text(c_source(25, n))
    calls = "".join(f"    s += run{n}(s);\n" for n in range(8))
    decls = "".join(f"unsigned long run{n}(unsigned long);\n" for n in range(8))
    (path / "main.c").write_text(f"#include <stdio.h>\n{decls}int main(void) {{\n    unsigned long s = 1;\n"
                                 f"{calls}    printf(\"%lu\\n\", s);\n    return 0;\n}}\n")
    objs = " ".join(f"part{n}.o" for n in range(8)) + " main.o"
    (path / "Makefile").write_text(f"prog: {objs}\n\tgcc -o $@ $^\n%.o: %.c\n\tgcc -O2 -c -o $@ $<\n")


def runsc_bundle(env: Env, rootfs: Path, argv: list[str], volume: Path | None = None,
                 netns: str | None = "") -> Path:
    """An OCI bundle for runsc: in a new network namespace (netns ""), the
    named one (as CNI leaves a container's), or (None) runsc's own."""
    env.counter += 1
    bundle = env.work / f"bundle{env.counter}"
    bundle.mkdir()
    config = {
        "ociVersion": "1.0.0",
        "process": {
            "terminal": False,
            "user": {"uid": 0, "gid": 0},
            "args": argv,
            "env": [f"{k}={v}" for k, v in ENV.items()],
            "cwd": "/",
        },
        "root": {"path": str(rootfs), "readonly": True},
        "hostname": "runsc",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"},
        ] + ([{"destination": "/mnt", "type": "bind", "source": str(volume), "options": ["rbind", "rw"]}]
             if volume else []),
        "linux": {"namespaces": [{"type": t} for t in ("pid", "ipc", "uts", "mount")]
                  + ([{"type": "network"}] if netns == "" else [])
                  + ([{"type": "network", "path": f"/run/netns/{netns}"}] if netns else [])},
    }
    (bundle / "config.json").write_text(json.dumps(config))
    return bundle


def bind_mount_private(source: Path, target: Path) -> None:
    """In a new mount namespace of the calling process (a child about to
    exec), bind-mounts source on target, out of the host's sight."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    clone_newns, ms_rec, ms_private, ms_bind = 0x00020000, 0x4000, 1 << 18, 0x1000
    if libc.unshare(clone_newns) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS)")
    if libc.mount(None, b"/", None, ms_rec | ms_private, None) != 0:
        raise OSError(ctypes.get_errno(), "mount --make-rprivate /")
    if libc.mount(bytes(source), bytes(target), None, ms_bind | ms_rec, None) != 0:
        raise OSError(ctypes.get_errno(), f"bind mount {source} on {target}")


def enter_netns(name: str) -> None:
    """setns(2) into the named network namespace (os.setns is 3.12's)."""
    libc = ctypes.CDLL(None, use_errno=True)
    with open(f"/var/run/netns/{name}") as f:
        if libc.setns(f.fileno(), 0x40000000) != 0:  # CLONE_NEWNET
            raise OSError(ctypes.get_errno(), f"setns {name}")


def command(env: Env, contender: str, rootfs: Path, argv: list[str], volume: Path | None = None,
            egress: str | None = None, netns: str | None = None):
    """(argv, preexec_fn, cleanup) to run argv inside rootfs as contender,
    with volume (if any) mounted read-write at /mnt, and (Husk) egress
    allowed to `egress` (ADDR:PORT); in network namespace `netns` if
    given (Husk with --network sandbox there)."""
    if contender == "native":
        def enter():
            if netns is not None:
                enter_netns(netns)
            if volume is not None:
                bind_mount_private(volume, rootfs / "mnt")
            os.chroot(rootfs)
            os.chdir("/")
        return argv, enter, None
    if contender.startswith("husk-"):
        cmd = [str(env.husk), "run", "--rootfs", str(rootfs), "--platform", contender[5:]]
        if volume is not None:
            cmd += ["--volume", f"{volume}:/mnt"]
        if egress is not None:
            cmd += ["--allow-egress", egress]
        if netns is not None:
            cmd = ["ip", "netns", "exec", netns] + cmd + ["--network", "sandbox"]
        for k, v in ENV.items():
            cmd += ["--env", f"{k}={v}"]
        return cmd + ["--"] + argv, None, None
    if contender.startswith("runsc-"):
        # runsc has no NAT: to a sink outside, its fastest way out, its
        # host sockets (--network=host); on a veth, its own netstack on
        # the namespace's interface (--network=sandbox), as Husk's.
        network = "none"
        if netns is not None:
            network = "sandbox"
        elif egress is not None:
            network = "host"
        bundle = runsc_bundle(env, rootfs, argv, volume,
                              netns={"none": "", "host": None, "sandbox": netns}[network])
        cid = f"husk-bench-{os.getpid()}-{env.counter}"
        root = env.work / "runsc-root"
        base = [env.runsc, f"--platform={contender[6:]}", f"--network={network}", "--root", str(root)]

        def cleanup():
            subprocess.run(base + ["delete", "--force", cid], capture_output=True, timeout=30)
            shutil.rmtree(bundle, ignore_errors=True)
        return base + ["run", "--bundle", str(bundle), cid], None, cleanup
    raise ValueError(contender)


def tree_rss_kib(root: int) -> int:
    """Sum of VmRSS over root and all its descendants."""
    parents = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                parents[int(d)] = parse_ppid(Path(f"/proc/{d}/stat").read_text())
            except (OSError, ValueError, IndexError):
                pass
    total = 0
    for pid in descendants(root, parents):
        try:
            total += parse_vmrss_kib(Path(f"/proc/{pid}/status").read_text())
        except OSError:
            pass
    return total


def wait_exact(p: subprocess.Popen, start: float, timeout: float) -> tuple[int, float, bool]:
    """Waits for p in a blocking waitpid, so the end time is exact, with a
    timer that kills its process group after timeout seconds.

    Popen.wait(timeout=...) polls with sleeps that double up to 50 ms, which
    rounded every wall time up to 0.5 ms * (2^k - 1): 7.5, 15.5, 31.5,
    63.5 ms. Returns (status, seconds since start, whether it timed out).
    """
    fired = threading.Event()

    def kill():
        fired.set()
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    timer = threading.Timer(timeout, kill)
    timer.start()
    try:
        rc = p.wait()
        wall = time.perf_counter() - start
    finally:
        timer.cancel()
    return rc, wall, fired.is_set()


def run_once(env: Env, contender: str, w: Workload) -> float:
    """One sample of w under contender, in w's unit; raises Failure."""
    rootfs = env.rootfs(w.rootfs)
    volume = env.volume(w.volume) if w.volume else None
    wargv, egress, netns = w.argv, None, None
    if w.outside:
        ip, port = env.sink()
        wargv = [a.replace("{SINK_IP}", ip).replace("{SINK_PORT}", str(port)) for a in w.argv]
        egress = f"{ip}:{port}"
    if w.on_interface:
        netns = env.sandbox_ns()
    argv, preexec, cleanup = command(env, contender, rootfs, wargv, volume, egress, netns)
    out = tempfile.TemporaryFile(dir=env.work)  # runsc's stdout on a pipe may be lost
    err = tempfile.TemporaryFile(dir=env.work)
    peak = 0
    try:
        start = time.perf_counter()
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=ENV,
                             preexec_fn=preexec, start_new_session=True)
        deadline = start + w.timeout
        if w.measure == "rss":
            while p.poll() is None and time.perf_counter() < deadline:
                peak = max(peak, tree_rss_kib(p.pid))
                time.sleep(0.05)
        rc, wall, timed_out = wait_exact(p, start, max(0.1, deadline - time.perf_counter()))
        if timed_out:
            raise Failure(f"timed out after {w.timeout:.0f} s")
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
        if rc != 0:
            last = stderr.strip().splitlines()[-1:] or [""]
            raise Failure(f"exit status {rc}: {last[0][:160]}")
        if w.measure == "wall":
            return wall * 1e3
        if w.measure == "rss":
            if peak == 0:
                raise Failure("no RSS sampled")
            return peak / 1024
        try:
            return parse_number(stdout) * w.scale
        except ValueError as e:
            raise Failure(str(e)) from None
    finally:
        out.close()
        err.close()
        if cleanup:
            try:
                cleanup()
            except Exception:
                pass


def selected(only: str, name: str) -> bool:
    """Whether --only (comma-separated parts of names; empty: all) picks name."""
    parts = [p for p in only.split(",") if p]
    return not parts or any(p in name for p in parts)


def probe(env: Env, contender: str) -> str | None:
    """None if contender runs the static `true`, else why not."""
    try:
        run_once(env, contender, Workload("probe", "ms", "small", ["/bin/true"], "wall", timeout=60))
        return None
    except Exception as e:  # noqa: BLE001 - any failure means the contender is out
        return f"cannot run: {e}"


def find_runsc(install: bool) -> tuple[str | None, str]:
    path = shutil.which("runsc")
    if path is None and install:
        print("runsc missing: apt-get install -y runsc", file=sys.stderr)
        subprocess.run(["apt-get", "install", "-y", "runsc"], capture_output=True, timeout=600)
        path = shutil.which("runsc")
    if path is None:
        return None, "runsc is not installed (apt-get install runsc)"
    return path, ""


def build_rootfs(dest: Path) -> None:
    for d in ("bin", "tmp", "dev", "proc", "etc"):
        (dest / d).mkdir(parents=True, exist_ok=True)
    for prog in ("hbench", "true"):
        subprocess.run(["cc", "-O2", "-static", str(PROGS / f"{prog}.c"), "-o", str(dest / "bin" / prog)],
                       check=True)
    # Natively the app sees the rootfs's /dev (under husk and runsc, their own).
    for name, minor in (("null", 3), ("zero", 5)):
        os.mknod(dest / "dev" / name, 0o666 | _stat.S_IFCHR, os.makedev(1, minor))
        os.chmod(dest / "dev" / name, 0o666)
    if Path("/bin/busybox").exists():
        shutil.copy("/bin/busybox", dest / "bin" / "busybox")


CTR_WORKLOAD = "ctr run --rm of true"
CTR_CONTENDERS = ["ctr-runc", "ctr-husk"]
CONTAINERD_SH = REPO / "tests" / "containerd" / "containerd.sh"


def containerd_env() -> tuple[dict[str, str] | None, str]:
    """The private containerd (started if needed) with the busybox image
    imported, or None and why not."""
    for tool in ("containerd", "ctr", "runc"):
        if shutil.which(tool, path=ENV["PATH"]) is None:
            return None, f"{tool} is not installed (apt-get install containerd runc)"
    try:
        env = subprocess.run(["bash", str(CONTAINERD_SH), "env"], capture_output=True, text=True, timeout=120)
        img = subprocess.run(["bash", str(CONTAINERD_SH), "image"], capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        return None, "containerd.sh timed out"
    for p in (env, img):
        if p.returncode != 0:
            return None, f"containerd.sh failed: {(p.stderr.strip().splitlines() or [''])[-1][:160]}"
    try:
        return parse_env(env.stdout), ""
    except ValueError as e:
        return None, f"containerd.sh env: {e}"


def ctr_run_once(ctd: dict[str, str], runtime: str, cid: str) -> float:
    """Wall time in ms of one `ctr run --rm` of the image's `true`; raises Failure."""
    base = ["ctr", "--address", ctd["ADDRESS"], "--namespace", ctd["NAMESPACE"]]
    try:
        start = time.perf_counter()
        p = subprocess.run(ctr_run_argv(ctd, runtime, cid, ["true"]), capture_output=True, text=True,
                           timeout=60, stdin=subprocess.DEVNULL)
        wall = time.perf_counter() - start
    except subprocess.TimeoutExpired:
        raise Failure("timed out after 60 s") from None
    finally:
        # Only needed after a failure; --rm removed it otherwise.
        for cmd in (["task", "delete", "--force", cid], ["container", "delete", cid]):
            subprocess.run(base + cmd, capture_output=True, timeout=30)
    if p.returncode != 0:
        last = p.stderr.strip().splitlines()[-1:] or [""]
        raise Failure(f"exit status {p.returncode}: {last[0][:160]}")
    return wall * 1e3


def alternating_row(name: str, argv: list[str], rootfs: str, contenders: list[str], notes: dict[str, str],
                    run_one, reps: int, baseline: str) -> dict:
    """A row of wall times in ms: run_one(contender, i) for each contender not
    in notes, alternating within each of reps + 1 rounds (the first warms up
    caches and is dropped); ratios to baseline's median."""
    row = {"name": name, "unit": "ms", "argv": argv, "rootfs": rootfs, "measure": "wall", "contenders": {}}
    samples: dict[str, list[float]] = {c: [] for c in contenders}
    errors: dict[str, list[str]] = {c: [] for c in contenders}
    for i in range(reps + 1):
        for c in contenders:
            if c in notes:
                continue
            try:
                ms = run_one(c, i)
                if i > 0:
                    samples[c].append(ms)
            except Exception as e:  # noqa: BLE001 - a failure must not stop the rest
                errors[c].append(str(e))
    for c in contenders:
        cell = summarize(samples[c])
        cell["samples"] = samples[c]
        if c in notes:
            cell["note"] = notes[c]
        elif errors[c]:
            cell["errors"] = errors[c]
            cell["note"] = (f"failed: {errors[c][0]}" if not samples[c]
                            else f"{len(errors[c])} of {reps + 1} runs failed: {errors[c][0]}")
        row["contenders"][c] = cell
    base = row["contenders"][baseline]["median"]
    for cell in row["contenders"].values():
        cell["ratio"] = ratio(cell["median"], base)
    return row


def ctr_row(husk: Path, quick: bool) -> dict:
    """The ctr workload's row: runc and husk as --runc-binary, alternating."""
    ctd, why = containerd_env()
    # Absolute: the shim runs the binary from the container's bundle directory.
    runtimes = {"ctr-runc": shutil.which("runc", path=ENV["PATH"]), "ctr-husk": str(husk.resolve())}
    notes = {}
    for c, binary in runtimes.items():
        if ctd is None:
            notes[c] = f"skipped: {why}"
        elif binary is None or not Path(binary).exists():
            notes[c] = f"skipped: {binary or 'runc'} does not exist"
    return alternating_row(CTR_WORKLOAD, ["true"], "busybox image", CTR_CONTENDERS, notes,
                           lambda c, i: ctr_run_once(ctd, runtimes[c], f"husk-bench-{os.getpid()}-{c}-{i}"),
                           5 if quick else 15, "ctr-runc")


DOCKER_CONTENDERS = ["docker-runc", "docker-husk"]
DOCKERD_SH = REPO / "tests" / "docker" / "dockerd.sh"
DOCKER_CLI = "/usr/bin/docker"
# (name, image: "busybox" or "debian", argv in the image)
DOCKER_WORKLOADS = [
    ("docker run --rm busybox true", "busybox", ["true"]),
    ("docker run --rm debian python3 -c pass", "debian", ["python3", "-c", "pass"]),
]


def docker_env(husk: Path, debian: Path | None) -> tuple[dict[str, str] | None, str]:
    """The private dockerd of tests/docker/dockerd.sh (started if needed, with
    husk as its runtime `husk`) and its images, as a dict with HOST,
    DOCKER_CONFIG, BUSYBOX and DEBIAN (absent without a Debian root), or None
    and why not."""
    if not (Path(DOCKER_CLI).exists() and Path("/usr/sbin/dockerd").exists()):
        return None, "docker is not installed (apt-get install docker.io)"
    if not husk.exists():
        return None, f"{husk} does not exist"
    steps = [["start", str(husk.resolve())], ["env"], ["busybox"]]
    if debian is not None:
        steps.append(["debian", str(debian)])
    outs = []
    for step in steps:
        try:
            p = subprocess.run(["bash", str(DOCKERD_SH)] + step, capture_output=True, text=True, timeout=300)
        except subprocess.TimeoutExpired:
            return None, f"dockerd.sh {step[0]} timed out"
        if p.returncode != 0:
            return None, f"dockerd.sh {step[0]} failed: {(p.stderr.strip().splitlines() or [''])[-1][:160]}"
        outs.append(p.stdout)
    try:
        env = parse_env(outs[1])
    except ValueError as e:
        return None, f"dockerd.sh env: {e}"
    env["BUSYBOX"] = outs[2].strip()
    if debian is not None:
        env["DEBIAN"] = outs[3].strip()
    return env, ""


def docker_run_argv(denv: dict[str, str], runtime: str, name: str, image: str, argv: list[str]) -> list[str]:
    """`docker run --rm --runtime=RUNTIME --name NAME IMAGE ARGV...` against the
    dockerd described by denv (dockerd.sh env's HOST and DOCKER_CONFIG)."""
    return ([DOCKER_CLI, "--config", denv["DOCKER_CONFIG"], "--host", denv["HOST"], "run", "--rm",
             f"--runtime={runtime}", "--name", name, image] + argv)


def docker_run_once(denv: dict[str, str], runtime: str, name: str, image: str, argv: list[str]) -> float:
    """Wall time in ms of one `docker run --rm`; raises Failure."""
    try:
        start = time.perf_counter()
        p = subprocess.run(docker_run_argv(denv, runtime, name, image, argv), capture_output=True, text=True,
                           timeout=60, stdin=subprocess.DEVNULL)
        wall = time.perf_counter() - start
    except subprocess.TimeoutExpired:
        raise Failure("timed out after 60 s") from None
    finally:
        # Only needed after a failure; --rm removed it otherwise.
        subprocess.run([DOCKER_CLI, "--config", denv["DOCKER_CONFIG"], "--host", denv["HOST"], "rm", "-f", name],
                       capture_output=True, timeout=30)
    if p.returncode != 0:
        last = p.stderr.strip().splitlines()[-1:] or [""]
        raise Failure(f"exit status {p.returncode}: {last[0][:160]}")
    return wall * 1e3


def docker_rows(husk: Path, quick: bool, debian: Path | None, only: str) -> list[dict]:
    """The Docker workloads' rows: `docker run --runtime=runc` and `=husk`, alternating."""
    work = [w for w in DOCKER_WORKLOADS if selected(only, w[0])]
    if not work:
        return []
    denv, why = docker_env(husk, debian)
    rows = []
    for name, image, argv in work:
        notes = {}
        if denv is None:
            notes = {c: f"skipped: {why}" for c in DOCKER_CONTENDERS}
        elif image == "debian" and "DEBIAN" not in denv:
            notes = {c: "skipped: no Debian root in /var/cache/husk-test" for c in DOCKER_CONTENDERS}
        img = denv.get(image.upper(), "") if denv else ""

        def one(c: str, i: int, img=img, argv=argv) -> float:
            runtime = c.removeprefix("docker-")
            return docker_run_once(denv, runtime, f"husk-bench-{os.getpid()}-{c}-{i}", img, argv)

        rows.append(alternating_row(name, argv, f"{image} image", DOCKER_CONTENDERS, notes, one,
                                    5 if quick else 15, "docker-runc"))
    return rows


def machine() -> dict:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        mem_kib = 0
    return {"cpu": model, "cpus": os.cpu_count(), "mem_gib": round(mem_kib / 2**20, 1),
            "kernel": _platform.release(), "host": _platform.node()}


def versions(env: Env) -> dict:
    v = {}
    try:
        v["husk_git"] = subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"],
                                       capture_output=True, text=True, timeout=10).stdout.strip()
    except Exception:
        pass
    if env.runsc:
        try:
            v["runsc"] = subprocess.run([env.runsc, "--version"], capture_output=True, text=True,
                                        timeout=10).stdout.splitlines()[0]
        except Exception:
            pass
    return v


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer repetitions, smaller loops (< 2 min)")
    ap.add_argument("--husk", default=str(REPO / "target" / "release" / "husk"), help="the husk binary")
    ap.add_argument("--no-build", action="store_true", help="do not run cargo build --release -p runtime")
    ap.add_argument("--no-install", action="store_true", help="do not apt-get install a missing runsc")
    ap.add_argument("--contenders", default=",".join(CONTENDERS), help="comma-separated subset")
    ap.add_argument("--only", default="",
                    help="run only workloads whose name contains this (several: separated by commas)")
    ap.add_argument("--results", default=str(RESULTS), help="directory for the JSON results")
    ap.add_argument("--docs", default="", help="write the table into this markdown file")
    ap.add_argument("--no-ctr", action="store_true", help=f"skip the containerd workload ({CTR_WORKLOAD})")
    ap.add_argument("--no-docker", action="store_true", help="skip the Docker workloads (docker run --rm)")
    args = ap.parse_args(argv)

    if os.geteuid() != 0:
        print("harness.py must run as root (chroot for native, runsc)", file=sys.stderr)
        return 2
    contenders = [c for c in args.contenders.split(",") if c]
    t0 = time.time()
    started = _dt.datetime.now(_dt.timezone.utc)

    husk = Path(args.husk)
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "-p", "runtime"], cwd=REPO, check=False)
    runsc, runsc_note = find_runsc(not args.no_install)
    debian = sorted(d for d in glob.glob("/var/cache/husk-test/debian-*") if os.path.isdir(d))

    work = Path(tempfile.mkdtemp(prefix="husk-harness.", dir="/dev/shm"))
    try:
        small = work / "rootfs"
        build_rootfs(small)
        env = Env(work=work, small=small, debian=Path(debian[0]) if debian else None, husk=husk, runsc=runsc)
        for c in contenders:
            if c.startswith("husk-") and not husk.exists():
                env.notes[c] = f"skipped: {husk} does not exist (cargo build --release -p runtime)"
            elif c.startswith("runsc-") and runsc is None:
                env.notes[c] = f"skipped: {runsc_note}"
            else:
                why = probe(env, c)
                if why:
                    env.notes[c] = f"skipped: {why}"
            if c in env.notes:
                print(f"{c}: {env.notes[c]}", file=sys.stderr)

        results = []
        for w in workloads(args.quick):
            if not selected(args.only, w.name):
                continue
            samples: dict[str, list[float]] = {c: [] for c in contenders}
            errors: dict[str, list[str]] = {c: [] for c in contenders}
            for _ in range(w.reps):
                for c in contenders:  # alternate within each repetition
                    if c in env.notes:
                        continue
                    try:
                        samples[c].append(run_once(env, c, w))
                    except Exception as e:  # noqa: BLE001 - a failure must not stop the rest
                        errors[c].append(str(e))
            row = {"name": w.name, "unit": w.unit, "argv": w.argv, "rootfs": w.rootfs,
                   "measure": w.measure, "contenders": {}}
            for c in contenders:
                cell = summarize(samples[c])
                cell["samples"] = samples[c]
                if c in env.notes:
                    cell["note"] = env.notes[c]
                elif errors[c]:
                    cell["errors"] = errors[c]
                    cell["note"] = (f"failed: {errors[c][0]}" if not samples[c]
                                    else f"{len(errors[c])} of {w.reps} runs failed: {errors[c][0]}")
                row["contenders"][c] = cell
            native = row["contenders"].get("native", {}).get("median")
            for c, cell in row["contenders"].items():
                cell["ratio"] = ratio(cell["median"], native)
            results.append(row)
            line = "  ".join(f"{c}={fmt_value(row['contenders'][c]['median']) or '-'}" for c in contenders)
            print(f"[{time.time() - t0:5.0f}s] {w.name} ({w.unit}): {line}", file=sys.stderr)

        ctr_results = []
        if not args.no_ctr and selected(args.only, CTR_WORKLOAD):
            row = ctr_row(husk, args.quick)
            ctr_results.append(row)
            line = "  ".join(f"{c}={fmt_value(row['contenders'][c]['median']) or '-'}" for c in CTR_CONTENDERS)
            print(f"[{time.time() - t0:5.0f}s] {CTR_WORKLOAD} (ms): {line}", file=sys.stderr)

        docker_results = []
        if not args.no_docker:
            for row in docker_rows(husk, args.quick, env.debian, args.only):
                docker_results.append(row)
                line = "  ".join(f"{c}={fmt_value(row['contenders'][c]['median']) or '-'}"
                                 for c in DOCKER_CONTENDERS)
                print(f"[{time.time() - t0:5.0f}s] {row['name']} (ms): {line}", file=sys.stderr)

        cmd = " ".join(["python3", "benches/harness.py"] + (sys.argv[1:] if argv is None else argv))
        record = {
            "started": started.isoformat(timespec="seconds"),
            "seconds": round(time.time() - t0, 1),
            "command": cmd,
            "quick": args.quick,
            "machine": machine(),
            "versions": versions(env),
            "contenders": contenders,
            "skipped": env.notes,
            "workloads": results + ctr_results + docker_results,
        }
        table = markdown_table(results, contenders)
        table += "\n" + geometric_mean_line(results, contenders)
        if ctr_results:
            table += "\nThrough containerd 1.6 (`ctr run --rm --runc-binary R`, the busybox image):\n\n"
            table += markdown_table(ctr_results, CTR_CONTENDERS, baseline="ctr-runc")
        if docker_results:
            table += ("\nThrough Docker 20.10 (`docker run --rm --runtime=R`, a private dockerd, "
                      "images imported offline):\n\n")
            table += markdown_table(docker_results, DOCKER_CONTENDERS, baseline="docker-runc")
        rdir = Path(args.results)
        rdir.mkdir(parents=True, exist_ok=True)
        stamp = started.strftime("%Y%m%dT%H%M%SZ")
        (rdir / f"{stamp}{'-quick' if args.quick else ''}.json").write_text(json.dumps(record, indent=1) + "\n")
        append_history(rdir / "history.jsonl", record)
        (rdir / "latest.md").write_text(table)
        png = rdir / "latest.png"
        why_not = plot(results, contenders, png)
        print(table)
        print(f"plot: {png}" if why_not is None else f"plot: none ({why_not})")
        if args.docs:
            m = record["machine"]
            section = (
                f"### Latest run\n\n```\n{cmd}\n```\n\n"
                f"Run {record['started']} ({record['seconds']:.0f} s), git {record['versions'].get('husk_git', '?')}, "
                f"{record['versions'].get('runsc', 'no runsc')}; {m['cpus']} vCPU `{m['cpu']}`, "
                f"{m['mem_gib']} GiB, Linux {m['kernel']}.\n\n{table}"
            )
            p = Path(args.docs)
            p.write_text(update_docs(p.read_text() if p.exists() else "", section))
        return 0
    finally:
        if "env" in locals():
            env.close_sink()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
