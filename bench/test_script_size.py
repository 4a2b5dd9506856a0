"""bench/script_size.py measures the bytes a running collector serves for /clerk.js.

Not under tests/ (pytest does not collect bench/ by default): run it by path,
    .venv/bin/python -m pytest bench/test_script_size.py -q
"""

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
