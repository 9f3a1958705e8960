"""Unit tests of benches/harness.py's own logic (no sandbox is run).

    python3 -m unittest benches/test_harness.py
"""

import os
import json
import subprocess
import time
import sys
import tempfile
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402


class Parsing(unittest.TestCase):
    def test_number_is_last_nonempty_line(self):
        self.assertEqual(harness.parse_number("4659\n"), 4659.0)
        self.assertEqual(harness.parse_number("warming up\n  12.5  \n\n"), 12.5)

    def test_no_number(self):
        with self.assertRaises(ValueError):
            harness.parse_number("")
        with self.assertRaises(ValueError):
            harness.parse_number("\n \n")
        with self.assertRaisesRegex(ValueError, "not a number"):
            harness.parse_number("Segmentation fault\n")

    def test_vmrss(self):
        status = "Name:\thusk\nVmPeak:\t  9000 kB\nVmRSS:\t    4756 kB\nThreads:\t4\n"
        self.assertEqual(harness.parse_vmrss_kib(status), 4756)
        self.assertEqual(harness.parse_vmrss_kib("Name:\tkthreadd\nThreads:\t1\n"), 0)

    def test_ppid_with_odd_comm(self):
        self.assertEqual(harness.parse_ppid("16809 (husk-systrap-sp) S 16803 16809 16801 0"), 16803)
        self.assertEqual(harness.parse_ppid("42 (a) b (c)) R 7 42 42 0"), 7)

    def test_descendants(self):
        parents = {1: 0, 10: 1, 11: 10, 12: 10, 13: 12, 20: 1, 21: 20}
        self.assertEqual(harness.descendants(10, parents), {10, 11, 12, 13})
        self.assertEqual(harness.descendants(21, parents), {21})
        self.assertEqual(harness.descendants(99, parents), {99})


class Statistics(unittest.TestCase):
    def test_summarize_odd_and_even(self):
        self.assertEqual(harness.summarize([3.0, 1.0, 2.0]), {"median": 2.0, "min": 1.0, "max": 3.0, "n": 3})
        s = harness.summarize([4.0, 1.0, 2.0, 10.0])
        self.assertEqual((s["median"], s["min"], s["max"]), (3.0, 1.0, 10.0))

    def test_summarize_empty(self):
        self.assertEqual(harness.summarize([]), {"median": None, "min": None, "max": None, "n": 0})

    def test_ratio(self):
        self.assertAlmostEqual(harness.ratio(4659, 106), 43.95, places=2)
        self.assertIsNone(harness.ratio(None, 106))
        self.assertIsNone(harness.ratio(5, None))
        self.assertIsNone(harness.ratio(5, 0))

    def test_formatting(self):
        self.assertEqual(harness.fmt_value(None), "")
        self.assertEqual(harness.fmt_value(1234567.8), "1,234,568")
        self.assertEqual(harness.fmt_value(12.345), "12.3")
        self.assertEqual(harness.fmt_value(1.234), "1.23")
        self.assertEqual(harness.fmt_value(0.6843), "0.684")
        self.assertEqual(harness.fmt_ratio(43.95), "44.0×")
        self.assertEqual(harness.fmt_ratio(1.0), "1.00×")
        self.assertEqual(harness.fmt_ratio(None), "")


def result(name, cells):
    return {"name": name, "unit": "ns/op", "contenders": cells}


