// One workflow: what it is doing now, the actions an operator can take, its timeline as a Gantt
// chart, its steps with every attempt and payload, compensations, signals, operator actions,
// children and the raw events. Refreshes itself while the workflow is open.

import { actionBar } from "./actions.js";
import { api, explain, workflowPath } from "./api.js";
import { copyButton, h, replace } from "./dom.js";
import { duration, relative, shortType, timeEl } from "./format.js";
import { ganttLegend, renderGantt } from "./gantt.js";
import { payloadView } from "./json.js";
import { CLOSED, NEEDS_OPERATOR, badge } from "./status.js";

const REFRESH_MS = 2000;
const FAST_MS = 700;

function section(id, title, ...body) {
  return h("section", { class: "card", "aria-labelledby": `${id}-title`, id }, h("h2", { id: `${id}-title` }, title), body);
}

function errorText(e) {
  return e ? `${e.error_type}${e.message ? `: ${e.message}` : ""}` : "";
}

function listLink(params, text) {
  const q = new URLSearchParams(params).toString();
  return h("a", { href: `/?${q}`, "data-link": true }, text);
}

function facts(w, ctx) {
  const rows = [
    ["Type", listLink({ type: w.workflow_type }, w.workflow_type)],
    ["Started", [timeEl(h, w.started_at_ms), h("span", { class: "muted" }, ` (${relative(w.started_at_ms)})`)]],
    ["Updated", timeEl(h, w.updated_at_ms)],
    w.closed_at_ms ? ["Closed", [timeEl(h, w.closed_at_ms), h("span", { class: "muted" }, ` after ${duration(w.duration_ms)}`)]] : ["Open for", duration(Date.now() - w.started_at_ms)],
  ];
  if (w.trace_url) {
    rows.push(["Trace", [h("a", { href: w.trace_url, target: "_blank", rel: "noopener noreferrer", id: "trace-link" }, "Open in Jaeger ↗"), " ", h("code", { class: "mono small" }, w.trace_id), copyButton(w.trace_id, "Copy id")]]);
  } else if (w.trace_id) {
    rows.push(["Trace", [h("code", { class: "mono small" }, w.trace_id), copyButton(w.trace_id, "Copy id"), h("span", { class: "help" }, " set [visibility] jaeger_url to link it")]]);
  } else rows.push(["Trace", h("span", { class: "muted" }, "none (tracing was off)")]);
  if (w.parent_workflow_id) rows.push(["Parent", h("a", { href: workflowPath(w.parent_workflow_id), "data-link": true, class: "mono" }, w.parent_workflow_id)]);
  const attrs = Object.entries(w.search_attributes || {});
  if (attrs.length) {
    rows.push([
      "Search attributes",
      h("span", { class: "attrs" }, attrs.map(([k, v]) => listLink({ attrs: `${k}=${typeof v === "string" && /\s/.test(v) ? `"${v}"` : v}` }, h("span", { class: "attr" }, `${k}=${v}`)))),
    ]);
  }
  return h("dl", { class: "facts" }, rows.map(([k, v]) => h("div", {}, h("dt", {}, k), h("dd", {}, v))));
}

function nowBox(ctx, detail, onSent) {
  const w = detail.workflow;
  const lines = [];
  if (NEEDS_OPERATOR.has(w.status)) {
    lines.push(h("p", { class: "attention-title" }, w.status === "parked" ? "Parked: waiting for an operator" : "Needs attention: its code cannot run"));
    if (w.parked_reason) lines.push(h("p", {}, w.parked_reason));
    if (w.error) lines.push(h("p", { class: "mono small" }, errorText(w.error)));
  } else if (!CLOSED.has(w.status)) {
    const s = w.current_step;
    if (s) lines.push(h("p", {}, `Step #${s.seq} ${s.service} · ${shortType(s.command_type)}: attempt ${s.attempt}, ${s.status}${w.open_steps > 1 ? ` (+${w.open_steps - 1} more open)` : ""}.`));
    if (w.retry_at_ms) lines.push(h("p", {}, "Next retry ", timeEl(h, w.retry_at_ms), ` (${relative(w.retry_at_ms)}).`));
    if (w.awaited_signals?.length) lines.push(h("p", {}, `Awaits signal ${w.awaited_signals.join(", ")}.`));
    if (w.timer_due_ms) lines.push(h("p", {}, "Timer fires ", timeEl(h, w.timer_due_ms), ` (${relative(w.timer_due_ms)}).`));
    if (w.cancel_requested) lines.push(h("p", {}, "Cancellation requested: compensating."));
    if (w.error) lines.push(h("p", { class: "mono small" }, `last error: ${errorText(w.error)}`));
    if (!lines.length) lines.push(h("p", {}, "Running."));
  } else {
    lines.push(h("p", {}, `${w.status[0].toUpperCase()}${w.status.slice(1)} after ${duration(w.duration_ms)}.`));
    if (w.error && w.status !== "completed") lines.push(h("p", { class: "mono small" }, errorText(w.error)));
  }
  const cls = NEEDS_OPERATOR.has(w.status) ? "now-box attention" : `now-box st-box-${w.status}`;
  return h("section", { class: cls, "aria-labelledby": "now-title", id: "now" }, h("h2", { id: "now-title", class: "visually-hidden" }, "Now"), lines, actionBar(ctx, detail, { onSent }));
}

