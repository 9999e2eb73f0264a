#!/usr/bin/env node
// The peer in the documents benchmark: OpenAttestation's bare Merkle wrap and integrity check.
//
// Reads one OpenAttestation v2 document (JSON: the same fields as our certificate of origin,
// made by scripts/bench/documents.py) and wraps N distinct copies with `wrapDocuments` in
// batches of --batch (each field salted and hashed, one Merkle tree per batch), then checks
// every wrapped copy with `verifySignature` (target hash and Merkle proof). One thread, as
// the library runs. Prints one JSON line. Needs nothing from the network.
//
//   node scripts/bench/peer/open-attestation.js --template doc.json --docs 10240 --batch 1024
"use strict";

const fs = require("fs");
const { wrapDocuments, verifySignature } = require("@govtechsg/open-attestation");

function args(argv) {
  const out = { docs: 10240, batch: 1024, template: null, idField: "CertificateID" };
  for (let i = 2; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, "");
    const value = argv[i + 1];
    if (!(key.replace(/-(.)/g, (_, c) => c.toUpperCase()) in out) || value === undefined) {
      throw new Error(`unknown or incomplete option ${argv[i]}`);
    }
    out[key.replace(/-(.)/g, (_, c) => c.toUpperCase())] =
      key === "template" || key === "id-field" ? value : Number(value);
  }
  if (!out.template) throw new Error("--template FILE (an OpenAttestation v2 document) is needed");
  return out;
}

function main() {
  const opt = args(process.argv);
  const template = JSON.parse(fs.readFileSync(opt.template, "utf8"));
  const docs = [];
  for (let i = 0; i < opt.docs; i++) {
    docs.push({ ...template, [opt.idField]: `CO-TW-2025-${String(i).padStart(7, "0")}` });
  }
  const bytes = Buffer.byteLength(JSON.stringify(docs[0]));

  wrapDocuments(docs.slice(0, Math.min(64, docs.length))); // warm the JIT outside the timing
  let t0 = process.hrtime.bigint();
  const wrapped = [];
  for (let i = 0; i < docs.length; i += opt.batch) {
    for (const w of wrapDocuments(docs.slice(i, i + opt.batch))) wrapped.push(w);
  }
  const wrapS = Number(process.hrtime.bigint() - t0) / 1e9;

  t0 = process.hrtime.bigint();
  let valid = 0;
  for (const w of wrapped) if (verifySignature(w)) valid += 1;
  const verifyS = Number(process.hrtime.bigint() - t0) / 1e9;
  if (valid !== wrapped.length) throw new Error(`${wrapped.length - valid} wrapped documents did not verify`);

  const version = require("@govtechsg/open-attestation/package.json").version;
  process.stdout.write(
    JSON.stringify({
      peer: `@govtechsg/open-attestation ${version}`,
      docs: opt.docs,
      batch: opt.batch,
      doc_bytes: bytes,
      wrap_docs_per_s: Math.round(opt.docs / wrapS),
      verify_docs_per_s: Math.round(opt.docs / verifyS),
      wrap_s: Number(wrapS.toFixed(3)),
      verify_s: Number(verifyS.toFixed(3)),
    }) + "\n",
  );
}

main();
