// argon2id as sealed-v1 fixes it (t=3, m=64 MiB, p=4, 32 bytes), from the vendored hash-wasm
// build, loaded only when a passphrase is used. Its WebAssembly needs 'wasm-unsafe-eval'.
let loading = null;

/** Return argon2id(password, salt) as 32 bytes. */
export async function argon2id(password, salt) {
  // The file is a UMD bundle: imported as a module, it sets globalThis.hashwasm.
  loading ??= import("../vendor/hash-wasm/argon2.umd.min.js");
  await loading;
  return globalThis.hashwasm.argon2id({
    password,
    salt,
    iterations: 3,
    memorySize: 65536,
    parallelism: 4,
    hashLength: 32,
    outputType: "binary",
  });
}
