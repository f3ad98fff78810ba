// The bench page: runs benchKernels (the CLI's own function) on navigator.gpu with the browser host,
// shows progress and a Stop button, renders the roofline chart and the table, offers the JSON, and
// compares loaded result files. URL parameters preset the form and `run=1` starts at once (how
// `paligemma bench kernels --browser` drives it): quick=1, peers=tfjs|none, runs=N, skip=a,b,
// quantize=int8,int4.

import { requestGpu } from '../../src/browser/gpu.js';
import type { Gpu } from '../../src/device.js';
import type { Quantization } from '../../src/weights.js';
import { chartSvg } from '../chart.js';
import type { Named } from '../compare.js';
import { benchKernels, BenchStopped, type KernelsReport, type PeerName } from '../kernels.js';
import { adapterText, kernelsText } from '../report.js';
import { checkKernelsReport } from '../schema.js';
import { describeAdapter } from '../../src/adapter.js';
import { compareHtml } from './compare-view.js';
import { browserHost } from './host.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const params = new URLSearchParams(location.search);

type State = 'idle' | 'running' | 'done' | 'stopped' | 'error';
/** What tests and `bench kernels --browser` read: the state, the last report, the log. */
const bench = { state: 'idle' as State, report: undefined as KernelsReport | undefined, error: '', log: [] as string[] };
(window as unknown as { bench: typeof bench }).bench = bench;

function setState(state: State, text: string): void {
  bench.state = state;
  const el = $('status');
  el.dataset.state = state;
  el.textContent = text;
}

let gpu: Promise<Gpu> | undefined;
let controller: AbortController | undefined;

function optionsFromForm(): { quick: boolean; peers: PeerName[]; runs: number; skip?: string[]; quantize?: Quantization[] } {
  return {
    quick: $<HTMLInputElement>('quick').checked,
    peers: $<HTMLInputElement>('peer-tfjs').checked ? ['tfjs'] : [],
    runs: Math.max(1, Number($<HTMLInputElement>('runs').value) || 3),
    skip: params.get('skip')?.split(','),
    quantize: params.get('quantize')?.split(',') as Quantization[] | undefined,
  };
}

async function run(): Promise<void> {
  const o = optionsFromForm();
  controller = new AbortController();
  $<HTMLButtonElement>('run').disabled = true;
  $<HTMLButtonElement>('stop').disabled = false;
  setState('running', 'starting…');
  const bar = $<HTMLProgressElement>('progress');
  bench.log = [];
  try {
    const g = await gpu!;
    const command = `paligemma bench page ?quick=${o.quick ? 1 : 0}&peers=${o.peers.join(',') || 'none'}&runs=${o.runs}${o.skip ? `&skip=${o.skip}` : ''}${o.quantize ? `&quantize=${o.quantize}` : ''}`;
    const report = await benchKernels(g, {
      ...o,
      host: browserHost(),
      command,
      signal: controller.signal,
      log: (line) => {
        bench.log.push(line);
        $('status').textContent = line;
        console.log(`bench: ${line}`);
      },
      progress: (done, total) => {
        bar.max = total;
        bar.value = done;
      },
    });
    report.browser = { userAgent: navigator.userAgent, language: navigator.language };
    // The page's JSON is the CLI's: checked against the same schema before it is offered.
    const json = JSON.parse(JSON.stringify(report)) as KernelsReport;
    checkKernelsReport(json, 'this run');
    bench.report = json;
    show(json);
    setState('done', `done: ${json.kernels.length} kernels${json.timing === 'wall' ? ' (WALL CLOCK: no timestamp-query on this adapter)' : ''}`);
  } catch (e) {
    if (e instanceof BenchStopped) setState('stopped', `stopped after ${bar.value} of ${bar.max} steps`);
    else {
      bench.error = e instanceof Error ? e.message : String(e);
      setState('error', `error: ${bench.error}`);
    }
  } finally {
    $<HTMLButtonElement>('run').disabled = false;
    $<HTMLButtonElement>('stop').disabled = true;
  }
}

function show(r: KernelsReport): void {
  $('result').hidden = false;
  $('chart').innerHTML = chartSvg(r);
  $('table').textContent = kernelsText(r);
}

function download(): void {
  const r = bench.report;
  if (!r) return;
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([JSON.stringify(r, null, 2)], { type: 'application/json' }));
  const adapter = String((r.adapter as { architecture?: string; vendor?: string }).architecture || (r.adapter as { vendor?: string }).vendor || 'webgpu').replace(/[^\w.-]+/g, '-');
  a.download = `browser-${adapter}-kernels-${r.date.slice(0, 16).replace(/[:T]/g, '-')}.json`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

async function compareFiles(files: FileList): Promise<void> {
  const status = $('compare-status');
  const named: Named[] = [];
  const problems: string[] = [];
  for (const f of Array.from(files)) {
    try {
      let json: unknown;
      try {
        json = JSON.parse(await f.text());
      } catch (e) {
        throw new Error(`${f.name}: not JSON (${(e as Error).message})`);
      }
      checkKernelsReport(json, f.name);
      named.push({ name: f.name, report: json as KernelsReport });
    } catch (e) {
      problems.push((e as Error).message);
    }
  }
  $('compare').innerHTML = named.length ? compareHtml(named) : '';
  status.textContent = [`${named.length} report${named.length === 1 ? '' : 's'} compared`, ...problems].join(' — ');
  status.dataset.count = String(named.length);
}

async function main(): Promise<void> {
  $('run').addEventListener('click', () => void run());
  $('stop').addEventListener('click', () => controller?.abort());
  $('download').addEventListener('click', download);
  $<HTMLInputElement>('compare-files').addEventListener('change', (e) => void compareFiles((e.target as HTMLInputElement).files!));
  gpu = requestGpu({ profile: true });
  let g: Gpu;
  try {
    g = await gpu;
  } catch (e) {
    $('adapter').textContent = (e as Error).message;
    setState('error', `error: ${(e as Error).message}`);
    bench.error = (e as Error).message;
    return;
  }
  $('adapter').textContent = `${adapterText(describeAdapter(g))}\ntiming: ${g.profiler ? 'GPU timestamp queries' : 'WALL CLOCK (this adapter offers no timestamp-query)'}`;
  // Software adapters take minutes over the full shapes: quick by default there.
  $<HTMLInputElement>('quick').checked = params.has('quick') ? params.get('quick') === '1' : g.cpuAdapter;
  if (params.has('peers')) $<HTMLInputElement>('peer-tfjs').checked = params.get('peers')!.split(',').includes('tfjs');
  if (params.has('runs')) $<HTMLInputElement>('runs').value = params.get('runs')!;
  $<HTMLButtonElement>('run').disabled = false;
  setState('idle', 'ready');
  if (params.get('run') === '1') await run();
}

void main();
