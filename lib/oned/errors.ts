// oned's failure replies: `[false, message, errorCode, respId, replicationIdx]`
// (PROTOCOL.md §4). The code names follow OpenNebula's RequestManager
// ErrorCode enum so operators can search for them.

import { CloudvampError } from '../errors';

export const ONED_ERROR_CODES = {
  AUTHENTICATION: 0x100,
  AUTHORIZATION: 0x200,
  NO_EXISTS: 0x400,
  ACTION: 0x800,
  XML_RPC_API: 0x1000,
  INTERNAL: 0x2000,
  ALLOCATE: 0x4000,
  LOCKED: 0x8000,
  REPLICATION: 0x10000,
} as const;

export type OnedErrorCodeName = keyof typeof ONED_ERROR_CODES;

export function onedErrorCodeName(code: number): OnedErrorCodeName | undefined {
  return (Object.keys(ONED_ERROR_CODES) as OnedErrorCodeName[]).find((name) => ONED_ERROR_CODES[name] === code);
}

/** What the operator should do next, per code; empty when oned's own message says it all. */
const NEXT_STEP: Partial<Record<OnedErrorCodeName, string>> = {
  AUTHENTICATION: 'check the user:password in the cloudvamp config or the ONE_AUTH file',
  AUTHORIZATION: 'the cloudvamp user needs ADMIN rights on VMs and hosts (put it in the oneadmin group)',
  XML_RPC_API: 'this oned may be older than cloudvamp supports (6.0+; one.vm.resize ballooning needs 6.6+)',
  LOCKED: "the object is locked; unlock it (onevm unlock / onehost unlock) or wait for the lock's owner",
  REPLICATION: 'the HA follower could not forward the call; retry or point the endpoint at the leader',
};

export class OnedError extends CloudvampError {
  readonly method: string;
  readonly code: number;
  readonly codeName: OnedErrorCodeName | undefined;
  constructor(method: string, code: number, onedMessage: string) {
    const codeName = onedErrorCodeName(code);
    const label = `${codeName ?? 'UNKNOWN'} 0x${code.toString(16)}`;
    const next = codeName ? NEXT_STEP[codeName] : undefined;
    super('oned', `oned refused ${method} (${label}): ${onedMessage}${next ? ` — ${next}` : ''}`);
    this.name = 'OnedError';
    this.method = method;
    this.code = code;
    this.codeName = codeName;
  }
}
