"""The benchmarks measure what they say: bench/script_size.py reports the bytes a running
collector serves for /clerk.js (minified), not the source's."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from bench import script_size
from bench.browser import served_size
from bench.ingest import Collector


def test_measured_sizes_are_what_the_collector_serves() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="clerk-bench-size-test-"))
    collector = Collector(1, workdir)
    try:
        collector.start()
        served = served_size(collector.url)  # over HTTP: identity, then gzip
    finally:
        if collector.process is not None:
            collector.process.stop(timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)
    size = script_size.measure()
    assert (size["raw"], size["gzip9"]) == (served["identity"], served["gzip"])
    assert size["source"] > size["raw"]  # the comments and white space the collector strips
