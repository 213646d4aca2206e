// A create from a page (a secret, or a request): posted with the page's token, if any;
// a refusal is said in the page's status line, and a token the server took is kept.
import { errorText, postJson } from "./api.js";
import { t } from "./text.js";
import { bearer } from "./token.js";
import { say } from "./ui.js";

/** POST `body` to `path` as `token` (a tokenField); the 201's body, or null once said why not. */
export async function createWith(token, path, body, status) {
  const sent = token.value();
  const answer = await postJson(path, body, bearer(sent));
  if (answer.status === 401) {
    // Everything typed stays; a kept token that no longer works is forgotten.
    token.refused();
    say(status, t(sent ? "js.token.invalid" : "js.token.needed"), true);
    return null;
  }
  if (answer.status !== 201) {
    say(status, errorText(answer.status), true);
    return null;
  }
  say(status, "");
  if (sent) token.accepted(sent);
  return answer.body;
}
