#!/usr/bin/env python3
"""Open-loop HTTP/1.1 load generator for scripts/bench-model (stdlib only).

Sends POST /predict requests at the times a schedule gives, whether or not
earlier ones have been answered (open loop: a slow server does not slow the
arrivals down), over a pool of keep-alive connections (a new connection
when none is idle, as a client library's pool does; a server that closes
after each answer, gunicorn's sync workers, gets a new one each time).
Latency runs from the SCHEDULED send time, so a late start (a busy
generator or machine) counts against the server instead of being hidden
(no coordinated omission).

schedule: one "SECONDS BODY_INDEX" line per request; bodies: one request
body per line (the text of a review or several).

Writes one tab-separated line per request to --out:
  index  scheduled_s  body  status  latency_s  done_s  error  late_s
status 0 means no HTTP answer (error says why: refused, reset, eof,
timeout, unanswered). The first line is "# start_wall=UNIX_SECONDS".

usage: loadgen.py --port P --schedule FILE --bodies FILE --out FILE
                  [--host H] [--path /predict] [--timeout 120] [--drain 120]
"""
import argparse
import asyncio
import os
import resource
import socket
import time


class Failure(Exception):
    pass


async def read_response(reader):
    """Returns (status, keep_alive) after reading the whole answer."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as e:
        raise Failure("eof" if not e.partial else "eof-in-head")
    except asyncio.LimitOverrunError:
        raise Failure("head-too-long")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    try:
        status = int(parts[1])
    except (IndexError, ValueError):
        raise Failure("bad-status-line")
    keep = parts[0] == "HTTP/1.1"
    length, chunked = None, False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name, value = name.strip().lower(), value.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "transfer-encoding" and "chunked" in value:
            chunked = True
        elif name == "connection":
            if "close" in value:
                keep = False
            elif "keep-alive" in value:
                keep = True
    try:
        if status in (204, 304) or 100 <= status < 200:
            pass
        elif chunked:
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
                if size == 0:
                    while (await reader.readuntil(b"\r\n")) != b"\r\n":
                        pass
                    break
                await reader.readexactly(size + 2)
        elif length is not None:
            await reader.readexactly(length)
        else:
            await reader.read()
            keep = False
    except asyncio.IncompleteReadError:
        raise Failure("eof-in-body")
    return status, keep


async def run(args, schedule, bodies):
    loop = asyncio.get_running_loop()
    idle = []
    results = [None] * len(schedule)
    start = loop.time() + 0.3
    start_wall = time.time() + 0.3
    requests = [
        (f"POST {args.path} HTTP/1.1\r\nHost: {args.host}:{args.port}\r\n"
         f"Content-Type: text/plain; charset=utf-8\r\nContent-Length: {len(b)}\r\n\r\n").encode() + b
        for b in bodies
    ]

    async def exchange(body):
        conn = None
        while idle and conn is None:
            conn = idle.pop()
            if conn[0].at_eof():
                conn[1].close()
                conn = None
        if conn is None:
            try:
                reader, writer = await asyncio.open_connection(args.host, args.port, limit=1 << 20)
            except ConnectionRefusedError:
                raise Failure("refused")
            except OSError as e:
                raise Failure("connect:" + (e.strerror or type(e).__name__).replace(" ", "_"))
            sock = writer.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = (reader, writer)
        reader, writer = conn
        try:
            writer.write(requests[body])
            status, keep = await read_response(reader)
        except Failure:
            writer.close()
            raise
        except ConnectionResetError:
            writer.close()
            raise Failure("reset")
        except OSError as e:
            writer.close()
            raise Failure("io:" + (e.strerror or type(e).__name__).replace(" ", "_"))
        if keep:
            idle.append(conn)
        else:
            writer.close()
        return status

    async def one(i, t, body):
        late = loop.time() - start - t
        status, error = 0, "-"
        try:
            status = await asyncio.wait_for(exchange(body), args.timeout)
        except asyncio.TimeoutError:
            error = "timeout"
        except Failure as e:
            error = str(e)
        except Exception as e:  # noqa: BLE001 - a measuring tool records, never dies
            error = type(e).__name__
        done = loop.time() - start
        results[i] = (t, body, status, done - t, done, error, late)

    tasks = set()
    for i, (t, body) in enumerate(schedule):
        delay = start + t - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        task = loop.create_task(one(i, t, body))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.wait(set(tasks), timeout=args.drain)
    end = loop.time() - start
    for task in list(tasks):
        task.cancel()
    for i, r in enumerate(results):
        if r is None:
            t, body = schedule[i]
            results[i] = (t, body, 0, end - t, end, "unanswered", float("nan"))
    for _, writer in idle:
        writer.close()
    return start_wall, results


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--schedule", required=True)
    p.add_argument("--bodies", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--path", default="/predict")
    p.add_argument("--timeout", type=float, default=120)
    p.add_argument("--drain", type=float, default=120)
    p.add_argument("--nice", type=int, default=-10, help="niceness increment (below 0 needs root)")
    args = p.parse_args()
    try:
        # the generator's own lateness would count against every stack alike:
        # let it run before the CPU-bound workers when it wakes
        os.nice(args.nice)
    except OSError:
        pass
    try:
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):
        pass
    with open(args.bodies, encoding="utf-8") as f:
        bodies = [line.rstrip("\n").encode() for line in f]
    schedule = []
    with open(args.schedule) as f:
        for line in f:
            t, body = line.split()
            schedule.append((float(t), int(body)))
    start_wall, results = asyncio.run(run(args, schedule, bodies))
    with open(args.out, "w") as f:
        f.write(f"# start_wall={start_wall:.6f}\n")
        for i, (t, body, status, latency, done, error, late) in enumerate(results):
            f.write(f"{i}\t{t:.6f}\t{body}\t{status}\t{latency:.6f}\t{done:.6f}\t{error}\t{late:.6f}\n")


if __name__ == "__main__":
    main()
