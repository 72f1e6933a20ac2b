// Operator actions behind a confirmation: each button opens a dialog that says what will happen,
// to which step, and under which name it is recorded; only "confirm" sends it (with the operate
// token) to the API, which puts it on the inbox. Errors (403 for a read token, 409 when the
// workflow moved on, 422 for a result that does not match its schema) are shown in the dialog.

import { ApiError, api, explain, workflowPath } from "./api.js";
import { h, replace } from "./dom.js";
import { shortType } from "./format.js";
import { CLOSED } from "./status.js";

const ACTIONS = {
  retry: {
    label: "Retry",
    confirm: "Retry",
    explain: (w, steps) =>
      w.status === "needs-attention"
        ? "The workflow's code is run again from its history (deploy the fixed code first)."
        : `${steps} is sent again with a fresh attempt budget.`,
  },
  skip: {
    label: "Skip…",
    confirm: "Skip the step",
    explain: (_w, steps) => `${steps} is completed with the result below, as if its service had answered; the workflow carries on.`,
  },
  compensate: {
    label: "Compensate",
    confirm: "Fail and compensate",
    danger: true,
    explain: (_w, steps) => `${steps} fails for good; the saga runs its compensations in reverse order.`,
  },
  cancel: {
    label: "Cancel workflow",
    confirm: "Cancel the workflow",
    danger: true,
    explain: () => "The workflow is cancelled: open steps are given up and its saga compensates what was done.",
  },
  signal: {
    label: "Signal…",
    confirm: "Send the signal",
    explain: () => "The signal is delivered to the workflow, with you recorded as its sender.",
  },
};

export function availableActions(w) {
  if (CLOSED.has(w.status)) return [];
  if (w.status === "parked") return ["retry", "skip", "compensate", "cancel", "signal"];
  if (w.status === "needs-attention") return ["retry", "cancel"];
  return ["signal", "cancel"];
}

function stepText(st) {
  return `step #${st.seq} ${st.service} · ${shortType(st.command_type)}`;
}

function parseJson(text, what) {
  if (!text.trim()) return { value: null };
  try {
    const value = JSON.parse(text);
    if (value === null || typeof value !== "object" || Array.isArray(value)) return { error: `${what} must be a JSON object` };
    return { value };
  } catch (err) {
    return { error: `${what} is not valid JSON: ${err.message}` };
  }
}

/** A result someone else's run of the same step produced: a starting point for Skip. */
async function skipSuggestion(detail, step) {
  const page = await api("/workflows", { params: { type: detail.workflow.workflow_type, status: "completed", limit: 5 } });
  for (const w of page.workflows) {
    const other = await api(workflowPath(w.workflow_id));
    const match = other.steps.find((st) => st.command_type === step.command_type && st.result && !st.result.error);
    if (match) return { schema: match.result.schema_name, value: match.result.value, from: w.workflow_id };
  }
  return null;
}

export function actionBar(ctx, detail, { onSent }) {
  const w = detail.workflow;
  const names = availableActions(w);
  const caller = ctx.session.caller;
  if (!names.length) return h("p", { class: "muted" }, `No actions: the workflow is ${w.status}.`);
  const readOnly = !caller?.may_operate;
  const bar = h("div", { class: "actions", role: "group", "aria-label": "Operator actions" });
  for (const name of names) {
    const spec = ACTIONS[name];
    const b = h(
      "button",
      { type: "button", class: ["btn", spec.danger ? "btn-danger" : name === "retry" ? "btn-primary" : ""], dataset: { action: name }, disabled: readOnly, "aria-describedby": readOnly ? "actions-note" : undefined },
      spec.label,
    );
    b.addEventListener("click", () => openDialog(ctx, detail, name, onSent));
    bar.append(b);
  }
  const note = readOnly
    ? h("p", { class: "help", id: "actions-note" }, `Signed in as ${caller?.name} with a read token: actions need an operate token. `, h("a", { href: "/signin", "data-link": true }, "Sign in with another token"), ".")
    : h("p", { class: "help" }, `Actions are recorded as ${caller.name}.`);
  return h("div", {}, bar, note);
}

