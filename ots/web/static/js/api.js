// The JSON API, as the pages' scripts call it: same origin, no cookies, no referrer.
import { t } from "./text.js";

/** POST `body` (if any) as JSON to `path`, with `headers`; return {status, body}. */
export function postJson(path, body, headers = {}) {
  const json = body === undefined ? {} : { "Content-Type": "application/json" };
  return call("POST", path, { ...json, ...headers }, body === undefined ? null : JSON.stringify(body));
}

/** GET `path` as JSON, with `headers`; return {status, body}. */
export function getJson(path, headers = {}) {
  return call("GET", path, headers, null);
}

// The answer's JSON body is {} when it has none (a proxy's page): the status says enough.
async function call(method, path, headers, body) {
  const response = await fetch(path, {
    method,
    headers: { Accept: "application/json", ...headers },
    body,
    credentials: "omit",
    cache: "no-store",
    referrerPolicy: "no-referrer",
  });
  let answer = {};
  try {
    answer = await response.json();
  } catch {
    // Not JSON: left as {}.
  }
  return { status: response.status, body: answer };
}

/** One calm sentence for an API error status, in the page's language. */
export function errorText(status) {
  if (status === 404) return t("error.not_found.secret");
  if (status === 429) return t("error.rate_limited");
  if (status === 413) return t("error.too_large");
  if (status === 400 || status === 422) return t("error.invalid");
  if (status === 401 || status === 403) return t("error.forbidden");
  if (status === 503 || status === 507 || status === 408) return t("error.busy");
  return t("error.other");
}
