"""Side-by-side benchmark of two builds of stepca: the ratio of throughput and of p99, in one run.

    .venv/bin/python bench/compare.py [--base REV] [--candidate REV] [--endpoint sign,renew,ssh]
                                      [--pairs 5] [--duration 15] [--connections 32] [--json FILE]

A (the base) is a git revision: by default ``main`` when the current branch is another one, else
``HEAD~1``. Its virtualenv is built once from ``git archive REV`` into bench/.cache/venv-<sha>
(git-ignored) and reused. B (the candidate) is the venv running this script (the current tree,
uncommitted changes included), or another revision with ``--candidate REV``.

One throw-away PKI (``step ca init``), two step-ca processes on it with their own SQLite
databases, both started before any load (one per side, all cores each). For each endpoint: a
warm-up run per side, then interleaved pairs of the same wrk load (bench/sign_wrk.lua, one-time
tokens made beforehand, keep-alive connections): A B, B A, A B, ... one side idle while the
other is measured. Each run also reports the machine's steal (/proc/stat: time the hypervisor
gave to another guest); the median over the pairs with steal <= 2 % on both sides is printed
beside the median over all pairs. Prints each pair, the median of the per-pair ratios B/A, the CPU model and
``openssl speed -seconds 1 ecdsap256``, and a markdown table to paste into docs/benchmarks.md.

Endpoints: ``sign`` POST /1.0/sign; ``renew`` POST /1.0/renew over mTLS (wrk presents a client
certificate through bench/wrk_client_cert.c, built with gcc on first use); ``ssh`` POST
/1.0/ssh/sign (a user certificate; the PKI is made with ``--ssh``).
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from benchlib import (  # noqa: E402
    BIN,
    CACHE,
    ENDPOINTS,
    STEADY_STEAL_PCT,
    Load,
    init_pki,
    machine,
    markdown_table,
    need_wrk,
    print_machine,
    run_pairs,
    running,
    sqlite_db,
    start_ca,
    summarize,
)
from benchlib import free_port as _free_port  # noqa: E402

REPO = HERE.parent


def git(*args: str) -> str:
    done = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"git {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout.strip()


def default_base() -> str:
    """``main`` from any other branch; ``HEAD~1`` on main itself (or a detached HEAD on main)."""
    branch = git("rev-parse", "--abbrev-ref", "HEAD")
    if branch == "main" or (branch == "HEAD" and git("rev-parse", "HEAD") == git("rev-parse", "main")):
        return "HEAD~1"
    return "main"


def resolve(rev: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"unknown git revision: {rev}")
    return done.stdout.strip()


def build_venv(sha: str, cache: Path) -> Path:
    """The bin/ folder of a venv with stepca at commit ``sha`` installed (built once, then reused)."""
    venv = cache / f"venv-{sha[:12]}"
    marker = venv / ".stepca-commit"
    if marker.exists() and marker.read_text().strip() == sha:
        return venv / "bin"
    print(f"building {venv} from {sha[:12]} (once)...", file=sys.stderr)
    shutil.rmtree(venv, ignore_errors=True)
    src = cache / f"src-{sha[:12]}"
    shutil.rmtree(src, ignore_errors=True)
    src.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", sha], capture_output=True, check=True
    )
    with tarfile.open(fileobj=io.BytesIO(archive.stdout), mode="r:") as tar:
        tar.extractall(src, filter="data")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    done = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", str(src)], capture_output=True, text=True
    )
    shutil.rmtree(src, ignore_errors=True)
    if done.returncode != 0:
        raise SystemExit(f"pip install of {sha[:12]} failed:\n{done.stderr[-3000:]}")
    marker.write_text(sha + "\n")
    return venv / "bin"


def _env_pairs(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise SystemExit(f"--env-a/--env-b take NAME=VALUE, not {item!r}")
        out[name] = value
    return out


def describe_working_tree() -> str:
    head = git("rev-parse", "--short=12", "HEAD")
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return f"{head} working tree" + (" + uncommitted changes" if dirty else "")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", help="git revision for A (default: main, or HEAD~1 when on main)")
    ap.add_argument("--candidate", help="git revision for B (default: the venv running this script)")
    ap.add_argument("--endpoint", default="sign", help="comma-separated: sign, renew, ssh (default: sign)")
    ap.add_argument("--pairs", type=int, default=5, help="interleaved pairs per endpoint (default 5)")
    ap.add_argument("--duration", type=int, default=15, help="seconds per run (default 15)")
    ap.add_argument("--warmup", type=int, default=3, help="seconds of warm-up per side, not reported")
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2, help="wrk threads")
    ap.add_argument("--workers", type=int, default=0, help="step-ca workers per side (default: one per core)")
    ap.add_argument(
        "--rate-guess", type=float, default=3000, help="requests/s to prepare tokens for at first"
    )
    ap.add_argument(
        "--cache", type=Path, default=CACHE, help="where the base venvs live (default bench/.cache)"
    )
    ap.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    ap.add_argument(
        "--candidate-metrics",
        action="store_true",
        help="B serves Prometheus metrics (metricsAddress on a free port): the cost of metrics on the hot path",
    )
    ap.add_argument(
        "--env-a",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an environment variable for A's step-ca only (repeatable): compare settings of one build",
    )
    ap.add_argument("--env-b", action="append", default=[], metavar="NAME=VALUE", help="the same for B")
    args = ap.parse_args()
    side_env = {"A": _env_pairs(args.env_a), "B": _env_pairs(args.env_b)}
    endpoints = [e.strip() for e in args.endpoint.split(",") if e.strip()]
    unknown = [e for e in endpoints if e not in ENDPOINTS]
    if unknown or not endpoints:
        raise SystemExit(f"unknown endpoint {', '.join(unknown) or '(none)'}: use sign, renew or ssh")
    if args.pairs < 1 or args.duration <= 0:
        raise SystemExit("--pairs must be at least 1 and --duration positive")
    need_wrk()

    base_rev = args.base or default_base()
    base_sha = resolve(base_rev)
    base_bin = build_venv(base_sha, args.cache)
    if args.candidate:
        cand_sha = resolve(args.candidate)
        cand_bin, cand_desc = build_venv(cand_sha, args.cache), f"{cand_sha[:12]} ({args.candidate})"
    else:
        cand_bin, cand_desc = BIN, f"{describe_working_tree()} ({BIN.parent})"
    base_desc = f"{base_sha[:12]} ({base_rev})"

    info = machine()  # measured before the CAs start, with the machine as quiet as it gets
    env_text = {k: "".join(f" {n}={v}" for n, v in e.items()) for k, e in side_env.items()}
    base_desc += env_text["A"]
    print(f"A = base {base_desc}\nB = candidate {cand_desc}{env_text['B']}")
    print_machine(info)
    tmp = Path(tempfile.mkdtemp(prefix="stepca-compare-"))
    sections: dict[str, tuple[list[dict[str, dict[str, Any]]], dict[str, Any]]] = {}
    try:
        pki = init_pki(tmp / "pki", ssh="ssh" in endpoints, step=cand_bin / "step")
        cas = []
        for label, bin_dir in (("A", base_bin), ("B", cand_bin)):
            (tmp / f"db-{label}").mkdir()
            ca_json = pki.config_copy(
                tmp / f"ca-{label}.json", port=_free_port(), db=sqlite_db(tmp / f"db-{label}" / "stepca.db")
            )
            if label == "B" and args.candidate_metrics:
                cfg = json.loads(ca_json.read_text())
                cfg["metricsAddress"] = f"127.0.0.1:{_free_port()}"
                ca_json.write_text(json.dumps(cfg, indent=2))
            cas.append(
                start_ca(
                    label,
                    pki,
                    ca_json,
                    bin_dir=bin_dir,
                    workers=args.workers,
                    log_dir=tmp,
                    env=side_env[label],
                )
            )
        with running(cas):
            print(f"start-up: A {cas[0].startup_s:.2f}s, B {cas[1].startup_s:.2f}s")
            for endpoint in endpoints:
                load = Load(
                    endpoint, args.duration, args.connections, args.threads, args.warmup, args.rate_guess
                )
                print(
                    f"{ENDPOINTS[endpoint]}: {args.pairs} pairs x {args.duration:g}s, {args.connections} connections"
                )
                results = run_pairs((cas[0], cas[1]), load, pki, args.pairs, tmp)
                summary = summarize(results, "A", "B")
                sections[ENDPOINTS[endpoint]] = (results, summary)
                lo, hi = summary["throughput_ratio_range"]
                plo, phi = summary["p99_ratio_range"]
                print(
                    f"{ENDPOINTS[endpoint]}: median B/A throughput {summary['throughput_ratio_median']:.3f} "
                    f"({lo:.3f}-{hi:.3f}), p99 {summary['p99_ratio_median']:.3f} ({plo:.3f}-{phi:.3f})"
                )
                if "steady_throughput_ratio_median" in summary:
                    print(
                        f"{ENDPOINTS[endpoint]}: over the {summary['steady_pairs']} pairs with steal <= "
                        f"{STEADY_STEAL_PCT:g} %: throughput {summary['steady_throughput_ratio_median']:.3f}, "
                        f"p99 {summary['steady_p99_ratio_median']:.3f}"
                    )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("\n--- markdown (docs/benchmarks.md) ---")
    print(
        f"A = `{base_desc}`, B = `{cand_desc.split(' (')[0]}{env_text['B']}`; {info['cpu']}, {info['cores']} cores; "
        f"`openssl speed -seconds 1 ecdsap256`: {info['openssl_speed_ecdsap256']}; "
        f"{args.pairs} interleaved pairs x {args.duration:g} s, {args.connections} connections, "
        f"load average before {info['loadavg'][0]}.\n"
    )
    print(markdown_table(sections, "A", "B"))
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "base": base_desc,
                    "candidate": cand_desc,
                    "machine": info,
                    "load": {
                        "duration_s": args.duration,
                        "connections": args.connections,
                        "threads": args.threads,
                    },
                    "endpoints": {name: {"pairs": r, "summary": s} for name, (r, s) in sections.items()},
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
