"""`cdc-olap bench stack`: how long `up` takes and how much memory the idle stack holds.

Runs `down`, then `up` (install step included, so a fresh cache dir measures a
cold start), waits for the stack to settle, reads every service's RSS, and
prints, saves (JSON) and draws (SVG timeline) the result.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from pipeline.bench import svg
from pipeline.config import PROJECT_ROOT, Config
from pipeline.stack import stack
from pipeline.stack.install.plan import install_all

RESULTS_DIR = PROJECT_ROOT / "bench" / "results"


def run(config: Config, settle_s: float = 60.0, keep_running: bool = False) -> dict:
    supervisor = stack.build(config)
    supervisor.down()
    started = time.monotonic()
    install_all(config)
    installed = time.monotonic() - started
    timings = supervisor.up()
    total = time.monotonic() - started
    time.sleep(settle_s)
    rows = supervisor.status()
    result = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "install_s": round(installed, 1),
        "up_total_s": round(total, 1),
        "healthy_after_s": {k: round(v + installed, 1) for k, v in timings.items()},
        "idle_rss_mib": {r.name: r.rss_mib for r in rows if r.rss_mib is not None},
        "idle_rss_total_mib": round(sum(r.rss_mib or 0 for r in rows), 1),
        "states": {r.name: r.state for r in rows},
        "settle_s": settle_s,
    }
    if not keep_running:
        supervisor.down()
    return result


def report(result: dict) -> str:
    lines = [f"up (install + start): {result['up_total_s']} s   install step: {result['install_s']} s",
             f"idle RSS after {result['settle_s']:.0f} s: {result['idle_rss_total_mib'] / 1024:.2f} GiB", "",
             f"{'service':<20} {'healthy at s':>12} {'idle MiB':>9}"]
    for name, at in sorted(result["healthy_after_s"].items(), key=lambda kv: kv[1]):
        lines.append(f"{name:<20} {at:>12} {result['idle_rss_mib'].get(name, '-'):>9}")
    return "\n".join(lines)


def save(result: dict, label: str) -> tuple[Path, Path]:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stem = RESULTS_DIR / f"stack-{label}-{result['when'].replace(':', '')}"
    json_path = stem.with_suffix(".json")
    json_path.write_text(json.dumps(result, indent=2))
    svg_path = stem.with_suffix(".svg")
    svg_path.write_text(_timeline_svg(result, label))
    return json_path, svg_path


def _timeline_svg(result: dict, label: str) -> str:
    """When each service became healthy, with its idle memory alongside."""
    items = []
    for name, at in sorted(result["healthy_after_s"].items(), key=lambda kv: kv[1]):
        mem = result["idle_rss_mib"].get(name)
        items.append((name, at, f"{at} s" + (f" · {mem:.0f} MiB" if mem else "")))
    return svg.bars(f"cdc-olap {label} up: {result['up_total_s']} s, idle {result['idle_rss_total_mib'] / 1024:.2f} GiB",
                    items, left=150)
