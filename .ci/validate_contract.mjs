// A second, independent validator for the wire contract: Ajv 8 (JSON Schema 2020-12, strict mode,
// ajv-formats) compiles every docs/schemas/*.schema.json and validates every docs/examples/*.json and
// every message sample given (files `<schema>[.anything].jsonl`, one payload a line, in the directories
// named on the command line: tests write them from what the agent really published).
//
//   node .ci/validate_contract.mjs [--require alert,status,...] [samples-dir ...]
//
// Prints one JSON object (per schema: valid count, failures) and exits 1 on any failure: a schema that
// does not compile, a payload that does not validate, or a --require'd schema without a sample.
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
let required = [];
const sampleDirs = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--require") required = args[++i].split(",").filter(Boolean);
  else sampleDirs.push(args[i]);
}

const ajv = new Ajv2020({ strict: true, allErrors: true });
addFormats(ajv);
const report = { validator: "ajv 2020-12 strict", schemas: {}, problems: [] };
const validators = {};
const branches = {};

// a oneOf keyed by a `type` const (the alert schema): type -> its subschema's validator, to say what is wrong
// against that branch rather than every branch at once
function branchesOf(schema, id) {
  const found = {};
  for (const entry of schema.oneOf || []) {
    const def = (entry.$ref || "").split("/").pop();
    const type = schema.$defs?.[def]?.properties?.type?.const;
    if (type !== undefined) found[type] = () => ajv.getSchema(`${id}#/$defs/${def}`);
  }
  return found;
}
const schemaDir = join(root, "docs", "schemas");
for (const file of readdirSync(schemaDir).filter((f) => f.endsWith(".schema.json")).sort()) {
  const name = file.slice(0, -".schema.json".length);
  try {
    const schema = JSON.parse(readFileSync(join(schemaDir, file), "utf8"));
    validators[name] = ajv.compile(schema);
    branches[name] = branchesOf(schema, schema.$id);
    report.schemas[name] = { valid: 0, invalid: 0 };
  } catch (error) {
    report.problems.push(`docs/schemas/${file}: does not compile: ${error.message}`);
  }
}

// the schema a file is for: the longest schema name its file name starts with (command-reply before command)
function schemaFor(fileName) {
  const names = Object.keys(report.schemas).sort((a, b) => b.length - a.length);
  return names.find((name) => fileName === `${name}.jsonl` || fileName.startsWith(`${name}-`) || fileName.startsWith(`${name}.`));
}

function check(name, payload, where) {
  const validate = validators[name];
  if (validate(payload)) {
    report.schemas[name].valid += 1;
    return;
  }
  report.schemas[name].invalid += 1;
  const branch = branches[name][payload?.type]?.();  // what is wrong against its own type's subschema, if any
  const told = branch && !branch(payload) ? branch.errors : validate.errors;
  const errors = told.slice(0, 5).map((e) => `${e.instancePath || "(root)"} ${e.message}`);
  report.problems.push(`${where}: not a valid ${name}: ${errors.join("; ")}`);
}

const examples = join(root, "docs", "examples");
for (const file of readdirSync(examples).filter((f) => f.endsWith(".json")).sort()) {
  const name = schemaFor(file);
  if (!name) report.problems.push(`docs/examples/${file}: no schema for this file name`);
  else check(name, JSON.parse(readFileSync(join(examples, file), "utf8")), `docs/examples/${file}`);
}

const sampled = new Set();
for (const dir of sampleDirs) {
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".jsonl")).sort()) {
    const name = schemaFor(file);
    if (!name) {
      report.problems.push(`${dir}/${file}: no schema for this file name`);
      continue;
    }
    const lines = readFileSync(join(dir, file), "utf8").split("\n").filter((line) => line.trim());
    lines.forEach((line, n) => check(name, JSON.parse(line), `${dir}/${file}:${n + 1}`));
    if (lines.length) sampled.add(name);
  }
}
for (const name of required) {
  if (!sampled.has(name)) report.problems.push(`no sample of ${name} was given (required)`);
}
console.log(JSON.stringify(report, null, 2));
process.exit(report.problems.length ? 1 : 0);
