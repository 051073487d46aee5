/**
 * Collects the code examples of the repository's documentation: every ```ts block of a README and
 * every `@example` of a doc comment in a package's `src/` (tests excluded), with what the type
 * checker needs to check each one (see `check.ts`).
 *
 * @module
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';

/** One example, as found. */
export interface DocExample {
  /** Where it is, for messages: `packages/x/src/y.ts:42` or `packages/x/README.md:10`. */
  where: string;
  /** The package directory it belongs to (its examples resolve imports from there). */
  packageDir: string;
  /** The source file whose doc comment holds it (undefined for README blocks). */
  sourceFile?: string;
  /** The class whose member documents it, with that class's member names. */
  enclosingClass?: { name: string; members: string[] };
  code: string;
}

function walk(dir: string, out: string[]): void {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'dist' || name.startsWith('.')) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else out.push(p);
  }
}

/** ```ts fenced blocks of a markdown file, with the line each starts on. */
export function markdownBlocks(text: string): { line: number; code: string }[] {
  const blocks: { line: number; code: string }[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)```(ts|typescript)\s*$/.exec(lines[i]);
    if (!open) continue;
    const indent = open[1].length;
    const start = i + 1;
    let j = start;
    while (j < lines.length && !/^\s*```\s*$/.test(lines[j])) j++;
    blocks.push({
      line: start + 1,
      code: lines
        .slice(start, j)
        .map((l) => l.slice(Math.min(indent, l.length - l.trimStart().length)))
        .join('\n'),
    });
    i = j;
  }
  return blocks;
}

/** The code of one `@example` tag's text: its fenced blocks, or the text itself when unfenced. */
function exampleCode(text: string): string[] {
  if (text.includes('```')) return markdownBlocks(text).map((b) => b.code);
  return [text.trim()];
}

function classOf(node: ts.Node): { name: string; members: string[] } | undefined {
  for (let n: ts.Node | undefined = node; n; n = n.parent) {
    if ((ts.isClassDeclaration(n) || ts.isInterfaceDeclaration(n)) && n.name) {
      const members = n.members.flatMap((m) => (m.name && ts.isIdentifier(m.name) ? [m.name.text] : []));
      return { name: n.name.text, members };
    }
  }
  return undefined;
}

function sourceExamples(file: string, root: string, packageDir: string): DocExample[] {
  const text = readFileSync(file, 'utf8');
  if (!text.includes('@example')) return [];
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true);
  const found: DocExample[] = [];
  const seen = new Set<number>();
  const visit = (node: ts.Node) => {
    for (const doc of (node as { jsDoc?: ts.JSDoc[] }).jsDoc ?? []) {
      if (seen.has(doc.pos)) continue;
      seen.add(doc.pos);
      for (const tag of doc.tags ?? []) {
        if (tag.tagName.text !== 'example') continue;
        const comment = ts.getTextOfJSDocComment(tag.comment) ?? '';
        const line = sf.getLineAndCharacterOfPosition(tag.pos).line + 1;
        for (const code of exampleCode(comment)) {
          if (!code) continue;
          found.push({
            where: `${relative(root, file)}:${line}`,
            packageDir,
            sourceFile: file,
            enclosingClass: classOf(node),
            code,
          });
        }
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return found;
}

/**
 * Every example of the repository at `root`: README blocks of the root and of each package (and
 * READMEs inside a package's `src/`), and `@example` tags of each package's non-test sources.
 * @example const all = collectExamples('/path/to/ts-vmm');
 */
export function collectExamples(root: string): DocExample[] {
  const out: DocExample[] = [];
  const packagesDir = join(root, 'packages');
  for (const pkg of readdirSync(packagesDir)) {
    const packageDir = join(packagesDir, pkg);
    if (!statSync(packageDir).isDirectory()) continue;
    const files: string[] = [];
    walk(packageDir, files);
    for (const f of files) {
      if (f.endsWith('.md') && /README\.md$/.test(f)) {
        for (const b of markdownBlocks(readFileSync(f, 'utf8')))
          out.push({ where: `${relative(root, f)}:${b.line}`, packageDir, code: b.code });
      } else if (
        f.endsWith('.ts') &&
        !f.endsWith('.d.ts') &&
        !f.endsWith('.test.ts') &&
        relative(packageDir, f).startsWith(`src`)
      ) {
        out.push(...sourceExamples(f, root, packageDir));
      }
    }
  }
  for (const b of markdownBlocks(readFileSync(join(root, 'README.md'), 'utf8')))
    out.push({ where: `README.md:${b.line}`, packageDir: join(packagesDir, 'vmm-reference'), code: b.code });
  return out;
}
