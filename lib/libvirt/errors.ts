import { CloudvampError } from '../errors.js';

/** virErrorNumber values cloudvamp reacts to (virterror.h). */
export const VirErrorCode = {
  NoSupport: 3,
  NoConnect: 5,
  InvalidArg: 8,
  OperationFailed: 9,
  NoDomain: 42,
  OperationInvalid: 55,
  ArgumentUnsupported: 74,
  NoDomainMetadata: 80,
} as const;

/**
 * A failed libvirt call. `code` is libvirt's virErrorNumber, `domain` its
 * virErrorDomain (which subsystem raised it), `libvirtMessage` libvirt's own
 * text; `message` adds what cloudvamp was doing and, where known, the fix.
 */
export class LibvirtError extends CloudvampError {
  readonly code: number;
  readonly domain: number;
  readonly libvirtMessage: string;

  constructor(message: string, detail: { code: number; domain: number; libvirtMessage: string }, options?: { cause?: unknown }) {
    super(detail.code === VirErrorCode.NoDomain ? 'not-found' : 'hypervisor', message, options);
    this.name = 'LibvirtError';
    this.code = detail.code;
    this.domain = detail.domain;
    this.libvirtMessage = detail.libvirtMessage;
  }
}

export const isLibvirtError = (error: unknown, code?: number): error is LibvirtError =>
  error instanceof LibvirtError && (code === undefined || error.code === code);
