# syntax=docker/dockerfile:1
#
# drover as PID 1 over the example model pool (examples/python-model): the
# review-sentiment Flask app, one single-threaded worker per CPU the
# container may use (cgroup cpu.max, so set a CPU limit), behind drover's
# proxy on :8080, admin probes and metrics on :9100.
#
#   docker build -t drover-model .
#   docker run --rm -p 8080:8080 -p 9100:9100 --cpus 2 drover-model
#   curl -d 'I love it' localhost:8080/predict
#   docker exec <container> drover status
#   docker stop -t 45 <container>       # worst case: drain 30s (shutdown_timeout) + stopwaitsecs 10s, plus margin
#
# Your own app: start FROM this image, COPY your code and a supervisor.conf
# over /app (or mount them), keep the ENTRYPOINT.

# The release binaries are fully static (Swift runtime and glibc linked in),
# so the runtime image needs nothing of the build image; bookworm for both
# only because the Python base image is.
ARG SWIFT_IMAGE=swift:6.3-bookworm
ARG PYTHON_IMAGE=python:3.12-slim-bookworm

# --- build: the release binaries (fully static: Swift runtime and glibc) ---
FROM ${SWIFT_IMAGE} AS build
WORKDIR /src
# SwiftPM checks the folder of every target the manifest declares, the test
# target included, so Tests/ comes along even though only the executables
# are built.
COPY Package.swift ./
COPY Sources ./Sources
COPY Tests ./Tests
RUN --mount=type=cache,target=/src/.build \
    swift build -c release \
 && bin="$(swift build -c release --show-bin-path)" \
 && mkdir -p /out \
 && cp "$bin/drover" "$bin/drover-demo-worker" /out/ \
 && strip /out/drover /out/drover-demo-worker \
 && /out/drover version

# --- run: python slim + the model's packages + the two binaries -------------
FROM ${PYTHON_IMAGE}
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
# dependencies first: this layer survives edits to the app
COPY examples/python-model/requirements.txt ./
RUN pip install -r requirements.txt
COPY --from=build /out/drover /out/drover-demo-worker /usr/local/bin/
COPY examples/python-model/ ./
# An unprivileged user owns /app (drover writes its control socket there,
# %(here)s/drover.sock); the code itself stays root's and read-only. User
# and group are both 10001, the ids deploy/kubernetes runs the pod as.
RUN python -m compileall -q /app \
 && groupadd --system --gid 10001 drover \
 && useradd --system --uid 10001 --gid 10001 --home-dir /app --no-create-home --shell /usr/sbin/nologin drover \
 && chown drover:drover /app \
 && drover check -c /app/supervisor.conf
USER 10001:10001
EXPOSE 8080 9100
# drover's graceful stop; the second one (or SIGQUIT) is the fast stop
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s \
    CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9100/readyz', timeout=2)"]
ENTRYPOINT ["drover"]
CMD ["run", "-c", "/app/supervisor.conf"]
