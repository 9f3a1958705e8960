#!/usr/bin/env python3
"""Checkpoint and restore, Husk next to gVisor's runsc (ptrace platform).

    sudo python3 benches/checkpoint.py [--husk target/release/husk] [--reps 3]

For each workload it runs a container detached, waits until the program
says "ready", then times:
- `checkpoint --image-path DIR ID`, which ends the container;
- `restore --image-path DIR --bundle B -d ID` until it returns with the
  container running again.

It also reports the image's size on disk and the program's resident memory
before the checkpoint and a second after the restore. Husk is measured
twice: with its default page loading (pages read as they are touched, the
rest by a background thread) and with `--page-loading on-demand` (only as
they are touched). The workloads are:
- an idle busybox `sleep`;
- an idle `python3` (the Debian test root that tests/support/debian.rs
  builds, cached under /var/cache/husk-test);
- `python3` holding 1 GiB that it has touched. For this one the table also
  gives the time the restored program takes to touch its 1 GiB again.

Prints a markdown table (medians of --reps runs).
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("HUSK_TEST_CACHE", "/var/cache/husk-test"))

IDLE_PY = "import sys, time; print('ready', flush=True); time.sleep(100000)"
# Touches 1 GiB, says ready, and on SIGUSR1 touches it all again and
# prints how long that took.
BIG_PY = """
import signal, sys, time
b = bytearray(1 << 30)
for i in range(0, len(b), 4096):
    b[i] = 1
def again(sig, frame):
    t = time.monotonic()
    s = 0
    for i in range(0, len(b), 4096):
        s += b[i]
    print('touched %.1f ms %d' % ((time.monotonic() - t) * 1000, s), flush=True)
    sys.exit(0)
signal.signal(signal.SIGUSR1, again)
print('ready', flush=True)
while True:
    time.sleep(1000)
"""


def debian_root() -> Path | None:
    roots = sorted(p for p in CACHE.glob("debian-*") if p.is_dir() and not p.name.startswith("debian-build"))
    return next((p for p in roots if (p / "usr/bin/python3").exists()), None)


def busybox_root(work: Path) -> Path:
    root = work / "busybox-root"
    (root / "bin").mkdir(parents=True)
    shutil.copy("/bin/busybox", root / "bin/busybox")
    for applet in ("sh", "sleep", "echo"):
        (root / "bin" / applet).symlink_to("busybox")
    for d in ("proc", "tmp", "dev"):
        (root / d).mkdir()
    return root


def bundle(work: Path, name: str, rootfs: Path, argv: list[str]) -> Path:
    b = work / f"bundle-{name}"
    b.mkdir()
    config = {
        "ociVersion": "1.0.0",
        "process": {"terminal": False, "user": {"uid": 0, "gid": 0}, "args": argv,
                    "env": ["PATH=/usr/bin:/bin", "HOME=/root"], "cwd": "/"},
        "root": {"path": str(rootfs), "readonly": True},
        "hostname": "ckpt",
        "annotations": {"dev.husk.network": "none"},
        "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"},
                   {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"}],
        "linux": {"namespaces": [{"type": t} for t in ("pid", "ipc", "uts", "mount", "network")]},
    }
    (b / "config.json").write_text(json.dumps(config))
    return b


class Runtime:
    def __init__(self, name: str, argv: list[str], root: Path, restore_args: list[str] | None = None):
        self.name, self.argv, self.root = name, argv, root
        self.restore_args = restore_args or []

    def cmd(self, *args: str) -> list[str]:
        return self.argv + ["--root", str(self.root)] + list(args)

    def run(self, *args: str, **kw) -> subprocess.CompletedProcess:
        return subprocess.run(self.cmd(*args), check=True, stdin=subprocess.DEVNULL, **kw)

    def delete(self, cid: str) -> None:
        subprocess.run(self.cmd("delete", "--force", cid), stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def host_pids(self, cid: str) -> list[int]:
        """The container's host process (as `state` names it) and all its
        descendants."""
        out = subprocess.run(self.cmd("state", cid), capture_output=True, text=True)
        try:
            top = int(json.loads(out.stdout)["pid"])
        except (ValueError, KeyError):
            return []
        parents = {}
        for d in Path("/proc").iterdir():
            if d.name.isdigit():
                try:
                    parents[int(d.name)] = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    pass
        pids, todo = [], [top]
        while todo:
            p = todo.pop()
            pids.append(p)
            todo.extend(c for c, pp in parents.items() if pp == p)
        return pids


def wait_for_line(path: Path, text: str, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if path.exists() and text in path.read_text(errors="replace"):
            return
        time.sleep(0.005)
    raise TimeoutError(f"{path} never said {text!r}")


def rss_kib(pids: list[int]) -> int:
    """Proportional set size: pages shared between the processes (Husk's
    memory file, mapped by the Sentry and every stub) count once."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def disk_kib(path: Path) -> int:
    return sum(f.stat().st_blocks * 512 for f in path.rglob("*") if f.is_file()) // 1024


