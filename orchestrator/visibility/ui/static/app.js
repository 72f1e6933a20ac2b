// The web UI's entry point: sign-in, routing between pages, notices and keyboard shortcuts.
// Pages are plain ES modules rendering from the JSON API; there is no build step.

import { ApiError, api, explain } from "./api.js";
import { currentToken, forgetToken, rememberToken } from "./auth.js";
import { h, replace } from "./dom.js";
import { renderDetail } from "./detail.js";
import { renderList } from "./list.js";
import { renderReports } from "./reports.js";

const view = document.getElementById("view");
const who = document.getElementById("who");
const notices = document.getElementById("notices");
const appName = document.body.dataset.app;

export const session = { caller: null, lastListUrl: "/" };
let cleanup = null;
let signInMessage = "";

// --- notices -------------------------------------------------------------------------------------
export function notify(text, kind = "info", { sticky = false } = {}) {
  const item = h("div", { class: `banner banner-${kind}`, role: kind === "error" ? "alert" : undefined }, h("span", {}, text));
  const close = h("button", { type: "button", class: "btn btn-small btn-quiet", "aria-label": "Dismiss" }, "×");
  close.addEventListener("click", () => item.remove());
  item.append(close);
  notices.append(item);
  while (notices.children.length > 3) notices.firstChild.remove();
  if (!sticky && kind !== "error") setTimeout(() => item.remove(), 6000);
  return item;
}

export function clearNotices() {
  replace(notices);
}

// --- routing -------------------------------------------------------------------------------------
export function navigate(href, { replace: replaceState = false } = {}) {
  const target = new URL(href, window.location.origin);
  if (replaceState) history.replaceState({}, "", target);
  else history.pushState({}, "", target);
  route();
}

function markNav(name) {
  for (const a of document.querySelectorAll("[data-nav]")) {
    if (a.dataset.nav === name) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
}

async function route() {
  if (cleanup) cleanup();
  cleanup = null;
  const path = decodeURIComponent(window.location.pathname);
  if (!currentToken() || path === "/signin") {
    markNav(null);
    renderSignIn();
    return;
  }
  if (!session.caller) {
    try {
      session.caller = await api("/me");
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return; // the sb:unauthorized handler shows sign-in
      replace(view, h("div", { class: "banner banner-error", role: "alert" }, explain(err)));
      return;
    }
    showWho();
  }
  const ctx = { view, session, navigate, notify };
  if (path.startsWith("/workflows/")) {
    markNav("workflows");
    cleanup = renderDetail(ctx, path.slice("/workflows/".length));
  } else if (path === "/reports" || path.startsWith("/reports/")) {
    markNav("reports");
    cleanup = renderReports(ctx, path.slice("/reports/".length) || null);
  } else {
    markNav("workflows");
    session.lastListUrl = window.location.pathname + window.location.search;
    cleanup = renderList(ctx);
  }
  loadReportsNav();
}

// Same-origin links marked data-link are handled here; modified clicks (new tab) are the browser's.
document.addEventListener("click", (event) => {
  const a = event.target.closest("a[data-link]");
  if (!a || event.defaultPrevented || event.button !== 0) return;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey || a.target) return;
  event.preventDefault();
  navigate(a.getAttribute("href"));
});
window.addEventListener("popstate", route);

// --- signing in ----------------------------------------------------------------------------------
function showWho() {
  const c = session.caller;
  if (!c) {
    replace(who);
    return;
  }
  const out = h("button", { type: "button", class: "btn btn-small btn-quiet", id: "sign-out" }, "Sign out");
  out.addEventListener("click", () => signOut("Signed out."));
  replace(
    who,
    h("span", { class: "who-name", title: "actions are recorded under this name" }, c.name),
    h("span", { class: `badge role-${c.role}` }, c.may_operate ? "operate" : "read only"),
    out,
  );
}

function signOut(message) {
  forgetToken();
  session.caller = null;
  signInMessage = message;
  showWho();
  document.getElementById("nav-reports").hidden = true;
  navigate("/signin" + (window.location.pathname === "/signin" ? window.location.search : `?next=${encodeURIComponent(window.location.pathname + window.location.search)}`), { replace: true });
}

window.addEventListener("sb:caller", showWho);

window.addEventListener("sb:unauthorized", () => {
  if (!currentToken()) return;
  signOut("Your token is no longer accepted (401 Unauthorized): sign in again with a valid read or operate token.");
});