class Table(unittest.TestCase):
    def test_rows_ratios_and_notes(self):
        results = [
            result("getpid", {
                "native": harness.summarize([100.0, 110.0, 90.0]),
                "husk-systrap": harness.summarize([2000.0, 2200.0, 2100.0]),
                "runsc-ptrace": {**harness.summarize([]), "note": "skipped: runsc is not installed"},
            }),
            result("stat", {
                "native": {**harness.summarize([]), "note": "failed: exit status 3: stat | oops"},
                "husk-systrap": harness.summarize([500.0]),
            }),
        ]
        table = harness.markdown_table(results, ["native", "husk-systrap", "runsc-ptrace"])
        lines = table.splitlines()
        self.assertEqual(lines[0], "| workload | unit | contender | median | min | max | vs native | note |")
        self.assertEqual(len(lines), 2 + 2 * 3)
        self.assertEqual(lines[2], "| getpid | ns/op | native | 100 | 90.0 | 110 | 1.00× |  |")
        self.assertEqual(lines[3], "| getpid | ns/op | husk-systrap | 2,100 | 2,000 | 2,200 | 21.0× |  |")
        self.assertIn("| runsc-ptrace |  |  |  |  | skipped: runsc is not installed |", lines[4])
        # No native figure: no ratio; a '|' in a note is escaped.
        self.assertIn("failed: exit status 3: stat \\| oops", lines[5])
        self.assertEqual(lines[6], "| stat | ns/op | husk-systrap | 500 | 500 | 500 |  |  |")
        # A contender absent from a row still gets a (blank) row.
        self.assertTrue(lines[7].startswith("| stat | ns/op | runsc-ptrace |  |"))

    def test_pipe_in_a_name_is_escaped(self):
        table = harness.markdown_table([result("tar | gzip", {"native": harness.summarize([1.0])})], ["native"])
        self.assertIn("| tar \\| gzip | ns/op | native | 1.00 |", table)


class Docs(unittest.TestCase):
    def test_append_then_replace(self):
        doc = "# Benchmarks\n\nold text\n"
        once = harness.update_docs(doc, "## Side by side\n\ntable 1\n")
        self.assertTrue(once.startswith(doc.rstrip("\n") + "\n\n" + harness.DOCS_BEGIN))
        self.assertIn("table 1", once)
        twice = harness.update_docs(once + "\n## Later section\n", "## Side by side\n\ntable 2\n")
        self.assertNotIn("table 1", twice)
        self.assertIn("table 2", twice)
        self.assertIn("## Later section", twice)
        self.assertEqual(twice.count(harness.DOCS_BEGIN), 1)
        self.assertTrue(twice.startswith("# Benchmarks\n\nold text\n"))


class History(unittest.TestCase):
    def test_append_keeps_every_run(self):
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "results" / "history.jsonl"
            self.assertEqual(harness.read_history(path), [])
            harness.append_history(path, {"started": "a", "workloads": [{"name": "getpid"}]})
            harness.append_history(path, {"started": "b", "workloads": []})
            runs = harness.read_history(path)
            self.assertEqual([r["started"] for r in runs], ["a", "b"])
            self.assertEqual(runs[0]["workloads"][0]["name"], "getpid")
            self.assertEqual(len(path.read_text().splitlines()), 2)
            for line in path.read_text().splitlines():
                json.loads(line)


