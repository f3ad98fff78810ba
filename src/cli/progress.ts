// A one-line progress bar for long CLI operations (loading, generating checkpoints).
// On a TTY it redraws in place; elsewhere (logs, CI) it prints at most every 10% so logs stay short.

export interface ProgressBar {
  update(bytesDone: number, bytesTotal: number, label?: string): void;
  done(message?: string): void;
}

const MB = 1e6;

export function formatBytes(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} GB`;
  if (n >= MB) return `${(n / MB).toFixed(1)} MB`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} kB`;
  return `${n} B`;
}

export function progressBar(title: string, stream: NodeJS.WriteStream = process.stderr): ProgressBar {
  const started = performance.now();
  const tty = Boolean(stream.isTTY);
  let lastDraw = 0;
  let lastTenth = -1;
  let drawn = false;
  const line = (done: number, total: number, label: string) => {
    const secs = (performance.now() - started) / 1000;
    const rate = secs > 0 ? done / MB / secs : 0;
    const frac = total > 0 ? Math.min(1, done / total) : 1;
    const width = 24;
    const fill = Math.round(frac * width);
    const bar = `[${'#'.repeat(fill)}${'.'.repeat(width - fill)}]`;
    return `${title} ${bar} ${(frac * 100).toFixed(0).padStart(3)}% ${formatBytes(done)}/${formatBytes(total)} ${rate.toFixed(0)} MB/s ${label}`;
  };
  return {
    update(done, total, label = '') {
      const now = performance.now();
      if (tty) {
        if (now - lastDraw < 100 && done < total) return;
        lastDraw = now;
        const cols = stream.columns ?? 100;
        stream.write(`\r${line(done, total, label).slice(0, cols - 1).padEnd(cols - 1)}`);
        drawn = true;
      } else {
        const tenth = total > 0 ? Math.floor((done / total) * 10) : 10;
        if (tenth > lastTenth) {
          lastTenth = tenth;
          stream.write(`${line(done, total, label)}\n`);
        }
      }
    },
    done(message) {
      if (tty && drawn) stream.write('\n');
      const secs = ((performance.now() - started) / 1000).toFixed(1);
      if (message) stream.write(`${message} (${secs} s)\n`);
    },
  };
}

/**
 * Hub download progress for loadModel's `hub.onProgress`: a bar that appears with the first bytes
 * (nothing is printed when everything is cached) and closes when the last byte is in. Call done()
 * when loading returns, for a download that failed half-way.
 */
export function downloadProgress(): { onProgress: (p: { file: string; bytesDone: number; bytesTotal: number }) => void; done: () => void } {
  let bar: ProgressBar | undefined;
  return {
    onProgress: (p) => {
      bar ??= progressBar('downloading');
      bar.update(p.bytesDone, p.bytesTotal, p.file);
      if (p.bytesDone < p.bytesTotal) return;
      bar.done(`downloaded ${formatBytes(p.bytesTotal)}`);
      bar = undefined;
    },
    done: () => bar?.done(),
  };
}
