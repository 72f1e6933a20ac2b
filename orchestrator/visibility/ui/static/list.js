// The workflow list: filters (status, type, time range, search attributes, id prefix) kept in the
// URL so a view can be shared, status counts that double as status filters, keyset pages.

import { api, explain, workflowPath } from "./api.js";
import { h, replace } from "./dom.js";
import { duration, relative, shortType, timeEl } from "./format.js";
import { STATUSES, badge, statusLabel } from "./status.js";

const REFRESH_MS = 3000;
const RANGES = [
  ["", "any time"],
  ["15m", "last 15 minutes", 15 * 60_000],
  ["1h", "last hour", 3_600_000],
  ["24h", "last 24 hours", 86_400_000],
  ["7d", "last 7 days", 7 * 86_400_000],
  ["custom", "between…"],
];
const PAGE_SIZES = [25, 50, 100, 200];
let cursorStack = []; // cursors of the pages before this one (keyset pages only go forward)
let cursorFilterKey = "";

/** "customer_id=c-42 region=\"eu west\"" -> ["customer_id=c-42", "region=eu west"] */
export function parseAttributes(text) {
  const out = [];
  const re = /([^\s=]+)=(?:"([^"]*)"|(\S*))/g;
  let m;
  while ((m = re.exec(text || "")) !== null) out.push(`${m[1]}=${m[2] ?? m[3]}`);
  return out;
}

function readFilters() {
  const q = new URLSearchParams(window.location.search);
  return {
    status: q.getAll("status"),
    type: q.get("type") || "",
    id_prefix: q.get("id_prefix") || "",
    range: q.get("range") || "",
    from: q.get("from") || "",
    to: q.get("to") || "",
    attrs: q.get("attrs") || "",
    limit: Number(q.get("limit")) || 50,
    cursor: q.get("cursor") || "",
  };
}

function filtersToQuery(f) {
  const q = new URLSearchParams();
  for (const st of f.status) q.append("status", st);
  for (const key of ["type", "id_prefix", "range", "attrs", "cursor"]) if (f[key]) q.set(key, f[key]);
  if (f.range === "custom") {
    if (f.from) q.set("from", f.from);
    if (f.to) q.set("to", f.to);
  }
  if (f.limit !== 50) q.set("limit", String(f.limit));
  const text = q.toString();
  return text ? `/?${text}` : "/";
}

function apiParams(f, { withStatus = true } = {}) {
  const params = { id_prefix: f.id_prefix, attr: parseAttributes(f.attrs) };
  if (withStatus) params.status = f.status;
  if (f.type) params.type = f.type;
  const preset = RANGES.find(([key]) => key === f.range);
  if (preset && preset[2]) params.started_after = Date.now() - preset[2];
  if (f.range === "custom") {
    // datetime-local values are the person's local time: send the exact instant
    if (f.from) params.started_after = new Date(f.from).getTime();
    if (f.to) params.started_before = new Date(f.to).getTime();
  }
  return params;
}

function nowText(w) {
  const parts = [];
  const step = w.current_step;
  if (step) {
    const more = w.open_steps > 1 ? ` +${w.open_steps - 1} more` : "";
    const kind = step.compensation ? " (compensation)" : "";
    parts.push(`#${step.seq} ${step.service} · ${shortType(step.command_type)}${kind}, attempt ${step.attempt}${more}`);
  }
  if (w.retry_at_ms) parts.push(`retry ${relative(w.retry_at_ms)}`);
  if (w.awaited_signals?.length) parts.push(`awaits signal ${w.awaited_signals.join(", ")}`);
  else if (w.timer_due_ms) parts.push(`timer ${relative(w.timer_due_ms)}`);
  return parts.join(" · ");
}

function noteText(w) {
  if (w.parked_reason) return w.parked_reason;
  if (w.error && w.status !== "completed") return `${w.error.error_type}${w.error.message ? `: ${w.error.message}` : ""}`;
  return "";
}

