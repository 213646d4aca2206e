// The asker's page (docs/request-v1.md): the key pair is made here, with WebCrypto, and only
// the verifier of its access proof goes to the server. The page then shows the request link
// (the public key after "#", to send out) and the answer link (the private key after "#", to
// keep): shown once, kept nowhere, sent nowhere. An API token, where one is given, goes in
// the Authorization header, as on the share page.
import { encode } from "./b64url.js";
import { createWith } from "./create.js";
import { drawQrCodes } from "./page.js";
import { answerFragment, newAsker, requestFragment } from "./request.js";
import { t } from "./text.js";
import { localizeTimes } from "./time.js";
import { tokenField } from "./tokenfield.js";
import { focus, say } from "./ui.js";

const form = document.getElementById("ask-form");
const note = document.getElementById("ask-note");
const submit = document.getElementById("ask-submit");
const status = document.getElementById("ask-status");
// What POST /requests refuses in a note: control characters but line breaks and tabs.
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f]/;

function showResult(asker, created) {
  const origin = window.location.origin;
  const receipt = `${origin}/receipts/${created.receipt_key}`;
  document.getElementById("ask-request-link").value =
    `${origin}/requests/${created.request_key}#${requestFragment(asker)}`;
  document.getElementById("ask-answer-link").value =
    `${origin}/secrets/${created.answer_key}#${answerFragment(asker)}`;
  document.getElementById("ask-receipt").value = receipt;
  document.getElementById("ask-receipt-open").href = receipt;
  document.getElementById("ask-expires").dateTime = created.expires_at;
  const result = document.getElementById("ask-result");
  localizeTimes(result);
  form.reset();
  document.getElementById("ask").hidden = true;
  result.hidden = false;
  drawQrCodes(result);
  focus(document.getElementById("ask-result-title"));
}

async function ask(token) {
  if (CONTROL.test(note.value)) {
    say(status, t("js.ask.note_invalid"), true);
    return;
  }
  submit.disabled = true;
  say(status, t("js.ask.making"));
  try {
    const asker = await newAsker();
    const body = { verifier: encode(asker.verifier), ttl: Number(document.getElementById("ask-ttl").value) };
    if (note.value !== "") body.note = note.value;
    const created = await createWith(token, "/requests", body, status);
    if (created !== null) showResult(asker, created);
  } catch {
    say(status, t("error.network"), true);
  } finally {
    submit.disabled = false;
  }
}

// WebCrypto exists only on https:// (and localhost): without it no key pair can be made here.
if (window.isSecureContext && window.crypto?.subtle) {
  const token = tokenField();
  form.hidden = false;
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    ask(token);
  });
} else {
  say(status, t("js.ask.insecure"), true);
}
