// The few error kinds cloudvamp raises. Executables turn any of them into one
// line on stderr and an exit code in exactly one place (lib/io/run-main.ts), so
// messages here must already say what to do next.

export type ErrorKind =
  | 'usage' // bad arguments or stdin: the caller must fix the call
  | 'config' // a config file or value is wrong
  | 'hypervisor' // libvirt said no (see LibvirtError for its code)
  | 'not-found' // a domain, host or VM that does not exist (any more)
  | 'unsafe' // the action would break a safety rule (memory above max, host overload)
  | 'oned' // OpenNebula's XML-RPC API refused or failed
  | 'internal';

export class CloudvampError extends Error {
  readonly kind: ErrorKind;
  constructor(kind: ErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CloudvampError';
    this.kind = kind;
  }
}

export const usageError = (message: string) => new CloudvampError('usage', message);
export const configError = (message: string) => new CloudvampError('config', message);
export const unsafeError = (message: string) => new CloudvampError('unsafe', message);
export const notFoundError = (message: string) => new CloudvampError('not-found', message);

/** Exit codes: 1 for everything OpenNebula should treat as a failure, 2 for usage. */
export function exitCodeFor(error: unknown): number {
  if (error instanceof CloudvampError && error.kind === 'usage') return 2;
  return 1;
}

/**
 * One line, no stack: OpenNebula stores it as the VM's ERROR attribute. A
 * message may echo a hostile name or value (a domain, a path, an argument):
 * line breaks become spaces and other control characters visible escapes, so
 * one failure stays one line and never drives the operator's terminal.
 */
export function oneLineMessage(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return (
    text
      .replace(/\s*[\r\n]+\s*/g, ' ')
      .replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)
      .trim() || 'unknown error'
  );
}
