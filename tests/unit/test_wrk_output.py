"""The API benchmark reads wrk's report correctly (the benchmark itself never runs in the suite)."""

from __future__ import annotations

import os

import pytest

from tests.benchmarks.api import cpu_seconds, parse_wrk

CLEAN = """Running 1s test @ http://127.0.0.1:18765/hello
  2 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.98ms    4.95ms  51.78ms   93.58%
    Req/Sec     2.08k     1.15k    4.35k    75.00%
  Latency Distribution
     50%    1.70ms
     75%    2.61ms
     90%    5.95ms
     99%   28.06ms
  4156 requests in 1.03s, 613.09KB read
Requests/sec:   4052.02
Transfer/sec:    597.75KB
"""

WITH_ERRORS = """Running 1s test @ http://127.0.0.1:18765/missing
  1 threads and 2 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.36ms    1.54ms  12.36ms   87.15%
    Req/Sec     2.07k   666.50     3.36k    60.00%
  Latency Distribution
     50%  666.00us
     75%    1.26ms
     90%    3.36ms
     99%    1.20s
  2069 requests in 1.03s, 347.66KB read
  Socket errors: connect 0, read 3, write 0, timeout 4
  Non-2xx or 3xx responses: 2069
Requests/sec:   2000.36
Transfer/sec:    336.12KB
"""


def test_clean_run() -> None:
    load = parse_wrk(CLEAN, server_cpu_seconds=2.078)
    assert load.requests == 4156
    assert load.requests_per_second == 4052.02
    assert load.p50_ms == pytest.approx(1.70)
    assert load.p99_ms == pytest.approx(28.06)
    assert (load.non_2xx, load.socket_errors) == (0, 0)
    assert load.server_cpu_ms_per_request == pytest.approx(0.5)


def test_errors_and_units() -> None:
    load = parse_wrk(WITH_ERRORS)
    assert load.p50_ms == pytest.approx(0.666)
    assert load.p99_ms == pytest.approx(1200.0)
    assert load.non_2xx == 2069
    assert load.socket_errors == 7
    assert load.server_cpu_ms_per_request is None


def test_unreadable_output_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="unexpected wrk output"):
        parse_wrk("unable to connect to 127.0.0.1:1 Connection refused\n")


def test_cpu_seconds_of_this_process() -> None:
    sum(range(2_000_000))  # burn a little CPU so the figure is positive
    assert (cpu_seconds(os.getpid()) or 0) > 0
