// The workflow statuses of the API (orchestrator/visibility/status.py), in the order people scan them.

export const STATUSES = ["running", "parked", "needs-attention", "completed", "failed", "compensated", "cancelled"];
export const CLOSED = new Set(["completed", "failed", "compensated", "cancelled"]);
export const NEEDS_OPERATOR = new Set(["parked", "needs-attention"]);

const LABELS = { "needs-attention": "needs attention" };
export const statusLabel = (status) => LABELS[status] || status;

export function badge(h, status) {
  return h("span", { class: `badge st-${status}` }, statusLabel(status));
}
