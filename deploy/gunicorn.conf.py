"""gunicorn configuration for invoiceportal (``gunicorn -c deploy/gunicorn.conf.py``).

Read from the environment so that the same file serves ``make run`` (TLS in gunicorn,
on localhost) and production behind nginx or Caddy (a unix socket, no TLS here).
"""

import multiprocessing
import os

from core.gunicorn_worker import BufferingThreadWorker

wsgi_app = "invoiceportal.wsgi:application"
bind = [os.environ.get("GUNICORN_BIND", "127.0.0.1:8443")]
# Two per core plus one; each login may hold one Argon2 hash's memory (docs/security.md).
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2 + 1))
# Idle and slow clients (slowloris) must not take a worker: the worker's event loop does the
# TLS handshake and reads each request whole, and only then gives it to a thread; whoever has
# not sent a complete request within GUNICORN_HEADER_TIMEOUT seconds is closed and logged
# (core/gunicorn_worker.py, docs/security.md#slow-clients). One thread per worker, as
# the sync worker had: one request, one Argon2 hash at a time per process.
worker_class = "core.gunicorn_worker.BufferingThreadWorker"
threads = 1
worker_connections = 200
BufferingThreadWorker.header_timeout = float(os.environ.get("GUNICORN_HEADER_TIMEOUT", "10"))
if not 0 < BufferingThreadWorker.header_timeout <= 300:
    raise ValueError("GUNICORN_HEADER_TIMEOUT must be between 0 and 300 seconds")
# An upload body (over 128 KiB, or chunked) is read by the thread; it must arrive at this many
# bytes per second on average (after GUNICORN_HEADER_TIMEOUT seconds of grace), or the thread
# drops it: a client trickling its body cannot keep a worker.
BufferingThreadWorker.body_min_rate = float(os.environ.get("GUNICORN_BODY_MIN_RATE", "10240"))
if not 1024 <= BufferingThreadWorker.body_min_rate <= 100 * 1024 * 1024:
    raise ValueError("GUNICORN_BODY_MIN_RATE must be between 1024 and 104857600 bytes per second")
http_protocols = "h1"
# Also the limit on each read or write once a thread has the request (a stalled upload or
# download frees the thread after this long).
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 30
# No keep-alive, as with the sync worker before: each request comes on its own connection and
# is accepted by a worker whose thread is free. A kept-alive connection would stay with its
# worker and wait behind that worker's slow request (a big download, a password hash), or be
# cut when that worker is killed (tests/reliability/test_faults.py).
keepalive = 0
# Request bodies are never logged; the access log's URL has tokens redacted.
accesslog = os.environ.get("GUNICORN_ACCESSLOG", "-")
errorlog = "-"
logger_class = "core.gunicorn_logging.RedactingLogger"
access_log_format = '%(h)s %(t)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s"'
# gunicorn would otherwise believe X-Forwarded-Proto from 127.0.0.1 and unix sockets on its
# own, making any local process "HTTPS". Trust the proxy's headers only behind a proxy,
# as Django does (INVOICEPORTAL_BEHIND_PROXY).
_behind_proxy = os.environ.get("INVOICEPORTAL_BEHIND_PROXY", "").strip().lower() in {
    "1",
    "true",
    "yes",
    "on",
}
if _behind_proxy:
    forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1")
else:
    forwarded_allow_ips = ""
    secure_scheme_headers = {}
# The runtime control socket (gunicorn >= 24) is not used; several instances (tests,
# make run) would otherwise share ~/.gunicorn/gunicorn.ctl.
control_socket_disable = True
limit_request_line = 4094
limit_request_fields = 100

certfile = os.environ.get("GUNICORN_CERTFILE") or None
keyfile = os.environ.get("GUNICORN_KEYFILE") or None
