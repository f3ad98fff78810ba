// What machine a report was measured on, and how busy it was (load averages) while it ran.

import { cpus, loadavg, totalmem, type } from 'node:os';

export interface Machine {
  cpu: string;
  cores: number;
  memGiB: number;
  os: string;
  node: string;
  /** 1/5/15-minute load averages at the start (and `loadAfter` at the end). */
  load: number[];
  loadAfter?: number[];
}

export function machine(): Machine {
  const c = cpus();
  return {
    cpu: c[0]?.model.trim() ?? 'unknown',
    cores: c.length,
    memGiB: Math.round(totalmem() / 2 ** 30),
    os: type(),
    node: process.version,
    load: loadavg().map((x) => Math.round(x * 100) / 100),
  };
}
