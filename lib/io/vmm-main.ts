// The real outside world for the vmm/<action> executables: libvirt through
// koffi, the process's stdin/stdout/stderr, the wall clock, and the stock kvm
// scripts beside us (<remotes>/vmm/kvm/<action>) for what cloudvamp hands over.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { CloudvampError } from '../errors';
import { openHypervisor } from '../libvirt/client';
import { localFiles } from './files';
import type { ActionName } from '../vmm/actions';
import { realClock } from '../vmm/balloon';
import { runVmmAction, type VmmDeps } from '../vmm/command';

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

/** Runs `<remotes>/vmm/kvm/<action>` with an argument array (no shell); its stderr is ours. */
function stockRunner(executablePath: string): VmmDeps['runStock'] {
  const dir = path.resolve(path.dirname(executablePath), '..', 'kvm');
  return (action, argv, stdin) =>
    new Promise<void>((resolve, reject) => {
      const script = path.join(dir, action);
      if (!existsSync(script)) {
        reject(new CloudvampError('config', `stock kvm ${action} not found at ${script}: install the kvm remotes beside vmm/cloudvamp`));
        return;
      }
      const child = spawn(script, [...argv], { stdio: ['pipe', 'ignore', 'inherit'] });
      child.on('error', (error) => reject(new CloudvampError('internal', `running ${script}: ${error.message}`)));
      child.on('close', (code) =>
        code === 0 ? resolve() : reject(new CloudvampError('hypervisor', `stock kvm ${action} failed (exit ${code}); see its lines above`)),
      );
      child.stdin.on('error', () => undefined);
      child.stdin.end(stdin);
    });
}

/** Entry of every vmm/<action> executable. */
export function vmmMain(action: ActionName): Promise<void> {
  const executablePath = process.argv[1] ?? '';
  return runVmmAction(action, process.argv.slice(2), {
    open: openHypervisor,
    files: localFiles,
    clock: realClock,
    readStdin: () => readAll(process.stdin),
    stdinIsTty: Boolean(process.stdin.isTTY),
    executablePath,
    env: process.env,
    stdout: (text) => void process.stdout.write(text),
    stderr: (line) => void process.stderr.write(`${line}\n`),
    runStock: stockRunner(executablePath),
  });
}
