// The request-v1 format (docs/request-v1.md) in the browser: ECDH P-256, HKDF-SHA256 and
// AES-256-GCM, all WebCrypto. The same steps as ots/request.py, checked against the document's
// test vectors by the browser tests. A key pair travels as d || x || y (96 bytes), a public
// key as its uncompressed point 04 || x || y (65 bytes).
import { decode, encode } from "./b64url.js";
import { concat, decrypt, encrypt, hkdf, randomBytes, utf8 } from "./primitives.js";
import { verifierOf } from "./sealed.js";

const ASSOCIATED_DATA = utf8("ots request-v1");
const CONTENT_INFO = utf8("ots request-v1 content key");
const PROOF_INFO = utf8("ots request-v1 access proof");
const REQUEST_FRAGMENT = /^r1\.([A-Za-z0-9_-]{87})$/;
const ANSWER_FRAGMENT = /^r1\.([A-Za-z0-9_-]{128})$/;
const VERSION = "r1";
const SCALAR_BYTES = 32;
const POINT_BYTES = 65;
const NONCE_BYTES = 12;
// n, the order of P-256: a private scalar lies in [1, n - 1].
const ORDER = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
const ECDH = { name: "ECDH", namedCurve: "P-256" };
const ECDSA = { name: "ECDSA", namedCurve: "P-256" };

function jwkOf(privateKey) {
  const part = (from, to) => encode(privateKey.subarray(from, to));
  return { kty: "EC", crv: "P-256", d: part(0, 32), x: part(32, 64), y: part(64, 96), ext: false };
}

function pointOf(privateKey) {
  return concat(Uint8Array.of(4), privateKey.subarray(SCALAR_BYTES));
}

/** Import an uncompressed point as an ECDH public key; WebCrypto refuses one off P-256. */
export function importPoint(point) {
  if (point.length !== POINT_BYTES || point[0] !== 4) {
    return Promise.reject(new Error("not an uncompressed P-256 point"));
  }
  return crypto.subtle.importKey("raw", point, ECDH, false, []);
}

function importPrivate(privateKey) {
  return crypto.subtle.importKey("jwk", jwkOf(privateKey), ECDH, false, ["deriveBits"]);
}

// Whether x || y is d·G. Some browsers check it when a JWK is imported, not every one: a
// signature made with d that verifies under (x, y) proves it everywhere.
async function belongTogether(privateKey) {
  const message = utf8("ots request-v1 key check");
  const signer = await crypto.subtle.importKey("jwk", jwkOf(privateKey), ECDSA, false, ["sign"]);
  const params = { name: "ECDSA", hash: "SHA-256" };
  const signature = await crypto.subtle.sign(params, signer, message);
  const point = pointOf(privateKey);
  const verifier = await crypto.subtle.importKey("raw", point, ECDSA, false, ["verify"]);
  return crypto.subtle.verify(params, verifier, signature, message);
}

/**
 * The asker's keys from d || x || y: {privateKey, publicKey, proof, verifier, key}, `key`
 * being the ECDH private key. Throws unless d is in [1, n - 1] and (x, y) is d·G.
 */
export async function askerOf(privateKey) {
  if (privateKey.length !== SCALAR_BYTES + POINT_BYTES - 1) throw new Error("not 96 bytes");
  const hex = Array.from(privateKey.subarray(0, SCALAR_BYTES), (b) => b.toString(16).padStart(2, "0"));
  const scalar = BigInt(`0x${hex.join("")}`);
  if (scalar === 0n || scalar >= ORDER) throw new Error("the scalar is not in [1, n - 1]");
  if (!(await belongTogether(privateKey))) throw new Error("the point is not the scalar's");
  const proof = await hkdf(privateKey.subarray(0, SCALAR_BYTES), PROOF_INFO);
  return {
    privateKey,
    publicKey: pointOf(privateKey),
    proof,
    verifier: await verifierOf(proof),
    key: await importPrivate(privateKey),
  };
}

/** Draw a fresh key pair in this browser; return it as askerOf does. */
export async function newAsker() {
  const pair = await crypto.subtle.generateKey(ECDH, true, ["deriveBits"]);
  const jwk = await crypto.subtle.exportKey("jwk", pair.privateKey);
  return askerOf(concat(decode(jwk.d), decode(jwk.x), decode(jwk.y)));
}

/** The request link's fragment: r1.<public key>. */
export function requestFragment(asker) {
  return `${VERSION}.${encode(asker.publicKey)}`;
}

/** The answer link's fragment: r1.<d || x || y>. */
export function answerFragment(asker) {
  return `${VERSION}.${encode(asker.privateKey)}`;
}

/** Read a request link's fragment: {publicKey, key}, or null unless it is a point of P-256. */
export async function parseRequestFragment(fragment) {
  const match = REQUEST_FRAGMENT.exec(fragment);
  if (!match) return null;
  try {
    const publicKey = decode(match[1]);
    return { publicKey, key: await importPoint(publicKey) };
  } catch {
    return null;
  }
}

/** Read an answer link's fragment's shape: its 96 bytes, or null (askerOf checks the rest). */
export function parseAnswerFragment(fragment) {
  const match = ANSWER_FRAGMENT.exec(fragment);
  if (!match) return null;
  try {
    return decode(match[1]);
  } catch {
    return null;
  }
}

async function contentKey(privateKey, peer, epk, publicKey) {
  const params = { name: "ECDH", public: peer };
  const shared = new Uint8Array(await crypto.subtle.deriveBits(params, privateKey, 256));
  return hkdf(shared, concat(CONTENT_INFO, epk, publicKey));
}

/**
 * Encrypt `plaintext` (bytes) to the asker's `publicKey` (a point, from the request link);
 * return the body of POST /requests/{request_key}/answer. `ephemeral` (d || x || y) and
 * `nonce` are for the test vectors only: fresh random ones are the only safe choice.
 */
export async function sealAnswer(plaintext, publicKey, { ephemeral, nonce } = {}) {
  const peer = await importPoint(publicKey);
  let key;
  let epk;
  if (ephemeral === undefined) {
    const pair = await crypto.subtle.generateKey(ECDH, false, ["deriveBits"]);
    key = pair.privateKey;
    epk = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
  } else {
    key = await importPrivate(ephemeral);
    epk = pointOf(ephemeral);
  }
  nonce ??= randomBytes(NONCE_BYTES);
  const ciphertext = await encrypt(
    await contentKey(key, peer, epk, publicKey),
    nonce,
    plaintext,
    ASSOCIATED_DATA,
  );
  return {
    ciphertext: encode(ciphertext),
    envelope: { v: VERSION, nonce: encode(nonce), epk: encode(epk) },
  };
}

/** Decrypt the answer the server released ({ciphertext, envelope}); throw if it does not open. */
export async function openAnswer(released, asker) {
  const { ciphertext, envelope } = released;
  if (!envelope || envelope.v !== VERSION) throw new Error("not a request-v1 envelope");
  const nonce = decode(envelope.nonce);
  if (nonce.length !== NONCE_BYTES) throw new Error("the envelope's nonce is not 12 bytes");
  const epk = decode(envelope.epk);
  // Refuses an epk off P-256: such a point would leak bits of the private key.
  const peer = await importPoint(epk);
  const key = await contentKey(asker.key, peer, epk, asker.publicKey);
  return decrypt(key, nonce, decode(ciphertext), ASSOCIATED_DATA);
}