class Workloads(unittest.TestCase):
    def test_every_workload_of_the_issue_is_there(self):
        for quick in (False, True):
            names = " ".join(w.name for w in harness.workloads(quick))
            for want in ("getpid", "read 1 B", "open+close", "stat", "fork+exit", "fork+exec", "start to exit",
                         "file 100 MiB", "pipe", "unix stream", "epoll ping-pong", "eventfd wake-ups",
                         "first touch 1 GiB", "python3", "tar+gzip", "peak RSS"):
                self.assertIn(want, names)

    def test_unix_stream_is_1_gib_or_256_mib_in_quick(self):
        for quick, label, mib in ((False, "1 GiB", "1024"), (True, "256 MiB", "256")):
            [w] = [w for w in harness.workloads(quick) if w.name.startswith("unix stream")]
            self.assertEqual(w.name, f"unix stream {label}")
            self.assertEqual(w.argv, ["/bin/hbench", "unix", mib])
            self.assertEqual((w.unit, w.measure, w.scale), ("ms", "printed", 1e-6))

    def test_ping_pongs_print_ns_per_round_trip(self):
        for quick in (False, True):
            rows = {w.argv[1]: w for w in harness.workloads(quick) if w.argv[1:2] in (["epollpp"], ["eventfd"])}
            self.assertEqual(sorted(rows), ["epollpp", "eventfd"])
            for w in rows.values():
                self.assertEqual((w.unit, w.measure, w.scale), ("µs/round trip", "printed", 1e-3))
                self.assertEqual(w.argv[2], "5000" if quick else "20000")

    def test_full_getpid_is_a_million(self):
        w = harness.workloads(False)[0]
        self.assertEqual(w.argv, ["/bin/hbench", "getpid", "1000000"])

    def test_native_command_is_the_bare_argv(self):
        env = harness.Env(work=Path("/nonexistent"), small=Path("/r"), debian=None, husk=Path("/h"), runsc=None)
        argv, enter, cleanup = harness.command(env, "native", Path("/r"), ["/bin/true"])
        self.assertEqual(argv, ["/bin/true"])
        self.assertIsNone(cleanup)
        argv, enter, _ = harness.command(env, "husk-ptrace", Path("/r"), ["/bin/true"])
        self.assertEqual(argv[:6], ["/h", "run", "--rootfs", "/r", "--platform", "ptrace"])
        self.assertEqual(argv[-2:], ["--", "/bin/true"])
        with self.assertRaises(harness.Failure):
            env.rootfs("debian")


class Containerd(unittest.TestCase):
    ENV_TEXT = ("NAMESPACE=husk-test\nADDRESS=/run/husk-test-containerd/containerd.sock\n\n"
                "IMAGE=docker.io/husk-test/busybox:latest\nSNAPSHOTTER=overlayfs\n")

    def test_parse_env(self):
        env = harness.parse_env(self.ENV_TEXT)
        self.assertEqual(env["NAMESPACE"], "husk-test")
        self.assertEqual(env["IMAGE"], "docker.io/husk-test/busybox:latest")
        self.assertEqual(len(env), 4)
        self.assertEqual(harness.parse_env("A=b=c\n"), {"A": "b=c"})
        with self.assertRaisesRegex(ValueError, "not KEY=VALUE"):
            harness.parse_env("containerd.sh: must run as root\n")
        with self.assertRaises(ValueError):
            harness.parse_env("=x\n")

    def test_ctr_run_argv(self):
        env = harness.parse_env(self.ENV_TEXT)
        argv = harness.ctr_run_argv(env, "/usr/local/bin/husk", "c1", ["true"])
        self.assertEqual(argv, ["ctr", "--address", "/run/husk-test-containerd/containerd.sock",
                                "--namespace", "husk-test", "run", "--rm", "--runc-binary",
                                "/usr/local/bin/husk", "docker.io/husk-test/busybox:latest", "c1", "true"])

    def test_docker_run_argv(self):
        env = {"HOST": "unix:///run/husk-test-docker/docker.sock", "DOCKER_CONFIG": "/run/husk-test-docker/cli"}
        argv = harness.docker_run_argv(env, "husk", "b1", "husk-test/busybox:latest", ["true"])
        self.assertEqual(argv, ["/usr/bin/docker", "--config", "/run/husk-test-docker/cli", "--host",
                                "unix:///run/husk-test-docker/docker.sock", "run", "--rm", "--runtime=husk",
                                "--name", "b1", "husk-test/busybox:latest", "true"])

    def test_docker_rows_are_skipped_with_a_note_without_docker(self):
        saved = harness.DOCKER_CLI
        harness.DOCKER_CLI = "/nonexistent/docker"
        try:
            rows = harness.docker_rows(Path("/nonexistent/husk"), True, None, "")
        finally:
            harness.DOCKER_CLI = saved
        self.assertEqual([r["name"] for r in rows], [w[0] for w in harness.DOCKER_WORKLOADS])
        for row in rows:
            for c in harness.DOCKER_CONTENDERS:
                self.assertEqual(row["contenders"][c]["note"],
                                 "skipped: docker is not installed (apt-get install docker.io)")
                self.assertEqual(row["contenders"][c]["samples"], [])

    def test_alternating_row_drops_the_warm_up_and_notes_skips(self):
        calls = []

        def one(c, i):
            calls.append((c, i))
            if c == "b":
                raise harness.Failure("boom")
            return 10.0 * (i + 1)

        row = harness.alternating_row("w", ["true"], "img", ["a", "b", "c"], {"c": "skipped: no c"}, one, 2, "a")
        self.assertEqual(calls, [("a", 0), ("b", 0), ("a", 1), ("b", 1), ("a", 2), ("b", 2)])
        self.assertEqual(row["contenders"]["a"]["samples"], [20.0, 30.0])
        self.assertEqual(row["contenders"]["a"]["ratio"], 1.0)
        self.assertEqual(row["contenders"]["b"]["note"], "failed: boom")
        self.assertEqual(row["contenders"]["c"]["note"], "skipped: no c")

    def test_ctr_table_is_relative_to_runc(self):
        row = result(harness.CTR_WORKLOAD, {
            "ctr-runc": harness.summarize([100.0, 140.0, 120.0]),
            "ctr-husk": harness.summarize([180.0]),
        })
        lines = harness.markdown_table([row], harness.CTR_CONTENDERS, baseline="ctr-runc").splitlines()
        self.assertIn("| vs ctr-runc |", lines[0])
        self.assertIn("| ctr-runc | 120 | 100 | 140 | 1.00× |", lines[2])
        self.assertIn("| ctr-husk | 180 | 180 | 180 | 1.50× |", lines[3])


