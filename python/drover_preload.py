"""drover's preload template: load a model once, fork workers that share it.

    PYTHONPATH=/path/to/drover/python python -m drover_preload app:load app:serve

drover starts this as the `command` of a program with `preload = true`. It
imports and calls the loader (`app:load`, no arguments), freezes the garbage
collector so the loaded objects stay shared copy-on-write, and then forks one
worker each time drover asks. Each worker starts its own session, re-seeds
its random generators, gets PORT, DROVER_SLOT and drover's environment for
that slot, and calls the serve function (`app:serve`) with its port.

The template talks to drover over the socket whose descriptor number is in
DROVER_PRELOAD_FD, in the protocol of docs/preload-protocol.md (version 2).
Standard library only.

The template refuses to start, and says why, when the loader left a thread
running: forking a process with threads copies locks held by threads that do
not exist in the child, which is how gunicorn's --preload hangs with
PyTorch, XGBoost or scikit-learn. Load the model without starting thread
pools (e.g. OMP_NUM_THREADS is read in the workers, not here) or start them
in the serve function.
"""

import gc
import importlib
import os
import random
import selectors
import signal
import socket
import struct
import sys
import threading
import traceback

PROTOCOL_VERSION = 2
MAX_STREAMS = 2
MAX_CPUS = 1024
MAX_PAYLOAD = 65536
MAX_TEXT = 4096
NO_SLOT = 0xFFFFFFFF
HELLO, FORK, FORKED, EXITED, ERROR = 1, 2, 3, 4, 5

# Exit codes of the template itself, distinct so drover's log tells them apart.
EXIT_USAGE = 2
EXIT_REFUSED = 3
EXIT_PROTOCOL = 4


class ProtocolError(Exception):
    """A frame from drover that breaks docs/preload-protocol.md."""


# --- frames -----------------------------------------------------------------

def _text(value):
    data = value.encode("utf-8", "replace").replace(b"\0", b"?")[:MAX_TEXT]
    # Cutting at MAX_TEXT may split a character: drop the broken tail.
    data = data.decode("utf-8", "ignore").encode("utf-8")
    return struct.pack(">H", len(data)) + data


def encode(kind, body):
    payload = bytes((PROTOCOL_VERSION, kind)) + body
    return struct.pack(">I", len(payload)) + payload


def hello_frame(pid, runtime):
    return encode(HELLO, struct.pack(">I", pid) + _text(runtime))


def forked_frame(slot, pid):
    return encode(FORKED, struct.pack(">II", slot, pid))


def exited_frame(pid, wait_status):
    return encode(EXITED, struct.pack(">Ii", pid, wait_status))


def error_frame(slot, message):
    return encode(ERROR, struct.pack(">I", NO_SLOT if slot is None else slot) + _text(message))


def wait_status(info):
    """The raw waitpid(2) status of a waitid(2) result (the protocol sends that)."""
    if info.si_code == os.CLD_EXITED:
        return (info.si_status & 0xFF) << 8
    if info.si_code == os.CLD_DUMPED:
        return (info.si_status & 0x7F) | 0x80
    return info.si_status & 0x7F  # CLD_KILLED


class FrameReader:
    """Cuts the byte stream from drover into payloads; bounded like drover's decoder."""

    def __init__(self):
        self.buffer = bytearray()

    def feed(self, data):
        self.buffer += data

    def payloads(self):
        while len(self.buffer) >= 4:
            (length,) = struct.unpack_from(">I", self.buffer)
            if length > MAX_PAYLOAD:
                raise ProtocolError("frame of %d bytes is larger than the limit of %d" % (length, MAX_PAYLOAD))
            if length < 2:
                raise ProtocolError("frame of %d bytes is too short for its version and kind" % length)
            if len(self.buffer) < 4 + length:
                return
            payload = bytes(self.buffer[4:4 + length])
            del self.buffer[:4 + length]
            yield payload


