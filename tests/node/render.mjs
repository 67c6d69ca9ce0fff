// Renders one image with the thumbnail engine, thumbnailer_core.wasm, transpiled to JavaScript
// by `jco transpile`: Node runs the engine with no Wasm runtime of thumbflow's (crates/host/tests/
// other_hosts.rs runs this). Prints what the engine saw and made as one JSON line.
//
//   node tests/node/render.mjs ENGINE.js INPUT OUTPUT 'thumb=300x300,jpeg,q90'
import { readFileSync, writeFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

const [engine, input, output, spec] = process.argv.slice(2);
const { thumbnail } = await import(pathToFileURL(engine).href);

// The pipeline's limits (spin.toml's defaults); u64 fields are BigInts in JavaScript.
const limits = {
  maxPixels: 100_000_000n,
  maxSide: 16_384,
  maxInputBytes: 67_108_864n,
  maxFrames: 10_000,
  memoryBudget: 402_653_184n,
};

const image = new Uint8Array(readFileSync(input));
try {
  const source = thumbnail.probe(image, limits);
  const [rendered] = thumbnail.render(image, thumbnail.parseRecipes(spec), limits);
  writeFileSync(output, rendered.bytes);
  console.log(JSON.stringify({
    source,
    recipe: rendered.recipe,
    width: rendered.width,
    height: rendered.height,
    contentType: rendered.contentType,
    bytes: rendered.bytes.length,
  }));
} catch (e) {
  // A WIT `result` error arrives as an exception whose payload is the stage-error variant.
  console.log(JSON.stringify({ error: e.payload ?? String(e) }));
  process.exitCode = 2;
}
