// Where a text stops being JSON, told without quoting any of it. V8's JSON.parse errors quote the
// input (Node 20: `Unexpected token 'h', "hunter2" is not valid JSON`), and the texts parsed here
// include Secrets: a users.json full of passwords, or a Secret's response body cut short.

export interface JsonSyntaxError {
  /** 0-based offset in UTF-16 code units, as JSON.parse counts it. */
  position: number;
  /** 1-based. */
  line: number;
  /** 1-based. */
  column: number;
  /** What was expected there, in words that never include the text. */
  reason: string;
}

const LITERALS = ["true", "false", "null"];
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const HEX4 = /[0-9a-fA-F]{4}/y;

/**
 * The first place where `text` is not JSON (RFC 8259, as JSON.parse reads it), or undefined when
 * it is. Iterative, so deeply nested input cannot overflow the stack.
 */
export function findJsonSyntaxError(text: string): JsonSyntaxError | undefined {
  let i = 0;
  const open: Array<"{" | "["> = [];
  const fail = (at: number, reason: string): JsonSyntaxError => {
    const before = text.slice(0, at);
    const line = before.split("\n").length;
    return { position: at, line, column: at - before.lastIndexOf("\n"), reason };
  };
  const unexpected = (expected: string) =>
    fail(i, i >= text.length ? `unexpected end of input, expected ${expected}` : `expected ${expected}`);
  const skipSpace = () => {
    while (i < text.length && " \t\n\r".includes(text[i]!)) i++;
  };
  /** Consumes a string starting at i; an error, or undefined once past its closing quote. */
  const string = (): JsonSyntaxError | undefined => {
    const start = i++;
    for (;;) {
      if (i >= text.length) return fail(start, "unterminated string");
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        i++;
        return undefined;
      }
      if (c < 0x20) return fail(i, "unescaped control character in a string");
      if (c === 0x5c) {
        const e = text[i + 1];
        if (e === "u") {
          HEX4.lastIndex = i + 2;
          if (!HEX4.test(text)) return fail(i, "invalid \\u escape in a string");
          i += 6;
        } else if (e !== undefined && '"\\/bfnrt'.includes(e)) i += 2;
        else return fail(i, "invalid escape in a string");
      } else i++;
    }
  };

  let state: "value" | "key" | "after" = "value";
  for (;;) {
    skipSpace();
    if (state === "key") {
      if (text[i] !== '"') return unexpected("a double-quoted property name");
      const bad = string();
      if (bad) return bad;
      skipSpace();
      if (text[i] !== ":") return unexpected("':' after a property name");
      i++;
      state = "value";
    } else if (state === "value") {
      const c = text[i];
      if (c === "{" || c === "[") {
        i++;
        skipSpace();
        if (text[i] === (c === "{" ? "}" : "]")) {
          i++;
          state = "after";
        } else {
          open.push(c);
          state = c === "{" ? "key" : "value";
        }
      } else if (c === '"') {
        const bad = string();
        if (bad) return bad;
        state = "after";
      } else if (c === "-" || (c !== undefined && c >= "0" && c <= "9")) {
        NUMBER.lastIndex = i;
        // A number cut short ("1.", "1e") or with a leading zero ("01") is one bad number, not a
        // good one followed by junk.
        if (!NUMBER.test(text) || /[.eE0-9]/.test(text[NUMBER.lastIndex] ?? "")) return fail(i, "invalid number");
        i = NUMBER.lastIndex;
        state = "after";
      } else {
        const literal = LITERALS.find((l) => text.startsWith(l, i));
        if (!literal) return unexpected("a value");
        i += literal.length;
        state = "after";
      }
    } else {
      const top = open.at(-1);
      if (!top) return i < text.length ? fail(i, "unexpected content after the end of the JSON value") : undefined;
      const close = top === "{" ? "}" : "]";
      if (text[i] === ",") {
        i++;
        state = top === "{" ? "key" : "value";
      } else if (text[i] === close) {
        i++;
        open.pop();
      } else return unexpected(`',' or '${close}' after ${top === "{" ? "a property value" : "an array element"}`);
    }
  }
}

/** "not valid JSON at line 3, column 12 (position 40): expected ..."; never quotes the text. */
export function describeJsonSyntaxError(text: string): string {
  const e = findJsonSyntaxError(text);
  return e
    ? `not valid JSON at line ${e.line}, column ${e.column} (position ${e.position}): ${e.reason}`
    : `not valid JSON (${text.length} characters)`;
}
