import { describe, expect, it } from 'vitest';
import { ACTIONS, checkArg, parseActionArgs } from '../../../lib/vmm/actions';

describe('ACTIONS argv, as one_vmm_exec builds it (PROTOCOL.md §2.3)', () => {
  const order = (name: keyof typeof ACTIONS) => ACTIONS[name].args.map((a) => a.name).join(' ');
  it.each([
    ['deploy', 'deployment_file host vm_id vm_host'],
    ['shutdown', 'deploy_id host vm_id vm_host'],
    ['cancel', 'deploy_id host vm_id vm_host'],
    ['reboot', 'deploy_id host vm_id vm_host'],
    ['reset', 'deploy_id host vm_id vm_host'],
    ['save', 'deploy_id checkpoint_file host vm_id vm_host'],
    ['restore', 'checkpoint_file host deploy_id vm_id vm_host'],
    ['migrate', 'deploy_id dest_host src_host vm_id vm_host'],
    ['poll', 'deploy_id host vm_id vm_host'],
    ['resize', 'deploy_id vm_id vm_host'],
    ['memory', 'domain new_kib host'],
  ] as const)('%s <%s>', (name, args) => {
    expect(order(name)).toBe(args);
  });
});

describe('parseActionArgs', () => {
  it('names arguments', () => {
    expect(parseActionArgs(ACTIONS.save, ['one-7', '/var/lib/one/datastores/0/7/checkpoint', 'node1', '7', 'node1'])).toEqual({
      deploy_id: 'one-7',
      checkpoint_file: '/var/lib/one/datastores/0/7/checkpoint',
      host: 'node1',
      vm_id: '7',
      vm_host: 'node1',
    });
  });

  it('says what is missing or extra and shows the usage', () => {
    expect(() => parseActionArgs(ACTIONS.cancel, ['one-7', 'node1', '7'])).toThrow('missing vm_host: expected cancel <deploy_id> <host> <vm_id> <vm_host>');
    expect(() => parseActionArgs(ACTIONS.resize, ['one-7', '7', 'n', 'x'])).toThrow('1 extra argument(s): expected resize <deploy_id> <vm_id> <vm_host>');
  });

  it('refuses malformed values with the argument name', () => {
    expect(() => parseActionArgs(ACTIONS.memory, ['one-7', '12MiB', 'node1'])).toThrow("new_kib '12MiB' is not a size in KiB");
    expect(() => parseActionArgs(ACTIONS.deploy, ['deployment.0', 'node1', '7', 'node1'])).toThrow("deployment_file 'deployment.0' is not an absolute path");
    expect(() => parseActionArgs(ACTIONS.cancel, ['one-7', 'node1', '-1', 'node1'])).toThrow("vm_id '-1' is not a VM ID");
  });

  it('keeps host names to what fits in a URI authority', () => {
    const host = ACTIONS.migrate.args[1]!;
    for (const ok of ['node1', 'node-1.example.org', '10.0.0.2', 'fd00::2', '[fd00::2]', 'cvh-h2']) expect(checkArg(host, ok)).toBeUndefined();
    for (const bad of ['', 'a b', 'node1/system?x', 'user@node', 'node;reboot', '-node']) expect(checkArg(host, bad)).toMatch(/is not a host name/);
  });
});
