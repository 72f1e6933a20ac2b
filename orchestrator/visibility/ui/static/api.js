// The JSON API under /api/v1, with the signed-in token. Errors carry the HTTP status and the
// server's own explanation, so every view can say what went wrong and what to do.

import { currentToken } from "./auth.js";

const API = document.body.dataset.api || "/api/v1";

export class ApiError extends Error {
  constructor(status, detail, retryAfter = null) {
    super(detail);
    this.status = status;
    this.detail = detail;
    this.retryAfter = retryAfter;
  }
}

function url(path, params) {
  const u = new URL(API + path, window.location.origin);
  for (const [name, value] of Object.entries(params || {})) {
    for (const v of Array.isArray(value) ? value : [value]) {
      if (v !== undefined && v !== null && v !== "") u.searchParams.append(name, String(v));
    }
  }
  return u;
}

export function workflowPath(id) {
  // ids may contain "/" (child workflows): the API takes the rest of the path, segment by segment
  return "/workflows/" + String(id).split("/").map(encodeURIComponent).join("/");
}

export async function api(path, { method = "GET", params, body, signal, signOutOn401 = true } = {}) {
  const headers = { Accept: "application/json" };
  const token = currentToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(url(path, params), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
      credentials: "omit",
      cache: "no-store",
    });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0, "the visibility server did not answer (is `orchestrator ui` still running?)");
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    const detail = data && typeof data.detail === "string" ? data.detail : JSON.stringify(data?.detail ?? response.statusText);
    const error = new ApiError(response.status, detail, response.headers.get("Retry-After"));
    if (response.status === 401 && signOutOn401) window.dispatchEvent(new CustomEvent("sb:unauthorized", { detail: error }));
    throw error;
  }
  return data;
}

/** One sentence a person can act on, for any failed call. */
export function explain(err) {
  if (!(err instanceof ApiError)) return String(err?.message || err);
  switch (err.status) {
    case 0:
      return `Cannot reach the server: ${err.detail}.`;
    case 401:
      return "Your token was not accepted (401 Unauthorized): sign in again with a read or operate token.";
    case 403:
      return `Not allowed (403 Forbidden): ${err.detail}. Operator actions need an operate token.`;
    case 404:
      return `Not found (404): ${err.detail}.`;
    case 409:
      return `Not applicable now (409 Conflict): ${err.detail}.`;
    case 422:
      return `Rejected (422): ${err.detail}`;
    case 503:
      return `The server cannot answer right now (503): ${err.detail}. Try again in ${err.retryAfter || "a few"} s.`;
    default:
      return `Request failed (${err.status}): ${err.detail}`;
  }
}
