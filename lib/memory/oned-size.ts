// The size oned believes a VM has, recorded in the libvirt domain's
// <metadata> by the VMM deploy and resize actions and read by the probes.
// Without it the borrowed figure (max − balloon) double-counts a resize:
// oned lowers the host's MEM_USAGE by the shrink itself (APPLY_MODE=resize,
// `onevm resize`), and the probe would add the same memory to TOTALMEMORY.
// See docs/accounting.md.

/** Namespace of cloudvamp's element in the domain's <metadata>; its prefix (virDomainSetMetadata key). */
export const METADATA_URI = 'https://cloudvamp.org/xmlns/libvirt/1.0';
export const METADATA_KEY = 'cloudvamp';

/** `<size xmlns="…" oned_kib="N"/>`: the element the actions write. N is a whole number we format ourselves. */
export function sizeMetadataXml(onedKiB: number): string {
  return `<size xmlns="${METADATA_URI}" oned_kib="${Math.floor(onedKiB)}"/>`;
}

/**
 * The recorded size from what virDomainGetMetadata(…, METADATA_URI) returns.
 * libvirt picks the element by namespace and gives it back without it
 * (`<size oned_kib="N"/>`, libvirt 9.0) or re-prefixed after a
 * virDomainSetMetadata; undefined when absent or unreadable.
 */
export function parseSizeMetadata(xml: string | undefined): number | undefined {
  if (xml === undefined) return undefined;
  const m = /^\s*<(?:[A-Za-z_][\w.-]*:)?size\b[^>]*\soned_kib=(["'])(\d{1,15})\1[^>]*\/?>/.exec(xml);
  return m ? Number(m[2]) : undefined;
}
