#!/usr/bin/env python3
"""Open-loop HTTP/1.1 load generator for scripts/bench.

Reads a schedule (one "SECONDS MS" line per request: send time from the
start, and the service time the request asks for) and sends each request at
its scheduled time whether or not earlier ones have been answered, over a
pool of keep-alive connections (a new connection when none is idle).
Latency is measured from the SCHEDULED send time, so a late send (a
saturated generator or machine) counts against the target instead of being
hidden (no coordinated omission).

Writes one tab-separated line per request to --out:
  index  scheduled_s  ms  status  latency_s  done_s  error  late_s  service_s
(late_s: how late the generator itself started the request; service_s: the
worker's X-Service-Ms, the wall time its computation took, nan if absent)
status 0 means no HTTP answer (error says why: refused, reset, eof, timeout,
gave-up, unanswered); for an answer, error is "-" or "retry-after=VALUE"
when the answer carried Retry-After. The first line is
"# start_wall=UNIX_SECONDS".

--give-up S makes every client impatient, as real ones are: with no answer
S seconds after sending, it closes its connection (a FIN, as curl -m or a
client library's timeout does) and never retries ("gave-up").

usage: loadgen.py --port P --schedule FILE --out FILE [--host H]
                  [--path '/work?ms={ms}'] [--timeout 120] [--drain 60]
                  [--give-up S]
"""
import argparse
import asyncio
import os
import resource
import socket
import sys
import time


class Failure(Exception):
    pass


async def read_response(reader):
    """Returns (status, keep_alive)."""
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
    note = ""
    service = float("nan")
    length = None
    chunked = False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        value = value.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "transfer-encoding" and "chunked" in value:
            chunked = True
        elif name == "x-service-ms":
            try:
                service = float(value) / 1000
            except ValueError:
                pass
        elif name == "retry-after":
            note = "retry-after=" + value
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
                size_line = await reader.readuntil(b"\r\n")
                size = int(size_line.split(b";")[0].strip(), 16)
                if size == 0:
                    while (await reader.readuntil(b"\r\n")) != b"\r\n":
                        pass
                    break
                await reader.readexactly(size + 2)
        elif length is not None:
            await reader.readexactly(length)
        else:
            await reader.read()  # close-delimited
            keep = False
    except asyncio.IncompleteReadError:
        raise Failure("eof-in-body")
    return status, keep, note, service


async def run(args, schedule):
    loop = asyncio.get_running_loop()
    idle = []
    results = [None] * len(schedule)
    start = loop.time() + 0.3
    start_wall = time.time() + 0.3
    host_header = f"Host: {args.host}:{args.port}\r\n"

    async def exchange(ms):
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
        path = args.path.format(ms=ms)
        try:
            writer.write(f"GET {path} HTTP/1.1\r\n{host_header}\r\n".encode())
            status, keep, note, service = await read_response(reader)
        except asyncio.CancelledError:
            # timed out or gave up: the connection goes with the request, as
            # a real client's does (never reused with an answer still due)
            writer.close()
            raise
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
        return status, note, service

    async def one(i, t, ms):
        late = loop.time() - start - t
        status, error, service = 0, "", float("nan")
        impatient = args.give_up is not None and args.give_up < args.timeout
        try:
            status, error, service = await asyncio.wait_for(exchange(ms), args.give_up if impatient else args.timeout)
        except asyncio.TimeoutError:
            error = "gave-up" if impatient else "timeout"
        except Failure as e:
            error = str(e)
        except Exception as e:  # noqa: BLE001 - a measuring tool records, never dies
            error = type(e).__name__
        done = loop.time() - start
        results[i] = (t, ms, status, done - t, done, error, late, service)

    tasks = set()
    for i, (t, ms) in enumerate(schedule):
        delay = start + t - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        task = loop.create_task(one(i, t, ms))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.wait(set(tasks), timeout=args.drain)
    end = loop.time() - start
    for task in list(tasks):
        task.cancel()
    for i, r in enumerate(results):
        if r is None:
            t, ms = schedule[i]
            results[i] = (t, ms, 0, end - t, end, "unanswered", float("nan"), float("nan"))
    for _, writer in idle:
        writer.close()
    return start_wall, results


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--schedule", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--path", default="/work?ms={ms}")
    p.add_argument("--timeout", type=float, default=120)
    p.add_argument("--drain", type=float, default=60)
    p.add_argument("--give-up", type=float, default=None,
                   help="seconds after which a client without an answer closes its connection")
    p.add_argument("--nice", type=int, default=-10, help="niceness increment (needs root below 0)")
    args = p.parse_args()
    try:
        # the generator's own lateness would count against every target: let it
        # run before the CPU-bound workers when it wakes (same for all targets)
        os.nice(args.nice)
    except (OSError, PermissionError):
        pass
    try:
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):
        pass
    schedule = []
    with open(args.schedule) as f:
        for line in f:
            t, ms = line.split()
            schedule.append((float(t), ms))
    start_wall, results = asyncio.run(run(args, schedule))
    with open(args.out, "w") as f:
        f.write(f"# start_wall={start_wall:.6f}\n")
        for i, (t, ms, status, lat, done, err, late, service) in enumerate(results):
            f.write(f"{i}\t{t:.6f}\t{ms}\t{status}\t{lat:.6f}\t{done:.6f}\t{err or '-'}\t{late:.6f}"
                    f"\t{service:.6f}\n")
    bad = sum(1 for r in results if not 200 <= r[2] < 300)
    print(f"loadgen: {len(results)} requests, {bad} not 2xx", file=sys.stderr)


if __name__ == "__main__":
    main()
