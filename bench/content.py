"""A content call's cost over its endpoint (scripts/bench --only content).

DESIGN.md: "a content call adds under 2 ms p95 to its endpoint". On a copy of the
recommendations data set (bench/dataset.py: 100,000 products, 1,000,000 events), with a
content `home-popular` {api: recommendations/popular, limit: 10, labels: ["Home"]} set by
`clerk-collector content set`, one `clerk-collector serve --workers 1` answers both:

- **direct**: `POST /v2/recommendations/popular {key, visitor, session, limit: 10,
  labels: ["Home"]}`,
- **content**: `POST /v2/content {key, visitor, session, content: "home-popular"}`, the
  same list through the content (its defaults, its api's handler, the `content` object
  with the design in the answer).

The two are sent alternately on one keep-alive connection (bench/common.py's Client: one
request at a time, timed to the last byte read; the one sent first alternates too), so
that both meet the same machine and the same caches; their answers must hold the same
products. The store-wide ranking is cached for an hour here (RECOMMENDATION_CACHE_SECONDS):
what is measured is what the content adds, not a recomputation (bench/recs.py times
those). Reported: p50/p95/p99 of each, and content minus direct at p50 and p95.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from . import dataset
from .common import Case, Server, percentile, summary

TARGET_P95_MS = 2.0
CACHE_SECONDS = 3600
SESSION = "BenchSession0000000001"
DESIGN = (
    '<div class="clerk-grid">{% for product in products %}<a href="{{ product.url }}">'
    "{{ product.name }} {{ product.price | money }}</a>{% endfor %}</div>"
)


def run(requests: int, warmup: int, log: Any, spec: dataset.Spec) -> dict[str, Any]:
    data = dataset.ensure(spec, log)
    workdir = Path(tempfile.mkdtemp(prefix="clerk-bench-content-"))
    key = data.meta["store"]["public_key"]
    try:
        dataset.working_copy(data, workdir, log)
        db = workdir / "clerk.db"
        content = {
            "id": "home-popular",
            "name": "Bestsellers",
            "api": "recommendations/popular",
            "limit": 10,
            "labels": ["Home"],
            "design": DESIGN,
        }
        (workdir / "content.json").write_text(json.dumps(content))
        dataset.cli(
            dataset.collector_env(db), workdir, "content", "set", "content.json", "--store", key
        )
        common = {"key": key, "visitor": "auto", "session": SESSION}
        direct = Case(
            "recommendations/popular",
            "recommendations/popular",
            [{**common, "limit": 10, "labels": ["Home"]}],
        )
        through = Case("content home-popular", "content", [{**common, "content": "home-popular"}])
        log(f"content: collector (1 worker, RECOMMENDATION_CACHE_SECONDS={CACHE_SECONDS})")
        server = Server(db, workdir, CACHE_SECONDS, "content")
        try:
            first_ms, _ = server.post(direct)  # computes the store's popular ranking
            for _ in range(warmup):
                server.post(direct)
                server.post(through)
            timed: dict[str, list[float]] = {"direct": [], "content": []}
            started = time.monotonic()
            for i in range(requests):
                order = [("direct", direct), ("content", through)]
                answers = {}
                for name, case in order if i % 2 == 0 else order[::-1]:
                    ms, answers[name] = server.post(case)
                    timed[name].append(ms)
                expected = answers["direct"]["result"]
                if answers["content"]["result"] != expected or "content" not in answers["content"]:
                    raise RuntimeError("content: the content answered other products")
            size = {name: len(json.dumps(answer)) for name, answer in answers.items()}
            window_s = time.monotonic() - started
        finally:
            server.stop()
        result: dict[str, Any] = {
            "requests": requests,
            "cold_ms": round(first_ms, 1),
            "window_seconds": round(window_s, 1),
            "results": len(expected),
            "direct": summary(timed["direct"]),
            "content": summary(timed["content"]),
            "target_p95_ms": TARGET_P95_MS,
        }
        result["added"] = {
            q: round(result["content"][q] - result["direct"][q], 2) for q in ("p50", "p95")
        }
        # Each content request minus the direct one of its pair (sent back to back): less
        # moved by load on the machine than the difference of two distributions.
        pairs = [c - d for c, d in zip(timed["content"], timed["direct"], strict=True)]
        result["paired"] = {"p50": round(percentile(pairs, 50), 2)}
        result["bytes"] = size
        result["within_target"] = result["added"]["p95"] < TARGET_P95_MS
        log(
            f"  direct p50 {result['direct']['p50']:.2f} p95 {result['direct']['p95']:.2f} ms; "
            f"content p50 {result['content']['p50']:.2f} p95 {result['content']['p95']:.2f} ms"
        )
        return result
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def table(r: dict[str, Any]) -> list[str]:
    lines = [
        "",
        f"Content: POST /v2/content vs its api (recommendations/popular, limit 10), "
        f"{r['requests']} of each, alternating; ms",
        f"{'':<28}{'p50':>8}{'p95':>8}{'p99':>8}{'max':>8}",
    ]
    for name in ("direct", "content"):
        s = r[name]
        lines.append(f"{name:<28}{s['p50']:>8.2f}{s['p95']:>8.2f}{s['p99']:>8.2f}{s['max']:>8.2f}")
    verdict = "within" if r["within_target"] else "OVER"
    lines.append(
        f"a content call adds {r['added']['p50']:+.2f} ms at p50, {r['added']['p95']:+.2f} ms at "
        f"p95 ({verdict} the {r['target_p95_ms']:g} ms target); median of the pairs' "
        f"differences {r['paired']['p50']:+.2f} ms; answer {r['bytes']['direct']:,} B direct, "
        f"{r['bytes']['content']:,} B with the content"
    )
    return lines
