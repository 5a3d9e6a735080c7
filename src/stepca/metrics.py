"""Prometheus metrics (docs/metrics.md), with ``prometheus_client`` in multiprocess mode.

Off unless ca.json has ``metricsAddress`` (or ``step-ca --metrics-address``). Then the parent
makes a private directory for the counters' files (``PROMETHEUS_MULTIPROC_DIR``) before it forks
the workers, binds the metrics socket, and every worker serves ``GET /metrics`` on it: whichever
worker answers reads every process's files, so one scrape sees the whole CA, and the counts of a
worker that died stay in the sums (its files remain; a restarted worker adds to them).

The hot path costs one labelled counter increment and one histogram observation per request
(``request``), each a lock and a write into a memory-mapped file; everything else is counted off
the request path: issuances and revocations by the store's after-commit hooks, database commit
times by the writer thread, OCSP answers from the responder's own counters once a second, the
certificates expiring within 24 hours by a cluster job.

Everything here is a no-op until ``enable()`` ran in the process.
"""

from __future__ import annotations

import os
import re
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stepca.db.operations import IssueOp, RevokeOp

#: the environment variable prometheus_client reads in every process
DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: seconds buckets for HTTP requests and database commits
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: how long ahead ``stepca_certificates_expiring`` looks
EXPIRING_WINDOW = 24 * 3600

_m: _Metrics | None = None


class _Metrics:
    def __init__(self) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        self.requests = Counter(
            "stepca_http_requests",
            "HTTP requests answered, by route, method and status",
            ["route", "method", "status"],
        )
        self.latency = Histogram(
            "stepca_http_request_duration_seconds",
            "Time to answer an HTTP request, by route",
            ["route"],
            buckets=LATENCY_BUCKETS,
        )
        self.issued = Counter(
            "stepca_certificates_issued",
            "Certificates issued, by provisioner, kind (x509, ssh) and operation (sign, renew, rekey, acme, ...)",
            ["provisioner", "kind", "operation"],
        )
        self.revoked = Counter(
            "stepca_certificates_revoked",
            "Certificates revoked, by provisioner and kind",
            ["provisioner", "kind"],
        )
        self.refusals = Counter(
            "stepca_refusals",
            "Requests refused for their credentials (401/403), by route and reason",
            ["route", "reason"],
        )
        self.ocsp = Counter("stepca_ocsp_responses", "OCSP answers, by status", ["status"])
        self.db_commit = Histogram(
            "stepca_db_commit_duration_seconds",
            "Time of one group commit of the database writer",
            buckets=LATENCY_BUCKETS,
        )
        self.db_batch = Counter("stepca_db_operations", "Write operations committed by the database writer")
        self.worker_restarts = Counter("stepca_worker_restarts", "Worker processes restarted after they died")
        self.expiring = Gauge(
            "stepca_certificates_expiring",
            "Certificates (not revoked) whose validity ends within the next 24 hours, by kind",
            ["kind"],
            multiprocess_mode="mostrecent",
        )
        self.acme_orders = Counter(
            "stepca_acme_orders", "ACME orders that reached a state, by state", ["state"]
        )
        self._ocsp_seen: dict[str, int] = {}
        self._children: dict[tuple[str, str, int], Any] = {}
        self._latency_children: dict[str, Any] = {}


def enabled() -> bool:
    return _m is not None


def prepare_directory(path: str) -> None:
    """In the parent, before forking: where every process writes its counters."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    for name in os.listdir(path):  # a fresh start: counters begin at 0, as Prometheus expects
        if name.endswith(".db"):
            os.unlink(os.path.join(path, name))
    os.environ[DIR_ENV] = path


def enable() -> None:
    """Create the metrics in this process (its files appear in ``PROMETHEUS_MULTIPROC_DIR``)."""
    global _m
    if _m is None:
        if not os.environ.get(DIR_ENV):
            raise RuntimeError(f"{DIR_ENV} is not set: call prepare_directory() in the parent first")
        _m = _Metrics()


def process_dead(pid: int) -> None:
    """The parent, when a worker exited: drop its live gauges (counters stay in the sums)."""
    if _m is None:
        return
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


def render() -> tuple[bytes, str]:
    """The exposition of every process's metrics: (body, content type)."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return generate_latest(registry), CONTENT_TYPE_LATEST


