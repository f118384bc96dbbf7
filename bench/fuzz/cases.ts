// The fuzz run of #10: generated bad inputs (argv, stdin, config files,
// environment) to every BUILT executable, each checked for what an operator
// and OpenNebula rely on: a non-zero exit, exactly one line on stderr, no stack
// trace, no hang, and no credential echoed. Seeded: the same seed gives the
// same cases. `npm run fuzz` runs >= 1,000; test/fuzz/fuzz.test.ts a few dozen.
//
// Safety of the run itself: every libvirt URI a case can reach is libvirt's
// test driver (base configs and CLOUDVAMP_*CONFIG point there), oned is a
// closed port, HOME and the state dirs are the run's temp dir. No case is a
// valid call: each is built around at least one defect the executable must
// refuse, so a zero exit is a finding, not noise.
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { seededRandom } from '../../lib/random';
import { ACTIONS, type ActionName } from '../../lib/vmm/actions';
// @ts-expect-error plain ESM module without types: the list the build itself uses
import { executables as untypedExecutables } from '../../scripts/executables.mjs';

const executables = untypedExecutables as ReadonlyArray<{ entry: string; out: string }>;

export interface FuzzCase {
  id: number;
  /** executable, as its `out` path in scripts/executables.mjs */
  exe: string;
  /** what is wrong with the input (for the report) */
  kind: string;
  argv: string[];
  stdin: string;
  env: Record<string, string>;
  /** files to create in the case's own directory, by name; argv/env refer to them as {dir}/name */
  files: Record<string, string>;
  /** text that must never appear in the output (a credential in the input) */
  secret?: string;
}

export interface FuzzResult {
  c: FuzzCase;
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  stdout: string;
  stderr: string;
  ms: number;
  /** what broke the rules; empty when the executable behaved */
  problems: string[];
}

type Rng = () => number;
const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)]!;
const int = (rng: Rng, lo: number, hi: number) => lo + Math.floor(rng() * (hi - lo + 1));

// Pieces hostile strings are made of: what shells, parsers, terminals and oned's grammar treat specially.
const PIECES = [
  '\\', '"', "'", '`', '$(reboot)', '${HOME}', ';rm -rf /', '|', '&', '\n', '\r', '\t', ' ', '\u0001', '\u001b[2J', '\u007f',
  ']]>', '<![CDATA[', '<', '>', '&amp;', '[', ']', '=', '#', ',', '%s%n', '{host}', '..', '/', '-', '--', '-oProxyCommand=x',
  'é', '名前', '🐧', '\u202e', '\ufeff', '\uD83D', 'one-', 'one-007', 'one-1e3', 'one-9007199254740993', '0', '-1', '1e309', 'NaN',
  'Infinity', '0x10', '9007199254740993', 'null', 'true', 'qemu:///system', 'test:///nonexistent', 'a'.repeat(300),
];

/** A hostile string; never empty unless `allowEmpty`; NUL only where the OS can carry it (not in argv/env). */
function hostile(rng: Rng, opts: { nul?: boolean; allowEmpty?: boolean } = {}): string {
  const parts: string[] = [];
  const n = int(rng, opts.allowEmpty ? 0 : 1, 5);
  for (let i = 0; i < n; i++) {
    const r = rng();
    if (r < 0.6) parts.push(pick(rng, PIECES));
    else if (r < 0.9) parts.push(String.fromCodePoint(...Array.from({ length: int(rng, 1, 4) }, () => int(rng, 0x20, 0x7e))));
    else parts.push(String.fromCodePoint(...Array.from({ length: int(rng, 1, 3) }, () => int(rng, 0xa0, 0x2ffff))));
  }
  if (opts.nul && rng() < 0.1) parts.push('\0');
  return parts.join('');
}

/** A hostile token that is surely not a valid option, command or value of the given list. */
function notOneOf(rng: Rng, valid: readonly string[]): string {
  for (;;) {
    const s = `${pick(rng, ['', 'zz', 'x-', '💥'])}${hostile(rng)}`;
    if (!valid.includes(s) && !valid.includes(s.trim()) && !valid.includes(s.toLowerCase())) return s;
  }
}

