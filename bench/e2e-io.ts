// What the e2e bench compares loading against: a raw fs read of the same files, cold when the page
// cache can be dropped (needs root and a writable /proc/sys), else warm; and peak RSS sampling.

import { execFileSync } from 'node:child_process';
import { openSync, readSync, closeSync, readFileSync, statSync, writeFileSync } from 'node:fs';

/** Drops the page cache; false when this sandbox does not allow it. */
export function dropCaches(): boolean {
  try {
    execFileSync('sync');
    writeFileSync('/proc/sys/vm/drop_caches', '3');
    return true;
  } catch {
    return false;
  }
}

/** Reads every file start to end in 64 MiB chunks into one reused buffer. */
export function rawRead(files: string[]): { bytes: number; seconds: number } {
  const buf = Buffer.allocUnsafe(64 << 20);
  const t0 = performance.now();
  let bytes = 0;
  for (const f of files) {
    const fd = openSync(f, 'r');
    try {
      for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0; ) bytes += n;
    } finally {
      closeSync(fd);
    }
  }
  return { bytes, seconds: (performance.now() - t0) / 1000 };
}

/**
 * GB/s of one thread's first writes into freshly allocated memory (256 MiB). On a CPU adapter
 * every weight byte lands in fresh memory written by one driver thread, so weight bytes ÷ this
 * rate bounds the load from below, whatever the disk does; in some VMs a page fault costs many µs.
 */
export function freshWrite(bytes = 256 << 20): number {
  const t0 = performance.now();
  Buffer.allocUnsafeSlow(bytes).fill(1);
  return bytes / ((performance.now() - t0) / 1000) / 1e9;
}

export function fileBytes(files: string[]): number {
  return files.reduce((s, f) => s + statSync(f).size, 0);
}

/** The kernel's record of this process's peak resident set (VmHWM), in bytes. */
export function vmHwm(): number | undefined {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Resets the kernel's peak resident set (VmHWM) to the current one, where Linux allows (clear_refs 5). */
export function resetHwm(): void {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
  } catch {
    // Not Linux, or not allowed: the peak then spans the whole process.
  }
}

/** Samples process.memoryUsage().rss every `ms` (between the main thread's awaits) and keeps the peak. */
export class RssSampler {
  peak = process.memoryUsage().rss;
  private readonly timer: NodeJS.Timeout;
  constructor(ms = 100) {
    this.timer = setInterval(() => this.sample(), ms);
    this.timer.unref();
  }
  sample(): void {
    this.peak = Math.max(this.peak, process.memoryUsage().rss);
  }
  stop(): number {
    clearInterval(this.timer);
    this.sample();
    return this.peak;
  }
}