# ------------------------------------------------------------------ the request path


def request(route: str, method: str, status: int, seconds: float) -> None:
    m = _m
    if m is None:
        return
    key = (route, method, status)
    child = m._children.get(key)
    if child is None:
        child = m._children[key] = m.requests.labels(route, method, str(status))
    child.inc()
    hist = m._latency_children.get(route)
    if hist is None:
        hist = m._latency_children[route] = m.latency.labels(route)
    hist.observe(seconds)


_REASONS = (
    ("expired", re.compile(r"expired|exp claim|is too old", re.I)),
    ("not_yet_valid", re.compile(r"not yet valid|nbf|before", re.I)),
    ("replayed", re.compile(r"already (been )?used|reuse|replay", re.I)),
    ("signature", re.compile(r"signature|verify|verification", re.I)),
    ("audience", re.compile(r"audience|aud\b", re.I)),
    ("provisioner", re.compile(r"provisioner", re.I)),
    ("revoked", re.compile(r"revoked", re.I)),
    ("policy", re.compile(r"not allowed|forbidden|not authorized|principal|name", re.I)),
)


def refusal_reason(message: str) -> str:
    """A coarse, bounded reason for a 401/403 (its label), from the error's sentence."""
    for name, pattern in _REASONS:
        if pattern.search(message):
            return name
    return "other"


def refusal(route: str, message: str) -> None:
    if _m is not None:
        _m.refusals.labels(route, refusal_reason(message)).inc()


# ------------------------------------------------------------------ off the request path


async def on_issue(op: IssueOp) -> None:
    """The store's after-commit hook for issuances."""
    if _m is not None:
        c = op.cert
        _m.issued.labels(c.provisioner, c.kind, c.origin).inc()


async def on_revoke(op: RevokeOp) -> None:
    if _m is not None:
        from stepca.db.records import provisioner_name

        r = op.revocation
        _m.revoked.labels(provisioner_name(r.provisioner), r.kind).inc()


def commit(seconds: float, operations: int) -> None:
    """From the database writer thread, after each group commit."""
    if _m is not None:
        _m.db_commit.observe(seconds)
        _m.db_batch.inc(operations)


def worker_restarted() -> None:
    if _m is not None:
        _m.worker_restarts.inc()


def ocsp_counts(stats: dict[str, int]) -> None:
    """The responder's running totals (good, revoked, unknown, malformed, unauthorized): what
    grew since the last call is added to ``stepca_ocsp_responses``."""
    m = _m
    if m is None:
        return
    for status in ("good", "revoked", "unknown", "malformed", "unauthorized"):
        now = stats.get(status, 0)
        grew = now - m._ocsp_seen.get(status, 0)
        if grew > 0:
            m.ocsp.labels(status).inc(grew)
        m._ocsp_seen[status] = now


def expiring(kind: str, count: int) -> None:
    if _m is not None:
        _m.expiring.labels(kind).set(count)


def acme_order(state: str) -> None:
    if _m is not None:
        _m.acme_orders.labels(state).inc()


def expiring_window(now: float | None = None) -> tuple[int, int]:
    t = int(time.time() if now is None else now)
    return t, t + EXPIRING_WINDOW


__all__ = [
    "DIR_ENV",
    "acme_order",
    "commit",
    "enable",
    "enabled",
    "expiring",
    "ocsp_counts",
    "on_issue",
    "on_revoke",
    "prepare_directory",
    "process_dead",
    "refusal",
    "render",
    "request",
    "worker_restarted",
]
