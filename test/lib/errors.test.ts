import { describe, expect, it } from 'vitest';
import { CloudvampError, oneLineMessage } from '../../lib/errors';

describe('oneLineMessage', () => {
  it('keeps a message that echoes a hostile value on one line, every character visible', () => {
    const error = new CloudvampError('usage', "host 'a\r\nb\u001b[2Jc\u0000d\te\u009b' is not a host name\n");
    expect(oneLineMessage(error)).toBe("host 'a b\\x1b[2Jc\\x00d\\x09e\\x9b' is not a host name");
  });

  it('never returns an empty line', () => {
    expect(oneLineMessage(new Error(' \n '))).toBe('unknown error');
  });
});
