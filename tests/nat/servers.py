"""The servers of the NAT tests' network namespace, on ADDRESS:

- 9000: TCP echo, closing after the client's EOF;
- 9001: UDP echo;
- 8080: HTTP, serving DIR;
- 53 (UDP): DNS, answering NAME with ADDRESS (A records, TTL 60),
  moving.NAME with 192.0.2.1 (TEST-NET-1: never a destination, only an
  answer) the first time and ADDRESS after, with TTL 1, and NXDOMAIN for
  any other name.

Usage: servers.py ADDRESS DIR NAME. Prints "ready" once all listen."""

import functools
import http.server
import socket
import socketserver
import struct
import sys
import threading

ip, root, name = sys.argv[1], sys.argv[2], sys.argv[3].lower()


class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        while True:
            data = self.request.recv(65536)
            if not data:
                return
            self.request.sendall(data)


class Threaded(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


class Http(http.server.ThreadingHTTPServer):
    allow_reuse_address = True
    daemon_threads = True


def udp_echo(sock):
    while True:
        data, peer = sock.recvfrom(65536)
        sock.sendto(data, peer)


def dns(sock):
    moving_asked = 0
    while True:
        q, peer = sock.recvfrom(512)
        if len(q) < 17:
            continue
        tid = struct.unpack("!H", q[:2])[0]
        i, labels = 12, []
        while i < len(q) and q[i]:
            labels.append(q[i + 1 : i + 1 + q[i]].decode("ascii", "replace"))
            i += 1 + q[i]
        qname, qtype = ".".join(labels).lower(), struct.unpack("!H", q[i + 1 : i + 3])[0]
        question = q[12 : i + 5]
        if qname == name and qtype == 1:
            answer = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + socket.inet_aton(ip)
            header = struct.pack("!HHHHHH", tid, 0x8180, 1, 1, 0, 0)
        elif qname == "moving." + name and qtype == 1:
            where = "192.0.2.1" if moving_asked == 0 else ip
            moving_asked += 1
            answer = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 1, 4) + socket.inet_aton(where)
            header = struct.pack("!HHHHHH", tid, 0x8180, 1, 1, 0, 0)
        elif qname == "moving." + name:
            answer, header = b"", struct.pack("!HHHHHH", tid, 0x8180, 1, 0, 0, 0)
        elif qname == name:
            answer, header = b"", struct.pack("!HHHHHH", tid, 0x8180, 1, 0, 0, 0)
        else:
            answer, header = b"", struct.pack("!HHHHHH", tid, 0x8183, 1, 0, 0, 0)
        sock.sendto(header + question + answer, peer)


def udp_on(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((ip, port))
    return s


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


handler = functools.partial(Quiet, directory=root)
for target in (
    Threaded((ip, 9000), Echo).serve_forever,
    Http((ip, 8080), handler).serve_forever,
    functools.partial(udp_echo, udp_on(9001)),
    functools.partial(dns, udp_on(53)),
):
    threading.Thread(target=target, daemon=True).start()
print("ready", flush=True)
threading.Event().wait()
