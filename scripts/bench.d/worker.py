#!/usr/bin/env python3
"""A single-threaded, CPU-bound HTTP/1.1 worker for scripts/bench.

Behaves like one sync Flask/gunicorn worker that keeps connections alive: one
thread, one request computed at a time, any number of open (keep-alive)
connections. Requests that arrive while it computes wait (in arrival order,
as far as one poll can tell) until it is free again.

  GET /work?ms=N   burn N ms of this thread's CPU time, answer 200 "done N\\n"
                   with X-Service-Ms: the wall time that took (CPU contention
                   shows as more than N)
  GET /health      200 "ok\\n"
  anything else    200 "ok\\n"

Also a WSGI callable `app` with the same handler, for `gunicorn worker:app`.

usage: worker.py --port PORT [--host 127.0.0.1] [--mark FILE]
($PORT is used when --port is absent; --mark appends "PID UNIX_TIME" to FILE
when the first /work request arrives, to see when a replacement serves)
"""
import collections
import os
import resource
import selectors
import socket
import sys
import time

thread_time = time.thread_time


def burn(ms):
    """Busy-loop until this thread has used `ms` milliseconds of CPU."""
    end = thread_time() + ms / 1000.0
    while thread_time() < end:
        pass


MARK = {"file": None}


def mark_first():
    """Appends "PID UNIX_TIME" to the --mark file on the first /work request."""
    path, MARK["file"] = MARK["file"], None
    if path:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.write(fd, b"%d %.6f\n" % (os.getpid(), time.time()))
        os.close(fd)


def handle(target):
    """Returns (status, body bytes) for a request-target."""
    path, _, query = target.partition("?")
    if path == "/work":
        if MARK["file"]:
            mark_first()
        ms = 0.0
        for part in query.split("&"):
            key, _, value = part.partition("=")
            if key == "ms":
                try:
                    ms = float(value)
                except ValueError:
                    return "400 Bad Request", b"bad ms\n"
        if ms > 0:
            burn(ms)
        return "200 OK", b"done %g\n" % ms
    return "200 OK", b"ok\n"


# ---- WSGI (gunicorn sync workers) -------------------------------------------

def app(environ, start_response):
    target = environ.get("PATH_INFO", "/")
    if environ.get("QUERY_STRING"):
        target += "?" + environ["QUERY_STRING"]
    t0 = time.perf_counter()
    status, body = handle(target)
    wall_ms = (time.perf_counter() - t0) * 1000
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(body))),
                            ("X-Service-Ms", "%.3f" % wall_ms)])
    return [body]


# ---- raw-socket server --------------------------------------------------------

class Conn:
    __slots__ = ("sock", "buf", "closing")

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.closing = False


def parse_requests(conn, queue):
    """Moves every complete request in conn.buf to the queue."""
    while True:
        end = conn.buf.find(b"\r\n\r\n")
        if end < 0:
            if len(conn.buf) > 65536:
                conn.closing = True
                conn.buf = b""
            return
        head = conn.buf[:end].decode("latin-1")
        lines = head.split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3:
            queue.append((conn, None, False))
            conn.closing = True
            conn.buf = b""
            return
        method, target, version = parts
        length = 0
        keep = version == "HTTP/1.1"
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            value = value.strip()
            if name == "content-length":
                try:
                    length = int(value)
                except ValueError:
                    length = 0
            elif name == "connection":
                tokens = [t.strip().lower() for t in value.split(",")]
                if "close" in tokens:
                    keep = False
                elif "keep-alive" in tokens:
                    keep = True
        if len(conn.buf) < end + 4 + length:
            return  # body not here yet
        conn.buf = conn.buf[end + 4 + length:]
        queue.append((conn, target, keep))
        if not keep:
            conn.closing = True
            return


def send_all(sock, data):
    view = memoryview(data)
    while view:
        try:
            n = sock.send(view)
            view = view[n:]
        except BlockingIOError:
            selectors.select.select([], [sock], [], 5)


def serve(host, port):
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):
        pass
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind((host, port))
    lsock.listen(4096)
    lsock.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(lsock, selectors.EVENT_READ, None)
    queue = collections.deque()

    def close(conn):
        try:
            sel.unregister(conn.sock)
        except (KeyError, ValueError):
            pass
        conn.sock.close()

    def poll(timeout):
        for key, _ in sel.select(timeout):
            if key.data is None:
                while True:
                    try:
                        s, _ = lsock.accept()
                    except (BlockingIOError, InterruptedError):
                        break
                    s.setblocking(False)
                    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    sel.register(s, selectors.EVENT_READ, Conn(s))
                continue
            conn = key.data
            try:
                data = conn.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            if not data:
                # peer closed: drop its queued requests, nobody will read them
                for i in range(len(queue) - 1, -1, -1):
                    if queue[i][0] is conn:
                        del queue[i]
                close(conn)
                continue
            if conn.closing:
                continue
            conn.buf += data
            parse_requests(conn, queue)

    while True:
        poll(0 if queue else None)
        while queue:
            conn, target, keep = queue.popleft()
            t0 = time.perf_counter()
            if target is None:
                status, body = "400 Bad Request", b"bad request\n"
            else:
                status, body = handle(target)
            wall_ms = (time.perf_counter() - t0) * 1000
            head = "HTTP/1.1 %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nX-Service-Ms: %.3f\r\n%s\r\n" % (
                status, len(body), wall_ms, "" if keep else "Connection: close\r\n")
            try:
                send_all(conn.sock, head.encode() + body)
            except OSError:
                keep = False
            if not keep:
                for i in range(len(queue) - 1, -1, -1):
                    if queue[i][0] is conn:
                        del queue[i]
                close(conn)
            # look at the sockets between requests so arrivals queue in order
            poll(0)


def main():
    port = int(os.environ.get("PORT", "0"))
    host = "127.0.0.1"
    args = sys.argv[1:]
    while args:
        arg = args.pop(0)
        if arg == "--port":
            port = int(args.pop(0))
        elif arg == "--host":
            host = args.pop(0)
        elif arg == "--mark":
            MARK["file"] = args.pop(0)
        else:
            sys.exit("usage: worker.py --port PORT [--host HOST] [--mark FILE]")
    if not port:
        sys.exit("worker.py: no --port and no $PORT")
    try:
        serve(host, port)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
