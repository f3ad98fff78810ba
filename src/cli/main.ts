// The `paligemma` command: each subcommand lives in its own module, loaded on demand.

type Command = { run(argv: string[]): Promise<number>; summary: string };
const commands: Record<string, () => Promise<Command>> = {
  generate: () => import('./generate.js'),
  masks: () => import('./masks.js'),
  dump: () => import('./dump.js'),
  'sample-probs': () => import('./sample-probs.js'),
  'make-checkpoint': () => import('./make-checkpoint.js'),
  selfcheck: () => import('./selfcheck.js'),
  bench: () => import('./bench.js'),
  playground: () => import('./playground.js'),
  kernels: () => import('./kernels.js'),
};

function usage(): string {
  return ['usage: paligemma <command> [options]', '', 'commands:', ...Object.keys(commands).map((c) => `  ${c}`), '', 'Run `paligemma <command> --help` for its options.'].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h') {
    console.log(usage());
    return name ? 0 : 2;
  }
  const load = commands[name];
  if (!load) {
    console.error(`paligemma: unknown command '${name}'\n\n${usage()}`);
    return 2;
  }
  return (await load()).run(rest);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`paligemma: ${err instanceof Error ? err.message : String(err)}`);
    if (process.env.PALIGEMMA_DEBUG && err instanceof Error) console.error(err.stack);
    process.exit(1);
  },
);
