// base64url without padding (RFC 4648 section 5), canonical only, as docs/sealed-v1.md says.

/** Encode bytes as base64url without padding. */
export function encode(bytes) {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** Decode base64url without padding; throw on anything `encode` would not write. */
export function decode(text) {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) {
    throw new Error("not base64url without padding");
  }
  const padded = text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4);
  const bytes = Uint8Array.from(atob(padded), (char) => char.charCodeAt(0));
  if (encode(bytes) !== text) throw new Error("not canonical base64url");
  return bytes;
}
