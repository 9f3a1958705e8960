#!/usr/bin/env python3
"""Runs a command on a fresh pty, as a terminal emulator or containerd would,
and plays a script against it.

    pty_driver.py SCRIPT_JSON CMD [ARGS...]

The command gets the pty's replica as stdin, stdout and stderr, in a new
session whose controlling terminal the replica is (setsid + TIOCSCTTY), so
it is the terminal's foreground process group: typed ^C, ^\\ and ^Z and
window-size changes signal it, as they would an interactive `husk run`.
The window starts at 24x80.

SCRIPT_JSON is a list of steps, run in order:
  {"expect": TEXT}       wait until the output since the last expect holds TEXT
  {"send": TEXT}         type TEXT (\\u0003 is ^C)
  {"winsize": [R, C]}    resize the terminal from the master side (at the
                         start of the script: before the command starts)
  {"sleep": SECONDS}
Then the driver waits for the command to exit and prints `status N` (128+sig
if it was killed), `failed WHY` (`failed -` if every step worked), each on a
line of its own, and then everything it read from the master. Every wait is
bounded by TIMEOUT seconds ($PTY_DRIVER_TIMEOUT, default 60).
"""

import fcntl
import json
import os
import select
import signal
import struct
import subprocess
import sys
import termios
import time

TIMEOUT = float(os.environ.get("PTY_DRIVER_TIMEOUT", "60"))


def set_winsize(fd, rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def main():
    script = json.loads(sys.argv[1])
    cmd = sys.argv[2:]
    master, replica = os.openpty()
    set_winsize(master, 24, 80)
    # Resizes before anything else happen before the command starts, so it
    # sees that size from the first and no SIGWINCH for it.
    while script and "winsize" in script[0]:
        set_winsize(master, *script.pop(0)["winsize"])

    def become_terminal_owner():
        # subprocess already called setsid (start_new_session).
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(
        cmd,
        stdin=replica,
        stdout=replica,
        stderr=replica,
        start_new_session=True,
        preexec_fn=become_terminal_owner,
        close_fds=True,
    )
    os.close(replica)
    output = bytearray()
    mark = 0
    eof = False

    def pump(wait):
        nonlocal eof
        if eof:
            time.sleep(wait)
            return
        r, _, _ = select.select([master], [], [], wait)
        if r:
            try:
                data = os.read(master, 65536)
            except OSError:
                data = b""
            if data:
                output.extend(data)
            else:
                eof = True

    failed = None
    for step in script:
        if "expect" in step:
            want = step["expect"].encode()
            deadline = time.monotonic() + TIMEOUT
            while want not in output[mark:]:
                if time.monotonic() > deadline or (eof and proc.poll() is not None):
                    failed = "timed out waiting for %r" % step["expect"]
                    break
                pump(0.05)
            if failed:
                break
            mark = output.index(want, mark) + len(want)
        elif "send" in step:
            os.write(master, step["send"].encode())
        elif "winsize" in step:
            set_winsize(master, *step["winsize"])
        elif "sleep" in step:
            end = time.monotonic() + step["sleep"]
            while time.monotonic() < end:
                pump(max(0.0, min(0.05, end - time.monotonic())))

    deadline = time.monotonic() + TIMEOUT
    while proc.poll() is None:
        if time.monotonic() > deadline:
            failed = failed or "the command did not exit"
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            break
        pump(0.05)
    # The rest of the output: the master reads EOF (EIO) once nothing holds
    # the replica.
    end = time.monotonic() + 5
    while not eof and time.monotonic() < end:
        pump(0.05)
    status = proc.returncode
    if status < 0:
        status = 128 - status
    out = sys.stdout.buffer
    out.write(b"status %d\nfailed %s\n" % (status, (failed or "-").encode()))
    out.write(bytes(output))
    out.flush()


if __name__ == "__main__":
    main()
