"""Gunicorn settings of the MovieRec web tier.

``movierec serve`` reads this file first, then ``GUNICORN_CMD_ARGS`` (any gunicorn option, e.g.
``--threads 8 --max-requests 0``), then its own ``--workers``/``--bind``. It also works with plain
gunicorn: ``gunicorn -c <this file> 'movierec.app:create_app()'``.

Why these values (docs/deploy.md has the measurements):

* A recommendations request is mostly Python work (ORM, validation, JSON: about 85% of its
  time is CPU, measured by benchmarks/serve_workers.py), so processes, one GIL each, are what
  set the throughput: one worker per available core, plus one so that a core stays busy while
  a worker waits on PostgreSQL or Redis, is recycled, or is stuck.
* Each worker has 2 threads (``gthread``) so that a slow client or an idle keep-alive
  connection occupies a thread, never a whole process: outside docker compose nothing buffers
  requests in front of gunicorn, and sync workers assume something does. Two, not more: the
  threads of a worker share one GIL, and with 4 they spent their time handing it over
  (benchmarks/serve.py --threads: cached recommendations 585 -> 744 req/s, GET movie 1,477 ->
  1,688, movies/top 933 -> 1,121 with 2; the bare endpoint alike). Fewer processes also keep
  memory about a third lower than gunicorn's 2 x cores + 1 sync workers.
* Each thread holds at most one database connection, so a web container uses at most
  ``workers x threads`` PostgreSQL connections (6 with the defaults on 2 cores; three such
  containers plus the scheduler stay well inside PostgreSQL's default of 100).
* ``preload_app`` stays off: ``create_app`` is cheap and loads no model (recommendations live in
  Redis), so preloading saves little (measured: 3 workers, 320 -> 275 MB proportional set size)
  while it would make the arbiter import the whole application; without it every worker builds
  its own app, engine and Redis client after the fork, and a HUP reload really reloads the code.
"""

from __future__ import annotations

import gc
import math
import os
from pathlib import Path