function attemptsTable(st) {
  return h(
    "table",
    { class: "grid compact" },
    h("caption", { class: "visually-hidden" }, `Attempts of step ${st.seq}`),
    h("thead", {}, h("tr", {}, ["Attempt", "Started", "Took", "Outcome", "Error", "Retry at"].map((c) => h("th", { scope: "col" }, c)))),
    h(
      "tbody",
      {},
      st.attempts.map((a) =>
        h(
          "tr",
          {},
          h("td", { class: "num" }, a.attempt),
          h("td", {}, timeEl(h, a.started_at_ms)),
          h("td", { class: "num" }, a.duration_ms === null ? "…" : duration(a.duration_ms)),
          h("td", {}, h("span", { class: `outcome out-${a.outcome}` }, a.outcome)),
          h("td", { class: "mono small" }, errorText(a.error)),
          h("td", {}, a.retry_at_ms ? timeEl(h, a.retry_at_ms) : ""),
        ),
      ),
    ),
  );
}

function stepItem(st, open) {
  const took = st.duration_ms !== null && st.duration_ms !== undefined ? duration(st.duration_ms) : "";
  return h(
    "details",
    { class: ["step", st.compensation && "step-comp"], open: open, dataset: { seq: st.seq } },
    h(
      "summary",
      {},
      h("span", { class: "step-seq" }, `#${st.seq}`),
      h("span", { class: "step-name" }, st.compensation ? h("span", { class: "comp-tag" }, "compensation") : null, `${st.service} · ${shortType(st.command_type)}`),
      h("span", { class: `outcome out-${st.status}` }, st.status),
      h("span", { class: "muted small" }, `${st.attempts.length} attempt${st.attempts.length === 1 ? "" : "s"}${took ? ` · ${took}` : ""}`),
      st.error ? h("span", { class: "step-error mono small" }, errorText(st.error)) : null,
    ),
    h(
      "div",
      { class: "step-body" },
      h("div", { class: "table-wrap" }, attemptsTable(st)),
      h("div", { class: "payloads" }, h("div", {}, h("h3", {}, "Command"), payloadView(st.command, "Command")), h("div", {}, h("h3", {}, "Result"), payloadView(st.result, "Result"))),
    ),
  );
}

function simpleTable(caption, columns, rows, empty) {
  if (!rows.length) return h("p", { class: "muted" }, empty);
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { class: "grid" },
      h("caption", { class: "visually-hidden" }, caption),
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, rows.map((cells) => h("tr", {}, cells.map((c, i) => h("td", { "data-label": columns[i] }, c))))),
    ),
  );
}

function describeEvent(e) {
  const d = e.detail || {};
  switch (e.kind) {
    case "StepScheduled":
    case "StepCompleted":
    case "StepFailed":
    case "StepRetrying":
      return `${d.service} ${shortType(d.command_type)}${d.compensation ? " (compensation)" : ""}${d.error ? `: ${errorText(d.error)}` : ""}`;
    case "WorkflowParked":
      return `${d.status || "parked"}: ${d.reason}`;
    case "WorkflowResumed":
      return `now ${d.status}`;
    case "WorkflowWaiting":
      return `awaits ${(d.signals || []).join(", ") || "no signal"}${d.timer_due_ms ? `; timer +${duration(d.timer_due_ms - e.at_ms)}` : ""}`;
    case "SignalReceived":
      return `${d.name}${d.sent_by ? ` from ${d.sent_by}` : ""}`;
    case "OperatorActionApplied":
      return `${d.action}${d.seq !== null && d.seq !== undefined ? ` step ${d.seq}` : ""} by ${d.operator}${d.reason ? `: ${d.reason}` : ""}`;
    case "SearchAttributesSet":
      return JSON.stringify(d.attributes);
    case "ReplyIgnored":
      return `${d.status} reply, attempt ${d.attempt}: ${d.why}`;
    case "EventPublished":
      return shortType(d.schema);
    default:
      return d.reason || errorText(d.error) || "";
  }
}

