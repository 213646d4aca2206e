// The API token's field (#token-field), on the share page and "My secrets". A token the
// tab kept replaces the field with a note and a "Forget the token" button; a token the
// server took is kept, one it refused is forgotten and the field shown again, as typed.
import { forgetToken, keepToken, keptToken } from "./token.js";

/** Wire the page's token field; return what its page script needs of it. */
export function tokenField() {
  const field = document.getElementById("token-field");
  const input = document.getElementById("token");
  const kept = document.getElementById("token-kept");
  const required = input.required;

  function showKept(isKept) {
    field.hidden = isKept;
    // A kept token stands in for the field: the form may be sent with it empty.
    input.required = required && !isKept;
    kept.hidden = !isKept;
  }

  function showField() {
    showKept(false);
    if (field.tagName === "DETAILS") field.open = true;
    input.focus();
  }

  document.getElementById("token-forget").addEventListener("click", () => {
    forgetToken();
    showField();
  });
  showKept(keptToken() !== null);

  return {
    /** The token to send: the one typed, else the one kept; null for none. */
    value: () => input.value.trim() || keptToken(),
    /** The server took `token`: keep it for this tab; the field empties. */
    accepted(token) {
      keepToken(token);
      input.value = "";
      showKept(true);
    },
    /** The server refused the token: forget the kept one; the field keeps what was typed. */
    refused() {
      forgetToken();
      showField();
    },
  };
}
