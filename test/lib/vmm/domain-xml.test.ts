import { XMLParser } from 'fast-xml-parser';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { METADATA_URI, parseSizeMetadata, sizeMetadataXml } from '../../../lib/memory/oned-size';
import { balloonSupport, featureOn, prepareDomainXml } from '../../../lib/vmm/domain-xml';

// the shape of OpenNebula 7.4's deployment file (vmm/LibVirtDriverKVM.cc):
// memory + currentMemory with MEMORY_MAX, its own metadata, memballoon without stats
const ONED_XML = `<domain type='kvm' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
	<name>one-12</name>
	<title>web &amp; "db"</title>
	<cputune><shares>1024</shares></cputune>
	<memory>1048576</memory>
	<currentMemory>524288</currentMemory>
	<os><type arch='x86_64'>hvm</type></os>
	<devices>
		<emulator><![CDATA[/usr/bin/qemu-system-x86_64]]></emulator>
		<disk type='file' device='disk'><source file='/var/lib/one//datastores/0/12/disk.0'/></disk>
		<memballoon model='virtio'/>
	</devices>
	<metadata>
		<one:vm xmlns:one="http://opennebula.org/xmlns/libvirt/1.0">
			<one:system_datastore><![CDATA[/var/lib/one//datastores/0/12]]></one:system_datastore>
			<one:name><![CDATA[web <1>]]></one:name>
		</one:vm>
	</metadata>
</domain>
`;

const ALL = { statsPeriodS: 5, autodeflate: true, freePageReporting: true };
const NONE = { statsPeriodS: 0, autodeflate: false, freePageReporting: false };
const tree = (xml: string) => new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '', parseTagValue: false, cdataPropName: '#cdata' }).parse(xml);

describe('deploy: the memballoon options oned does not write (#9 defect 3, #13 part 3)', () => {
  it('adds the stats period, autodeflate and free page reporting to the memballoon of an OpenNebula deployment file', () => {
    const out = prepareDomainXml(ONED_XML, ALL);
    const d = tree(out.xml).domain;
    expect(d.devices.memballoon).toEqual({ model: 'virtio', autodeflate: 'on', freePageReporting: 'on', stats: { period: '5' } });
    expect(out.changes).toEqual(['autodeflate', 'freePageReporting', 'stats period 5 s']);
    expect(out.name).toBe('one-12');
  });

  it('keeps everything else as oned wrote it: text, entities, CDATA, order, OpenNebula metadata', () => {
    const out = prepareDomainXml(ONED_XML, NONE);
    const before = tree(ONED_XML).domain;
    const after = tree(out.xml).domain;
    expect(after.title).toBe('web & "db"');
    expect(after.devices.disk).toEqual(before.devices.disk);
    expect(after.devices.emulator).toEqual(before.devices.emulator);
    expect(after.metadata['one:vm']).toEqual(before.metadata['one:vm']);
    expect(after.devices.memballoon).toEqual({ model: 'virtio' });
    expect(Object.keys(after)).toEqual(Object.keys(before));
  });

  it('an explicit choice in the template wins over the config; model none is left alone', () => {
    const own = ONED_XML.replace("<memballoon model='virtio'/>", "<memballoon model='virtio' autodeflate='off'><stats period='1'/></memballoon>");
    expect(tree(prepareDomainXml(own, ALL).xml).domain.devices.memballoon).toEqual({ model: 'virtio', autodeflate: 'off', freePageReporting: 'on', stats: { period: '1' } });
    const none = ONED_XML.replace("<memballoon model='virtio'/>", "<memballoon model='none'/>");
    expect(tree(prepareDomainXml(none, ALL).xml).domain.devices.memballoon).toEqual({ model: 'none' });
  });

  it('adds a virtio memballoon where the XML has none, so the options have a place', () => {
    const bare = "<domain type='kvm'><name>one-1</name><memory unit='MiB'>512</memory></domain>";
    const d = tree(prepareDomainXml(bare, ALL).xml).domain;
    expect(d.devices.memballoon).toMatchObject({ model: 'virtio', autodeflate: 'on' });
  });

  it('values are attributes of the tree, never spliced: a hostile name stays one escaped text', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1 }).filter((s) => s.trim() === s && s !== '' && !/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/.test(s) && !/[\ud800-\udfff]/.test(s)), fc.integer({ min: 1, max: 3600 }), (name, period) => {
        const esc = name.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
        const out = prepareDomainXml(`<domain><name>${esc}</name><memory>1024</memory><devices><memballoon model='virtio'/></devices></domain>`, { ...ALL, statsPeriodS: period });
        const d = tree(out.xml).domain;
        expect(String(d.name)).toBe(name);
        expect(out.name).toBe(name);
        expect(d.devices.memballoon.stats).toEqual({ period: String(period) });
      }),
      { numRuns: 200 },
    );
  });
});

