// `npm run bench`: every benchmark of the project, each printing its own
// side-by-side ratios. `npm run bench -- probes` runs only the named ones.
const suites: Record<string, () => Promise<{ run: () => Promise<void> }>> = {
  probes: () => import('./probes'),
  elasticity: () => import('./elasticity'),
  vmm: () => import('./vmm'),
  'vmm-busy': () => import('./vmm-busy'),
  planning: () => import('./planning'),
};

export {};

const wanted = process.argv.slice(2);
for (const [name, load] of Object.entries(suites)) {
  if (wanted.length && !wanted.includes(name)) continue;
  process.stdout.write(`\n== ${name} ==\n`);
  const suite = await load();
  await suite.run();
}
