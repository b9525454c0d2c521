/**
 * The public API of @samsa/client as a user sees it (issue 9): every exported function, class and
 * public method carries TSDoc with an `@example`, and the declarations a user's compiler reads
 * (the emitted .d.ts) contain no `any`. Checked with the TypeScript compiler over src/index.ts, so
 * a new export is covered without touching this test.
 */
import assert from "node:assert/strict";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const CLIENT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const REPO_ROOT = path.resolve(CLIENT_ROOT, "../..");

/**
 * Public declarations still without an example, by "file: name". Only folders another change owns
 * are listed; remove an entry once its example is written (the test then reports it as stale).
 */
const KNOWN_MISSING_EXAMPLES = new Set<string>([]);

function program(): ts.Program {
  const config = ts.getParsedCommandLineOfConfigFile(
    path.join(CLIENT_ROOT, "tsconfig.json"),
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => assert.fail(ts.flattenDiagnosticMessageText(d.messageText, "\n")),
    },
  );
  assert.ok(config !== undefined);
  return ts.createProgram({
    rootNames: [path.join(CLIENT_ROOT, "src/index.ts")],
    options: {
      ...config.options,
      noEmit: false,
      emitDeclarationOnly: true,
      declarationMap: false,
      composite: false,
      incremental: false,
      tsBuildInfoFile: undefined,
    },
  });
}

const hasExample = (node: ts.Node) => ts.getJSDocTags(node).some((t) => t.tagName.text === "example");
const isHidden = (m: ts.ClassElement) =>
  (ts.getCombinedModifierFlags(m as ts.Declaration) & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected)) !== 0 ||
  (m.name !== undefined && ts.isPrivateIdentifier(m.name));

test("every exported function, class and public method has TSDoc with an @example", (t) => {
  const p = program();
  const checker = p.getTypeChecker();
  const index = p.getSourceFile(path.join(CLIENT_ROOT, "src/index.ts"));
  assert.ok(index !== undefined);
  const moduleSymbol = checker.getSymbolAtLocation(index);
  assert.ok(moduleSymbol !== undefined);
  const missing: string[] = [];
  let checked = 0;
  for (const exported of checker.getExportsOfModule(moduleSymbol)) {
    const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
    for (const d of symbol.declarations ?? []) {
      const where = path.relative(REPO_ROOT, d.getSourceFile().fileName);
      if (ts.isFunctionDeclaration(d)) {
        checked++;
        if (!hasExample(d)) missing.push(`${where}: ${exported.name}`);
      } else if (ts.isClassDeclaration(d)) {
        checked++;
        if (!hasExample(d)) missing.push(`${where}: ${exported.name}`);
        for (const m of d.members) {
          if (isHidden(m) || m.name === undefined) continue;
          if (!ts.isMethodDeclaration(m) && !ts.isGetAccessor(m) && !ts.isSetAccessor(m)) continue;
          checked++;
          if (!hasExample(m)) missing.push(`${where}: ${exported.name}.${m.name.getText()}`);
        }
      }
    }
  }
  assert.ok(checked > 50, `only ${checked} declarations found: is src/index.ts still the entry point?`);
  const stale = [...KNOWN_MISSING_EXAMPLES].filter((k) => !missing.includes(k));
  if (stale.length > 0) t.diagnostic(`documented now, remove from KNOWN_MISSING_EXAMPLES: ${stale.join("; ")}`);
  assert.deepEqual(
    missing.filter((m) => !KNOWN_MISSING_EXAMPLES.has(m)),
    [],
    "public declarations without an @example",
  );
});

test("no `any` in the declarations users compile against (the emitted .d.ts of the client)", () => {
  const hits: string[] = [];
  let files = 0;
  const emitted = program().emit(
    undefined,
    (name, text) => {
      if (!name.endsWith(".d.ts")) return;
      files++;
      // Tokens, not text: `any` in a comment ("any broker") is fine.
      const scanner = ts.createScanner(ts.ScriptTarget.Latest, true, ts.LanguageVariant.Standard, text);
      for (let kind = scanner.scan(); kind !== ts.SyntaxKind.EndOfFileToken; kind = scanner.scan()) {
        if (kind === ts.SyntaxKind.AnyKeyword) {
          const at = scanner.getTokenStart();
          hits.push(`${path.relative(CLIENT_ROOT, name)}: …${text.slice(Math.max(0, at - 60), at + 10)}…`);
        }
      }
    },
    undefined,
    true,
  );
  assert.deepEqual(
    emitted.diagnostics.map((d) => ts.flattenDiagnosticMessageText(d.messageText, "\n")),
    [],
  );
  assert.ok(files > 10, `only ${files} declaration files emitted`);
  assert.deepEqual(hits, []);
});
