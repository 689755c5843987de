"""The benchmarks of docs/performance.md: a package, each one run from the repository as
``.venv/bin/python -m benchmarks.<name> [--out bench-output] ...`` (`make bench` runs the
reporting ones). They measure and report; the tests never assert a timing.

- ``download``: the download path under wrk, portal behind nginx against nginx alone;
  ``download_profile``: where a download's time goes inside Django (cProfile, in-process).
- ``memory``: a gunicorn worker's peak memory for large downloads and admin uploads.
- ``history`` (with its child process ``history_child``): the history page at scale.
- ``pdf_render``: invoices/pdf.py against WeasyPrint.
- ``month_end``: 1,000 invoices through ``manage.py issue_invoices``.
- ``login``, ``argon2_cost``: what a login and one password hash cost.
- ``load``: a bounded load test of a running portal (tests/reliability/test_load.py).

Shared pieces: ``_results`` (the report files), ``proctree`` (processes from /proc),
``seed`` (the seed data, ``python -m benchmarks.seed``). Installations, servers and
proxies come from tests/support/ (the end-to-end tests' harness).
"""
