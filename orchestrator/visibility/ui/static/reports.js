// Reports other features register on the server (shadow mode's flow report): listed, and shown in
// a sandboxed frame: its HTML runs no script and cannot reach this page or its token.

import { api, explain } from "./api.js";
import { h, replace } from "./dom.js";

export function renderReports(ctx, slug) {
  let stopped = false;
  const body = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  replace(ctx.view, h("div", { class: "page-head" }, h("h1", {}, "Reports")), body);
  document.title = `Reports · ${document.body.dataset.app} · SagaBridge`;
  (async () => {
    try {
      if (!slug) {
        const { reports } = await api("/reports");
        if (stopped) return;
        replace(
          body,
          reports.length
            ? h("ul", { class: "plain report-list" }, reports.map((r) => h("li", { class: "card" }, h("a", { href: `/reports/${encodeURIComponent(r.slug)}`, "data-link": true }, r.title), r.description ? h("p", { class: "muted" }, r.description) : null)))
            : h("p", { class: "muted" }, "No report is registered on this server."),
        );
        return;
      }
      const report = await api(`/reports/${encodeURIComponent(slug)}`);
      if (stopped) return;
      document.title = `${report.title} · ${document.body.dataset.app} · SagaBridge`;
      const frame = h("iframe", { class: "report-frame", title: report.title, sandbox: "" });
      frame.srcdoc = report.html || "<p>Nothing to show yet.</p>";
      replace(body, h("p", {}, h("a", { href: "/reports", "data-link": true }, "← Reports")), h("h2", {}, report.title), frame);
    } catch (err) {
      if (!stopped) replace(body, h("div", { class: "banner banner-error", role: "alert" }, explain(err)));
    }
  })();
  return () => {
    stopped = true;
  };
}
