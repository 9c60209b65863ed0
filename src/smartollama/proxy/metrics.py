"""The proxy's `/metrics` page, in Prometheus' text format (prometheus-client).

Names (documented in docs/proxy.md):

- `sollama_proxy_requests_total{endpoint, action, backend}`: routed requests by
  the decision's action and the backend that answered (`none` for a refusal)
- `sollama_proxy_decision_seconds`: time to decide (a histogram)
- `sollama_proxy_fallbacks_total{backend}`: attempts that failed before the first
  byte, by the backend that failed, so that the next choice was tried
- `sollama_proxy_refusals_total{mode}`: requests refused by policy (HTTP 409)
- `sollama_proxy_unreachable_total`: requests answered 503 (no backend reachable)
- `sollama_proxy_in_flight{backend}`: the proxy's requests running on each backend
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

# no `_created` series: the proxy's start time is not worth one per counter
disable_created_metrics()  # type: ignore[no-untyped-call]

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]


class Metrics:
    """One registry per proxy (not the process-wide default: tests run several)."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("sollama_proxy_requests", "Routed requests, by action and backend",
                                ("endpoint", "action", "backend"), registry=r)
        self.decision = Histogram("sollama_proxy_decision_seconds", "Time to decide a request",
                                  buckets=(.0005, .001, .002, .005, .01, .025, .05, .1, .5, 1, 5),
                                  registry=r)
        self.fallbacks = Counter("sollama_proxy_fallbacks",
                                 "Attempts that failed before the first byte, by backend",
                                 ("backend",), registry=r)
        self.refusals = Counter("sollama_proxy_refusals", "Requests refused by policy (409)",
                                ("mode",), registry=r)
        self.unreachable = Counter("sollama_proxy_unreachable",
                                   "Requests answered 503: no backend reachable", registry=r)
        self.in_flight = Gauge("sollama_proxy_in_flight", "Proxy requests running, by backend",
                               ("backend",), registry=r)

    def page(self) -> bytes:
        return generate_latest(self.registry)
