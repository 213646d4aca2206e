// A QR code drawn in the browser: the link (and its key) never goes anywhere to be drawn.
import { correction, generate } from "../vendor/lean-qr/lean-qr.mjs";

/** Draw `text` as a QR code on `canvas`, one pixel per module; CSS scales it up. */
export function drawQr(canvas, text) {
  generate(text, { minCorrectionLevel: correction.M }).toCanvas(canvas, {
    on: [0, 0, 0, 255],
    off: [255, 255, 255, 255],
    pad: 4,
  });
}
