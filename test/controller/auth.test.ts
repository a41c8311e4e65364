import { strict as assert } from "node:assert";
import { mergeUsers } from "../../controller/rqcluster/plan/auth.js";
import { findJsonSyntaxError } from "../../controller/runtime/jsonSyntax.js";

const op = { username: "rqlite-operator", password: "s3cret" };

interface Entry {
  username: string;
  password?: string;
  perms?: string[];
}
const merge = (users: unknown): Entry[] => JSON.parse(mergeUsers(JSON.stringify(users), "users", op)) as Entry[];

describe("auth: the operator's system user", () => {
  it("adds the operator with every permission and lets probes ask /readyz anonymously", () => {
    assert.deepEqual(merge([{ username: "app", password: "p", perms: ["query"] }]), [
      { username: "app", password: "p", perms: ["query"] },
      { username: "*", perms: ["ready"] },
      { username: "rqlite-operator", password: "s3cret", perms: ["all"] },
    ]);
  });

  it("keeps an anonymous entry and adds only ready to it", () => {
    const merged = merge([{ username: "*", perms: ["status", "ready"] }]);
    assert.deepEqual(merged[0], { username: "*", perms: ["status", "ready"] });
    assert.equal(merged.length, 2);
  });

  it("rejects what rqlite could not load, naming the Secret and the fix", () => {
    assert.throws(
      () => mergeUsers("{", "Secret ns/u key users.json", op),
      /Secret ns\/u key users\.json is not valid JSON at line 1, column 2 \(position 1\)/,
    );
    assert.throws(() => mergeUsers('{"a":1}', "S", op), /S must be a JSON list of users/);
    assert.throws(
      () => mergeUsers('[{"username":"rqlite-operator"}]', "S", op),
      /reserves for itself; rename that user/,
    );
  });

  describe("a malformed users.json never puts its passwords in the error", () => {
    const password = "Tr0ub4dor&3-horse";
    const where = "Secret ns/app-users (spec.auth.secretName) key users.json";
    const nativeMessage = (text: string) => {
      try {
        JSON.parse(text);
      } catch (err) {
        return (err as Error).message;
      }
      assert.fail(`${text} must be malformed`);
    };
    const malformed: Array<[string, string, RegExp]> = [
      [
        "a stray character after the password",
        `[{"username":"app","password":"${password}"x}]`,
        /line 1, column 50 \(position 49\)/,
      ],
      ["single quotes", `[{'username':'app','password':'${password}'}]`, /line 1, column 3 \(position 2\)/],
      ["the password unquoted", `[{"username":"app","password":${password}}]`, /line 1, column 31/],
      ["an unknown literal", `[{"username":"app","password":"${password}","perms":[al]}]`, /column 60/],
      [
        "a missing comma on a later line",
        `[\n  {"username": "app",\n   "password": "${password}"\n   "perms": ["all"]}\n]`,
        /line 4, column 4 \(position 62\): expected ',' or '}' after a property value/,
      ],
      ["the file cut short inside the password", `[{"username":"app","password":"${password.slice(0, 8)}`, /column 31/],
      ["nothing but the password", password, /line 1, column 1 \(position 0\): expected a value/],
    ];

    it("(Node's own message quotes the text around an unexpected token, password included)", () => {
      assert.match(nativeMessage(password), new RegExp(`"${password}" is not valid JSON`));
      assert.match(nativeMessage(malformed[2]![1]), /"password":Tr0ub4dor&/);
    });

    for (const [what, text, location] of malformed) {
      it(what, () => {
        nativeMessage(text);
        const err = (() => {
          try {
            mergeUsers(text, where, op);
          } catch (e) {
            return e as Error;
          }
          assert.fail("mergeUsers must reject it");
        })();
        for (const part of [password, password.slice(0, 8), password.slice(-8)]) {
          assert.ok(!err.message.includes(part), `the error quotes the password: ${err.message}`);
          assert.ok(!JSON.stringify(err).includes(part), "nor does any property of the error");
        }
        assert.equal(err.cause, undefined, "JSON.parse's error, which quotes the text, is not kept as the cause");
        assert.match(err.message, new RegExp(`^${where.replace(/[().]/g, "\\$&")} is not valid JSON at `));
        assert.match(err.message, location);
        assert.match(err.message, /it must be rqlite's -auth file, a JSON list of users$/);
      });
    }
  });
});

describe("findJsonSyntaxError: where a text stops being JSON, as JSON.parse reads it", () => {
  const accepted = [
    "[]",
    "{}",
    ' {"a":[1,-0.5e+3,0,1E2,true,false,null,{"b":"\\u00e9\\n\\"\\\\\\/"}]} ',
    '"x"',
    "0",
    "[".repeat(100_000) + "]".repeat(100_000),
  ];
  const rejected: Array<[string, number, string]> = [
    ["", 0, "unexpected end of input, expected a value"],
    ["[1,]", 3, "expected a value"],
    ['{"a":1,}', 7, "expected a double-quoted property name"],
    ['{"a" 1}', 5, "expected ':' after a property name"],
    ["[1 2]", 3, "expected ',' or ']' after an array element"],
    ["[01]", 1, "invalid number"],
    ["1.", 0, "invalid number"],
    ["-", 0, "invalid number"],
    ['"\\x"', 1, "invalid escape in a string"],
    ['"\\u12g4"', 1, "invalid \\u escape in a string"],
    ['"a\nb"', 2, "unescaped control character in a string"],
    ['["abc', 1, "unterminated string"],
    ["[1]x", 3, "unexpected content after the end of the JSON value"],
    ["\ufeff[]", 0, "expected a value"],
    ["[tru]", 1, "expected a value"],
  ];

  it("accepts what JSON.parse accepts, however deeply nested", () => {
    for (const text of accepted) {
      JSON.parse(text);
      assert.equal(findJsonSyntaxError(text), undefined, text.slice(0, 40));
    }
  });

  it("reports position, line, column and a reason that quotes nothing", () => {
    for (const [text, position, reason] of rejected) {
      assert.throws(() => JSON.parse(text), SyntaxError, `JSON.parse rejects ${JSON.stringify(text)}`);
      const found = findJsonSyntaxError(text);
      assert.deepEqual(
        found && { position: found.position, reason: found.reason },
        { position, reason },
        JSON.stringify(text),
      );
    }
    assert.deepEqual(findJsonSyntaxError("[\n1,\n  x]"), {
      position: 7,
      line: 3,
      column: 3,
      reason: "expected a value",
    });
  });
});
