// OpenNebula's template parser (7.4 src/parsers/template_parser.l and
// template_syntax.y) ported for tests: what oned and monitord make of the text
// a probe prints. Ported rule by rule so a test can show that a value comes
// back byte for byte, not "looks quoted":
//
// - flex picks the longest match among the rules of the current start
//   condition, the earliest rule on a tie; VALUE is exclusive (%x);
// - a character no rule matches is ECHOed to oned's stdout and skipped;
// - `unescape()` turns only `\"` into `"`; nothing else is an escape;
// - a value whose line contains `]]>` lexes as CCDATA and the grammar aborts;
// - inside a vector, names are upper-cased and the first of a repeated name wins.
//
// The input is bytes: oned parses the decoded UTF-8 of the payload as a C
// string, so everything from a NUL on is not seen (template__scan_string).

export type OneAttribute = { name: string; value: string } | { name: string; vector: Record<string, string> };

export class OneTemplateSyntaxError extends Error {}

type Token =
  | { t: 'VARIABLE' | 'STRING'; text: string }
  | { t: 'EQUAL' | 'EQUAL_EMPTY' | 'COMMA' | 'CBRACKET' | 'OBRACKET' | 'CCDATA' };

const BLANK = '[ \\t]';
// rules of the INITIAL start condition, in the order of the .l file
const INITIAL_RULES: Array<[RegExp, Token['t'] | 'SKIP']> = [
  [new RegExp(`${BLANK}*#[^\\n]*\\n`, 'y'), 'SKIP'],
  [/[ \t\n]+/y, 'SKIP'],
  [/[A-Za-z0-9_]+/y, 'VARIABLE'],
  [new RegExp(`${BLANK}*=${BLANK}*`, 'y'), 'EQUAL'],
  [new RegExp(`${BLANK}*=${BLANK}*\\n`, 'y'), 'EQUAL_EMPTY'],
  [/[ \t\n]*,[ \t\n]*/y, 'COMMA'],
  [/[ \t\n]*\][ \t\n]*/y, 'CBRACKET'],
];
const OBRACKET = /[ \t]*\[[ \t\n]*/y;
const CCDATA = /[^\n]*\]\]>[^\n]*/y; // `.*{CDATA}.*`: `.` is any byte but newline
const UNQUOTED = /[^=# \t\n,[\]]+/y;

function matchAt(re: RegExp, s: string, pos: number): number {
  re.lastIndex = pos;
  const m = re.exec(s);
  return m ? m[0].length : -1;
}

/** Length of the longest `\"([^\"]|\\\")*\"` at pos: every inner quote must follow a backslash. */
function quotedLength(s: string, pos: number): number {
  if (s[pos] !== '"') return -1;
  let lastEnd = -1;
  for (let i = pos + 1; i < s.length; i++) {
    if (s[i] !== '"') continue;
    lastEnd = i;
    // an inner `"` is only allowed as part of `\"` (the backslash not being the opening quote)
    if (!(s[i - 1] === '\\' && i - 1 > pos)) break;
  }
  return lastEnd < 0 ? -1 : lastEnd - pos + 1;
}

function unescape(s: string): string {
  return s.split('\\"').join('"');
}

/** The token stream flex produces, plus the bytes its default rule echoed. */
export function lexOneTemplate(input: string): { tokens: Token[]; echoed: string } {
  const nul = input.indexOf('\0');
  const s = nul < 0 ? input : input.slice(0, nul);
  const tokens: Token[] = [];
  let echoed = '';
  let pos = 0;
  let inValue = false;
  while (pos < s.length) {
    let best = -1;
    let len = 0;
    if (inValue) {
      const lens = [matchAt(OBRACKET, s, pos), matchAt(CCDATA, s, pos), quotedLength(s, pos), matchAt(UNQUOTED, s, pos)];
      lens.forEach((l, i) => {
        if (l > len) [best, len] = [i, l];
      });
      if (best >= 0) {
        inValue = false;
        const text = s.slice(pos, pos + len);
        if (best === 0) tokens.push({ t: 'OBRACKET' });
        else if (best === 1) tokens.push({ t: 'CCDATA' });
        else if (best === 2) tokens.push({ t: 'STRING', text: unescape(text.slice(1, -1)) });
        else tokens.push({ t: 'STRING', text: unescape(text) });
      }
    } else {
      INITIAL_RULES.forEach(([re], i) => {
        const l = matchAt(re, s, pos);
        if (l > len) [best, len] = [i, l];
      });
      if (best >= 0) {
        const kind = INITIAL_RULES[best]![1];
        if (kind === 'VARIABLE') tokens.push({ t: 'VARIABLE', text: s.slice(pos, pos + len) });
        else if (kind !== 'SKIP') tokens.push({ t: kind } as Token);
        if (kind === 'EQUAL') inValue = true;
      }
    }
    if (best < 0) {
      echoed += s[pos];
      len = 1;
    }
    pos += len;
  }
  return { tokens, echoed };
}

/** The attributes oned reads from `text`; throws where oned's parse fails (the whole template is then lost). */
export function parseOneTemplate(text: string): OneAttribute[] {
  const { tokens, echoed } = lexOneTemplate(text);
  if (echoed !== '') throw new OneTemplateSyntaxError(`bytes no rule matches (flex echoes them): ${JSON.stringify(echoed)}`);
  const out: OneAttribute[] = [];
  let i = 0;
  const next = () => tokens[i++];
  const expect = (t: Token['t']) => {
    const tok = next();
    if (!tok || tok.t !== t) throw new OneTemplateSyntaxError(`syntax error: expected ${t}, got ${tok?.t ?? 'end of input'} (token ${i})`);
    return tok;
  };
  while (i < tokens.length) {
    const name = (expect('VARIABLE') as { text: string }).text;
    const op = next();
    if (op?.t === 'EQUAL_EMPTY') {
      out.push({ name, value: '' });
      continue;
    }
    if (op?.t !== 'EQUAL') throw new OneTemplateSyntaxError(`syntax error after ${name}: ${op?.t ?? 'end of input'}`);
    const v = next();
    if (v?.t === 'STRING') out.push({ name, value: v.text });
    else if (v?.t === 'CCDATA') throw new OneTemplateSyntaxError(`${name}: a value containing "]]>" aborts the template`);
    else if (v?.t === 'OBRACKET') {
      const vector: Record<string, string> = {};
      if (tokens[i]?.t === 'CBRACKET') i++;
      else {
        for (;;) {
          const key = (expect('VARIABLE') as { text: string }).text.toUpperCase();
          expect('EQUAL');
          const value = (expect('STRING') as { text: string }).text;
          if (!(key in vector)) vector[key] = value;
          const sep = next();
          if (sep?.t === 'CBRACKET') break;
          if (sep?.t !== 'COMMA') throw new OneTemplateSyntaxError(`syntax error in ${name}=[...]: ${sep?.t ?? 'end of input'}`);
        }
      }
      out.push({ name, vector });
    } else throw new OneTemplateSyntaxError(`syntax error: ${name}= followed by ${v?.t ?? 'end of input'}`);
  }
  return out;
}