def decode_fork(payload):
    """(slot, port, cpus, streams, [(key, value)]) from a fork payload; ProtocolError otherwise."""
    version, kind = payload[0], payload[1]
    if version != PROTOCOL_VERSION:
        raise ProtocolError("protocol version %d is not supported (this template speaks %d)"
                            % (version, PROTOCOL_VERSION))
    if kind != FORK:
        raise ProtocolError("unexpected message kind %d (a template only receives fork, kind 2)" % kind)
    view, at = payload, 2

    def take(count, field):
        nonlocal at
        if at + count > len(view):
            raise ProtocolError("fork frame ends before its %s" % field)
        chunk = view[at:at + count]
        at += count
        return chunk

    def string(field):
        (length,) = struct.unpack(">H", take(2, "length of " + field))
        raw = take(length, field)
        if b"\0" in raw:
            raise ProtocolError("fork frame: %s contains a NUL byte" % field)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError("fork frame: %s is not valid UTF-8" % field) from None

    (slot,) = struct.unpack(">I", take(4, "slot"))
    (port,) = struct.unpack(">H", take(2, "port"))
    if port == 0:
        raise ProtocolError("fork frame: port is 0")
    (streams,) = struct.unpack(">B", take(1, "streams"))
    if streams > MAX_STREAMS:
        raise ProtocolError("fork frame: streams is %d, more than %d" % (streams, MAX_STREAMS))
    (cpu_count,) = struct.unpack(">H", take(2, "cpu count"))
    if cpu_count > MAX_CPUS:
        raise ProtocolError("fork frame: cpus has %d entries, more than %d" % (cpu_count, MAX_CPUS))
    cpus = list(struct.unpack(">%dH" % cpu_count, take(2 * cpu_count, "cpus")))
    (count,) = struct.unpack(">H", take(2, "environment count"))
    if count > 1024:
        raise ProtocolError("fork frame: environment has %d entries, more than 1024" % count)
    environment = []
    for index in range(count):
        key = string("environment key %d" % index)
        if not key or "=" in key or len(key.encode()) > 255:
            raise ProtocolError("fork frame: environment key %r is not a valid name" % key)
        environment.append((key, string("value of " + key)))
    if at != len(view):
        raise ProtocolError("fork frame has %d unexpected bytes after its last field" % (len(view) - at))
    return slot, port, cpus, streams, environment


# --- the template -----------------------------------------------------------

def resolve(spec, role):
    """The callable named by 'module:attribute' (dots allowed in both)."""
    module_name, colon, attribute = spec.partition(":")
    if not colon or not module_name or not attribute:
        raise SystemExit("drover_preload: the %s must be module:function, not %r" % (role, spec))
    target = importlib.import_module(module_name)
    for part in attribute.split("."):
        target = getattr(target, part)
    if not callable(target):
        raise SystemExit("drover_preload: the %s %s is not callable" % (role, spec))
    return target


def stray_threads():
    """What runs beside the main thread, by name: Python threads, then OS threads.

    threading.enumerate() sees Python threads; /proc/self/task also sees the
    native ones (OpenMP, MKL, torch intra-op pools) that Python does not know.
    """
    main = threading.main_thread()
    python_threads = [t.name for t in threading.enumerate() if t is not main]
    native = []
    try:
        tasks = [tid for tid in os.listdir("/proc/self/task") if int(tid) != os.getpid()]
    except OSError:
        tasks = []
    for tid in tasks:
        try:
            with open("/proc/self/task/%s/comm" % tid) as comm:
                native.append("%s (tid %s)" % (comm.read().strip(), tid))
        except OSError:
            native.append("tid %s" % tid)
    return python_threads, native


def refusal_for_threads():
    python_threads, native = stray_threads()
    if not python_threads and not native:
        return None
    parts = []
    if python_threads:
        parts.append("Python threads: " + ", ".join(python_threads))
    if native:
        parts.append("%d OS thread%s besides the main one: %s"
                     % (len(native), "" if len(native) == 1 else "s", ", ".join(native)))
    return ("the loader left threads running, and forking now could hang the workers (%s); "
            "start thread pools in the serve function instead" % "; ".join(parts))


def reseed():
    """Each worker gets its own random state, not a copy of the template's."""
    random.seed()
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed()
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.seed()


