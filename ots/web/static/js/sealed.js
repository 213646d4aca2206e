// The sealed-v1 format (docs/sealed-v1.md) in the browser: WebCrypto (primitives.js) for
// SHA-256, HKDF and AES-256-GCM, argon2id for a passphrase. The same steps as ots/sealed.py,
// checked against the document's test vectors by the browser tests.
import { argon2id } from "./argon2.js";
import { decode, encode } from "./b64url.js";
import { concat, decrypt, encrypt, hkdf, randomBytes, sha256, utf8 } from "./primitives.js";

const ASSOCIATED_DATA = utf8("ots sealed-v1");
const CONTENT_INFO = utf8("ots sealed-v1 content key");
const PROOF_INFO = utf8("ots sealed-v1 access proof");
const SALT_LABEL = utf8("ots sealed-v1 salt\0");
const VERIFIER_LABEL = utf8("ots sealed-v1 verifier\0");
const FRAGMENT = /^v1\.([A-Za-z0-9_-]{43})(\.p)?$/;
const LINK_KEY_BYTES = 32;
const NONCE_BYTES = 12;

/** Read a link's fragment: {linkKey, needsPassphrase}, or null if it is not sealed-v1. */
export function parseFragment(fragment) {
  const match = FRAGMENT.exec(fragment);
  if (!match) return null;
  try {
    return { linkKey: decode(match[1]), needsPassphrase: match[2] !== undefined };
  } catch {
    return null;
  }
}

/** Write a link's fragment: v1.<link key>, and .p when a passphrase is needed. */
export function makeFragment(linkKey, needsPassphrase) {
  return `v1.${encode(linkKey)}${needsPassphrase ? ".p" : ""}`;
}

/** The argon2id salt of a passphrase: the first 16 bytes of SHA-256(label || link key). */
export async function passphraseSalt(linkKey) {
  return (await sha256(SALT_LABEL, linkKey)).slice(0, 16);
}

/** Derive {contentKey, proof} from the link key and the passphrase (null for none). */
export async function derive(linkKey, passphrase) {
  let material = linkKey;
  if (passphrase !== null) {
    // Exactly as typed: no trimming, no Unicode normalisation.
    const stretched = await argon2id(utf8(passphrase), await passphraseSalt(linkKey));
    material = concat(linkKey, stretched);
  }
  return { contentKey: await hkdf(material, CONTENT_INFO), proof: await hkdf(material, PROOF_INFO) };
}

/** The verifier the creator sends instead of the proof. */
export function verifierOf(proof) {
  return sha256(VERIFIER_LABEL, proof);
}

/**
 * Encrypt `plaintext` (bytes) under a fresh link key (and `passphrase`, or null).
 * `linkKey` and `nonce` are for the test vectors only: random ones are the only safe choice.
 * Returns {body, fragment, contentKey, proof}: `body` holds the sealed fields of POST /generate.
 */
export async function seal(plaintext, passphrase, { linkKey, nonce } = {}) {
  linkKey ??= randomBytes(LINK_KEY_BYTES);
  nonce ??= randomBytes(NONCE_BYTES);
  const { contentKey, proof } = await derive(linkKey, passphrase);
  const ciphertext = await encrypt(contentKey, nonce, plaintext, ASSOCIATED_DATA);
  return {
    body: {
      ciphertext: encode(ciphertext),
      envelope: { v: 1, nonce: encode(nonce), kdf: passphrase === null ? "none" : "argon2id" },
      verifier: encode(await verifierOf(proof)),
    },
    fragment: makeFragment(linkKey, passphrase !== null),
    contentKey,
    proof,
  };
}

/** Decrypt what the server released ({ciphertext, envelope}); throw if it does not open. */
export async function open(released, contentKey) {
  const { ciphertext, envelope } = released;
  if (!envelope || envelope.v !== 1) throw new Error("not a sealed-v1 envelope");
  const nonce = decode(envelope.nonce);
  if (nonce.length !== NONCE_BYTES) throw new Error("the envelope's nonce is not 12 bytes");
  return decrypt(contentKey, nonce, decode(ciphertext), ASSOCIATED_DATA);
}
