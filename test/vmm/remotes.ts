// The VMM actions built as OpenNebula's remotes tree in a temporary directory
// (<remotes>/vmm/cloudvamp/<action>, <remotes>/etc/vmm/cloudvamp/cloudvamp.conf),
// so the tests run exactly what ships, with the config found where the product
// looks for it. Executables run with argument arrays.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface Remotes {
  /** the remotes directory (what OpenNebula syncs to /var/tmp/one) */
  dir: string;
  action(name: string): string;
  /** writes <remotes>/etc/vmm/cloudvamp/cloudvamp.conf */
  configure(text: string): string;
  /** a path under the temporary tree */
  file(...parts: string[]): string;
  cleanup(): void;
}

/**
 * Builds the VMM actions from the current sources into a fresh temporary
 * tree (CLOUDVAMP_BUILD_DIR, so dist/ and concurrent builds are not touched)
 * and returns its remotes directory.
 */
export async function makeRemotes(): Promise<Remotes> {
  const top = mkdtempSync(path.join(tmpdir(), 'cv-remotes-'));
  const r = await execa('node', [path.join(ROOT, 'scripts', 'build.mjs'), 'remotes/vmm/cloudvamp/'], {
    cwd: ROOT,
    env: { CLOUDVAMP_BUILD_DIR: top },
    reject: false,
    all: true,
  });
  if (r.exitCode !== 0) throw new Error(`building the VMM actions failed: ${r.all}`);
  const dir = path.join(top, 'remotes');
  if (!existsSync(path.join(dir, 'vmm', 'cloudvamp', 'deploy'))) throw new Error(`the build left no ${dir}/vmm/cloudvamp/deploy`);
  return {
    dir,
    action: (name) => path.join(dir, 'vmm', 'cloudvamp', name),
    configure(text) {
      const file = path.join(dir, 'etc', 'vmm', 'cloudvamp', 'cloudvamp.conf');
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(file, text);
      return file;
    },
    file: (...parts) => path.join(top, ...parts),
    cleanup: () => rmSync(top, { recursive: true, force: true }),
  };
}

export interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** stderr lines that are not INFO:/WARN:/DEBUG: logs: what OpenNebula keeps as the error */
  errorLines: string[];
}

export async function runAction(
  remotes: Remotes,
  action: string,
  args: string[],
  options: { input?: string; env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<RunResult> {
  const r = await execa(remotes.action(action), args, {
    reject: false,
    input: options.input ?? '',
    env: { CLOUDVAMP_VMM_CONFIG: '', ...options.env },
    timeout: options.timeoutMs ?? 60_000,
  });
  const errorLines = r.stderr.split('\n').filter((l) => l !== '' && !/^(INFO|WARN|DEBUG):/.test(l));
  return { exitCode: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr, errorLines };
}
