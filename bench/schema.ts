// The schema of `bench kernels --json` written down as code: the CLI checks its report against it
// before printing, the bench page before offering the download, and the comparison view checks
// every file it loads. Numbers a run could not measure are null in JSON (NaN in memory).

type Check = (v: unknown, path: string, errors: string[]) => void;

const kind = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);
const expect = (ok: boolean, what: string): Check => (v, path, errors) => {
  if (!ok) errors.push(`${path}: expected ${what}, got ${kind(v)}`);
};

const str: Check = (v, p, e) => expect(typeof v === 'string', 'a string')(v, p, e);
/** A finite number. */
const num: Check = (v, p, e) => expect(typeof v === 'number' && Number.isFinite(v), 'a number')(v, p, e);
/** A finite number, or null where it could not be measured. */
const numOrNull: Check = (v, p, e) => expect(v === null || (typeof v === 'number' && Number.isFinite(v)), 'a number or null')(v, p, e);
const bool: Check = (v, p, e) => expect(typeof v === 'boolean', 'true or false')(v, p, e);
const oneOf = (...values: string[]): Check => (v, p, e) => expect(values.includes(v as string), values.map((x) => `'${x}'`).join(' or '))(v, p, e);

function array(item: Check): Check {
  return (v, path, errors) => {
    if (!Array.isArray(v)) return void errors.push(`${path}: expected an array, got ${kind(v)}`);
    v.forEach((x, i) => item(x, `${path}[${i}]`, errors));
  };
}

/** An object with these fields; a key ending in '?' may be absent. Other fields are allowed. */
function object(fields: Record<string, Check>): Check {
  return (v, path, errors) => {
    if (kind(v) !== 'object') return void errors.push(`${path}: expected an object, got ${kind(v)}`);
    const o = v as Record<string, unknown>;
    for (const [key, check] of Object.entries(fields)) {
      const optional = key.endsWith('?');
      const name = optional ? key.slice(0, -1) : key;
      if (o[name] === undefined) {
        if (!optional) errors.push(`${path}.${name}: missing`);
        continue;
      }
      check(o[name], `${path}.${name}`, errors);
    }
  };
}

/** An object whose every value passes `value`. */
function record(value: Check): Check {
  return (v, path, errors) => {
    if (kind(v) !== 'object') return void errors.push(`${path}: expected an object, got ${kind(v)}`);
    for (const [k, x] of Object.entries(v as object)) value(x, `${path}.${k}`, errors);
  };
}

const shape3 = object({ M: num, K: num, N: num });

const KERNEL = object({
  name: str,
  label: str,
  shape: record(num),
  ms: num,
  runs: array(num),
  wallMs: num,
  dispatches: num,
  'variant?': str,
  'format?': str,
  traffic: num,
  'gflops?': num,
  'gbps?': num,
  'readSameBytes?': object({ gbps: num, kernelGbps: num, ratio: num, rounds: num }),
  'blasBeside?': object({ blasGflops: num, gflops: num, ratio: num, rounds: num }),
});

const PEER = object({
  name: oneOf('tfjs-webgpu', 'onnxruntime-cpu'),
  kernel: str,
  label: str,
  shape: shape3,
  ms: num,
  runs: array(num),
  wallMs: num,
  timing: oneOf('gpu-timestamps', 'wall'),
  gflops: num,
  'gbps?': num,
});

const TARGET = object({ what: str, measured: numOrNull, goal: num, 'atMost?': bool, pass: bool, detail: str });

export const KERNELS_REPORT: Check = object({
  date: str,
  command: str,
  'platform?': oneOf('node', 'browser'),
  'timing?': oneOf('gpu-timestamps', 'wall'),
  'browser?': object({ userAgent: str, 'language?': str }),
  machine: object({ cpu: str, cores: num, memGiB: numOrNull, os: str, node: str, load: array(num), 'loadAfter?': array(num) }),
  adapter: object({ features: record(bool), limits: record(numOrNull) }),
  runs: object({ warmup: num, runs: num, 'minMs?': num, 'maxRuns?': num }),
  ceilings: object({
    blas_gflops: numOrNull,
    blas_shape: shape3,
    read_gbps: num,
    read_bytes: num,
    read_variants: array(object({ layout: str, 'when?': oneOf('before', 'after'), gbps: num, runs: array(num) })),
    memcpy_gbps: num,
    memcpy_runs_ms: array(num),
    'memcpy_method?': str,
  }),
  kernels: array(KERNEL),
  peers: array(PEER),
  peerErrors: array(object({ name: str, error: str })),
  targets: array(TARGET),
});

/** What is wrong with `value` as a `bench kernels --json` report (JSON-parsed): one line per problem, empty when valid. */
export function kernelsReportErrors(value: unknown): string[] {
  const errors: string[] = [];
  KERNELS_REPORT(value, 'report', errors);
  return errors;
}

/** Throws, naming `source` (a file name) and the first problems, unless `value` is a valid report. */
export function checkKernelsReport(value: unknown, source: string): void {
  const errors = kernelsReportErrors(value);
  if (errors.length === 0) return;
  const more = errors.length > 5 ? ` (and ${errors.length - 5} more)` : '';
  throw new Error(`${source}: not a \`bench kernels --json\` report: ${errors.slice(0, 5).join('; ')}${more}`);
}