function cell(label, content, cls) {
  const empty = content === "" || content === null || (Array.isArray(content) && !content.flat().filter(Boolean).length);
  return h("td", { "data-label": label, class: [cls, empty && "is-empty"] }, h("div", { class: "cell" }, content));
}

function row(w) {
  const flags = [];
  if (w.cancel_requested && !w.closed_at_ms) flags.push(h("span", { class: "flag" }, "cancel requested"));
  if (w.compensating && !w.closed_at_ms) flags.push(h("span", { class: "flag" }, "compensating"));
  const took = w.closed_at_ms ? duration(w.duration_ms) : `open ${duration(Date.now() - w.started_at_ms)}`;
  const now = nowText(w);
  const note = noteText(w);
  return h(
    "tr",
    { dataset: { id: w.workflow_id, status: w.status } },
    cell("Workflow", h("a", { href: workflowPath(w.workflow_id), "data-link": true, class: "wf-link mono" }, w.workflow_id), "cell-id"),
    cell("Type", w.workflow_type),
    cell("Status", [badge(h, w.status), ...flags]),
    cell("Now", [now ? h("span", {}, now) : null, note ? h("span", { class: "note" }, note) : null], "cell-now"),
    cell("Started", timeEl(h, w.started_at_ms, { rel: true })),
    cell("Duration", took, "num"),
  );
}