if __name__ == "__main__":
    unittest.main()


class WaitExactTest(unittest.TestCase):
    def test_wall_time_is_not_rounded_up_to_a_poll_step(self):
        # A 40 ms sleep used to read as 63.5 ms (Popen.wait's doubling polls).
        # Compared with a blocking wait of the same command, best of three
        # each, so that a loaded machine's slower process starts (CI's)
        # count on both sides.
        walls, reference = [], []
        for _ in range(3):
            start = time.perf_counter()
            p = subprocess.Popen(["sleep", "0.04"], start_new_session=True)
            rc, wall, timed_out = harness.wait_exact(p, start, 10)
            self.assertEqual((rc, timed_out), (0, False))
            self.assertGreaterEqual(wall, 0.04)
            walls.append(wall)
            start = time.perf_counter()
            q = subprocess.Popen(["sleep", "0.04"], start_new_session=True)
            os.waitpid(q.pid, 0)
            reference.append(time.perf_counter() - start)
        self.assertLess(min(walls), min(reference) + 0.012, (walls, reference))

    def test_a_process_past_its_timeout_is_killed(self):
        start = time.perf_counter()
        p = subprocess.Popen(["sleep", "5"], start_new_session=True)
        rc, wall, timed_out = harness.wait_exact(p, start, 0.1)
        self.assertTrue(timed_out)
        self.assertLess(wall, 2)
        self.assertEqual(rc, -9)


class SelectionAndMeans(unittest.TestCase):
    def test_only_takes_comma_separated_parts(self):
        self.assertTrue(harness.selected("", "getpid"))
        self.assertTrue(harness.selected("fork,sqlite3", "sqlite3: insert"))
        self.assertFalse(harness.selected("fork,sqlite3", "getpid"))

    def test_geometric_mean_of_ratios(self):
        rows = [
            {"contenders": {"native": {"median": 1.0}, "husk": {"median": 2.0}}},
            {"contenders": {"native": {"median": 10.0}, "husk": {"median": 80.0}}},
            {"contenders": {"native": {"median": 5.0}}},
        ]
        means = harness.geometric_means(rows, ["native", "husk"])
        self.assertAlmostEqual(means["husk"], 4.0)
        self.assertAlmostEqual(means["native"], 1.0)
        self.assertIn("husk 4.00×", harness.geometric_mean_line(rows, ["native", "husk"]))
