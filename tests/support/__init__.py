"""Harness shared by the test suites and the benchmarks: real installations, servers and
proxies started as subprocesses (servers.py, proxies.py), free ports (ports.py) and waiting
for conditions (waiting.py). Importable without Django set up; no fixtures here (the suites'
conftest.py files hold those)."""
