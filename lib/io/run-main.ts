import { exitCodeFor, oneLineMessage } from '../errors';

/**
 * Runs an executable's body. The body returns everything it wants on stdout
 * as one string, so a failure half-way never leaves half an answer for
 * OpenNebula to parse. Errors become one stderr line `<program>: <message>`
 * and a non-zero exit code; process.exit is never called, so pending writes
 * (stdout of a long listing) are flushed.
 */
export async function runMain(program: string, body: () => Promise<string> | string): Promise<void> {
  try {
    const output = await body();
    if (output.length > 0) process.stdout.write(output.endsWith('\n') ? output : `${output}\n`);
  } catch (error) {
    process.stderr.write(`${program}: ${oneLineMessage(error)}\n`);
    process.exitCode = exitCodeFor(error);
  }
}