class Template:
    def __init__(self, channel, serve, wakeup_read):
        self.channel = channel
        self.serve = serve
        self.wakeup_read = wakeup_read
        self.reader = FrameReader()
        # Descriptors received with fork frames (SCM_RIGHTS), in order; a
        # frame's descriptors arrive no later than its first byte.
        self.descriptors = []
        # False once drover closed its end: nothing more is reported.
        self.connected = True

    def send(self, frame):
        self.channel.sendall(frame)

    def run(self):
        selector = selectors.DefaultSelector()
        selector.register(self.channel, selectors.EVENT_READ, "drover")
        selector.register(self.wakeup_read, selectors.EVENT_READ, "sigchld")
        while True:
            for key, _ in selector.select():
                if key.data == "sigchld":
                    self.drain_wakeups()
                    self.reap()
                elif not self.read_from_drover():
                    return 0

    def drain_wakeups(self):
        try:
            while os.read(self.wakeup_read, 512):
                pass
        except BlockingIOError:
            pass

    def reap(self):
        """Reports each exited worker to drover, then reaps it: in that order,
        so an exit is never lost. When drover cannot be told (it closed its
        end), the worker stays a zombie until the template exits; drover,
        its subreaper, then reaps it and sees its status itself."""
        while self.connected:
            try:
                info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                return
            if info is None or info.si_pid == 0:
                return
            try:
                self.send(exited_frame(info.si_pid, wait_status(info)))
            except OSError:
                self.connected = False
                return
            os.waitpid(info.si_pid, 0)

    def read_from_drover(self):
        """False once drover closed its end (the template's cue to exit)."""
        space = socket.CMSG_SPACE(MAX_STREAMS * struct.calcsize("i"))
        data, ancillary, _, _ = self.channel.recvmsg(65536, space, getattr(socket, "MSG_CMSG_CLOEXEC", 0))
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                usable = len(payload) - len(payload) % struct.calcsize("i")
                self.descriptors.extend(struct.unpack("%di" % (usable // 4), payload[:usable]))
        if not data:
            self.connected = False
            return False
        self.reader.feed(data)
        for payload in self.reader.payloads():
            slot, port, cpus, streams, environment = decode_fork(payload)
            if streams > len(self.descriptors):
                raise ProtocolError("fork frame for slot %d announces %d descriptors, %d arrived"
                                    % (slot, streams, len(self.descriptors)))
            output = self.descriptors[:streams]
            del self.descriptors[:streams]
            try:
                self.fork(slot, port, cpus, output, environment)
            finally:
                # The worker has its copies: the template's would keep its pipes open past its death.
                for fd in output:
                    os.close(fd)
        return True

    def fork(self, slot, port, cpus, output, environment):
        try:
            pid = os.fork()
        except OSError as error:
            self.send(error_frame(slot, "fork failed: %s" % error))
            return
        if pid == 0:
            self.become_worker(slot, port, cpus, output, environment)
        self.send(forked_frame(slot, pid))

    def become_worker(self, slot, port, cpus, output, environment):
        """Runs in the child; never returns."""
        code = 1
        try:
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            self.channel.close()
            os.close(self.wakeup_read)
            for fd in self.descriptors:
                os.close(fd)
            os.setsid()
            if output:
                # This worker's own pipes to drover, as a spawned worker's: its
                # output and last words are its own, not the template's.
                for stream in (sys.stdout, sys.stderr):
                    try:
                        stream.flush()
                    except Exception:
                        pass
                os.dup2(output[0], 1)
                os.dup2(output[-1], 2)
                for fd in set(output):
                    os.close(fd)
            if cpus:
                # The slot's cores, before any thread pool starts (affinity is per thread).
                os.sched_setaffinity(0, cpus)
            os.environ["PORT"] = str(port)
            os.environ["DROVER_SLOT"] = str(slot)
            # drover's entries win: they are what a spawned worker of this slot gets.
            for key, value in environment:
                os.environ[key] = value
            reseed()
            self.serve(port)
            code = 0
        except SystemExit as exit:
            code = exit.code if isinstance(exit.code, int) else (0 if exit.code is None else 1)
            if not isinstance(exit.code, (int, type(None))):
                print(exit.code, file=sys.stderr)
        except BaseException:
            traceback.print_exc()
        finally:
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except Exception:
                    pass
            os._exit(code)


def open_channel():
    raw = os.environ.pop("DROVER_PRELOAD_FD", None)
    if raw is None:
        raise SystemExit("drover_preload: DROVER_PRELOAD_FD is not set; "
                         "run this as the command of a [program:x] with preload = true")
    try:
        fd = int(raw)
        os.fstat(fd)
    except (ValueError, OSError):
        raise SystemExit("drover_preload: DROVER_PRELOAD_FD=%r is not an open descriptor" % raw) from None
    if fd <= 2:
        # drover may hand the socket over as stdin: move it away so workers
        # do not inherit it as one of their standard streams.
        moved = os.dup(fd)
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, fd)
        os.close(null)
        fd = moved
    os.set_inheritable(fd, False)
    return socket.socket(fileno=fd)


def main(argv):
    if len(argv) != 2:
        print("usage: python -m drover_preload module:load module:serve", file=sys.stderr)
        return EXIT_USAGE
    load_spec, serve_spec = argv
    channel = open_channel()
    try:
        load = resolve(load_spec, "loader")
        serve = resolve(serve_spec, "serve function")
        load()
    except SystemExit as exit:
        channel.sendall(error_frame(None, str(exit.code)))
        raise
    except BaseException as error:
        traceback.print_exc()
        channel.sendall(error_frame(None, "loader %s failed: %s: %s" % (load_spec, type(error).__name__, error)))
        return 1
    # Move everything loaded so far out of the collector's reach: a collection
    # in a worker would otherwise write to every object's header and un-share
    # the pages copy-on-write kept shared.
    gc.collect()
    gc.freeze()

    refusal = refusal_for_threads()
    if refusal is not None:
        print("drover_preload: refusing to start: " + refusal, file=sys.stderr)
        channel.sendall(error_frame(None, refusal))
        return EXIT_REFUSED

    wakeup_read, wakeup_write = os.pipe()
    os.set_blocking(wakeup_read, False)
    os.set_blocking(wakeup_write, False)
    signal.set_wakeup_fd(wakeup_write)
    # A Python-level handler, so that SIGCHLD reaches the wakeup pipe.
    signal.signal(signal.SIGCHLD, lambda number, frame: None)

    template = Template(channel, serve, wakeup_read)
    runtime = "python %s %s %s" % (".".join(map(str, sys.version_info[:3])), load_spec, serve_spec)
    template.send(hello_frame(os.getpid(), runtime))
    try:
        return template.run()
    except ProtocolError as error:
        message = "drover_preload: bad frame from drover: %s" % error
        print(message, file=sys.stderr)
        try:
            channel.sendall(error_frame(None, message))
        except OSError:
            pass
        return EXIT_PROTOCOL


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
