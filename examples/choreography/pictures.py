"""The pictures of docs/shadow.md, from a real shadow run on the dev stack, rendered by headless Chromium.

    python -m examples.choreography.pictures [--cases 2000] [--out docs/images]

A generated shop log (examples/choreography/generated_log.py, every deviation kind injected) is
published, observed by a `ShadowRuntime` until every event is in its case, and reported with
compare; the HTML page is screenshot twice (the top: summary, comparison and graph; then the
variants and hops). Needs `chromium` (Debian's package).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

from examples.choreography.generated_log import generate, publish
from orchestrator.admin.topic_specs import apply, load_topic_set
from orchestrator.config import OrchestratorSettings
from orchestrator.shadow.building import build_report
from orchestrator.shadow.loading import load_domain
from orchestrator.shadow.runtime import ShadowRuntime, ensure_shadow_topics
from orchestrator.transport.admin import KafkaAdmin

ROOT = Path(__file__).resolve().parents[2]
HIDE_TOP = "<style>#summary, #compare, #graph { display: none; }</style></head>"


def screenshot(html: Path, png: Path, height: int) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise SystemExit("chromium is not installed (apt-get install -y chromium)")
    subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         f"--window-size=1300,{height}", f"--screenshot={png}", html.as_uri()],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    parser.add_argument(
        "--bootstrap-servers", default=os.environ.get("SAGABRIDGE_BOOTSTRAP_SERVERS", "127.0.0.1:19092")
    )
    args = parser.parse_args()
    prefix = f"shop-pictures-{uuid.uuid4().hex[:6]}"
    os.environ["SHOP_PREFIX"] = prefix
    apply(KafkaAdmin(args.bootstrap_servers), load_topic_set(ROOT / "topics" / "shop.toml", app=prefix))
    log = generate(args.cases, prefix="A", seed=2026)  # the run's own topics; order ids A-000000, ...
    published = publish(log.events, args.bootstrap_servers, prefix)
    work = Path(tempfile.mkdtemp(prefix="sagabridge-pictures-"))
    settings = OrchestratorSettings(app=prefix, bootstrap_servers=args.bootstrap_servers, state_dir=work)
    domain = load_domain(ROOT / "connectors" / "shop.toml", settings)
    ensure_shadow_topics(settings, domain.names, 3)
    runtime = ShadowRuntime(settings, domain.config, domain.shadow)
    thread = threading.Thread(target=runtime.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 900
    while runtime.stats.applied + runtime.stats.duplicates < published and time.monotonic() < deadline:
        time.sleep(0.5)
    runtime.stop()
    thread.join(60)
    latest = max(e.timestamp_ms for e in log.events)
    report = build_report(settings, domain, workflows_module="examples.orders.workflows", now_ms=latest + 3_600_000)
    html = report.html()
    top, rest = work / "report.html", work / "rest.html"
    top.write_text(html, encoding="utf-8")
    rest.write_text(html.replace("</head>", HIDE_TOP, 1), encoding="utf-8")
    args.out.mkdir(parents=True, exist_ok=True)
    screenshot(top, args.out / "shadow-report.png", 1900)
    screenshot(rest, args.out / "shadow-variants.png", 1250)
    (args.out / "shadow-graph.svg").write_text(report.svg, encoding="utf-8")
    print(f"{report.discovery.cases} cases; pictures in {args.out}; report {top}")


if __name__ == "__main__":
    main()
