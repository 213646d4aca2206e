// What every page does: copy buttons, local times, QR codes, hints for a kind of link, and a
// language switch that keeps a link's key (the fragment) in the address bar, where it already is.
import { enableCopy } from "./copy.js";
import { localizeTimes } from "./time.js";

/** Draw the QR code of each canvas[data-qr-for] whose field holds a link. */
export async function drawQrCodes(root = document) {
  const canvases = [...root.querySelectorAll("canvas[data-qr-for]")].filter(
    (canvas) => document.getElementById(canvas.dataset.qrFor).value,
  );
  if (canvases.length === 0) return;
  // Loaded only where there is a code to draw.
  const { drawQr } = await import("./qr.js");
  for (const canvas of canvases) drawQr(canvas, document.getElementById(canvas.dataset.qrFor).value);
}

function keepFragmentOnLanguageSwitch() {
  for (const link of document.querySelectorAll("a[data-keep-fragment]")) {
    link.addEventListener("click", (event) => {
      if (!window.location.hash) return;
      event.preventDefault();
      window.location.assign(link.pathname + link.search + window.location.hash);
    });
  }
}

// A sentence meant for one kind of link only (an answer link's "not answered yet"): the
// server cannot tell, since the fragment never reaches it.
function showFragmentHints() {
  for (const hint of document.querySelectorAll("[data-fragment-hint]")) {
    hint.hidden = !window.location.hash.startsWith(`#${hint.dataset.fragmentHint}`);
  }
}

enableCopy();
showFragmentHints();
localizeTimes();
keepFragmentOnLanguageSwitch();
drawQrCodes();
