// What the deploy action changes in the domain XML oned sends, as pure
// functions: the balloon's statistics period and safety nets, and the size
// oned believes the VM has (cloudvamp metadata, read back by the probes).
// The XML is parsed and rebuilt with fast-xml-parser in order-preserving
// mode: values are set as attributes of the tree, never spliced into text.
import { XMLBuilder, XMLParser, XMLValidator } from 'fast-xml-parser';
import { usageError } from '../errors';

import { METADATA_URI, sizeMetadataXml } from '../memory/oned-size';

export type FeatureSwitch = 'auto' | 'yes' | 'no';

export interface BalloonOptions {
  /** `<stats period='N'/>` in seconds; 0 leaves the XML as oned wrote it */
  statsPeriodS: number;
  /** deflate-on-OOM */
  autodeflate: boolean;
  freePageReporting: boolean;
}

/** What the host's libvirt and QEMU can do with the balloon. */
export interface BalloonSupport {
  autodeflate: boolean;
  freePageReporting: boolean;
}

const parseVersion = (v: string): number[] => v.split('.').map((n) => Number.parseInt(n, 10) || 0);
const atLeast = (v: string, min: string): boolean => {
  const a = parseVersion(v);
  const b = parseVersion(min);
  for (let i = 0; i < 3; i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) > (b[i] ?? 0);
  return true;
};

/**
 * The libvirt and QEMU versions that first carry each feature: autodeflate
 * (QEMU's deflate-on-oom) libvirt 1.3.1 / QEMU 2.1; freePageReporting
 * libvirt 6.9.0 / QEMU 5.1. The guest kernel must support them too (Linux
 * 5.7 for free page reporting); an older guest just ignores them.
 */
export function balloonSupport(versions: { libvirt: string; qemu: string }): BalloonSupport {
  return {
    autodeflate: atLeast(versions.libvirt, '1.3.1') && atLeast(versions.qemu, '2.1.0'),
    freePageReporting: atLeast(versions.libvirt, '6.9.0') && atLeast(versions.qemu, '5.1.0'),
  };
}

/** auto = on where supported; yes = on (deploy then fails on a host that cannot); no = as oned wrote it. */
export const featureOn = (setting: FeatureSwitch, supported: boolean): boolean => setting === 'yes' || (setting === 'auto' && supported);

type Node = Record<string, unknown>;
type Attrs = Record<string, string>;
const OPTIONS = {
  ignoreAttributes: false,
  preserveOrder: true,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  attributeNamePrefix: '@_',
  commentPropName: '#comment',
  cdataPropName: '#cdata',
  processEntities: true,
} as const;
const parser = new XMLParser(OPTIONS);
const builder = new XMLBuilder({ ...OPTIONS, suppressEmptyNode: true });

const tagOf = (n: Node): string | undefined => Object.keys(n).find((k) => k !== ':@' && !k.startsWith('#'));
const childrenOf = (n: Node): Node[] => n[tagOf(n) as string] as Node[];
const attrsOf = (n: Node): Attrs => ((n[':@'] as Attrs | undefined) ?? (n[':@'] = {}) as Attrs);
/** Whether an element declares cloudvamp's namespace (default or prefixed, as libvirt rewrites it). */
const isOurs = (n: Node): boolean =>
  tagOf(n) !== undefined && Object.entries((n[':@'] as Attrs | undefined) ?? {}).some(([k, v]) => (k === '@_xmlns' || k.startsWith('@_xmlns:')) && v === METADATA_URI);
const find = (list: Node[], tag: string): Node | undefined => list.find((n) => tagOf(n) === tag);
const textIn = (n: Node | undefined): string | undefined => {
  if (!n) return undefined;
  const parts = childrenOf(n)
    .map((c) => c['#text'])
    .filter((t): t is string | number => t !== undefined);
  return parts.length > 0 ? parts.join('').trim() : undefined;
};

const UNITS: Record<string, number> = {
  b: 1 / 1024, bytes: 1 / 1024, k: 1, kib: 1, kb: 1000 / 1024, m: 1024, mib: 1024, mb: 1e6 / 1024, g: 1024 ** 2, gib: 1024 ** 2, gb: 1e9 / 1024, t: 1024 ** 3, tib: 1024 ** 3, tb: 1e12 / 1024,
};

