// The API token, kept for this tab only. sessionStorage is per tab and per origin, gone when
// the tab closes, and the browser sends it nowhere by itself: the one storage ots's scripts
// use, and only for this. Never the origin's lasting storage (every tab, for good), a cookie
// (sent on every request) or a URL (history, logs, referrers).
const KEY = "ots.token";
// Where storage is refused (some private modes), the token lives as long as the page does.
let fallback = null;

/** The token this tab keeps, or null. */
export function keptToken() {
  try {
    return window.sessionStorage.getItem(KEY) ?? fallback;
  } catch {
    return fallback;
  }
}

/** Keep `token` for this tab. */
export function keepToken(token) {
  fallback = token;
  try {
    window.sessionStorage.setItem(KEY, token);
  } catch {
    // Refused: the page's copy above will do.
  }
}

/** Forget the token this tab keeps. */
export function forgetToken() {
  fallback = null;
  try {
    window.sessionStorage.removeItem(KEY);
  } catch {
    // Refused: nothing was stored.
  }
}

/** The headers that carry `token` (none for null). */
export function bearer(token) {
  return token ? { Authorization: `Bearer ${token}` } : {};
}
