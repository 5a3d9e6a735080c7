"""Start-up time of the light `step` commands (no cryptography, pydantic or aiohttp at start-up).

    python bench/cli_startup.py [--runs N] [--warmup N] [--json]

Measures, with hyperfine when it is installed (else a loop of subprocess runs): `step --help`,
`step path`, `step certificate fingerprint FILE`, and for scale a bare interpreter and
`step certificate inspect --short` (which does load cryptography). The venv's own `step` entry
point is called directly (no shell, no shim). Prints mean/min/stddev in milliseconds.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
STEP = str(BIN / "step")
CERT = str(ROOT / "tests" / "fixtures" / "step-0.19" / "pki" / "certs" / "root_ca.crt")

CASES: list[tuple[str, list[str]]] = [
    ("python -c pass (floor)", [sys.executable, "-c", "pass"]),
    ("step --help", [STEP, "--help"]),
    ("step path", [STEP, "path"]),
    ("step certificate fingerprint", [STEP, "certificate", "fingerprint", CERT]),
    (
        "step certificate inspect --short (loads cryptography)",
        [STEP, "certificate", "inspect", "--short", CERT],
    ),
]


def _env() -> dict[str, str]:
    env = {**os.environ, "STEPPATH": tempfile.gettempdir()}
    env.pop("STEPDEBUG", None)
    return env


def with_hyperfine(runs: int, warmup: int) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    for label, argv in CASES:
        with tempfile.NamedTemporaryFile(suffix=".json") as out:
            subprocess.run(
                ["hyperfine", "-N", "--style", "none", "--warmup", str(warmup), "--runs", str(runs),
                 "--export-json", out.name, subprocess.list2cmdline(argv)],
                check=True, capture_output=True, env=_env(),
            )  # fmt: skip
            data = json.loads(Path(out.name).read_text())["results"][0]
        results[label] = {k: data[k] * 1000 for k in ("mean", "stddev", "min", "max", "median")}
    return results


def with_loop(runs: int, warmup: int) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    env = _env()
    for label, argv in CASES:
        times = []
        for i in range(warmup + runs):
            start = time.perf_counter()
            subprocess.run(argv, check=True, capture_output=True, env=env)
            if i >= warmup:
                times.append((time.perf_counter() - start) * 1000)
        results[label] = {
            "mean": statistics.fmean(times),
            "stddev": statistics.stdev(times) if len(times) > 1 else 0.0,
            "min": min(times),
            "max": max(times),
            "median": statistics.median(times),
        }
    return results


def heavy_imports(argv: list[str]) -> list[str]:
    """Top-level heavy packages a command imports (from `python -X importtime`)."""
    heavy = {"cryptography", "pydantic", "aiohttp", "jwcrypto", "sqlalchemy", "questionary"}
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", *argv], capture_output=True, text=True, env=_env()
    )
    names = {
        line.split("|")[-1].strip().split(".")[0]
        for line in proc.stderr.splitlines()
        if "import time:" in line
    }
    return sorted(names & heavy)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    tool = "hyperfine" if shutil.which("hyperfine") else "subprocess loop"
    results = (with_hyperfine if tool == "hyperfine" else with_loop)(args.runs, args.warmup)
    for label, argv in CASES[1:]:
        results[label]["heavy_imports"] = heavy_imports(argv)  # type: ignore[assignment]
    if args.json:
        print(json.dumps({"tool": tool, "cpus": os.cpu_count(), "results": results}, indent=2))
        return
    print(f"# CLI start-up ({tool}, {args.runs} runs, {os.cpu_count()} CPUs, {sys.version.split()[0]})")
    print(f"{'command':58} {'mean':>8} {'min':>8} {'stddev':>8}  heavy imports")
    for label, r in results.items():
        heavy = ", ".join(r.get("heavy_imports", [])) or "-"  # type: ignore[arg-type]
        print(f"{label:58} {r['mean']:7.1f}ms {r['min']:7.1f}ms {r['stddev']:7.1f}ms  {heavy}")


if __name__ == "__main__":
    main()
