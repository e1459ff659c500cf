"""The bench-slots worker: a WSGI app whose every request is BLAS work
(one matrix product sized, by --size / BENCH_SIZE, to about 20 ms on one
core), the shape of a numpy/PyTorch model's forward pass. Served by
gunicorn sync workers in every stack, so only the shaping differs."""
import os

import numpy as np

SIZE = int(os.environ.get("BENCH_SIZE", "600"))
_rng = np.random.default_rng(0)
_A = _rng.random((SIZE, SIZE))
_B = _rng.random((SIZE, SIZE))


def app(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    if path == "/health":
        body = b"ok\n"
    else:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if length:
            environ["wsgi.input"].read(length)
        c = _A @ _B
        body = ("%.3f\n" % float(c[0, 0])).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
