"""The benchmarks measure what they say: bench/script_size.py reports the bytes a running
collector serves for /clerk.js (minified), not the source's; bench/soak.py paces its
load and writes its figures and plot."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest

from bench import script_size, soak
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


@pytest.mark.skipif(
    shutil.which("wrk") is None, reason="wrk is not installed (scripts/bench installs it)"
)
def test_soak_writes_its_figures_and_plot(tmp_path: Path) -> None:
    """A tiny soak (1 s capacity run, two 2 s periods): every period has its rate,
    latency and RSS, the JSON and the PNG are written, nothing acknowledged is lost."""
    pytest.importorskip("matplotlib")
    png = tmp_path / "soak.png"
    settings = soak.Settings(periods=2, period_s=2, capacity_s=1, warmup_s=0)
    report = soak.run(settings, None, lambda message: None, png=png)
    (result,) = report["results"]
    assert result["backend"] == "sqlite" and result["capacity_rps"] > 0
    assert result["target_rate"] == pytest.approx(result["capacity_rps"] / 2, rel=0.01)
    assert [p["period"] for p in result["periods"]] == [1, 2]
    for period in result["periods"]:
        # paced: about the rate asked for (the machine may be busy: a wide margin)
        assert 0.5 * result["target_rate"] < period["rate"] < 1.2 * result["target_rate"]
        assert period["latency_ms"]["p99"] >= period["latency_ms"]["p50"] > 0
        assert period["rss_mb_max"] >= period["rss_mb_mean"] > 10
        assert period["db_mb"] > 0 and period["server_runqueue_wait"] >= 0
    assert result["durable"]["verdict"] in ("exact", "consistent")
    assert result["stored"] >= result["acknowledged"] > 0
    assert set(result["flatness"]["rss_mb"]) >= {"flat", "max_deviation", "reference_value"}
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (
        json.loads(png.with_suffix(".json").read_text())["results"][0]["periods"]
        == (result["periods"])
    )
    assert any(line.startswith("RSS: ") for line in soak.table(report))
