// virsh as the independent reference the binding's struct decoding is checked
// against: same libvirt, different (C) client.
import { execFileSync } from 'node:child_process';

export function virsh(uri: string, ...args: string[]): string {
  return execFileSync('virsh', ['-q', '-c', uri, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** "key: value" / "key value" lines → map (nodeinfo, nodecpustats, dommemstat, dominfo). */
export function virshFields(text: string, separator: RegExp): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (!trimmed) continue;
    const match = separator.exec(trimmed);
    if (!match) continue;
    fields.set(trimmed.slice(0, match.index), trimmed.slice(match.index + match[0].length).trim());
  }
  return fields;
}

/** `virsh domstats --raw` → per domain name, its key=value pairs. */
export function virshDomstats(text: string): Map<string, Map<string, string>> {
  const domains = new Map<string, Map<string, string>>();
  let current: Map<string, string> | undefined;
  for (const line of text.split('\n')) {
    const header = /^Domain: '(.*)'$/.exec(line.trim());
    if (header) {
      current = new Map();
      domains.set(header[1] as string, current);
    } else if (current && line.includes('=')) {
      const [key, ...rest] = line.trim().split('=');
      current.set(key as string, rest.join('='));
    }
  }
  return domains;
}