function renderSignIn() {
  document.title = `Sign in · ${appName} · SagaBridge`;
  const error = h("p", { class: "form-error", id: "signin-error", role: "alert" });
  const input = h("input", {
    id: "token",
    name: "token",
    type: "password",
    required: true,
    autocomplete: "off",
    spellcheck: "false",
    "aria-describedby": "token-help signin-error",
  });
  const keep = h("input", { id: "keep", type: "checkbox" });
  const submit = h("button", { type: "submit", class: "btn btn-primary" }, "Sign in");
  const form = h(
    "form",
    { class: "card signin", "aria-labelledby": "signin-title" },
    h("h1", { id: "signin-title" }, "Sign in to ", appName),
    signInMessage ? h("p", { class: "banner banner-warn", role: "status" }, signInMessage) : null,
    h("label", { for: "token" }, "Access token"),
    input,
    h(
      "p",
      { class: "help", id: "token-help" },
      "A read token shows workflows; an operate token may also retry, skip, compensate, cancel and signal. ",
      "`orchestrator ui` prints one of each when none is configured ([visibility] read_tokens / operate_tokens).",
    ),
    h("div", { class: "check" }, keep, h("label", { for: "keep" }, "Keep me signed in on this browser")),
    error,
    submit,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    const token = input.value.trim();
    if (!token) return;
    submit.disabled = true;
    rememberToken(token, keep.checked);
    try {
      session.caller = await api("/me", { signOutOn401: false });
    } catch (err) {
      forgetToken();
      session.caller = null;
      error.textContent =
        err instanceof ApiError && err.status === 401
          ? "This token is not accepted (401 Unauthorized). Check it against the server's configured or printed tokens."
          : explain(err);
      submit.disabled = false;
      input.focus();
      input.select();
      return;
    }
    signInMessage = "";
    showWho();
    if (window.location.pathname !== "/signin") return route(); // signed in where the person was going
    const next = new URLSearchParams(window.location.search).get("next");
    navigate(next && next.startsWith("/") && !next.startsWith("//") ? next : "/", { replace: true });
  });
  replace(view, form);
  input.focus();
}

// --- reports in the navigation (shadow mode's report when it is registered) ---------------------------
let reportsChecked = false;
async function loadReportsNav() {
  if (reportsChecked) return;
  reportsChecked = true;
  try {
    const { reports } = await api("/reports");
    document.getElementById("nav-reports").hidden = reports.length === 0;
  } catch {
    reportsChecked = false;
  }
}

// --- keyboard shortcuts --------------------------------------------------------------------------
const SHORTCUTS = [
  ["/", "search: focus the workflow id filter"],
  ["j / k", "next / previous workflow in the list"],
  ["Enter", "open the focused workflow"],
  ["r", "refresh now"],
  ["g w", "go to the workflow list"],
  ["u", "up: back to the list from a workflow"],
  ["Esc", "close a dialog"],
  ["?", "this help"],
];

function showHelp() {
  let dialog = document.getElementById("shortcuts");
  if (!dialog) {
    dialog = h(
      "dialog",
      { id: "shortcuts", class: "dialog", "aria-labelledby": "shortcuts-title" },
      h("h2", { id: "shortcuts-title" }, "Keyboard shortcuts"),
      h("dl", { class: "shortcuts" }, SHORTCUTS.map(([k, what]) => [h("dt", {}, h("kbd", {}, k)), h("dd", {}, what)])),
      h("form", { method: "dialog" }, h("button", { class: "btn", value: "close" }, "Close")),
    );
    document.body.append(dialog);
  }
  dialog.showModal();
}

let pendingG = false;
document.addEventListener("keydown", (event) => {
  if (event.defaultPrevented || event.metaKey || event.ctrlKey || event.altKey) return;
  const target = event.target;
  if (target.closest("input, textarea, select, [contenteditable]") || document.querySelector("dialog[open]")) return;
  const key = event.key;
  if (pendingG) {
    pendingG = false;
    if (key === "w") {
      event.preventDefault();
      navigate("/");
    }
    return;
  }
  if (key === "g") pendingG = true;
  else if (key === "?") {
    event.preventDefault();
    showHelp();
  } else if (key === "u" && window.location.pathname.startsWith("/workflows/")) {
    event.preventDefault();
    navigate(session.lastListUrl || "/");
  } else {
    window.dispatchEvent(new CustomEvent("sb:key", { detail: { key, event } }));
  }
});

route();
