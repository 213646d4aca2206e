// The WebCrypto building blocks that sealed-v1 and request-v1 share: bytes in, bytes out.
// HKDF-SHA256 without a salt and with a 32-byte output, AES-256-GCM with a 96-bit nonce and
// the tag appended, SHA-256: as docs/sealed-v1.md and docs/request-v1.md write them.

/** The UTF-8 bytes of `text`. */
export const utf8 = (text) => new TextEncoder().encode(text);

/** `count` bytes from the browser's CSPRNG. */
export function randomBytes(count) {
  return crypto.getRandomValues(new Uint8Array(count));
}

/** The parts, one after the other, as one Uint8Array. */
export function concat(...parts) {
  const out = new Uint8Array(parts.reduce((size, part) => size + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** SHA-256 of the parts, concatenated. */
export async function sha256(...parts) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", concat(...parts)));
}

/** HKDF-SHA256(material, info), no salt, 32 bytes. */
export async function hkdf(material, info) {
  const key = await crypto.subtle.importKey("raw", material, "HKDF", false, ["deriveBits"]);
  // No salt: HKDF's default, HashLen zero bytes.
  const params = { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(32), info };
  return new Uint8Array(await crypto.subtle.deriveBits(params, key, 256));
}

function aesKey(contentKey, usage) {
  return crypto.subtle.importKey("raw", contentKey, "AES-GCM", false, [usage]);
}

/** AES-256-GCM: the ciphertext with its tag. */
export async function encrypt(contentKey, nonce, plaintext, additionalData) {
  const params = { name: "AES-GCM", iv: nonce, additionalData };
  const key = await aesKey(contentKey, "encrypt");
  return new Uint8Array(await crypto.subtle.encrypt(params, key, plaintext));
}

/** AES-256-GCM: the plaintext; throws when the tag does not verify. */
export async function decrypt(contentKey, nonce, ciphertext, additionalData) {
  const params = { name: "AES-GCM", iv: nonce, additionalData };
  const key = await aesKey(contentKey, "decrypt");
  return new Uint8Array(await crypto.subtle.decrypt(params, key, ciphertext));
}
