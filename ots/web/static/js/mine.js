// "My secrets": the secrets made with the tab's API token, as GET /tokens/self/secrets lists
// them, a page at a time; a pending one can be burned. The token goes in a header, which is
// why this page needs JavaScript; it is kept for this tab only (token.js).
import { errorText, getJson, postJson } from "./api.js";
import { entry, showState } from "./entries.js";
import "./page.js";
import { bearer } from "./token.js";
import { tokenField } from "./tokenfield.js";
import { t } from "./text.js";
import { announce, focus, say } from "./ui.js";

const form = document.getElementById("token-form");
const submit = document.getElementById("token-submit");
const status = document.getElementById("mine-status");
const list = document.getElementById("mine-list");
const entries = document.getElementById("mine-entries");
const more = document.getElementById("mine-more");
const pageSize = list.dataset.pageSize;
const token = tokenField();
let next = null;

/** Say why the token did not do; true when it was refused (401) and is forgotten. */
function refused(answer) {
  if (answer.status === 401) {
    token.refused();
    list.hidden = true;
    say(status, t("js.token.invalid"), true);
    return true;
  }
  say(status, errorText(answer.status), true);
  return false;
}

/** Fetch a page of the list (the first for a null `cursor`); return its first new item. */
async function load(cursor) {
  const sent = token.value();
  const query = new URLSearchParams({ limit: pageSize });
  if (cursor !== null) query.set("cursor", cursor);
  const answer = await getJson(`/tokens/self/secrets?${query}`, bearer(sent));
  if (answer.status !== 200) {
    refused(answer);
    return null;
  }
  token.accepted(sent);
  say(status, "");
  if (cursor === null) entries.replaceChildren();
  const items = answer.body.secrets.map((secret) => entry(secret, burn));
  entries.append(...items);
  next = answer.body.next;
  more.hidden = next === null;
  document.getElementById("mine-empty").hidden = entries.children.length > 0;
  list.hidden = false;
  return items[0] ?? null;
}

async function burn(secret, item) {
  const answer = await postJson(`/tokens/self/secrets/${secret.id}/burn`, undefined, bearer(token.value()));
  if (answer.status === 200 || (answer.status === 409 && answer.body.state)) {
    // 409: it ended meanwhile (read, burned elsewhere, expired): show how.
    showState(item, answer.status === 200 ? "burned" : answer.body.state);
    say(status, "");
    announce(t(answer.status === 200 ? "js.mine.burned" : "error.not_pending"));
    focus(item.querySelector("h3"));
  } else if (!refused(answer)) {
    focus(item.querySelector("h3"));
  }
}

async function run(work) {
  submit.disabled = more.disabled = true;
  try {
    return await work();
  } catch {
    say(status, t("error.network"), true);
    return null;
  } finally {
    submit.disabled = more.disabled = false;
  }
}

form.hidden = false;
form.addEventListener("submit", async (event) => {
  event.preventDefault();
  await run(() => load(null));
  if (!list.hidden) focus(document.getElementById("mine-list-title"));
});
more.addEventListener("click", async () => {
  const first = await run(() => load(next));
  if (first !== null) focus(first.querySelector("h3"));
});
// A token kept by this tab lists at once: reading the list changes nothing.
if (token.value() !== null) run(() => load(null));
