// Small DOM helpers shared by the pages: status lines and announcements. Text only, never HTML.

/** Put `text` in a status line (empty hides it), marked as an error or not. */
export function say(element, text, isError = false) {
  element.textContent = text;
  element.classList.toggle("error", Boolean(text) && isError);
}

/** Tell screen readers something that has no place on the page (e.g. "Copied"). */
export function announce(text) {
  const region = document.getElementById("announce");
  region.textContent = "";
  // A change of text is what a live region announces: clear first, then set.
  window.setTimeout(() => { region.textContent = text; }, 50);
}

/** Move the keyboard focus to `element` (a heading with tabindex="-1") and into view. */
export function focus(element) {
  element.focus();
  element.scrollIntoView({ block: "start" });
}
