/**
 * Serving a `lemopt export` with onnxruntime-node: raw feature values in, scores out.
 *
 *   node examples/serve-node.mjs EXPORT_DIR REQUESTS.jsonl
 *
 * Each line of REQUESTS.jsonl is one example: its raw values by column name (as in the
 * training data; a multi-valued column as a list or a delimited string). Prints one JSON
 * line per example: the ids each feature mapped to and the model's score. Needs only
 * onnxruntime-node and the export folder; the id rules are those of vocabulary.json
 * (README, "lemopt export").
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { TextEncoder } from 'node:util';
import ort from 'onnxruntime-node';

const [dir, requestsFile] = process.argv.slice(2);
if (!dir || !requestsFile) {
  process.stderr.write('usage: node examples/serve-node.mjs EXPORT_DIR REQUESTS.jsonl\n');
  process.exit(2);
}
const vocabulary = JSON.parse(readFileSync(path.join(dir, 'vocabulary.json'), 'utf8'));
const requests = readFileSync(requestsFile, 'utf8')
  .split('\n')
  .filter((line) => line.trim() !== '')
  .map((line) => JSON.parse(line));

const isMissing = (value) =>
  value === null || value === undefined || value === '' || (typeof value === 'number' && Number.isNaN(value));

/** The id of one categorical value: its key in `ids`, else an out-of-vocabulary id. */
function categoryId(entry, raw) {
  if (isMissing(raw)) return vocabulary.missing_id;
  // A number column's values are numbers (a server may receive them as text).
  const value =
    entry.key_type === 'number' && typeof raw === 'string' && Number.isFinite(Number(raw))
      ? Number(raw)
      : raw;
  const key = typeof value === 'boolean' ? (value ? '1' : '0') : String(value);
  if (Object.hasOwn(entry.ids, key)) return entry.ids[key];
  const { first_id: first, buckets } = entry.oov;
  return buckets === 1 ? first : first + (murmur3(keyBytes(value)) % buckets);
}

/** The bytes an out-of-vocabulary value is hashed over. */
function keyBytes(value) {
  if (typeof value === 'string') return new TextEncoder().encode(value);
  const number = typeof value === 'boolean' ? Number(value) : value;
  const view = new DataView(new ArrayBuffer(8));
  if (Number.isInteger(number) && number >= -2147483648 && number <= 2147483647) {
    view.setInt32(0, number, true);
    return new Uint8Array(view.buffer, 0, 4);
  }
  if (Number.isSafeInteger(number)) view.setBigInt64(0, BigInt(number), true);
  else view.setFloat64(0, number, true);
  return new Uint8Array(view.buffer);
}

/** MurmurHash3, x86 32-bit, seed 0. */
function murmur3(bytes) {
  const rotate = (x, r) => (x << r) | (x >>> (32 - r));
  const mixK = (k) => Math.imul(rotate(Math.imul(k, 0xcc9e2d51), 15), 0x1b873593);
  let h = 0;
  const blocks = bytes.length & ~3;
  for (let i = 0; i < blocks; i += 4) {
    h ^= mixK(bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24));
    h = (Math.imul(rotate(h, 13), 5) + 0xe6546b64) | 0;
  }
  const rest = bytes.length & 3;
  if (rest > 0) {
    let tail = bytes[blocks];
    if (rest >= 2) tail |= bytes[blocks + 1] << 8;
    if (rest === 3) tail |= bytes[blocks + 2] << 16;
    h ^= mixK(tail);
  }
  h ^= bytes.length;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** A numeric value's bucket: 1 + the boundaries at or below it; 0 when missing. */
function bucketId(entry, value) {
  const number = typeof value === 'boolean' ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isFinite(number)) return vocabulary.missing_id;
  return 1 + entry.boundaries.filter((boundary) => boundary <= number).length;
}

/** A feature's id (or, multi-valued, list of ids) for a raw value. */
function featureIds(entry, raw) {
  if (entry.type === 'numeric') return bucketId(entry, raw);
  if (entry.type === 'categorical') return categoryId(entry, raw);
  const elements =
    raw === null || raw === undefined
      ? []
      : typeof raw === 'string'
        ? raw === ''
          ? []
          : raw.split(entry.delimiter)
        : [raw].flat();
  return elements.map((element) => categoryId(entry, element));
}

/** int64 feeds of the examples: [B] per feature; bags padded to [B, L] with their lengths. */
function feeds(examples) {
  const tensors = {};
  for (const [name, entry] of Object.entries(vocabulary.features)) {
    const values = examples.map((example) => example.ids[name]);
    if (entry.inputs.lengths === undefined) {
      tensors[entry.inputs.ids] = new ort.Tensor('int64', BigInt64Array.from(values, BigInt), [
        values.length,
      ]);
      continue;
    }
    const longest = Math.max(1, ...values.map((bag) => bag.length));
    const padded = new BigInt64Array(values.length * longest);
    values.forEach((bag, row) => bag.forEach((id, k) => (padded[row * longest + k] = BigInt(id))));
    tensors[entry.inputs.ids] = new ort.Tensor('int64', padded, [values.length, longest]);
    const lengths = BigInt64Array.from(values, (bag) => BigInt(bag.length));
    tensors[entry.inputs.lengths] = new ort.Tensor('int64', lengths, [values.length]);
  }
  return tensors;
}

const examples = requests.map((request) => ({
  ids: Object.fromEntries(
    Object.entries(vocabulary.features).map(([name, entry]) => [
      name,
      featureIds(entry, request[entry.column]),
    ]),
  ),
}));
const session = await ort.InferenceSession.create(path.join(dir, 'model.onnx'));
const { score } = await session.run(feeds(examples));
examples.forEach((example, row) =>
  process.stdout.write(`${JSON.stringify({ ids: example.ids, score: score.data[row] })}\n`),
);