def one(rt: Runtime, work: Path, b: Path, touch: bool) -> dict:
    cid = f"ckbench-{os.getpid()}-{time.monotonic_ns()}"
    out1, out2 = work / f"{cid}.out1", work / f"{cid}.out2"
    image = work / f"{cid}.image"
    try:
        with open(out1, "w") as f:
            rt.run("run", "--detach", "--bundle", str(b), cid, stdout=f, stderr=subprocess.DEVNULL)
        wait_for_line(out1, "ready")
        rss = rss_kib(rt.host_pids(cid))
        t = time.monotonic()
        rt.run("checkpoint", "--image-path", str(image), cid, stdout=subprocess.DEVNULL)
        checkpoint = (time.monotonic() - t) * 1000
        rt.delete(cid)
        with open(out2, "w") as f:
            t = time.monotonic()
            rt.run("restore", "--image-path", str(image), *rt.restore_args, "--bundle", str(b), "--detach", cid,
                   stdout=f, stderr=subprocess.DEVNULL)
            restore = (time.monotonic() - t) * 1000
        # The memory the restored container holds a second later (Husk's
        # background loading has read a 1 GiB image by then; on demand
        # reads only what is touched).
        time.sleep(1)
        after = rss_kib(rt.host_pids(cid))
        r = {"checkpoint": checkpoint, "restore": restore, "image": disk_kib(image), "rss": rss, "after": after}
        if touch:
            rt.run("kill", cid, "SIGUSR1")
            wait_for_line(out2, "touched")
            r["touch"] = float(out2.read_text().split("touched")[1].split()[0])
        return r
    finally:
        rt.delete(cid)
        shutil.rmtree(image, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--husk", default=str(REPO / "target/release/husk"))
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--no-runsc", action="store_true")
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ckbench-"))
    try:
        runtimes = [Runtime("husk-systrap", [a.husk, "--platform", "systrap"], work / "husk-root"),
                    Runtime("husk-systrap, on demand", [a.husk, "--platform", "systrap"], work / "husk-root",
                            ["--page-loading", "on-demand"])]
        if not a.no_runsc and shutil.which("runsc"):
            runtimes.append(Runtime("runsc-ptrace", ["runsc", "--platform=ptrace", "--network=none"],
                                    work / "runsc-root"))
        workloads = [("busybox sleep", busybox_root(work), ["/bin/sh", "-c", "echo ready; exec sleep 100000"], False)]
        deb = debian_root()
        if deb:
            workloads.append(("python3, idle", deb, ["/usr/bin/python3", "-c", IDLE_PY], False))
            workloads.append(("python3, 1 GiB resident", deb, ["/usr/bin/python3", "-c", BIG_PY], True))
        else:
            print("no cached Debian root (tests/support/debian.rs makes it): python3 rows left out", file=sys.stderr)
        print("| workload | runtime | checkpoint | restore -d to running | image on disk | memory before (PSS) "
              "| memory 1 s after restore | touch 1 GiB after |")
        print("|---|---|---|---|---|---|---|---|")
        for name, rootfs, argv, touch in workloads:
            b = bundle(work, name.split(",")[0].replace(" ", "-") + str(len(argv[-1])), rootfs, argv)
            for rt in runtimes:
                runs = []
                for _ in range(a.reps):
                    try:
                        runs.append(one(rt, work, b, touch))
                    except (subprocess.CalledProcessError, TimeoutError) as e:
                        print(f"{name} / {rt.name}: {e}", file=sys.stderr)
                if not runs:
                    print(f"| {name} | {rt.name} | failed | | | | | |")
                    continue
                med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
                touch_cell = f"{med['touch']:.0f} ms" if "touch" in med else "-"
                print(f"| {name} | {rt.name} | {med['checkpoint']:.0f} ms | {med['restore']:.0f} ms | "
                      f"{med['image'] / 1024:.1f} MiB | {med['rss'] / 1024:.1f} MiB | {med['after'] / 1024:.1f} MiB "
                      f"| {touch_cell} |", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
