// The answerer's page (docs/request-v1.md): the asker's public key is read from the link's
// fragment, which no server receives, and checked to be a point of P-256; the secret typed
// here is encrypted to it in this browser, and only the ciphertext is posted. Loading the page
// posts nothing: only the button does.
import { errorText, postJson } from "./api.js";
import "./page.js";
import { parseRequestFragment, sealAnswer } from "./request.js";
import { t } from "./text.js";
import { focus, say } from "./ui.js";

const form = document.getElementById("answer-form");
const secret = document.getElementById("answer-secret");
const submit = document.getElementById("answer-submit");
const status = document.getElementById("answer-status");
const maxBytes = Number(form.dataset.maxBytes);

// Statuses after which this request takes no answer from here: the form goes.
const FINAL = { 404: "error.not_found.request", 409: "js.answer.already" };

function end(text) {
  form.reset();
  form.hidden = true;
  say(status, text, true);
}

function refusal(code) {
  if (code === 507) return t("js.answer.full");
  return errorText(code);
}

async function answer(link) {
  const plaintext = new TextEncoder().encode(secret.value);
  if (plaintext.length > maxBytes) {
    say(status, t("js.answer.too_large", { max: maxBytes }), true);
    return;
  }
  submit.disabled = true;
  say(status, t("js.answer.sealing"));
  try {
    const body = await sealAnswer(plaintext, link.publicKey);
    const posted = await postJson(form.dataset.action, body);
    if (posted.status === 201) {
      // Nothing of the secret stays in the page.
      form.reset();
      say(status, "");
      document.getElementById("answer").hidden = true;
      document.getElementById("answer-sent").hidden = false;
      focus(document.getElementById("answer-sent-title"));
    } else if (posted.status in FINAL) {
      end(t(FINAL[posted.status]));
    } else {
      say(status, refusal(posted.status), true);
    }
  } catch {
    say(status, t("error.network"), true);
  } finally {
    submit.disabled = false;
  }
}

// The asker's public key, once the fragment held one.
let link = null;

async function start() {
  // WebCrypto exists only on https:// (and localhost).
  if (!window.isSecureContext || !window.crypto?.subtle) {
    say(status, t("js.answer.insecure"), true);
    return;
  }
  link = await parseRequestFragment(window.location.hash.slice(1));
  form.hidden = link === null;
  say(status, link === null ? t("js.answer.bad_link") : "", link === null);
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  if (link !== null) answer(link);
});
// The whole link pasted over a cut one changes only the fragment: the page is not loaded again.
window.addEventListener("hashchange", start);
start();
