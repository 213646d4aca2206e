// The share page: sealed by default (encrypted here, per docs/sealed-v1.md, before anything is
// sent). The passphrase mode sends the form's fields as JSON; without JavaScript the same form
// posts itself, and the server answers a page. An API token, where one is given, goes in the
// Authorization header (the form without JavaScript sends it as a field).
import { createWith } from "./create.js";
import { drawQrCodes } from "./page.js";
import { seal } from "./sealed.js";
import { t } from "./text.js";
import { localizeTimes } from "./time.js";
import { tokenField } from "./tokenfield.js";
import { focus, say } from "./ui.js";

const form = document.getElementById("share-form");
const modes = document.getElementById("mode");
const passphrase = document.getElementById("passphrase");
const hint = document.getElementById("passphrase-hint");
const submit = document.getElementById("share-submit");
const status = document.getElementById("share-status");
const serverHint = hint.textContent;
const maxBytes = Number(form.dataset.maxBytes);
const token = tokenField();

function sealedMode() {
  return form.elements.mode.value === "sealed";
}

function showMode() {
  // Sealed: a passphrase is optional (it adds a second factor); passphrase mode needs one.
  passphrase.required = !sealedMode();
  hint.textContent = sealedMode() ? t("js.share.passphrase_hint_sealed") : serverHint;
}

function showResult(link, receipt, expiresAt, needsPassphrase, withToken) {
  document.getElementById("result-link").value = link;
  document.getElementById("result-receipt").value = receipt;
  document.getElementById("result-receipt-open").href = receipt;
  document.getElementById("result-passphrase").hidden = !needsPassphrase;
  document.getElementById("result-mine").hidden = !withToken;
  document.getElementById("result-expires").dateTime = expiresAt;
  const result = document.getElementById("result");
  localizeTimes(result);
  // Nothing of the secret stays in the page (nor as the default a refused form came back with).
  form.elements.secret.defaultValue = "";
  form.reset();
  document.getElementById("share").hidden = true;
  result.hidden = false;
  drawQrCodes(result);
  focus(document.getElementById("result-title"));
}

async function create(body, fragment) {
  const sent = token.value();
  const ttl = Number(form.elements.ttl.value);
  const created = await createWith(token, "/generate", { ...body, ttl }, status);
  if (created === null) return;
  const origin = window.location.origin;
  showResult(
    `${origin}/secrets/${created.secret_key}${fragment === null ? "" : `#${fragment}`}`,
    `${origin}/receipts/${created.receipt_key}`,
    created.expires_at,
    fragment === null || fragment.endsWith(".p"),
    Boolean(sent),
  );
}

async function share(sealing) {
  const text = form.elements.secret.value;
  const plaintext = new TextEncoder().encode(text);
  if (plaintext.length > maxBytes) {
    say(status, t("js.share.too_large", { max: maxBytes }), true);
    return;
  }
  const secretPassphrase = passphrase.value === "" ? null : passphrase.value;
  submit.disabled = true;
  try {
    if (sealing) {
      say(status, t(secretPassphrase === null ? "js.share.sealing" : "js.share.stretching"));
      const sealed = await seal(plaintext, secretPassphrase);
      await create(sealed.body, sealed.fragment);
    } else {
      await create({ secret: text, passphrase: secretPassphrase }, null);
    }
  } catch {
    say(status, t("error.network"), true);
  } finally {
    submit.disabled = false;
  }
}

// WebCrypto exists only on https:// (and localhost): elsewhere the server encrypts.
const canSeal = window.isSecureContext && Boolean(window.crypto?.subtle);
if (canSeal) {
  modes.hidden = false;
  modes.addEventListener("change", showMode);
  showMode();
} else {
  say(status, t("js.share.insecure"));
}
form.addEventListener("submit", (event) => {
  event.preventDefault();
  share(canSeal && sealedMode());
});