const unknownOption = (rng: Rng) => `--zz-${hostile(rng).replace(/^-+/, '')}`;
const credential = (rng: Rng) => `oneadmin:S3cr3t${int(rng, 100000, 999999)}`;
/** A config value or positional no key accepts: starts with a letter no valid value starts with, one line. */
const badValue = (rng: Rng) => `x${hostile(rng).replace(/[\n\r\0]/g, '')}`;
/** A line that is no KEY=VALUE assignment (and no comment). */
const notAssignment = (rng: Rng) => `x${hostile(rng).replace(/[=\n\r\0]/g, '')} y`;

/** Random lines a config may also hold: comments, blanks, noise. */
function noiseLines(rng: Rng): string[] {
  return Array.from({ length: int(rng, 0, 3) }, () => pick(rng, ['', `# ${hostile(rng, { nul: true }).replace(/[\n\r]/g, ' ')}`, '   ', '#']));
}

/** A config text with `bad` among noise, in random order, random line ends. */
function configText(rng: Rng, bad: string[], good: string[] = []): string {
  const lines = [...noiseLines(rng), ...good, ...bad, ...noiseLines(rng)];
  for (let i = lines.length - 1; i > 0; i--) {
    const j = int(rng, 0, i);
    [lines[i], lines[j]] = [lines[j]!, lines[i]!];
  }
  return lines.join(rng() < 0.2 ? '\r\n' : '\n');
}

const quoteBroken = (rng: Rng, key: string) => `${key}=${pick(rng, ['"', "'"])}${hostile(rng).replace(/["'\n\r]/g, '')}`;

// ------------------------------------------------------------- probes

const PROBE_OPTIONS = ['--uri', '--format', '--config', '--help', '-h', '--legacy'];

function probeCase(rng: Rng, exe: string, beacon: boolean): Omit<FuzzCase, 'id' | 'exe'> {
  const onePositional = ['cloudvamp', '3', 'node1'];
  const kinds = beacon ? ['unknown-option', 'bad-format', 'option-without-value'] : ['unknown-option', 'bad-format', 'option-without-value', 'missing-config', 'bad-config', 'bad-uri', 'config-is-directory'];
  const kind = pick(rng, kinds);
  const base: Omit<FuzzCase, 'id' | 'exe'> = { kind, argv: [], stdin: hostile(rng, { nul: true, allowEmpty: true }), env: {}, files: {} };
  switch (kind) {
    case 'unknown-option':
      return { ...base, argv: [unknownOption(rng), ...onePositional] };
    case 'bad-format':
      return { ...base, argv: ['--format', notOneOf(rng, ['one', 'json']), ...onePositional] };
    case 'option-without-value':
      return { ...base, argv: [pick(rng, ['--uri', '--format', '--config'])] };
    case 'missing-config':
      return { ...base, argv: ['--config', `{dir}/missing-${hostile(rng).replace(/[/\0]/g, '_')}`] };
    case 'config-is-directory':
      return { ...base, env: { CLOUDVAMP_CONFIG: '{dir}' } };
    case 'bad-uri':
      return { ...base, argv: ['--uri', `test:///nonexistent/${hostile(rng).replace(/\0/g, '')}`] };
    default: {
      const bad = pick(rng, [
        `OVERCOMMIT=${badValue(rng)}`,
        `OVERCOMMIT=${pick(rng, ['1.5', '-0.1', '2', '1e3', 'NaN', '0x1', ''])}`,
        `PROBE_FORMAT=${badValue(rng)}`,
        'LIBVIRT_URI=',
        quoteBroken(rng, pick(rng, ['OVERCOMMIT', 'LIBVIRT_URI', 'PROBE_FORMAT'])),
        notAssignment(rng),
      ]);
      return { ...base, kind: `bad-config ${bad.split('=')[0]!.slice(0, 20)}`, env: { CLOUDVAMP_CONFIG: '{dir}/cloudvamp.conf' }, files: { 'cloudvamp.conf': configText(rng, [bad], ['LIBVIRT_URI=test:///default']) } };
    }
  }
}

// ------------------------------------------------------------- VMM actions

/** Actions with an effect on the host itself (not a domain): never given a valid call, not even with a bad config. */
const HOST_WIDE = new Set(['ksm']);

const validArg = (rng: Rng, kind: string) =>
  ({ path: `/tmp/cloudvamp-fuzz-${int(rng, 0, 1e6)}/f`, host: pick(rng, ['node1', 'kvm-2', '10.0.0.1']), vmid: String(int(rng, 0, 999)), 'deploy-id': `nope-${int(rng, 0, 1e6)}`, kib: String(int(rng, 1, 1 << 20)), count: String(int(rng, 0, 2)) })[kind]!;

