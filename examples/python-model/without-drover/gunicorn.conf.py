# The same app the way most people serve it today: gunicorn's sync workers,
# one request at a time each, N of them sharing one listening socket.
#
#   cd examples/python-model && gunicorn -c without-drover/gunicorn.conf.py app:app
#   (WEB_CONCURRENCY=N for N workers; BIND=127.0.0.1:8000 to stay local)
#
# Usually with nginx in front for slow clients and TLS (proxy_pass to :8000).
# scripts/bench-model runs this file with -w N and its own -b.
import multiprocessing
import os

chdir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # where app.py is
bind = os.environ.get("BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count()))
worker_class = "sync"
threads = 1
# train once in the master and fork the workers (memory shared copy-on-write)
preload_app = True
timeout = 120            # a worker silent this long is killed and replaced
graceful_timeout = 30
raw_env = ["OMP_NUM_THREADS=1", "OPENBLAS_NUM_THREADS=1", "MKL_NUM_THREADS=1"]
accesslog = None
# gunicorn 24+ opens a control socket in ~/.gunicorn; not needed here
# (older versions ignore the name)
control_socket_disable = True
