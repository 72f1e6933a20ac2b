// Times and durations for people: local time on screen, UTC and epoch ms in the tooltip.

const pad = (n, w = 2) => String(n).padStart(w, "0");

export function localTime(ms) {
  if (ms === null || ms === undefined) return "";
  const d = new Date(ms);
  const today = new Date();
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  if (d.toDateString() === today.toDateString()) return time;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${time}`;
}

export function utcTitle(ms) {
  if (ms === null || ms === undefined) return "";
  return `${new Date(ms).toISOString()} (${ms})`;
}

export function duration(ms) {
  if (ms === null || ms === undefined) return "";
  const neg = ms < 0;
  let v = Math.abs(ms);
  let out;
  if (v < 1000) out = `${Math.round(v)} ms`;
  else if (v < 10_000) out = `${(v / 1000).toFixed(2)} s`;
  else if (v < 60_000) out = `${(v / 1000).toFixed(1)} s`;
  else if (v < 3_600_000) out = `${Math.floor(v / 60_000)} min ${Math.round((v % 60_000) / 1000)} s`;
  else if (v < 86_400_000) out = `${Math.floor(v / 3_600_000)} h ${Math.round((v % 3_600_000) / 60_000)} min`;
  else out = `${Math.floor(v / 86_400_000)} d ${Math.round((v % 86_400_000) / 3_600_000)} h`;
  return neg ? `-${out}` : out;
}

/** "3 min ago" / "in 12 s" */
export function relative(ms, now = Date.now()) {
  if (ms === null || ms === undefined) return "";
  const delta = ms - now;
  if (Math.abs(delta) < 1000) return "now";
  return delta < 0 ? `${duration(-delta)} ago` : `in ${duration(delta)}`;
}

/** A <time> element: local time (or relative), the exact instant on hover. */
export function timeEl(h, ms, { rel = false } = {}) {
  if (ms === null || ms === undefined) return "";
  return h("time", { datetime: new Date(ms).toISOString(), title: utcTitle(ms) }, rel ? relative(ms) : localTime(ms));
}

export function shortType(name) {
  if (!name) return "";
  return String(name).split(".").pop();
}
