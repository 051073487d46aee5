/**
 * The package root bundles for a browser: no module reachable from `src/index.ts` imports a
 * `node:` module (or a bare Node built-in) or names a Node-only global. The benchmark and the
 * shared-guest test backend (`src/backend/bench/`, `guest-test-backend.ts`) use Node and must stay
 * unreachable from the root. vmm-reference's browser-bundle test checks the built bundle as well.
 */
import { existsSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { NODE_ONLY_GLOBALS } from '@ts-vmm/hypervisor/testing';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const src = import.meta.dirname;
const NODE_GLOBALS = new Set<string>(NODE_ONLY_GLOBALS);

/** Source files reachable from `entry` through relative imports and re-exports. */
function reachable(entry: string): Map<string, ts.SourceFile> {
  const seen = new Map<string, ts.SourceFile>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    const sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
    seen.set(file, sf);
    for (const st of sf.statements) {
      const spec =
        (ts.isImportDeclaration(st) || ts.isExportDeclaration(st)) &&
        st.moduleSpecifier &&
        ts.isStringLiteral(st.moduleSpecifier)
          ? st.moduleSpecifier.text
          : undefined;
      if (spec?.startsWith('.')) {
        const f = resolve(dirname(file), spec.replace(/\.js$/, '.ts'));
        if (existsSync(f)) visit(f);
      }
    }
  };
  visit(entry);
  return seen;
}

/** Module specifiers of `sf` (static imports, re-exports, dynamic `import()`). */
function specifiers(sf: ts.SourceFile): string[] {
  const out: string[] = [];
  const walk = (n: ts.Node) => {
    if (
      (ts.isImportDeclaration(n) || ts.isExportDeclaration(n)) &&
      n.moduleSpecifier &&
      ts.isStringLiteral(n.moduleSpecifier)
    )
      out.push(n.moduleSpecifier.text);
    if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const a = n.arguments[0];
      out.push(a && ts.isStringLiteral(a) ? a.text : '<dynamic>');
    }
    ts.forEachChild(n, walk);
  };
  walk(sf);
  return out;
}

/**
 * Identifiers of `sf` that name a Node-only global: not a property name, and not a name the file
 * declares itself (a local `const global = ...` is not Node's `global`).
 */
function nodeGlobals(sf: ts.SourceFile): string[] {
  const out: string[] = [];
  const declared = new Set<string>();
  const collect = (n: ts.Node) => {
    if (
      (ts.isVariableDeclaration(n) || ts.isParameter(n) || ts.isBindingElement(n)) &&
      ts.isIdentifier(n.name)
    )
      declared.add(n.name.text);
    ts.forEachChild(n, collect);
  };
  collect(sf);
  const walk = (n: ts.Node) => {
    if (ts.isIdentifier(n) && NODE_GLOBALS.has(n.text) && !declared.has(n.text)) {
      const p = n.parent;
      const isName =
        (ts.isPropertyAccessExpression(p) && p.name === n) ||
        (ts.isPropertyAssignment(p) && p.name === n) ||
        ((ts.isPropertyDeclaration(p) || ts.isMethodDeclaration(p) || ts.isPropertySignature(p)) &&
          p.name === n) ||
        ((ts.isVariableDeclaration(p) || ts.isParameter(p) || ts.isBindingElement(p)) && p.name === n);
      if (!isName) out.push(`${n.text} (line ${sf.getLineAndCharacterOfPosition(n.getStart()).line + 1})`);
    }
    ts.forEachChild(n, walk);
  };
  walk(sf);
  return out;
}

describe('the package root is portable', () => {
  const files = reachable(join(src, 'index.ts'));

  it('reaches the CPU, the platform and the backend, and nothing test- or bench-only', () => {
    const names = [...files.keys()].map((f) => relative(src, f));
    expect(names).toEqual(expect.arrayContaining(['cpu.ts', 'platform/irqchip.ts', 'backend/vcpu.ts']));
    expect(
      names.filter((n) => /bench|guest-test-backend|testing|flat-long-mode|\.test\.ts$/.test(n)),
    ).toEqual([]);
  });

  it('imports no node: module or Node built-in', () => {
    const bad: string[] = [];
    for (const [file, sf] of files) {
      for (const s of specifiers(sf)) {
        if (s.startsWith('node:') || builtinModules.includes(s) || s === '<dynamic>')
          bad.push(`${relative(src, file)}: ${s}`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('names no Node-only global (process, Buffer, require, setImmediate, ...)', () => {
    const bad: string[] = [];
    for (const [file, sf] of files) for (const g of nodeGlobals(sf)) bad.push(`${relative(src, file)}: ${g}`);
    expect(bad).toEqual([]);
  });
});