export function renderDetail(ctx, id) {
  const state = { detail: null, timer: null, stopped: false, waitFor: null, key: "", abort: null, openSteps: new Set(), eventsOpen: false };
  document.title = `${id} · ${document.body.dataset.app} · SagaBridge`;
  const back = h("a", { href: ctx.session.lastListUrl || "/", "data-link": true, class: "back" }, "← Workflows");
  const root = h("div", { class: "detail" });
  const errorBox = h("div");
  replace(ctx.view, back, errorBox, root, h("p", { class: "muted", id: "detail-loading" }, "Loading…"));
  let ganttBox = null;
  const drawGantt = () => {
    if (!ganttBox || !state.detail) return;
    replace(ganttBox, renderGantt(state.detail, Math.max(320, ganttBox.clientWidth)));
  };
  const resize = new ResizeObserver(() => drawGantt());

  function onSent(accepted) {
    const d = state.detail;
    state.waitFor = { action: accepted.action, actions: d.operator_actions.length, signals: d.signals.length, events: d.workflow.updated_at_ms };
    const notice = ctx.notify(`${accepted.action} accepted: on ${accepted.inbox_topic} as ${accepted.requested_by}. Waiting for the engine to apply it…`, "info", { sticky: true });
    state.waitFor.notice = notice;
    schedule(FAST_MS);
  }

  function render(detail) {
    const w = detail.workflow;
    for (const el of root.querySelectorAll("details.step[open]")) state.openSteps.add(Number(el.dataset.seq));
    for (const el of root.querySelectorAll("details.step:not([open])")) state.openSteps.delete(Number(el.dataset.seq));
    state.eventsOpen = root.querySelector("#events-details")?.open ?? state.eventsOpen;
    const hadFocus = document.activeElement && root.contains(document.activeElement) ? document.activeElement.id : null;
    document.title = `${w.workflow_id} (${w.status}) · ${document.body.dataset.app} · SagaBridge`;
    ganttBox = h("div", { class: "gantt-box" });
    const comps = detail.steps.filter((st) => st.compensation);
    const events = h(
      "details",
      { id: "events-details", open: state.eventsOpen },
      h("summary", {}, `All events (${detail.timeline.length}${detail.timeline_next_position !== null ? "+" : ""})`),
      simpleTable(
        "Every event of this workflow",
        ["#", "+time", "Event", "Step", "Detail", "Payload"],
        detail.timeline.map((e) => [
          String(e.position),
          h("span", { title: new Date(e.at_ms).toISOString() }, `+${duration(e.at_ms - w.started_at_ms)}`),
          e.kind,
          e.step_seq === null ? "" : `#${e.step_seq}${e.attempt ? ` a${e.attempt}` : ""}`,
          describeEvent(e),
          e.payload ? payloadView(e.payload, e.kind) : "",
        ]),
        "No events.",
      ),
    );
    replace(
      root,
      h("div", { class: "page-head" }, h("h1", { class: "mono wf-title" }, w.workflow_id), badge(h, w.status), copyButton(w.workflow_id, "Copy id")),
      facts(w, ctx),
      nowBox(ctx, detail, onSent),
      section("timeline", "Timeline", ganttLegend(h), ganttBox),
      section("steps", `Steps (${detail.steps.length})`, detail.steps.length ? detail.steps.map((st) => stepItem(st, state.openSteps.has(st.seq))) : h("p", { class: "muted" }, "No step yet.")),
      section(
        "compensations",
        "Compensations",
        comps.length
          ? h("ul", { class: "plain" }, comps.map((st) => h("li", {}, `↩ #${st.seq} ${st.service} · ${shortType(st.command_type)}: `, h("span", { class: `outcome out-${st.status}` }, st.status), st.error ? ` (${errorText(st.error)})` : "")))
          : h("p", { class: "muted" }, w.compensating ? "Compensating: none has run yet." : "None ran."),
      ),
      h(
        "div",
        { class: "two" },
        section("input", "Input", payloadView(detail.input, "Input")),
        section("result", "Result", detail.result ? payloadView(detail.result, "Result") : h("p", { class: "muted" }, CLOSED.has(w.status) ? "none" : "not finished yet")),
      ),
      section(
        "signals",
        "Signals",
        simpleTable(
          "Signals received",
          ["Received", "Name", "Sent by", "Payload"],
          detail.signals.map((sg) => [timeEl(h, sg.at_ms), sg.name, sg.sent_by || h("span", { class: "muted" }, "unknown"), sg.payload ? payloadView(sg.payload, "Signal payload") : ""]),
          "No signal received.",
        ),
      ),
      section(
        "operator-actions",
        "Operator actions",
        simpleTable(
          "Operator actions applied",
          ["Applied", "Action", "Step", "Operator", "Reason"],
          detail.operator_actions.map((a) => [timeEl(h, a.at_ms), a.action, a.seq === null ? "all parked" : `#${a.seq}`, h("strong", {}, a.operator), a.reason]),
          "No operator action.",
        ),
      ),
      detail.children.length
        ? section(
            "children",
            `Child workflows (${detail.children.length})`,
            simpleTable(
              "Child workflows",
              ["Workflow", "Type", "Status", "Started"],
              detail.children.map((c) => [h("a", { href: workflowPath(c.workflow_id), "data-link": true, class: "mono" }, c.workflow_id), c.workflow_type, badge(h, c.status), timeEl(h, c.started_at_ms)]),
              "",
            ),
          )
        : null,
      section("events", "Events", events),
    );
    resize.disconnect();
    resize.observe(ganttBox);
    drawGantt();
    if (hadFocus) document.getElementById(hadFocus)?.focus();
  }

  function schedule(ms) {
    clearTimeout(state.timer);
    if (!state.stopped) state.timer = setTimeout(load, ms);
  }

  async function load() {
    if (state.stopped) return;
    state.abort?.abort();
    const abort = (state.abort = new AbortController());
    try {
      const detail = await api(workflowPath(id), { signal: abort.signal });
      if (state.stopped) return;
      document.getElementById("detail-loading")?.remove();
      replace(errorBox);
      const w = detail.workflow;
      const key = `${w.updated_at_ms}|${w.status}|${detail.timeline.length}|${ctx.session.caller?.may_operate}`;
      const changed = key !== state.key;
      state.key = key;
      state.detail = detail;
      if (changed) render(detail);
      else if (!CLOSED.has(w.status)) drawGantt(); // the "now" line moves on
      const wait = state.waitFor;
      if (wait && (detail.operator_actions.length > wait.actions || detail.signals.length > wait.signals)) {
        const last = detail.operator_actions[detail.operator_actions.length - 1];
        ctx.notify(last && detail.operator_actions.length > wait.actions ? `${last.action} applied by ${last.operator}.` : `${wait.action} delivered.`, "ok");
        wait.notice?.remove();
        state.waitFor = null;
      }
      if (state.waitFor) schedule(FAST_MS);
      else if (!CLOSED.has(w.status)) schedule(document.hidden ? REFRESH_MS * 3 : REFRESH_MS);
    } catch (err) {
      if (err.name === "AbortError" || state.stopped) return;
      document.getElementById("detail-loading")?.remove();
      replace(errorBox, h("div", { class: "banner banner-error", role: "alert" }, explain(err)));
      if (err.status !== 401 && err.status !== 404) schedule(REFRESH_MS * 2);
      else if (err.status === 404) schedule(REFRESH_MS); // the store may not have ingested it yet
    }
  }

  const onKey = ({ detail: { key, event } }) => {
    if (key === "r") {
      event.preventDefault();
      state.key = "";
      load();
    }
  };
  const onCaller = () => {
    state.key = "";
    load();
  };
  window.addEventListener("sb:key", onKey);
  window.addEventListener("sb:caller", onCaller);
  load();
  return () => {
    state.stopped = true;
    clearTimeout(state.timer);
    state.abort?.abort();
    resize.disconnect();
    window.removeEventListener("sb:key", onKey);
    window.removeEventListener("sb:caller", onCaller);
  };
}
