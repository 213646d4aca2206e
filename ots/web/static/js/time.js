// Times arrive as UTC text; show them in the reader's time zone and language.

/** Rewrite every <time datetime> under `root` in the page's language. */
export function localizeTimes(root = document) {
  const format = new Intl.DateTimeFormat(document.documentElement.lang, {
    dateStyle: "long",
    timeStyle: "short",
  });
  for (const element of root.querySelectorAll("time[datetime]")) {
    const moment = new Date(element.dateTime);
    if (!Number.isNaN(moment.getTime())) element.textContent = format.format(moment);
  }
}