function openDialog(ctx, detail, name, onSent) {
  const w = detail.workflow;
  const spec = ACTIONS[name];
  const parked = detail.steps.filter((st) => st.status === "parked");
  const fields = [];
  const errorBox = h("p", { class: "form-error", role: "alert", id: "action-error" });

  // which step (retry / skip / compensate on a parked workflow)
  let seqSelect = null;
  if (["retry", "skip", "compensate"].includes(name) && w.status === "parked") {
    const options = parked.map((st) => h("option", { value: st.seq }, stepText(st)));
    if (name !== "skip" || parked.length !== 1) {
      if (name !== "skip") options.unshift(h("option", { value: "" }, parked.length === 1 ? `the parked ${stepText(parked[0])}` : `every parked step (${parked.length})`));
    }
    seqSelect = h("select", { id: "a-seq" }, options);
    fields.push(h("div", { class: "field" }, h("label", { for: "a-seq" }, "Step"), seqSelect));
  }
  const selected = () => {
    const v = seqSelect?.value;
    return v === undefined || v === "" ? null : Number(v);
  };
  const stepsPhrase = () => {
    const seq = selected();
    if (seq !== null) return `The parked ${stepText(parked.find((st) => st.seq === seq))}`;
    if (parked.length === 1) return `The parked ${stepText(parked[0])}`;
    return `Every parked step (${parked.length})`;
  };

  let schemaInput = null;
  let jsonInput = null;
  let nameInput = null;
  const hint = h("p", { class: "help", id: "a-json-help" });
  if (name === "skip") {
    schemaInput = h("input", { id: "a-schema", type: "text", required: true, spellcheck: "false", autocomplete: "off", placeholder: "sagabridge.demo.inventory.StockReserved" });
    jsonInput = h("textarea", { id: "a-json", rows: 6, spellcheck: "false", required: true, "aria-describedby": "a-json-help" }, "{}");
    fields.push(
      h("div", { class: "field" }, h("label", { for: "a-schema" }, "Result schema (Avro full name)"), schemaInput),
      h("div", { class: "field" }, h("label", { for: "a-json" }, "Result (JSON)"), jsonInput, hint),
    );
    const step = parked.find((st) => st.seq === selected()) || parked[0];
    if (step) {
      hint.textContent = "Looking for a result of the same step in a completed run…";
      skipSuggestion(detail, step)
        .then((found) => {
          if (!found) {
            hint.textContent = "The record the step's service would have answered with.";
            return;
          }
          if (!schemaInput.value) schemaInput.value = found.schema;
          if (jsonInput.value.trim() === "{}") jsonInput.value = JSON.stringify(found.value, null, 2);
          hint.textContent = `Prefilled from ${found.from}'s result of the same step: edit it before you confirm.`;
        })
        .catch(() => (hint.textContent = "The record the step's service would have answered with."));
    }
  }
  if (name === "signal") {
    const awaited = w.awaited_signals || [];
    nameInput = h("input", { id: "a-name", type: "text", required: true, value: awaited[0] || "", list: "a-names", autocomplete: "off", spellcheck: "false" });
    schemaInput = h("input", { id: "a-schema", type: "text", spellcheck: "false", autocomplete: "off", placeholder: "optional: Avro full name of the payload" });
    jsonInput = h("textarea", { id: "a-json", rows: 4, spellcheck: "false", placeholder: "optional: the payload as a JSON object" });
    fields.push(
      h("div", { class: "field" }, h("label", { for: "a-name" }, "Signal name"), nameInput, h("datalist", { id: "a-names" }, awaited.map((n) => h("option", { value: n })))),
      awaited.length ? h("p", { class: "help" }, `The workflow awaits: ${awaited.join(", ")}.`) : null,
      h("div", { class: "field" }, h("label", { for: "a-schema" }, "Payload schema"), schemaInput),
      h("div", { class: "field" }, h("label", { for: "a-json" }, "Payload (JSON)"), jsonInput),
    );
  }
  let reasonInput = null;
  if (name !== "signal") {
    reasonInput = h("textarea", { id: "a-reason", rows: 2, maxlength: 1000, placeholder: "e.g. inventory service is back" });
    fields.push(h("div", { class: "field" }, h("label", { for: "a-reason" }, "Reason (recorded with the action)"), reasonInput));
  }

  const what = h("p", { class: "dialog-what", id: "action-what" });
  const refreshWhat = () => (what.textContent = spec.explain(w, stepsPhrase()));
  refreshWhat();
  seqSelect?.addEventListener("change", refreshWhat);
  const confirm = h("button", { type: "submit", class: ["btn", spec.danger ? "btn-danger" : "btn-primary"], id: "action-confirm", value: "confirm" }, spec.confirm);
  const back = h("button", { type: "button", class: "btn", value: "back" }, "Back");
  const form = h(
    "form",
    { method: "dialog" },
    h("h2", { id: "action-title" }, `${spec.confirm.replace(/…$/, "")}: `, h("span", { class: "mono" }, w.workflow_id), "?"),
    what,
    fields,
    h("p", { class: "help" }, `Recorded as ${ctx.session.caller?.name}.`),
    errorBox,
    h("div", { class: "dialog-buttons" }, back, confirm),
  );
  const dialog = h("dialog", { class: "dialog", id: "action-dialog", "aria-labelledby": "action-title", "aria-describedby": "action-what" }, form);
  back.addEventListener("click", () => dialog.close("back"));
  dialog.addEventListener("close", () => dialog.remove());
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    replace(errorBox);
    const body = {};
    if (reasonInput) body.reason = reasonInput.value.trim();
    if (["retry", "skip", "compensate"].includes(name)) body.seq = name === "skip" && selected() === null && parked.length === 1 ? parked[0].seq : selected();
    if (name === "skip") {
      const parsed = parseJson(jsonInput.value, "The result");
      if (parsed.error || !parsed.value) return (errorBox.textContent = parsed.error || "Give the result as a JSON object.");
      body.result_schema = schemaInput.value.trim();
      body.result = parsed.value;
    }
    if (name === "signal") {
      const parsed = parseJson(jsonInput.value, "The payload");
      if (parsed.error) return (errorBox.textContent = parsed.error);
      body.name = nameInput.value.trim();
      if (parsed.value || schemaInput.value.trim()) {
        body.payload = parsed.value || {};
        body.payload_schema = schemaInput.value.trim() || null;
      }
    }
    confirm.disabled = back.disabled = true;
    confirm.textContent = "Sending…";
    try {
      const accepted = await api(`${workflowPath(w.workflow_id)}/${name}`, { method: "POST", body });
      dialog.close("sent");
      onSent(accepted);
    } catch (err) {
      errorBox.textContent = explain(err);
      confirm.disabled = back.disabled = false;
      confirm.textContent = spec.confirm;
      if (err instanceof ApiError && err.status === 403) {
        // the token's role changed on the server: show it as it is now
        try {
          ctx.session.caller = await api("/me");
          window.dispatchEvent(new CustomEvent("sb:caller"));
        } catch {
          /* a 401 signs out on its own */
        }
      }
    }
  });
  document.body.append(dialog);
  dialog.showModal();
  (seqSelect || nameInput || reasonInput || confirm).focus();
}
