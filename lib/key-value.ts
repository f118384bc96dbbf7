// The one reader of cloudvamp's KEY=VALUE config files (the probes'
// cloudvamp.conf, the VMM actions' cloudvamp.conf, cvem.conf). They look like
// OpenNebula's kvmrc, so they are read the way a shell would read an
// assignment, without ever running one: no expansion, no command.
//
//   KEY=value              KEY = value          export KEY=value
//   KEY="v" # comment      KEY='v'              KEY=value # comment
//   # a comment line       (blank lines)
//
// Double-quoted values take `\"` and `\\` as escapes (as sh does); single
// quotes take none. After a closing quote only a `# comment` may follow; an
// unquoted value ends at a `#` that follows a blank. Pure: text in, entries
// and every problem out; each config validates its own keys.

export interface KeyValue {
  key: string;
  value: string;
  /** 1-based line of the file */
  line: number;
}

export interface KeyValueProblem {
  line: number;
  /** names the line's key when there is one; never quotes a value (it may be a credential) */
  message: string;
}

export interface KeyValues {
  /** in file order; for a key given twice the last one counts, as in a shell */
  entries: KeyValue[];
  errors: KeyValueProblem[];
}

const ASSIGNMENT = /^(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_]*)[ \t]*=[ \t]*(.*)$/;

/** The value of one line after `KEY=`, or the reason it cannot be read. */
function readValue(raw: string): { value: string } | { problem: string } {
  const q = raw[0];
  if (q !== '"' && q !== "'") {
    const hash = raw.search(/[ \t]#/);
    return { value: (hash >= 0 ? raw.slice(0, hash) : raw).trim() };
  }
  let value = '';
  let i = 1;
  for (; i < raw.length && raw[i] !== q; i++) {
    if (q === '"' && raw[i] === '\\' && (raw[i + 1] === '"' || raw[i + 1] === '\\')) i++;
    value += raw[i];
  }
  if (i >= raw.length) return { problem: `has an unterminated ${q === '"' ? 'double' : 'single'} quote; close it on the same line or remove the quotes` };
  const rest = raw.slice(i + 1).trim();
  if (rest !== '' && !rest.startsWith('#')) return { problem: 'has text after the closing quote; quote the whole value or start a comment with #' };
  return { value };
}

export function readKeyValues(text: string): KeyValues {
  const entries: KeyValue[] = [];
  const errors: KeyValueProblem[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = index + 1;
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    const m = ASSIGNMENT.exec(trimmed);
    if (!m) {
      errors.push({ line, message: 'is not a KEY=VALUE line; write e.g. KEY=value, or comment it out with #' });
      return;
    }
    const key = m[1]!;
    const read = readValue(m[2]!);
    if ('problem' in read) errors.push({ line, message: `the value of ${key} ${read.problem}` });
    else entries.push({ key, value: read.value, line });
  });
  return { entries, errors };
}