describe("deploy records the size oned believes the VM has (cloudvamp metadata, #9 defect 4)", () => {
  it('<currentMemory> when there is one (MEMORY with MEMORY_MAX), else <memory>; units honoured', () => {
    expect(prepareDomainXml(ONED_XML, NONE).onedKiB).toBe(524288);
    expect(prepareDomainXml("<domain><name>a</name><memory unit='MiB'>512</memory></domain>", NONE).onedKiB).toBe(524288);
    expect(prepareDomainXml("<domain><name>a</name><memory unit='GiB'>2</memory><currentMemory unit='KiB'>1024</currentMemory></domain>", NONE).onedKiB).toBe(1024);
  });

  it('writes it into <metadata> beside OpenNebula\'s, in cloudvamp\'s namespace, readable back', () => {
    const d = tree(prepareDomainXml(ONED_XML, NONE).xml).domain;
    expect(d.metadata.size).toEqual({ xmlns: METADATA_URI, oned_kib: '524288' });
    expect(d.metadata['one:vm']).toBeDefined();
    expect(parseSizeMetadata(sizeMetadataXml(524288))).toBe(524288);
    // as libvirt gives it back from virDomainGetMetadata (it re-prefixes the element)
    expect(parseSizeMetadata(`<cloudvamp:size xmlns:cloudvamp="${METADATA_URI}" oned_kib="1024"/>`)).toBe(1024);
    // what libvirt 9.0 really returns for the element deploy wrote, and for one virDomainSetMetadata wrote
    expect(parseSizeMetadata('<size oned_kib="262144"/>')).toBe(262144);
    expect(parseSizeMetadata(`<size xmlns:cloudvamp="${METADATA_URI}" oned_kib="1234"/>`)).toBe(1234);
    expect(parseSizeMetadata(undefined)).toBeUndefined();
    expect(parseSizeMetadata('<size oned_kib="x"/>')).toBeUndefined();
  });

  it('creates <metadata> after the name block when oned sent none, and replaces an old cloudvamp element', () => {
    const out = prepareDomainXml("<domain><name>a</name><memory>2048</memory><vcpu>1</vcpu></domain>", NONE).xml;
    expect(out).toMatch(/<name>a<\/name><metadata><size xmlns="[^"]+" oned_kib="2048"\/><\/metadata><memory>/);
    const again = prepareDomainXml(out.replace('<memory>2048', '<memory>4096'), NONE).xml;
    expect(again.match(/oned_kib/g)).toHaveLength(1);
    expect(again).toContain('oned_kib="4096"');
  });
});

describe('which hosts support which option', () => {
  it.each([
    ['9.0.0', '7.2.0', true, true],
    ['6.9.0', '5.1.0', true, true],
    ['6.8.9', '7.2.0', true, false],
    ['9.0.0', '5.0.1', true, false],
    ['1.3.0', '2.1.0', false, false],
    ['1.3.1', '2.0.9', false, false],
  ])('libvirt %s, QEMU %s: autodeflate %s, free page reporting %s', (libvirt, qemu, autodeflate, freePageReporting) => {
    expect(balloonSupport({ libvirt, qemu })).toEqual({ autodeflate, freePageReporting });
  });
  it('auto follows support, yes forces, no never', () => {
    expect([featureOn('auto', true), featureOn('auto', false), featureOn('yes', false), featureOn('no', true)]).toEqual([true, false, true, false]);
  });
});
