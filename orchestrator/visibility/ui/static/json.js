// Decoded payloads as JSON: indented, coloured by token, copyable. Built from text nodes only.

import { copyButton, h } from "./dom.js";
import { shortType } from "./format.js";

function tokens(value, indent, out) {
  const pad = "  ".repeat(indent);
  if (value === null) out.push(h("span", { class: "j-null" }, "null"));
  else if (typeof value === "string") out.push(h("span", { class: "j-str" }, JSON.stringify(value)));
  else if (typeof value === "number") out.push(h("span", { class: "j-num" }, String(value)));
  else if (typeof value === "boolean") out.push(h("span", { class: "j-bool" }, String(value)));
  else if (Array.isArray(value)) {
    if (!value.length) return out.push("[]");
    out.push("[\n");
    value.forEach((v, i) => {
      out.push(pad + "  ");
      tokens(v, indent + 1, out);
      out.push(i < value.length - 1 ? ",\n" : "\n");
    });
    out.push(pad + "]");
  } else {
    const entries = Object.entries(value);
    if (!entries.length) return out.push("{}");
    out.push("{\n");
    entries.forEach(([k, v], i) => {
      out.push(pad + "  ", h("span", { class: "j-key" }, JSON.stringify(k)), ": ");
      tokens(v, indent + 1, out);
      out.push(i < entries.length - 1 ? ",\n" : "\n");
    });
    out.push(pad + "}");
  }
  return out;
}

export function jsonBlock(value, label = "JSON") {
  return h("pre", { class: "json", tabindex: "0", "aria-label": label }, tokens(value, 0, []));
}

/** A PayloadView of the API: {schema_name, value, error}. */
export function payloadView(payload, label) {
  if (!payload) return h("p", { class: "muted" }, "none");
  const head = h(
    "div",
    { class: "payload-head" },
    h("span", { class: "schema", title: payload.schema_name || "" }, shortType(payload.schema_name) || "record"),
    payload.error ? null : copyButton(JSON.stringify(payload.value, null, 2), "Copy JSON"),
  );
  if (payload.error) {
    return h("div", { class: "payload" }, head, h("p", { class: "banner banner-warn" }, `Not decodable here: ${payload.error}`));
  }
  return h("div", { class: "payload" }, head, jsonBlock(payload.value, `${label}: ${payload.schema_name || "record"} as JSON`));
}
