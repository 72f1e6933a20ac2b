// A workflow's timeline as a Gantt chart (SVG): one row per step with a bar per attempt, the
// backoff before each retry, the time parked waiting for an operator, the workflow's waits for
// signals and timers, and markers for signals and operator actions. Long idle gaps are shortened
// (log scale beyond three times the typical gap) so millisecond steps stay visible beside an hour parked;
// the axis marks every shortened gap with its real length.

import { s } from "./dom.js";
import { duration, shortType } from "./format.js";

const ROW = 28;
const BAR = 14;
const AXIS = 30;
const PAD = 12;

function niceStep(span, count) {
  const raw = span / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(Math.max(raw, 1)));
  for (const m of [1, 2, 5, 10]) if (raw <= m * mag) return m * mag;
  return 10 * mag;
}

/** A piecewise scale over the instants where something happens; gaps above `cap` are log-shortened. */
function makeScale(instants, t0, t1, x0, width) {
  const pts = [...new Set([t0, t1, ...instants.filter((t) => t > t0 && t < t1)])].sort((a, b) => a - b);
  const total = Math.max(1, t1 - t0);
  const gaps = pts.slice(1).map((t, i) => t - pts[i]).sort((a, b) => a - b);
  const median = gaps.length ? gaps[Math.floor(gaps.length / 2)] : total;
  const cap = Math.max(total / 10, 3 * median); // only gaps far longer than the run's typical one shrink
  const eff = (gap) => (gap <= cap ? gap : cap * (1 + Math.log10(gap / cap)));
  const cum = [0];
  const breaks = [];
  for (let i = 1; i < pts.length; i++) {
    const gap = pts[i] - pts[i - 1];
    cum.push(cum[i - 1] + eff(gap));
    if (gap > cap * 1.5) breaks.push([pts[i - 1], pts[i]]);
  }
  const k = width / Math.max(1e-9, cum[cum.length - 1]);
  const x = (t) => {
    if (t <= pts[0]) return x0;
    if (t >= pts[pts.length - 1]) return x0 + width;
    let lo = 0;
    let hi = pts.length - 1;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (pts[mid] <= t) lo = mid;
      else hi = mid;
    }
    const gap = pts[hi] - pts[lo];
    const frac = gap ? eff(t - pts[lo]) / eff(gap) : 0;
    return x0 + k * (cum[lo] + frac * (cum[hi] - cum[lo]));
  };
  return { x, breaks };
}

function bar(x1, x2, y, cls, title, label) {
  const w = Math.max(3, x2 - x1);
  const g = s("g", { class: "g-bar" }, s("title", {}, title), s("rect", { x: x1, y, width: w, height: BAR, rx: 3, class: cls }));
  if (label && w > label.length * 6.5 + 8) {
    g.append(s("text", { x: x1 + 5, y: y + BAR - 3.5, class: "bar-text" }, label));
  }
  return g;
}

function truncate(text, px) {
  const max = Math.max(4, Math.floor(px / 6.6));
  return text.length <= max ? text : text.slice(0, max - 1) + "…";
}

/** Spans the timeline implies: parked periods per step and waits for signals/timers. */
function spans(detail, end) {
  const parked = []; // {seq, from, to, reason}
  const waits = []; // {from, to, signals, timerDue}
  let openPark = null;
  let openWait = null;
  for (const e of detail.timeline) {
    const d = e.detail || {};
    if (e.kind === "WorkflowParked") {
      if (openPark) parked.push({ ...openPark, to: e.at_ms });
      openPark = { seq: d.seq ?? null, from: e.at_ms, reason: d.reason || "", status: d.status || "parked" };
    } else if (e.kind === "WorkflowResumed" || e.kind === "OperatorActionApplied") {
      if (openPark && e.kind === "WorkflowResumed") {
        parked.push({ ...openPark, to: e.at_ms });
        openPark = null;
      }
    } else if (e.kind === "WorkflowWaiting") {
      if (openWait) waits.push({ ...openWait, to: e.at_ms });
      const signals = d.signals || [];
      openWait = signals.length || d.timer_due_ms ? { from: e.at_ms, signals, timerDue: d.timer_due_ms ?? null } : null;
    } else if (["WorkflowCompleted", "WorkflowFailed", "WorkflowCompensated", "WorkflowCancelled"].includes(e.kind)) {
      if (openPark) parked.push({ ...openPark, to: e.at_ms });
      if (openWait) waits.push({ ...openWait, to: e.at_ms });
      openPark = openWait = null;
    }
  }
  if (openPark) parked.push({ ...openPark, to: end, open: true });
  if (openWait) waits.push({ ...openWait, to: end, open: true });
  return { parked, waits };
}