/** A value the argument kind must refuse. */
function invalidArg(rng: Rng, kind: string): string {
  switch (kind) {
    case 'path':
      return pick(rng, ['', 'relative/file', '/', hostile(rng).replace(/^\/+/, '')]).replace(/\0/g, '') || 'rel';
    case 'host':
      return pick(rng, ['-oProxyCommand=touch /tmp/x', 'a b', 'host;reboot', '$(reboot)', '-', '.dot', 'x\ny', '']);
    case 'vmid':
      return pick(rng, ['-1', '1.5', 'x', '', '1e3', ' 1']);
    case 'kib':
      return pick(rng, ['0', '-1', '1.5', 'x', '', '1e3', '007']);
    case 'count':
      return pick(rng, ['-1', '1.5', 'x', '', '1e3', ' 1', '99999999999999999999']);
    default:
      return pick(rng, ['', 'a b', 'x\ny', '\u0001']);
  }
}

const VMM_SUCCEEDS_ON_MISSING_DOMAIN = new Set(['poll']); // 4.x reads STATE=d as gone: not a failure

function vmmCase(rng: Rng, action: ActionName): Omit<FuzzCase, 'id' | 'exe'> {
  // the positional arguments as the actions declare them (lib/vmm/actions.ts)
  const spec = ACTIONS[action].args.map((a) => a.kind as string);
  const valid = () => spec.map((k) => validArg(rng, k));
  const kinds = ['wrong-arity', 'invalid-arg', 'unknown-option'];
  if (!HOST_WIDE.has(action)) {
    kinds.push('bad-config', 'missing-config');
    if (ACTIONS[action].stdin !== 'ignored') kinds.push('bad-stdin', 'bad-stdin');
    else if (spec.includes('deploy-id') && !VMM_SUCCEEDS_ON_MISSING_DOMAIN.has(action)) kinds.push('missing-domain', 'warned-missing-domain');
  }
  const kind = pick(rng, kinds);
  const base: Omit<FuzzCase, 'id' | 'exe'> = { kind, argv: valid(), stdin: '', env: { CLOUDVAMP_VMM_CONFIG: '{dir}/vmm.conf' }, files: { 'vmm.conf': 'LIBVIRT_URI=test:///default\nSHUTDOWN_TIMEOUT=1\n' } };
  switch (kind) {
    case 'wrong-arity': {
      const argv = valid();
      if (rng() < 0.5 && argv.length > 0) argv.splice(int(rng, 0, argv.length - 1), 1);
      else argv.push(badValue(rng));
      return { ...base, argv };
    }
    case 'invalid-arg': {
      const argv = valid();
      const i = int(rng, 0, spec.length - 1);
      argv[i] = invalidArg(rng, spec[i]!);
      return { ...base, kind: `invalid-arg ${spec[i]}`, argv };
    }
    case 'unknown-option':
      return { ...base, argv: [unknownOption(rng), ...valid()] };
    case 'missing-config':
      return { ...base, env: { CLOUDVAMP_VMM_CONFIG: `{dir}/missing-${int(rng, 0, 1e6)}.conf` } };
    case 'bad-stdin':
      return { ...base, stdin: pick(rng, ['', '<domain', '<VM><TEMPLATE><MEMORY>x</MEMORY>', hostile(rng, { nul: true }), '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><domain>&e;</domain>', `<domain type="kvm"><name>${hostile(rng)}</name>`]) };
    case 'missing-domain':
      return { ...base };
    case 'warned-missing-domain': // a config warning (unknown key) before the failure
      return { ...base, files: { 'vmm.conf': `LIBVIRT_URI=test:///default\nNOT_A_CLOUDVAMP_KEY${int(rng, 0, 99)}=${badValue(rng)}\n` } };
    default: {
      const bad = pick(rng, [
        `SHUTDOWN_TIMEOUT=${pick(rng, ['soon', '-1', '1.5', ''])}`,
        `FORCE_DESTROY=${badValue(rng)}`,
        `MIGRATE_OPTIONS=--zz-${int(rng, 0, 99)}`,
        `QEMU_PROTOCOL=${pick(rng, ['qemu+ssh://x', 'QEMU', '1abc', ''])}`,
        `POLL_FORMAT=${badValue(rng)}`,
        `BALLOON_SETTLE_TIMEOUT=${pick(rng, ['0', '-1', 'x'])}`,
        quoteBroken(rng, 'LIBVIRT_URI'),
        notAssignment(rng),
      ]);
      return { ...base, kind: `bad-config ${bad.split('=')[0]!.slice(0, 20)}`, files: { 'vmm.conf': configText(rng, [bad], ['LIBVIRT_URI=test:///default']) } };
    }
  }
}