/** A libvirt memory element (`<currentMemory unit='MiB'>512</currentMemory>`) in KiB; undefined when absent or unreadable. */
function memoryKiB(n: Node | undefined): number | undefined {
  const text = textIn(n);
  if (!n || text === undefined || !/^\d+$/.test(text)) return undefined;
  const unit = (attrsOf(n)['@_unit'] ?? 'KiB').toLowerCase();
  const factor = UNITS[unit];
  return factor === undefined ? undefined : Math.floor(Number(text) * factor);
}

export interface PreparedDomain {
  xml: string;
  name: string;
  /** the VM's size as oned sees it: <currentMemory>, else <memory> (KiB) */
  onedKiB: number | undefined;
  /** what was changed, for the action's INFO line */
  changes: string[];
}

function parseDomain(xml: string): { doc: Node[]; domain: Node } {
  if (xml.trim() === '') throw usageError('no domain XML on stdin: deploy reads the libvirt deployment file from stdin');
  const valid = XMLValidator.validate(xml);
  if (valid !== true) throw usageError(`malformed domain XML on stdin: ${valid.err.msg} (line ${valid.err.line})`);
  const doc = parser.parse(xml) as Node[];
  const domain = find(doc, 'domain');
  if (!domain) throw usageError('the XML on stdin is not a libvirt <domain> document');
  return { doc, domain };
}

/**
 * The deployment XML with the balloon options applied and cloudvamp's size
 * metadata added. An operator's explicit choice in the template (RAW data,
 * a memballoon attribute or <stats> already there) wins over the config;
 * `<memballoon model='none'>` is left alone (no balloon, nothing to tune).
 */
export function prepareDomainXml(xml: string, options: BalloonOptions): PreparedDomain {
  const { doc, domain } = parseDomain(xml);
  const top = childrenOf(domain);
  const name = textIn(find(top, 'name'));
  if (!name) throw usageError('the domain XML on stdin has no <name>');
  const onedKiB = memoryKiB(find(top, 'currentMemory')) ?? memoryKiB(find(top, 'memory'));
  const changes: string[] = [];

  let devices = find(top, 'devices');
  if (!devices) top.push((devices = { devices: [] }));
  const devList = childrenOf(devices);
  let balloon = find(devList, 'memballoon');
  if (!balloon) {
    // libvirt would add a virtio balloon on x86 anyway; adding it here lets it carry the options
    devList.push((balloon = { memballoon: [], ':@': { '@_model': 'virtio' } }));
  }
  const battrs = attrsOf(balloon);
  if (battrs['@_model'] !== 'none') {
    if (options.autodeflate && battrs['@_autodeflate'] === undefined) {
      battrs['@_autodeflate'] = 'on';
      changes.push('autodeflate');
    }
    if (options.freePageReporting && battrs['@_freePageReporting'] === undefined) {
      battrs['@_freePageReporting'] = 'on';
      changes.push('freePageReporting');
    }
    const bList = childrenOf(balloon);
    if (options.statsPeriodS > 0 && !find(bList, 'stats')) {
      bList.push({ stats: [], ':@': { '@_period': String(options.statsPeriodS) } });
      changes.push(`stats period ${options.statsPeriodS} s`);
    }
  }

  if (onedKiB !== undefined) {
    let metadata = find(top, 'metadata');
    if (!metadata) {
      // <metadata> sits after the name/uuid/title/description block
      const after = top.reduce((last, n, i) => (['name', 'uuid', 'title', 'description'].includes(tagOf(n) ?? '#') ? i : last), -1);
      metadata = { metadata: [] };
      top.splice(after + 1, 0, metadata);
    }
    const mList = childrenOf(metadata);
    const own = mList.findIndex(isOurs);
    const element = parser.parse(sizeMetadataXml(onedKiB)) as Node[];
    if (own >= 0) mList.splice(own, 1, ...element);
    else mList.push(...element);
  }
  return { xml: builder.build(doc) as string, name, onedKiB, changes };
}
