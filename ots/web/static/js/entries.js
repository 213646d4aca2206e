// One entry of "My secrets", from the page's <template id="mine-entry"> (in the page's
// language): the secret's state and times, never a key; while it waits, a Burn button
// that asks once more before it burns.
import { t } from "./text.js";
import { localizeTimes } from "./time.js";

const template = document.getElementById("mine-entry");

/** Show `state` on the entry `item`; only a pending secret can be burned. */
export function showState(item, state) {
  for (const line of item.querySelectorAll("[data-state]")) line.hidden = line.dataset.state !== state;
  // Opened but not revealed: the receipt's own warning (a previewer may have opened it).
  item.querySelector("[data-opened]").hidden = !(state === "pending" && item.dataset.opened);
  item.querySelector("[data-burn-box]").hidden = state !== "pending";
}

/** A list item for `secret` (an entry of GET /tokens/self/secrets); `burn(secret, item)` burns. */
export function entry(secret, burn) {
  const item = template.content.firstElementChild.cloneNode(true);
  const title = item.querySelector("h3");
  title.id = `secret-${secret.id}`;
  title.textContent = t("js.mine.entry", { id: secret.id });
  for (const fact of item.querySelectorAll("[data-fact]")) {
    const value = secret[fact.dataset.fact];
    fact.hidden = value === null || value === undefined;
    const time = fact.querySelector("time");
    if (time) time.dateTime = time.textContent = value ?? "";
    else fact.querySelector("dd").textContent = String(value);
  }
  if (secret.opened_at) item.dataset.opened = "yes";
  localizeTimes(item);

  const ask = item.querySelector("[data-burn]");
  const confirm = item.querySelector("[data-confirm]");
  const yes = item.querySelector("[data-yes]");
  // Every entry has the same buttons: each says which secret it is about.
  for (const button of item.querySelectorAll("button")) button.setAttribute("aria-describedby", title.id);
  ask.addEventListener("click", () => {
    ask.hidden = true;
    confirm.hidden = false;
    yes.focus();
  });
  item.querySelector("[data-no]").addEventListener("click", () => {
    confirm.hidden = true;
    ask.hidden = false;
    ask.focus();
  });
  yes.addEventListener("click", async () => {
    yes.disabled = true;
    try {
      await burn(secret, item);
    } finally {
      yes.disabled = false;
      confirm.hidden = true;
      ask.hidden = false;
    }
  });
  showState(item, secret.state);
  return item;
}