// ------------------------------------------------------------- front-end tools

/** A cvem.conf with one defect, sometimes holding a credential that must never be echoed. */
function badCvemConfig(rng: Rng): { text: string; secret?: string; kind: string } {
  const secret = credential(rng);
  const choices: Array<{ line: string; secret?: string }> = [
    { line: `ONE_AUTH=${secret}`, secret },
    { line: `ONE_AUTH="${secret}" # my login`, secret },
    { line: `MEM_OVER=${pick(rng, ['abc', '0', '95', '', 'NaN', '1e400'])}` },
    { line: `MEM_MIN=${pick(rng, ['1', '-5', '1.5', 'x'])}` },
    { line: `MEMORY_COMMAND=${pick(rng, ['ssh {host}', '', 'echo'])}` },
    { line: `APPLY_MODE=${badValue(rng)}` },
    { line: `${pick(rng, ['NOPE', 'ONE_AUTH_FILE', 'mem_over'])}=1` },
    { line: quoteBroken(rng, 'STATE_FILE') },
    { line: notAssignment(rng) },
    { line: `${secret}`, secret },
  ];
  const c = pick(rng, choices);
  return { text: configText(rng, [c.line], ['STATE_FILE={dir}/state.json', 'ONE_XMLRPC=http://127.0.0.1:1/RPC2']), ...(c.secret ? { secret: c.secret } : {}), kind: `bad-config ${c.line === c.secret ? 'user:password line' : c.line.split(/[=\s]/)[0]!.slice(0, 20)}${c.secret ? ' (credential)' : ''}` };
}

function cvemCase(rng: Rng): Omit<FuzzCase, 'id' | 'exe'> {
  const kind = pick(rng, ['unknown-command', 'unknown-option', 'bad-config', 'bad-config', 'missing-config', 'unreachable-oned', 'one-auth-env']);
  const base: Omit<FuzzCase, 'id' | 'exe'> = { kind, argv: [], stdin: hostile(rng, { allowEmpty: true }), env: {}, files: { 'cvem.conf': 'STATE_FILE={dir}/state.json\nONE_XMLRPC=http://127.0.0.1:1/RPC2\n' } };
  const cmd = () => pick(rng, ['status', 'restore-all', 'run']);
  switch (kind) {
    case 'unknown-command':
      return { ...base, argv: ['--config', '{dir}/cvem.conf', notOneOf(rng, ['run', 'status', 'restore-all', 'help'])] };
    case 'unknown-option':
      return { ...base, argv: ['--config', '{dir}/cvem.conf', cmd(), unknownOption(rng)] };
    case 'missing-config':
      return { ...base, argv: ['--config', `{dir}/missing-${int(rng, 0, 1e6)}.conf`, cmd()] };
    case 'unreachable-oned':
      return { ...base, argv: ['--config', '{dir}/cvem.conf', pick(rng, ['status', 'restore-all'])] };
    case 'one-auth-env': {
      const secret = credential(rng);
      return { ...base, kind: 'one-auth-env (credential)', argv: ['--config', '{dir}/cvem.conf', 'status'], env: { ONE_AUTH: secret }, secret };
    }
    default: {
      const bad = badCvemConfig(rng);
      const command = cmd();
      return { ...base, kind: bad.kind, argv: ['--config', '{dir}/cvem.conf', command, ...(command === 'run' && rng() < 0.5 ? ['--once'] : [])], files: { 'cvem.conf': bad.text }, ...(bad.secret ? { secret: bad.secret } : {}) };
    }
  }
}

const STRATEGIES = ['consolidate', 'balance', 'hotspot', 'evacuate'];
const NUMBER_FLAGS = ['--max-migrations', '--threshold', '--local-search', '--reserve-mem', '--reserve-cpu', '--max-per-host', '--max-in-flight', '--dirty-bandwidth', '--migration-timeout'];

