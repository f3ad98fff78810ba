// Small helpers for reading command-line options with clear errors.

import { readFile } from 'node:fs/promises';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { QUANTIZATIONS, type Quantization } from '../weights.js';

export class UsageError extends Error {
  override name = 'UsageError';
}

type Options = NonNullable<ParseArgsConfig['options']>;
const HELP = { help: { type: 'boolean', short: 'h' } } as const;

export function parse<T extends Options>(argv: string[], options: T, usage: string) {
  try {
    return parseArgs({ args: argv, options: { ...options, ...HELP } as T & typeof HELP, allowPositionals: false, strict: true, tokens: true });
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\n\n${usage}`);
  }
}

export function int(value: string | undefined, name: string, fallback: number, min = 0): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be an integer ≥ ${min}, got '${value}'`);
  return n;
}

export function num(value: string | undefined, name: string, fallback: number, min = 0, max = Infinity): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < min || n > max) throw new UsageError(`--${name} must be a number in [${min}, ${max}], got '${value}'`);
  return n;
}

/** The bytes of an input file named on the command line, or a usage error saying what is wrong. */
export async function readInput(file: string, what: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(file));
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new UsageError(`cannot read ${what} ${file}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`);
  }
}

/** An option's value read by `read` when given, else undefined (the library then picks the default). */
export function given<T>(value: string | undefined, read: (v: string) => T): T | undefined {
  return value === undefined ? undefined : read(value);
}

/** --ids: comma-separated token ids. */
export function parseIds(text: string): number[] {
  const ids = text.split(',').map((s) => Number(s.trim()));
  if (ids.some((n) => !Number.isInteger(n) || n < 0)) throw new UsageError(`--ids must be comma-separated token ids, got '${text}'`);
  return ids;
}

/** --quantize: int8, int4 or nothing (bf16 as in the checkpoint); anything else is a usage error. */
export function quantization(value: string | undefined): Quantization | undefined {
  if (value === undefined || value === 'bf16') return undefined;
  if (!(QUANTIZATIONS as readonly string[]).includes(value)) throw new UsageError(`--quantize must be ${QUANTIZATIONS.join(' or ')}, got '${value}'`);
  return value as Quantization;
}

/** --lora-merge needs --lora folders to merge. */
export function checkLoraMerge(merge: boolean | undefined, lora: string[] | undefined): void {
  if (merge && !lora?.length) throw new UsageError('--lora-merge merges the --lora adapters: give at least one');
}