export function renderList(ctx) {
  const f = readFilters();
  const filterKey = JSON.stringify({ ...f, cursor: "" });
  if (filterKey !== cursorFilterKey) {
    cursorStack = [];
    cursorFilterKey = filterKey;
  }
  document.title = `Workflows · ${document.body.dataset.app} · SagaBridge`;

  const go = (next) => ctx.navigate(filtersToQuery(next));
  const controller = { stopped: false, timer: null, abort: null };

  // --- status counts: one toggle per status, "All" clears -------------------------------------------
  const chips = h("div", { class: "chips", role: "group", "aria-label": "Filter by status" });
  // --- the filter form ----------------------------------------------------------------------------
  const idInput = h("input", { id: "f-id", name: "id_prefix", type: "search", value: f.id_prefix, placeholder: "order-12", autocomplete: "off", spellcheck: "false" });
  const typeSelect = h("select", { id: "f-type", name: "type" }, h("option", { value: "" }, "all types"));
  if (f.type) typeSelect.append(h("option", { value: f.type, selected: true }, f.type));
  const rangeSelect = h(
    "select",
    { id: "f-range", name: "range" },
    RANGES.map(([key, label]) => h("option", { value: key, selected: key === f.range }, label)),
  );
  const fromInput = h("input", { id: "f-from", name: "from", type: "datetime-local", value: f.from, step: "1" });
  const toInput = h("input", { id: "f-to", name: "to", type: "datetime-local", value: f.to, step: "1" });
  const custom = h(
    "div",
    { class: "field-group", hidden: f.range !== "custom" },
    h("div", { class: "field" }, h("label", { for: "f-from" }, "Started from"), fromInput),
    h("div", { class: "field" }, h("label", { for: "f-to" }, "to"), toInput),
  );
  const attrInput = h("input", {
    id: "f-attrs",
    name: "attrs",
    type: "text",
    value: f.attrs,
    placeholder: "customer_id=c-42 region=eu",
    autocomplete: "off",
    spellcheck: "false",
    "aria-describedby": "f-attrs-help",
  });
  const form = h(
    "form",
    { class: "filters", role: "search", "aria-label": "Filter workflows" },
    h("div", { class: "field" }, h("label", { for: "f-id" }, "Workflow id starts with"), idInput),
    h("div", { class: "field" }, h("label", { for: "f-type" }, "Type"), typeSelect),
    h("div", { class: "field" }, h("label", { for: "f-range" }, "Started"), rangeSelect),
    custom,
    h(
      "div",
      { class: "field field-wide" },
      h("label", { for: "f-attrs" }, "Search attributes"),
      attrInput,
      h("span", { class: "help", id: "f-attrs-help" }, 'name=value, all must match; quote values with spaces: note="two words"'),
    ),
    h(
      "div",
      { class: "field field-buttons" },
      h("button", { type: "submit", class: "btn btn-primary" }, "Apply"),
      h("button", { type: "button", class: "btn", id: "f-clear" }, "Clear"),
    ),
  );
  const fromForm = () => ({
    ...f,
    id_prefix: idInput.value.trim(),
    type: typeSelect.value,
    range: rangeSelect.value,
    from: fromInput.value,
    to: toInput.value,
    attrs: attrInput.value.trim(),
    cursor: "",
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    go(fromForm());
  });
  typeSelect.addEventListener("change", () => go(fromForm()));
  rangeSelect.addEventListener("change", () => {
    custom.hidden = rangeSelect.value !== "custom";
    if (rangeSelect.value !== "custom") go(fromForm());
    else fromInput.focus();
  });
  form.querySelector("#f-clear").addEventListener("click", () => go({ ...readFilters(), status: [], type: "", id_prefix: "", range: "", from: "", to: "", attrs: "", cursor: "" }));

  // --- table, pager, live toggle --------------------------------------------------------------------
  const tbody = h("tbody");
  const table = h(
    "table",
    { class: "grid wf-table", "aria-describedby": "list-summary" },
    h("caption", { class: "visually-hidden" }, "Workflows, newest first"),
    h(
      "thead",
      {},
      h("tr", {}, ["Workflow", "Type", "Status", "Now", "Started", "Duration"].map((c) => h("th", { scope: "col" }, c))),
    ),
    tbody,
  );
  const summary = h("p", { id: "list-summary", class: "muted", "aria-live": "polite" });
  const errorBox = h("div", { class: "list-error" });
  const pager = h("nav", { class: "pager", "aria-label": "Pages" });
  const live = h("input", { type: "checkbox", id: "live", checked: true });
  const refreshed = h("span", { class: "muted small" });
  const refreshButton = h("button", { type: "button", class: "btn btn-small" }, "Refresh");
  refreshButton.addEventListener("click", () => load());

  replace(
    ctx.view,
    h(
      "div",
      { class: "page-head" },
      h("h1", {}, "Workflows"),
      h("div", { class: "head-tools" }, h("div", { class: "check" }, live, h("label", { for: "live" }, "Live")), refreshed, refreshButton),
    ),
    chips,
    form,
    errorBox,
    summary,
    h("div", { class: "table-wrap" }, table),
    pager,
  );

  function renderChips(counts) {
    const total = counts?.total ?? 0;
    const by = counts?.by_status || {};
    const chip = (status, label, n) => {
      const pressed = status === null ? f.status.length === 0 : f.status.includes(status);
      const b = h(
        "button",
        { type: "button", class: ["chip", status && `st-${status}`], "aria-pressed": String(pressed), dataset: { status: status || "all" } },
        h("span", { class: "chip-label" }, label),
        h("span", { class: "chip-count" }, n.toLocaleString()),
      );
      b.addEventListener("click", () => {
        let next = [];
        if (status !== null) next = pressed ? f.status.filter((x) => x !== status) : [...f.status, status];
        go({ ...f, status: next, cursor: "" });
      });
      return b;
    };
    replace(chips, chip(null, "All", total), STATUSES.map((st) => chip(st, statusLabel(st), by[st] || 0)));
  }

  function renderPager(next) {
    const parts = [];
    if (f.cursor) {
      const newer = h("button", { type: "button", class: "btn btn-small" }, "← Newer");
      newer.addEventListener("click", () => {
        const prev = cursorStack.pop() || "";
        go({ ...f, cursor: prev });
      });
      const first = h("button", { type: "button", class: "btn btn-small btn-quiet" }, "First page");
      first.addEventListener("click", () => {
        cursorStack = [];
        go({ ...f, cursor: "" });
      });
      parts.push(first, newer);
    }
    if (next) {
      const older = h("button", { type: "button", class: "btn btn-small", id: "older" }, "Older →");
      older.addEventListener("click", () => {
        cursorStack.push(f.cursor);
        go({ ...f, cursor: next });
      });
      parts.push(older);
    }
    const size = h(
      "select",
      { id: "page-size", "aria-label": "Workflows per page" },
      PAGE_SIZES.map((n) => h("option", { value: n, selected: n === f.limit }, `${n} per page`)),
    );
    size.addEventListener("change", () => go({ ...f, limit: Number(size.value), cursor: "" }));
    replace(pager, parts, size);
  }

  let typesLoaded = false;
  async function loadTypes() {
    if (typesLoaded) return;
    const { types } = await api("/workflow-types");
    typesLoaded = true;
    replace(
      typeSelect,
      h("option", { value: "" }, "all types"),
      types.map((t) => h("option", { value: t.workflow_type, selected: t.workflow_type === f.type }, `${t.workflow_type} (${t.total.toLocaleString()})`)),
      f.type && !types.some((t) => t.workflow_type === f.type) ? h("option", { value: f.type, selected: true }, f.type) : null,
    );
  }

  async function load() {
    if (controller.stopped) return;
    clearTimeout(controller.timer);
    controller.abort?.abort();
    const abort = (controller.abort = new AbortController());
    table.setAttribute("aria-busy", "true");
    try {
      const [page, counts] = await Promise.all([
        api("/workflows", { params: { ...apiParams(f), limit: f.limit, cursor: f.cursor }, signal: abort.signal }),
        api("/counts", { params: apiParams(f, { withStatus: false }), signal: abort.signal }),
        loadTypes().catch(() => {}),
      ]);
      if (controller.stopped) return;
      const focusedId = document.activeElement?.closest?.("tr")?.dataset?.id;
      replace(tbody, page.workflows.map(row));
      if (!page.workflows.length) {
        tbody.append(h("tr", { class: "empty" }, h("td", { colspan: 6 }, f.cursor ? "No more workflows." : "No workflow matches these filters.")));
      }
      if (focusedId) tbody.querySelector(`tr[data-id="${CSS.escape(focusedId)}"] a`)?.focus();
      renderChips(counts);
      const shown = page.workflows.length;
      const matching = f.status.length ? f.status.reduce((n, st) => n + (counts.by_status[st] || 0), 0) : counts.total;
      summary.textContent = shown
        ? `Showing ${shown.toLocaleString()} of ${matching.toLocaleString()} matching workflow${matching === 1 ? "" : "s"}, newest first${f.id_prefix ? " (by id)" : ""}.`
        : "";
      renderPager(page.next_cursor);
      replace(errorBox);
      refreshed.textContent = `updated ${new Date().toLocaleTimeString()}`;
    } catch (err) {
      if (err.name === "AbortError" || controller.stopped) return;
      replace(errorBox, h("div", { class: "banner banner-error", role: "alert" }, explain(err)));
    } finally {
      table.removeAttribute("aria-busy");
      if (!controller.stopped && live.checked) controller.timer = setTimeout(tick, REFRESH_MS);
    }
  }
  function tick() {
    if (document.hidden) controller.timer = setTimeout(tick, REFRESH_MS);
    else load();
  }
  live.addEventListener("change", () => (live.checked ? load() : clearTimeout(controller.timer)));

  const onKey = ({ detail: { key, event } }) => {
    if (key === "/") {
      event.preventDefault();
      idInput.focus();
      idInput.select();
    } else if (key === "r") {
      event.preventDefault();
      load();
    } else if (key === "j" || key === "k") {
      event.preventDefault();
      const links = [...tbody.querySelectorAll("a.wf-link")];
      if (!links.length) return;
      const at = links.indexOf(document.activeElement);
      const next = at < 0 ? 0 : Math.max(0, Math.min(links.length - 1, at + (key === "j" ? 1 : -1)));
      links[next].focus();
    }
  };
  window.addEventListener("sb:key", onKey);
  load();
  return () => {
    controller.stopped = true;
    clearTimeout(controller.timer);
    controller.abort?.abort();
    window.removeEventListener("sb:key", onKey);
  };
}