/** argv of cloudvamp-plan with one defect; `snapshot` is a good one unless the case breaks it. */
function planArgv(rng: Rng): { argv: string[]; kind: string; files: Record<string, string> } {
  const snapshot = JSON.stringify({ hosts: [{ id: 0, name: 'h0', memoryMiB: 1024, cpu: 100 }], vms: [] });
  const files = { 'snap.json': snapshot };
  const kind = pick(rng, ['unknown-strategy', 'bad-number', 'bad-number', 'bad-ids', 'bad-snapshot', 'missing-snapshot', 'apply-snapshot', 'evacuate-without-host', 'unknown-option', 'bad-format', 'unreachable-oned']);
  switch (kind) {
    case 'unknown-strategy':
      return { kind, argv: [notOneOf(rng, STRATEGIES), '--snapshot', '{dir}/snap.json'], files };
    case 'bad-number': {
      const flag = pick(rng, NUMBER_FLAGS);
      return { kind: `bad-number ${flag}`, argv: [pick(rng, ['consolidate', 'balance', 'hotspot']), flag, pick(rng, ['x', '', 'NaN', '1e', 'Infinity', badValue(rng)]), '--snapshot', '{dir}/snap.json'], files };
    }
    case 'bad-ids':
      return { kind, argv: ['consolidate', pick(rng, ['--pin', '--exclude-host']), pick(rng, ['1,x', 'a', ',', '-1', badValue(rng)]), '--snapshot', '{dir}/snap.json'], files };
    case 'bad-snapshot':
      return { kind, argv: ['consolidate', '--snapshot', '{dir}/bad.json'], files: { 'bad.json': pick(rng, ['', '{', '[]', 'null', '{"hosts": 5}', snapshot.slice(0, int(rng, 1, snapshot.length - 1)), hostile(rng, { nul: true }), JSON.stringify({ hosts: [{ id: -1 }], vms: [{ id: 'x' }] })]) } };
    case 'missing-snapshot':
      return { kind, argv: ['balance', '--snapshot', `{dir}/missing-${int(rng, 0, 1e6)}.json`], files };
    case 'apply-snapshot':
      return { kind, argv: ['consolidate', '--apply', '--snapshot', '{dir}/snap.json'], files };
    case 'evacuate-without-host':
      return { kind, argv: ['evacuate', '--snapshot', '{dir}/snap.json'], files };
    case 'unknown-option':
      return { kind, argv: ['consolidate', unknownOption(rng), '--snapshot', '{dir}/snap.json'], files };
    case 'bad-format':
      return { kind, argv: ['consolidate', '--format', notOneOf(rng, ['table', 'json']), '--snapshot', '{dir}/snap.json'], files };
    default:
      return { kind, argv: ['consolidate', '--endpoint', 'http://127.0.0.1:1/RPC2'], files };
  }
}

function planCase(rng: Rng): Omit<FuzzCase, 'id' | 'exe'> {
  const p = planArgv(rng);
  return { kind: p.kind, argv: p.argv, stdin: hostile(rng, { allowEmpty: true }), env: {}, files: p.files };
}

function cloudvampCase(rng: Rng): Omit<FuzzCase, 'id' | 'exe'> {
  const kind = pick(rng, ['unknown-command', 'help-unknown', 'probe-unknown', 'probe-bad-option', 'status-bad-config', 'restore-bad-config', 'status-extra', 'plan']);
  const base: Omit<FuzzCase, 'id' | 'exe'> = { kind, argv: [], stdin: hostile(rng, { allowEmpty: true }), env: { CLOUDVAMP_CONFIG: '{dir}/probe.conf' }, files: { 'probe.conf': 'LIBVIRT_URI=test:///default\n' } };
  switch (kind) {
    case 'unknown-command':
      return { ...base, argv: [notOneOf(rng, ['probe', 'status', 'plan', 'restore-all', 'help'])] };
    case 'help-unknown':
      return { ...base, argv: ['help', notOneOf(rng, ['probe', 'status', 'plan', 'restore-all'])] };
    case 'probe-unknown':
      return { ...base, argv: ['probe', notOneOf(rng, ['system', 'monitor', 'status', 'vm', 'legacy'])] };
    case 'probe-bad-option':
      return { ...base, argv: ['probe', pick(rng, ['system', 'monitor', 'status', 'vm', 'legacy']), pick(rng, [unknownOption(rng), '--format'])] };
    case 'status-extra':
      return { ...base, argv: ['status', badValue(rng)] };
    case 'plan': {
      const p = planArgv(rng);
      return { ...base, kind: `plan ${p.kind}`, argv: ['plan', ...p.argv], files: { ...base.files, ...p.files } };
    }
    default: {
      const bad = badCvemConfig(rng);
      return { ...base, kind: `${kind.split('-')[0]} ${bad.kind}`, argv: [kind.startsWith('status') ? 'status' : 'restore-all', '--config', '{dir}/cvem.conf'], files: { ...base.files, 'cvem.conf': bad.text }, ...(bad.secret ? { secret: bad.secret } : {}) };
    }
  }
}

