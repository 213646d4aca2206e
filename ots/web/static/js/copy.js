// Copy buttons: <button data-copy="ID"> copies the value of the field with that id.
import { t } from "./text.js";
import { announce } from "./ui.js";

async function copy(field) {
  try {
    await navigator.clipboard.writeText(field.value);
    return true;
  } catch {
    // No clipboard API (plain http on another host than localhost): the old way.
    field.select();
    return document.execCommand("copy");
  }
}

/** Make every copy button under `root` work. */
export function enableCopy(root = document) {
  for (const button of root.querySelectorAll("button[data-copy]")) {
    button.addEventListener("click", async () => {
      const field = document.getElementById(button.dataset.copy);
      announce(t((await copy(field)) ? "js.copied" : "js.copy_failed"));
    });
  }
}
