"""Export the observed cases as an XES event log (IEEE 1849-2016), for pm4py, ProM, Celonis & co.

One trace per case (`concept:name` = case id), one event per observed event in time order:
`concept:name` = activity, `time:timestamp`, `lifecycle:transition` = complete, `org:resource` =
the producer (CloudEvents source) where known, and the Kafka coordinates as plain attributes
(`kafka:topic`, `kafka:partition`, `kafka:offset`). Streamed to the file: a million cases never
sit in memory as a document.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO
from xml.sax.saxutils import quoteattr

from orchestrator.shadow.case_store import StoredCase

XES_VERSION = "1849-2016"
_EXTENSIONS = (
    ("Concept", "concept", "http://www.xes-standard.org/concept.xesext"),
    ("Time", "time", "http://www.xes-standard.org/time.xesext"),
    ("Lifecycle", "lifecycle", "http://www.xes-standard.org/lifecycle.xesext"),
    ("Organizational", "org", "http://www.xes-standard.org/org.xesext"),
)


def xes_time(ms: int) -> str:
    """xs:dateTime with milliseconds and an explicit UTC offset, as the standard's examples."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds")


def _attr(kind: str, key: str, value: object) -> str:
    return f"<{kind} key={quoteattr(key)} value={quoteattr(str(value))}/>"


def write_xes(out: TextIO, cases: Iterable[StoredCase], log_name: str) -> int:
    """Write the log; returns the number of traces written."""
    out.write('<?xml version="1.0" encoding="UTF-8" ?>\n')
    out.write(
        f'<log xes.version="{XES_VERSION}" xes.features="nested-attributes" xmlns="http://www.xes-standard.org/">\n'
    )
    for name, prefix, uri in _EXTENSIONS:
        out.write(f"  <extension name={quoteattr(name)} prefix={quoteattr(prefix)} uri={quoteattr(uri)}/>\n")
    out.write(f'  <global scope="trace">{_attr("string", "concept:name", "__INVALID__")}</global>\n')
    out.write(
        '  <global scope="event">'
        + _attr("string", "concept:name", "__INVALID__")
        + _attr("date", "time:timestamp", xes_time(0))
        + _attr("string", "lifecycle:transition", "complete")
        + "</global>\n"
    )
    out.write('  <classifier name="Activity" keys="concept:name"/>\n')
    out.write(f"  {_attr('string', 'concept:name', log_name)}\n")
    traces = 0
    for case in cases:
        traces += 1
        out.write(f"  <trace>{_attr('string', 'concept:name', case.case_id)}\n")
        for event in case.events:
            o = event.observation
            attrs = [
                _attr("string", "concept:name", o.activity),
                _attr("date", "time:timestamp", xes_time(o.timestamp_ms)),
                _attr("string", "lifecycle:transition", "complete"),
            ]
            if o.producer:
                attrs.append(_attr("string", "org:resource", o.producer))
            attrs += [
                _attr("string", "kafka:topic", o.source_topic),
                _attr("int", "kafka:partition", o.source_partition),
                _attr("int", "kafka:offset", o.source_offset),
            ]
            out.write("    <event>" + "".join(attrs) + "</event>\n")
        out.write("  </trace>\n")
    out.write("</log>\n")
    return traces


def export_xes(path: Path, cases: Iterable[StoredCase], log_name: str) -> int:
    """Write `cases` as an IEEE 1849 XES log to `path`; returns how many events it wrote."""
    with path.open("w", encoding="utf-8") as out:
        return write_xes(out, cases, log_name)


__all__ = ["XES_VERSION", "export_xes", "write_xes", "xes_time"]