/** `count` cases spread over every executable, from `seed`. */
export function generateCases(seed: number, count: number): FuzzCase[] {
  const rng = seededRandom(seed);
  const cases: FuzzCase[] = [];
  for (let id = 0; id < count; id++) {
    const { out } = executables[id % executables.length]!;
    const name = path.basename(out);
    let c: Omit<FuzzCase, 'id' | 'exe'>;
    if (out.startsWith('remotes/im/')) c = probeCase(rng, out, name.includes('beacon'));
    else if (out.startsWith('remotes/vmm/')) {
      if (!(name in ACTIONS)) throw new Error(`fuzz: ${out} is no action of lib/vmm/actions.ts; teach bench/fuzz/cases.ts its inputs`);
      c = vmmCase(rng, name as ActionName);
    }
    else if (name === 'cloudvamp-cvem') c = cvemCase(rng);
    else if (name === 'cloudvamp-plan') c = planCase(rng);
    else c = cloudvampCase(rng);
    cases.push({ id, exe: out, ...c });
  }
  return cases;
}

// ------------------------------------------------------------- running and judging

const STACK = /^\s+at .+[(:]\d+|node:internal|^\w*Error: |Error \[ERR_|\bUnhandled\b|\bTypeError\b|\bReferenceError\b/m;

/** The rules of #10's done-when, as problems found in one result. */
export function judge(r: Omit<FuzzResult, 'problems'>): string[] {
  const problems: string[] = [];
  if (r.timedOut) problems.push('hang (timed out)');
  if (r.signal && !r.timedOut) problems.push(`killed by ${r.signal}`);
  if (r.exitCode === 0) problems.push('exit 0 on bad input');
  if (STACK.test(r.stderr) || STACK.test(r.stdout)) problems.push('stack trace');
  // OpenNebula's VMM driver logs stderr lines starting INFO:/WARN:/DEBUG:/ERROR: in the VM log
  // and joins the others into the failure text (PROTOCOL.md §2): that text must be one line
  const logLines = r.c.exe.startsWith('remotes/vmm/') ? /^(INFO|WARN|DEBUG|ERROR): .*\n/gm : /$^/;
  const failure = r.stderr.replace(logLines, '');
  const lines = failure.split('\n');
  if (failure === '' && !r.timedOut) problems.push('no error message on stderr');
  else if (!failure.endsWith('\n') || lines.length !== 2) problems.push(`stderr is ${lines.length - 1} lines, not one`);
  if (/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/.test(r.stderr)) problems.push('control characters on stderr');
  if (r.c.secret && (r.stderr.includes(r.c.secret.split(':')[1]!) || r.stdout.includes(r.c.secret.split(':')[1]!))) problems.push('credential echoed');
  return problems;
}

const fill = (s: string, dir: string) => s.split('{dir}').join(dir);

/** Runs one case from the build tree `buildDir`, in its own directory under `workDir`. */
export function runCase(c: FuzzCase, buildDir: string, workDir: string, timeoutMs: number): Promise<FuzzResult> {
  const dir = path.join(workDir, `case-${c.id}`);
  mkdirSync(path.join(dir, 'state'), { recursive: true });
  for (const [name, text] of Object.entries(c.files)) writeFileSync(path.join(dir, name), fill(text, dir));
  writeFileSync(path.join(dir, 'one_auth'), 'fuzz:fuzz\n', { mode: 0o600 });
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: dir,
    LANG: 'C.UTF-8',
    CLOUDVAMP_STATE_DIR: path.join(dir, 'state'),
    ONE_XMLRPC: 'http://127.0.0.1:1/RPC2',
    ONE_AUTH: path.join(dir, 'one_auth'),
    LIBVIRT_DEFAULT_URI: 'test:///default',
    CLOUDVAMP_CONFIG: path.join(dir, 'no-probe.conf'),
    CLOUDVAMP_VMM_CONFIG: path.join(dir, 'no-vmm.conf'),
  };
  // an explicit config file that does not exist is an error: give the executables that read one a good default
  writeFileSync(path.join(dir, 'no-probe.conf'), 'LIBVIRT_URI=test:///default\n');
  writeFileSync(path.join(dir, 'no-vmm.conf'), 'LIBVIRT_URI=test:///default\n');
  for (const [k, v] of Object.entries(c.env)) env[k] = fill(v, dir);
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(buildDir, c.exe), ...c.argv.map((a) => fill(a, dir))], { cwd: dir, env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    child.stdin.on('error', () => undefined); // an executable that exits without reading stdin
    child.stdin.end(c.stdin);
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('close', (exitCode, signal) => {
      clearTimeout(timer);
      const r = { c, exitCode, signal, timedOut, stdout, stderr, ms: Date.now() - started };
      resolve({ ...r, problems: judge(r) });
    });
  });
}

