// The page's messages: the catalog entries the server embedded as JSON (#ots-text).
const data = JSON.parse(document.getElementById("ots-text").textContent);

function fill(text, values) {
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole));
}

/** The message `key`, with `values` in its {placeholders}. */
export function t(key, values = {}) {
  const message = data.messages[key];
  return typeof message === "string" ? fill(message, values) : key;
}

/** The form of message `key` for the count `n`, which fills {n}. */
export function plural(key, n, values = {}) {
  const forms = data.messages[key];
  if (!forms || typeof forms !== "object") return key;
  return fill(data.plural_one.includes(n) ? forms.one : forms.other, { n, ...values });
}
