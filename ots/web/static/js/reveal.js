// The recipient page. A sealed link (…#v1.<link key>) and a request's answer link
// (…#r1.<private key>, docs/request-v1.md) are opened here: after the click, the proof is
// derived from the fragment, the server releases the ciphertext once, and it is decrypted in
// this browser. A passphrase secret's form is sent as JSON (without JavaScript, it posts
// itself). Loading the page reads nothing but the fragment's shape.
import { errorText, postJson } from "./api.js";
import "./page.js";
import { encode } from "./b64url.js";
import { askerOf, openAnswer, parseAnswerFragment } from "./request.js";
import { derive, open, parseFragment } from "./sealed.js";
import { plural, t } from "./text.js";
import { focus, say } from "./ui.js";

const passphraseForm = document.getElementById("passphrase-form");
const sealedForm = document.getElementById("sealed-form");
const status = document.getElementById("reveal-status");
const fragment = () => window.location.hash.slice(1);

function forgetLink() {
  // The secret is gone: drop the key from the address bar and this history entry.
  window.history.replaceState(null, "", window.location.pathname + window.location.search);
}

function end(text) {
  sealedForm.hidden = true;
  passphraseForm.hidden = true;
  say(status, text, true);
  forgetLink();
}

/** Say what a refused reveal means; true when the secret can still be tried. */
function refused(answer, needsPassphrase) {
  if (answer.status === 403 && Number.isInteger(answer.body.attempts_left)) {
    const left = answer.body.attempts_left;
    if (left === 0) {
      end(t("js.reveal.destroyed"));
      return false;
    }
    const key = needsPassphrase ? "js.reveal.wrong" : "js.reveal.wrong_key";
    say(status, plural(key, left), true);
    return true;
  }
  if (answer.status === 404) {
    end(errorText(404));
    return false;
  }
  say(status, errorText(answer.status), true);
  return true;
}

function showSecret(plaintext) {
  let text = null;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(plaintext);
  } catch {
    // Not UTF-8: a file, offered as a download.
  }
  if (text === null) {
    const download = document.getElementById("revealed-download");
    download.href = URL.createObjectURL(new Blob([plaintext], { type: "application/octet-stream" }));
    document.getElementById("revealed-text-field").hidden = true;
    document.getElementById("revealed-file").hidden = false;
  } else {
    const field = document.getElementById("revealed-text");
    field.value = text;
    field.rows = Math.min(20, Math.max(3, text.split("\n").length));
  }
  document.getElementById("waiting").hidden = true;
  document.getElementById("revealed").hidden = false;
  focus(document.getElementById("revealed-title"));
}

/** The fragment's shape: {needsPassphrase} and what opens it, or null for no link of ours. */
function linkOf(text) {
  if (text.startsWith("r1.")) {
    const privateKey = parseAnswerFragment(text);
    return privateKey && { needsPassphrase: false, privateKey };
  }
  return parseFragment(text);
}

/** What opens the secret: {proof, open(released)}; null when an answer link's keys disagree. */
async function keysOf(link, passphrase) {
  if (link.privateKey !== undefined) {
    let asker;
    try {
      asker = await askerOf(link.privateKey);
    } catch {
      return null;
    }
    return { proof: asker.proof, open: (released) => openAnswer(released, asker) };
  }
  const keys = await derive(link.linkKey, passphrase);
  return { proof: keys.proof, open: (released) => open(released, keys.contentKey) };
}

async function reveal(submit, input) {
  // Read again now: the key is taken from the address bar only once the reader asked.
  const link = linkOf(fragment());
  if (link === null) {
    end(t("js.reveal.bad_link"));
    return;
  }
  const passphrase = link.needsPassphrase ? input.value : null;
  submit.disabled = true;
  say(status, t(link.needsPassphrase ? "js.reveal.deriving" : "js.reveal.opening"));
  try {
    const keys = await keysOf(link, passphrase);
    if (keys === null) {
      end(t("js.reveal.bad_link"));
      return;
    }
    const answer = await postJson(sealedForm.dataset.action, { proof: encode(keys.proof) });
    if (answer.status === 200) {
      let plaintext;
      try {
        plaintext = await keys.open(answer.body);
      } catch {
        end(t("js.reveal.altered"));
        return;
      }
      say(status, "");
      forgetLink();
      showSecret(plaintext);
    } else if (answer.status === 409) {
      // A passphrase secret: its form is the way.
      sealedForm.hidden = true;
      passphraseForm.hidden = false;
      say(status, t("js.reveal.needs_passphrase"), true);
    } else if (refused(answer, link.needsPassphrase) && link.needsPassphrase) {
      input.select();
    }
  } catch {
    say(status, t("error.network"), true);
  } finally {
    submit.disabled = false;
  }
}

async function revealWithPassphrase(submit, input) {
  submit.disabled = true;
  say(status, t("js.reveal.opening"));
  try {
    const answer = await postJson(sealedForm.dataset.action, { passphrase: input.value });
    if (answer.status === 200) {
      say(status, "");
      showSecret(new TextEncoder().encode(answer.body.secret));
    } else if (answer.status === 409) {
      end(t("error.wrong_mode"));
    } else if (refused(answer, true)) {
      input.select();
    }
  } catch {
    say(status, t("error.network"), true);
  } finally {
    submit.disabled = false;
  }
}

if (passphraseForm !== null) {
  passphraseForm.addEventListener("submit", (event) => {
    event.preventDefault();
    revealWithPassphrase(passphraseForm.querySelector("button"), passphraseForm.elements.passphrase);
  });
}

if (sealedForm !== null && /^[vr]1\./.test(fragment())) {
  passphraseForm.hidden = true;
  const link = linkOf(fragment());
  if (link === null) {
    say(status, t("js.reveal.bad_link"), true);
  } else if (!window.isSecureContext || !window.crypto?.subtle) {
    // WebCrypto exists only on https:// (and localhost).
    say(status, t("js.reveal.insecure"), true);
  } else {
    const input = document.getElementById("sealed-passphrase");
    document.getElementById("sealed-passphrase-field").hidden = !link.needsPassphrase;
    input.required = link.needsPassphrase;
    sealedForm.hidden = false;
    const submit = document.getElementById("sealed-submit");
    sealedForm.addEventListener("submit", (event) => {
      event.preventDefault();
      reveal(submit, input);
    });
  }
}