/** Runs every case, `parallel` at a time, reporting each as it ends. */
export async function runCases(cases: FuzzCase[], opts: { buildDir: string; workDir: string; timeoutMs: number; parallel: number; onResult?: (r: FuzzResult) => void }): Promise<FuzzResult[]> {
  const results: FuzzResult[] = new Array(cases.length);
  let next = 0;
  const worker = async () => {
    while (next < cases.length) {
      const c = cases[next++]!;
      const r = await runCase(c, opts.buildDir, opts.workDir, opts.timeoutMs);
      results[c.id] = r;
      opts.onResult?.(r);
    }
  };
  await Promise.all(Array.from({ length: opts.parallel }, worker));
  return results;
}

const shown = (s: string, max = 220) => {
  const j = JSON.stringify(s);
  return j.length > max ? `${j.slice(0, max)}…"` : j;
};

/** The committed report: totals per executable and per rule, then every case's one line. */
export function report(results: FuzzResult[], meta: { seed: number; timeoutMs: number }): string {
  const byExe = new Map<string, { n: number; bad: number }>();
  const byProblem = new Map<string, number>();
  for (const r of results) {
    const e = byExe.get(r.c.exe) ?? { n: 0, bad: 0 };
    e.n++;
    if (r.problems.length) e.bad++;
    byExe.set(r.c.exe, e);
    for (const p of r.problems) byProblem.set(p.replace(/\d+ lines/, 'N lines'), (byProblem.get(p.replace(/\d+ lines/, 'N lines')) ?? 0) + 1);
  }
  const failed = results.filter((r) => r.problems.length);
  const count = (pred: (r: FuzzResult) => boolean) => results.filter(pred).length;
  const lines = [
    `cloudvamp fuzz run: ${results.length} generated bad inputs, seed ${meta.seed}, timeout ${meta.timeoutMs} ms per case`,
    `stack traces: ${count((r) => r.problems.includes('stack trace'))}`,
    `hangs: ${count((r) => r.timedOut)}`,
    `multi-line stderr: ${count((r) => r.problems.some((p) => p.startsWith('stderr is')))}`,
    `exit 0 on bad input: ${count((r) => r.exitCode === 0)}`,
    `credentials echoed: ${count((r) => r.problems.includes('credential echoed'))} (of ${count((r) => r.c.secret !== undefined)} cases with a credential in cvem.conf or $ONE_AUTH)`,
    `cases breaking a rule: ${failed.length}`,
    '',
    'per executable (cases, breaking a rule):',
    ...[...byExe].map(([exe, e]) => `  ${exe}  ${e.n}  ${e.bad}`),
    ...(byProblem.size ? ['', 'problems:', ...[...byProblem].map(([p, n]) => `  ${p}: ${n}`)] : []),
    '',
    'cases (id exe kind: exit code, ms, stderr):',
    ...results.map((r) => `${r.c.id} ${path.basename(r.c.exe)} ${r.c.kind}: exit ${r.exitCode ?? r.signal}, ${r.ms} ms, ${shown(r.stderr.trimEnd())}${r.problems.length ? `  PROBLEMS: ${r.problems.join('; ')}` : ''}`),
  ];
  return `${lines.join('\n')}\n`;
}
