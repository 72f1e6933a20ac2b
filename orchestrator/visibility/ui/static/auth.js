// How the browser holds its token: in sessionStorage (this tab, gone when it closes) or, when the
// person ticks "keep me signed in", in localStorage. It is sent only as an Authorization header
// to this origin's API, never in a URL and never as a cookie, so no other site can make the
// browser act with it (no CSRF), and links or logs never carry it.

const KEY = "sagabridge.visibility.token";

export function currentToken() {
  return sessionStorage.getItem(KEY) || localStorage.getItem(KEY) || null;
}

export function rememberToken(token, persistent) {
  forgetToken();
  (persistent ? localStorage : sessionStorage).setItem(KEY, token);
}

export function forgetToken() {
  sessionStorage.removeItem(KEY);
  localStorage.removeItem(KEY);
}
