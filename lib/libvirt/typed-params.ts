// virTypedParameter arrays in both directions: decoding what libvirt returns
// (domain stats, job stats) and building the migration parameters.

import { decodeAt, type Libvirt, type RawPtr, type TypedParamIn, toNumber } from './ffi.js';
import type { MigrateOptions } from './types.js';

/** virTypedParameterType */
export const TypedParamType = { Int: 1, UInt: 2, LLong: 3, ULLong: 4, Double: 5, Boolean: 6, String: 7 } as const;

export type TypedValue = number | string | boolean;

const FIELD_LENGTH = 80; // VIR_TYPED_PARAM_FIELD_LENGTH
const VALUE_OFFSET = 88; // after char[80] + int type + 4 bytes of union alignment

/**
 * Reads `count` virTypedParameters starting at `ptr`. The union is read at the
 * member its `type` names, never through koffi's lazy Union object, so the
 * result holds no reference into libvirt's memory once this returns.
 */
export function decodeTypedParams(lv: Libvirt, ptr: RawPtr, count: number): Map<string, TypedValue> {
  const values = new Map<string, TypedValue>();
  const stride = lv.sizes.virTypedParameter;
  for (let i = 0; i < count; i++) {
    const base = i * stride;
    const field = decodeAt<string>(ptr, base, `char[${FIELD_LENGTH}]`);
    const type = decodeAt<number>(ptr, base + FIELD_LENGTH, 'int');
    const at = base + VALUE_OFFSET;
    switch (type) {
      case TypedParamType.Int:
        values.set(field, decodeAt<number>(ptr, at, 'int'));
        break;
      case TypedParamType.UInt:
        values.set(field, decodeAt<number>(ptr, at, 'unsigned int'));
        break;
      case TypedParamType.LLong:
        values.set(field, toNumber(decodeAt<number | bigint>(ptr, at, 'long long')));
        break;
      case TypedParamType.ULLong:
        values.set(field, toNumber(decodeAt<number | bigint>(ptr, at, 'unsigned long long')));
        break;
      case TypedParamType.Double:
        values.set(field, decodeAt<number>(ptr, at, 'double'));
        break;
      case TypedParamType.Boolean:
        values.set(field, decodeAt<number>(ptr, at, 'char') !== 0);
        break;
      case TypedParamType.String: {
        const text = decodeAt<string | null>(ptr, at, 'const char *');
        if (text !== null) values.set(field, text);
        break;
      }
      default:
        // A type newer than this binding: skip it rather than misread the union.
        break;
    }
  }
  return values;
}

/** virDomainMigrateFlags, checked against libvirt-domain.h (libvirt 9.0). */
export const MigrateFlag = {
  Live: 1 << 0,
  PeerToPeer: 1 << 1,
  PersistDest: 1 << 3,
  UndefineSource: 1 << 4,
  Unsafe: 1 << 9,
  Compressed: 1 << 11,
  AutoConverge: 1 << 13,
} as const;

export function migrateFlags(options: MigrateOptions): number {
  let flags = 0;
  if (options.live) flags |= MigrateFlag.Live;
  if (options.peerToPeer) flags |= MigrateFlag.PeerToPeer;
  if (options.persistent) flags |= MigrateFlag.PersistDest | MigrateFlag.UndefineSource;
  if (options.unsafe) flags |= MigrateFlag.Unsafe;
  if (options.compressed) flags |= MigrateFlag.Compressed;
  if (options.autoConverge) flags |= MigrateFlag.AutoConverge;
  return flags;
}

/**
 * VIR_MIGRATE_PARAM_* array, marshalled by koffi into C memory that lives for
 * the duration of the (async) call, so nothing needs freeing afterwards.
 */
export function migrateParams(options: MigrateOptions): TypedParamIn[] {
  const params: TypedParamIn[] = [];
  if (options.migrateUri) params.push({ field: 'migrate_uri', type: TypedParamType.String, value: { s: options.migrateUri } });
  if (options.bandwidthMiBs !== undefined && options.bandwidthMiBs > 0) {
    if (!Number.isSafeInteger(options.bandwidthMiBs)) throw new RangeError(`migration bandwidth must be a whole number of MiB/s, got ${options.bandwidthMiBs}`);
    params.push({ field: 'bandwidth', type: TypedParamType.ULLong, value: { ul: options.bandwidthMiBs } });
  }
  return params;
}