export function ganttSummary(detail) {
  const attempts = detail.steps.reduce((n, st) => n + st.attempts.length, 0);
  const w = detail.workflow;
  return `${detail.steps.length} step${detail.steps.length === 1 ? "" : "s"}, ${attempts} attempt${attempts === 1 ? "" : "s"}, ${
    w.closed_at_ms ? `closed ${w.status} after ${duration(w.duration_ms)}` : `${w.status} for ${duration(Date.now() - w.started_at_ms)}`
  }`;
}

export function renderGantt(detail, width, now = Date.now()) {
  const w = detail.workflow;
  const t0 = w.started_at_ms;
  const lastEvent = detail.timeline.length ? detail.timeline[detail.timeline.length - 1].at_ms : t0;
  const open = w.closed_at_ms === null || w.closed_at_ms === undefined;
  const t1 = open ? Math.max(now, lastEvent, w.retry_at_ms || 0) : Math.max(w.closed_at_ms, lastEvent);
  const { parked, waits } = spans(detail, open ? now : t1);
  const labelW = Math.min(230, Math.max(110, width * 0.3));
  const x0 = labelW + PAD;
  const chartW = Math.max(60, width - x0 - PAD);

  const instants = [t0, t1];
  for (const st of detail.steps) {
    for (const a of st.attempts) instants.push(a.started_at_ms, a.ended_at_ms ?? now, a.retry_at_ms ?? t0);
  }
  for (const e of detail.timeline) instants.push(e.at_ms);
  for (const wt of waits) instants.push(wt.from, wt.to, wt.timerDue ?? t0);
  const { x, breaks } = makeScale(instants, t0, t1, x0, chartW);

  const rows = [];
  rows.push({ key: "wf", label: `${w.workflow_type}`, title: `workflow ${w.workflow_id}` });
  if (waits.length) rows.push({ key: "waits", label: "waits (signals, timers)", title: "what the workflow code waits on" });
  for (const st of detail.steps) {
    const label = `${st.compensation ? "↩ " : ""}#${st.seq} ${st.service} · ${shortType(st.command_type)}`;
    rows.push({ key: `step-${st.seq}`, label, title: `${label}${st.compensation ? " (compensation)" : ""}: ${st.status}`, step: st });
  }
  const height = AXIS + rows.length * ROW + PAD;
  const rowY = (i) => AXIS + i * ROW + (ROW - BAR) / 2;
  const rowIndex = Object.fromEntries(rows.map((r, i) => [r.key, i]));

  const svg = s("svg", {
    class: "gantt",
    viewBox: `0 0 ${width} ${height}`,
    width,
    height,
    role: "img",
    "aria-label": `Timeline: ${ganttSummary(detail)}. The steps table below has the same data.`,
  });
  svg.append(
    s(
      "defs",
      {},
      s(
        "pattern",
        { id: "hatch", width: 6, height: 6, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)" },
        s("rect", { width: 6, height: 6, class: "hatch-bg" }),
        s("line", { x1: 0, y1: 0, x2: 0, y2: 6, class: "hatch-line" }),
      ),
    ),
  );

  // axis: nice ticks where there is room, a break mark on every shortened gap
  const axis = s("g", { class: "axis" });
  const step = niceStep(t1 - t0, Math.max(2, Math.floor(chartW / 90)));
  let lastX = -Infinity;
  for (let t = t0; t <= t1 + 1; t += step) {
    const px = x(t);
    if (px - lastX < 64 && t !== t0) continue;
    lastX = px;
    axis.append(
      s("line", { x1: px, x2: px, y1: AXIS - 6, y2: height - PAD, class: "tick" }),
      s("text", { x: px, y: AXIS - 10, class: "tick-text", "text-anchor": t === t0 ? "start" : px > x0 + chartW - 30 ? "end" : "middle" }, t === t0 ? "0" : `+${duration(t - t0)}`),
    );
  }
  for (const [a, b] of breaks) {
    const mid = (x(a) + x(b)) / 2;
    axis.append(
      s("g", { class: "axis-break" }, s("title", {}, `idle ${duration(b - a)} (shortened)`),
        s("text", { x: mid, y: height - 2, class: "break-text", "text-anchor": "middle" }, `≈${duration(b - a)}`)),
    );
  }
  svg.append(axis);

  // row labels and bands
  rows.forEach((r, i) => {
    svg.append(
      s("rect", { x: 0, y: AXIS + i * ROW, width, height: ROW, class: i % 2 ? "band band-odd" : "band" }),
      s("text", { x: 4, y: AXIS + i * ROW + ROW / 2 + 4, class: ["row-label", r.step?.compensation && "row-comp"] }, s("title", {}, r.title), truncate(r.label, labelW - 8)),
    );
  });

  // the workflow row: its whole life, parked stretches on top
  const wfY = rowY(rowIndex.wf);
  svg.append(bar(x(t0), x(t1), wfY, `bar wf-${w.status}`, `${w.workflow_id}: ${w.status}, ${duration(t1 - t0)}${open ? " so far" : ""}`, w.status));
  for (const p of parked) {
    svg.append(bar(x(p.from), x(p.to), wfY, "bar parked", `${p.status} ${duration(p.to - p.from)}${p.open ? " so far" : ""}: ${p.reason}`, p.status));
  }

  // waits
  if (waits.length) {
    const y = rowY(rowIndex.waits);
    for (const wt of waits) {
      const what = wt.signals.length ? `signal ${wt.signals.join(", ")}` : "timer";
      svg.append(bar(x(wt.from), x(wt.to), y, "bar wait", `waiting for ${what}: ${duration(wt.to - wt.from)}${wt.open ? " so far" : ""}`, what));
      if (wt.timerDue && wt.timerDue <= t1) {
        svg.append(s("g", {}, s("title", {}, `timer due ${duration(wt.timerDue - t0)} after start`), s("line", { x1: x(wt.timerDue), x2: x(wt.timerDue), y1: y - 3, y2: y + BAR + 3, class: "timer-mark" })));
      }
    }
  }

  // steps: attempts, backoff between them, parked after the last failed one
  for (const st of detail.steps) {
    const i = rowIndex[`step-${st.seq}`];
    const y = rowY(i);
    for (const p of parked.filter((p) => p.seq === st.seq)) {
      svg.append(bar(x(p.from), x(p.to), y, "bar parked", `parked ${duration(p.to - p.from)}${p.open ? " so far" : ""}: ${p.reason}`, "parked"));
    }
    st.attempts.forEach((a, n) => {
      const end = a.ended_at_ms ?? now;
      const err = a.error ? `, ${a.error.error_type}${a.error.message ? `: ${a.error.message}` : ""}` : "";
      const outcome = a.outcome === "parked" ? "failed" : a.outcome;
      svg.append(
        bar(x(a.started_at_ms), x(end), y, `bar att att-${outcome}${st.compensation ? " comp" : ""}`,
          `attempt ${a.attempt}: ${a.outcome} after ${duration(end - a.started_at_ms)}${err}`, `${a.attempt}`),
      );
      const next = st.attempts[n + 1];
      if (a.retry_at_ms) { // a retryable failure: the durable timer until the next attempt
        const from = a.ended_at_ms ?? end;
        const to = next ? next.started_at_ms : Math.min(a.retry_at_ms, t1);
        if (to > from) {
          svg.append(
            s("g", { class: "g-bar" }, s("title", {}, `backoff ${duration(to - from)} before attempt ${a.attempt + 1}`),
              s("line", { x1: x(from), x2: x(to), y1: y + BAR / 2, y2: y + BAR / 2, class: "backoff" }),
              s("rect", { x: x(from), y, width: Math.max(1, x(to) - x(from)), height: BAR, class: "hit" })),
          );
        }
      }
    });
  }

  // markers: signals on the workflow row, operator actions on their step's row
  for (const e of detail.timeline) {
    const d = e.detail || {};
    if (e.kind === "SignalReceived") {
      const cx = x(e.at_ms);
      const cy = wfY + BAR / 2;
      svg.append(s("g", { class: "marker marker-signal" }, s("title", {}, `signal ${d.name}${d.sent_by ? ` from ${d.sent_by}` : ""} at +${duration(e.at_ms - t0)}`),
        s("path", { d: `M${cx} ${cy - 8} L${cx + 7} ${cy} L${cx} ${cy + 8} L${cx - 7} ${cy} Z` })));
    } else if (e.kind === "OperatorActionApplied") {
      const key = d.seq !== null && d.seq !== undefined && rowIndex[`step-${d.seq}`] !== undefined ? `step-${d.seq}` : "wf";
      const cx = x(e.at_ms);
      const top = rowY(rowIndex[key]) - 4;
      svg.append(s("g", { class: "marker marker-action" }, s("title", {}, `${d.action} by ${d.operator}${d.reason ? `: ${d.reason}` : ""} at +${duration(e.at_ms - t0)}`),
        s("path", { d: `M${cx - 6} ${top - 7} L${cx + 6} ${top - 7} L${cx} ${top + 2} Z` })));
    }
  }
  if (open) {
    const nx = x(now);
    svg.append(s("g", { class: "now" }, s("title", {}, "now"), s("line", { x1: nx, x2: nx, y1: AXIS - 4, y2: height - PAD, class: "now-line" })));
  }
  return svg;
}

export function ganttLegend(h) {
  const item = (cls, text) => h("li", {}, h("span", { class: `swatch ${cls}`, "aria-hidden": "true" }), text);
  return h(
    "ul",
    { class: "legend", "aria-label": "Legend" },
    item("att-succeeded", "attempt succeeded"),
    item("att-failed", "attempt failed"),
    item("att-in-flight", "in flight"),
    item("sw-backoff", "backoff before a retry"),
    item("parked", "parked for an operator"),
    item("wait", "waiting (signal, timer)"),
    item("sw-signal", "signal"),
    item("sw-action", "operator action"),
  );
}