def available_cores(cpu_max: Path = Path("/sys/fs/cgroup/cpu.max")) -> int:
    """Cores this process may run on: the CPU affinity mask, capped by a cgroup v2 CPU quota
    (``docker run --cpus``/compose ``cpus:``), which ``os.cpu_count()`` does not see."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    try:
        quota, period = cpu_max.read_text().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, cores)


def default_workers() -> int:
    return available_cores() + 1


# The process tier. WEB_CONCURRENCY is the usual variable of platforms and gunicorn itself.
workers = int(os.environ.get("WEB_CONCURRENCY") or default_workers())
worker_class = "gthread"
threads = 2
preload_app = False

# Where it listens (``movierec serve --bind`` overrides; 0.0.0.0 so a container is reachable).
bind = ["0.0.0.0:8000"]
backlog = 2048

# A worker whose main loop is silent this long is killed and replaced (requests take ms).
timeout = 30
# On SIGTERM/SIGHUP, workers finish what they are serving for up to this long. The compose file
# gives web containers a longer stop_grace_period than this, so docker never SIGKILLs first.
graceful_timeout = 20
keepalive = 5
# Recycle workers now and then (jittered, so they do not all restart together): a guard against
# slow leaks in any library; the exchange is graceful. Rarely, though: a new worker costs about
# 4 s of CPU (importing the app, then its movie catalogue and model), and at 5,000 requests
# that was a quarter of the CPU of a busy server (benchmarks/serve.py: cached recommendations
# 3.4 -> 2.5 ms of server CPU per request without recycling, GET movie 2.0 -> 1.2 ms).
max_requests = 100_000
max_requests_jitter = 10_000

# Logs go to stdout/stderr, where docker and systemd collect them.
accesslog = "-"
errorlog = "-"
# The request id is the X-Request-ID response header the app sets on every answer.
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms worker=%(p)s request_id=%({x-request-id}o)s'
# Formats gunicorn's own logs as JSON too when LOG_FORMAT=json.
logger_class = "movierec.logs.GunicornLogger"
proc_name = "movierec-web"

# The heartbeat file is rewritten constantly: keep it in memory, not on a container's overlay fs.
if Path("/dev/shm").is_dir():
    worker_tmp_dir = "/dev/shm"

# Gunicorn >= 25 opens a control socket at one fixed path per user by default, so two servers of
# one user (two test runs, the e2e script next to a dev server) would fight over it; signals are
# all MovieRec needs (TERM: graceful stop, HUP: graceful reload, TTIN/TTOU: +/- one worker).
control_socket_disable = True


def _release_connections(app: object, *, close: bool) -> None:
    extensions = getattr(app, "extensions", None) or {}
    database = extensions.get("movierec.db")
    cache = extensions.get("movierec.cache")
    impressions = extensions.get("movierec.impressions")
    if impressions is not None and close:
        impressions.close()  # what the worker recorded goes to Redis before it exits
    if database is not None and database.url is not None:
        if close:
            database.dispose()
        else:
            # In a fresh child: forget the parent's pooled connections without closing them,
            # which would end the parent's sessions on the server (SQLAlchemy's fork recipe).
            database.engine.dispose(close=False)
    if cache is not None:
        cache.close()  # redis-py only shuts a socket down in the process that opened it


def post_fork(server, worker):  # type: ignore[no-untyped-def]
    # Only with preload_app (e.g. GUNICORN_CMD_ARGS=--preload) does a worker inherit an app that
    # the arbiter built; its lazy handles must not share sockets across processes.
    _release_connections(getattr(server.app, "callable", None), close=False)
    # Fold-in does one small matrix-vector product per request; with several workers and
    # threads per core, a multi-threaded BLAS only makes them contend (measured: a 59k x 50
    # product took 3x longer on two BLAS threads than on one under load).
    limit_blas_threads()


# Read by OpenBLAS (numpy's and scipy's), MKL and OpenMP when they are loaded.
BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS")


def limit_blas_threads() -> None:
    """One BLAS thread in this process. Without --preload the worker imports numpy only when
    it loads the app, after post_fork: threadpoolctl alone would find no BLAS to limit then
    (every worker ran two OpenBLAS threads on two cores), so the variables that a BLAS reads
    when it is loaded are set too; threadpoolctl limits one already loaded (--preload)."""
    from threadpoolctl import threadpool_limits

    for name in BLAS_THREAD_VARIABLES:
        os.environ[name] = "1"
    threadpool_limits(1, "blas")


def worker_exit(server, worker):  # type: ignore[no-untyped-def]
    # Close connections properly, so PostgreSQL does not log every recycled worker as an
    # unexpected EOF.
    _release_connections(getattr(worker, "wsgi", None), close=True)


def post_worker_init(worker):  # type: ignore[no-untyped-def]
    # gunicorn's own error answers (414, 431, a bad request line) as the API's JSON, and no
    # "Server: gunicorn" banner: see movierec.gunicorn_answers.
    from movierec.gunicorn_answers import install

    install()
    # The app is loaded: everything so far (some 1,400 modules, their functions and classes)
    # lives as long as the worker. Frozen, the garbage collector's full passes no longer walk
    # it on every request that happens to trigger one: each took about 80 ms, which was the
    # p99 of GET movies/top at one connection (78 -> 3 ms, benchmarks/serve.py).
    gc.freeze()


def child_exit(server, worker):  # type: ignore[no-untyped-def]
    # Multi-process metrics (``movierec serve`` sets the folder): a gone worker's live gauges
    # must not linger; its counters and histograms stay, so totals never go down.
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def when_ready(server):  # type: ignore[no-untyped-def]
    server.log.info(
        "MovieRec web tier listening on %s: %d workers x %d threads (arbiter pid %d)",
        ", ".join(str(listener) for listener in server.LISTENERS),
        server.cfg.workers,
        server.cfg.threads,
        os.getpid(),
    )
