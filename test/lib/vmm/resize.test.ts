import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseResizeAction, planResize } from '../../../lib/vmm/resize';

const fixture = (name: string) => readFileSync(path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', name), 'utf8');

describe('parseResizeAction', () => {
  it('reads new and old values from VMM_DRIVER_ACTION_DATA/VM/TEMPLATE', () => {
    expect(parseResizeAction(fixture('resize-ballooning-shrink.xml'))).toEqual({
      vmId: 42,
      memoryMiB: 1536,
      oldMemoryMiB: 2048,
      memoryMaxMiB: 4096,
      vcpu: 2,
      oldVcpu: 2,
      mode: 'BALLOONING',
    });
  });

  it('accepts a bare VM document and defaults the mode to BALLOONING', () => {
    expect(parseResizeAction('<VM><ID>3</ID><TEMPLATE><MEMORY>512</MEMORY></TEMPLATE></VM>\n')).toEqual({ vmId: 3, memoryMiB: 512, mode: 'BALLOONING' });
  });

  it.each([
    ['', /^no action XML on stdin/],
    ['<VMM_DRIVER_ACTION_DATA><VM>', /^malformed action XML on stdin: .*\(line 1\)$/],
    ['<VMM_DRIVER_ACTION_DATA><HOST>x</HOST></VMM_DRIVER_ACTION_DATA>', /no VMM_DRIVER_ACTION_DATA\/VM element/],
    ['<VM><TEMPLATE><CPU>1</CPU></TEMPLATE></VM>', /no VM\/TEMPLATE\/MEMORY/],
    ['<VM><TEMPLATE><MEMORY>1.5G</MEMORY></TEMPLATE></VM>', /VM\/TEMPLATE\/MEMORY '1.5G' .* not a positive whole number/],
    ['<VM><TEMPLATE><MEMORY>512</MEMORY><MEMORY_RESIZE_MODE>MAGIC</MEMORY_RESIZE_MODE></TEMPLATE></VM>', /MEMORY_RESIZE_MODE 'MAGIC'/],
  ])('refuses %j with one clear line', (xml, message) => {
    expect(() => parseResizeAction(xml)).toThrow(expect.objectContaining({ kind: 'usage', message: expect.stringMatching(message) }));
  });
});

describe('planResize', () => {
  it('balloons a BALLOONING memory change itself', () => {
    expect(planResize(parseResizeAction(fixture('resize-ballooning-shrink.xml')))).toEqual({ balloonKiB: 1536 * 1024, delegateToStock: false, reasons: [] });
  });
  it('hands DIMM hot-plug to the stock kvm resize', () => {
    expect(planResize(parseResizeAction(fixture('resize-hotplug.xml')))).toEqual({ delegateToStock: true, reasons: ['MEMORY_RESIZE_MODE=HOTPLUG (DIMM hot-plug)'] });
  });
  it('hands a VCPU change to the stock kvm resize and leaves unchanged memory alone', () => {
    expect(planResize(parseResizeAction(fixture('resize-vcpu-only.xml')))).toEqual({ delegateToStock: true, reasons: ['VCPU 2 -> 4'] });
  });
  it('refuses MEMORY above MEMORY_MAX as unsafe', () => {
    expect(() => planResize(parseResizeAction(fixture('resize-above-memory-max.xml')))).toThrow(
      expect.objectContaining({ kind: 'unsafe', message: 'MEMORY 8192 MiB is above MEMORY_MAX 4096 MiB' }),
    );
  });
});
