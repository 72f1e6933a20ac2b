"""The chaos command line.

    python -m chaos run [--size tiny|default|long] [--seed N] [--keep] [--workdir DIR] [overrides]
    python -m chaos audit DIR         # judge a kept run's directory again (no broker needed)

Both print the figures (rich), write `chaos/results/<run id>.json` and `.md` (`--results-dir`),
and exit 0 when the audit passed, 1 when it found a loss, a duplicate, a stuck workflow or an
effect left uncompensated, 2 when the run itself could not finish.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError
from rich.console import Console
from rich.logging import RichHandler

from chaos import scenario, summary
from chaos.cluster import REPO
from chaos.sizes import SIZES, ChaosSize

EXIT_FAILED, EXIT_RUN_ERROR = 1, 2
# Overridable size fields: flag -> (field, type)
OVERRIDES = {
    "--instances": ("instances", int),
    "--rate": ("rate_per_s", float),
    "--load-s": ("load_s", float),
    "--sigkills": ("sigkills", int),
    "--state-wipes": ("state_wipes", int),
    "--broker-restarts": ("broker_restarts", int),
    "--service-outages": ("service_outages", int),
    "--outage-s": ("outage_s", float),
    "--pauses": ("pauses", int),
    "--pause-s": ("pause_s", float),
    "--bad-input-per-s": ("bad_input_per_s", float),
    "--drain-timeout-s": ("drain_timeout_s", float),
}


def _size(args: argparse.Namespace) -> ChaosSize:
    base = SIZES[args.size]
    changes = {field: getattr(args, field) for field, _ in OVERRIDES.values() if getattr(args, field) is not None}
    if not changes:
        return base
    try:
        return ChaosSize(**{**base.model_dump(), **changes})
    except ValidationError as exc:
        raise SystemExit(f"error: {exc.errors()[0]['msg']}") from exc


def _finish(report: summary.ChaosReport, results_dir: Path, console: Console) -> int:
    summary.print_report(report, console)
    json_path, md_path = summary.write(report, results_dir, REPO)
    console.print(f"results: {json_path}\nreport:  {md_path}")
    if report.error is not None:
        return EXIT_RUN_ERROR
    return 0 if report.passed else EXIT_FAILED


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chaos", description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command", required=True)
    run_p = sub.add_parser("run", help="run the chaos scenario on a private broker, then audit it")
    run_p.add_argument("--size", choices=sorted(SIZES), default="default")
    run_p.add_argument("--seed", type=int, default=None, help="the fault schedule's seed (default: from the clock)")
    run_p.add_argument("--keep", action="store_true", help="keep the run's directory even when it passes")
    run_p.add_argument("--workdir", type=Path, help="the run's directory (default: a new temporary one)")
    for flag, (field, kind) in OVERRIDES.items():
        run_p.add_argument(flag, dest=field, type=kind, help=ChaosSize.model_fields[field].description)
    audit_p = sub.add_parser("audit", help="audit a kept run's directory again")
    audit_p.add_argument("workdir", type=Path)
    for p in (run_p, audit_p):
        p.add_argument("--results-dir", type=Path, default=scenario.RESULTS_DIR)
    args = parser.parse_args(argv)
    console = Console(stderr=False, width=max(Console().width, 160))
    logging.basicConfig(
        level=logging.INFO, format="%(message)s", handlers=[RichHandler(console=console, show_path=False)]
    )
    if args.command == "audit":
        return _finish(scenario.judge(args.workdir), args.results_dir, console)
    seed = args.seed if args.seed is not None else int(time.time()) % 1_000_000
    given = list(argv if argv is not None else sys.argv[1:])
    command = "python -m chaos " + shlex.join(given if args.seed is not None else [*given, "--seed", str(seed)])
    options = scenario.RunOptions(_size(args), seed, command, args.workdir, args.keep)
    _record, workdir = scenario.run(options)
    report = scenario.judge(workdir)
    code = _finish(report, args.results_dir, console)
    scenario.cleanup(workdir, args.keep or args.workdir is not None, code == 0, console)
    return code


if __name__ == "__main__":
    sys.exit(main())
