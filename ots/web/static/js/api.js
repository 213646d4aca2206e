// The JSON API, as the pages' scripts call it: same origin, no cookies, no referrer.
import { t } from "./text.js";

/** POST `body` as JSON to `path`; return {status, body} (body {} when it is not JSON). */
export async function postJson(path, body) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify(body),
    credentials: "omit",
    cache: "no-store",
    referrerPolicy: "no-referrer",
  });
  let answer = {};
  try {
    answer = await response.json();
  } catch {
    // An answer without a JSON body (a proxy's page): the status says enough.
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
