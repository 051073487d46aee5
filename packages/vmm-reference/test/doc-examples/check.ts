/**
 * Type-checks documentation examples (from `collect.ts`) against the packages' sources with the
 * TypeScript compiler, strict. `@ts-vmm/<pkg>` and its subpath exports resolve to the sources the
 * published declarations are built from (`packages/<pkg>/src/...`, read off each package.json's
 * `exports`), so no build is needed and every type comes from one place. Each example gets a
 * prelude that imports the
 * names of the package's root entry (and, for a doc comment, of the file that holds it) which the
 * example does not import itself. Free variables the example only names (`vcpu`, `mem`, ...) are
 * declared with the type their name conventionally has in this repository (the enclosing class,
 * when the example calls that class's members on it); any other free name is declared `any`, so
 * what the checker judges is every call of the API whose types are known. An example without
 * `export` statements runs inside an async function (its imports hoisted), so `return` and `await`
 * read as they would in the function a user pastes them into.
 *
 * @module
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import ts from 'typescript';
import type { DocExample } from './collect.js';

/** A type-check failure of one example. */
export interface ExampleFailure {
  where: string;
  messages: string[];
  code: string;
}

/** Conventional free-variable names and the type they stand for: [package, export]. */
const CONVENTIONAL: Record<string, [string, string]> = {
  vcpu: ['hypervisor', 'Vcpu'],
  vm: ['hypervisor', 'Vm'],
  hv: ['hypervisor', 'Hypervisor'],
  hypervisor: ['hypervisor', 'Hypervisor'],
  mem: ['vm-memory', 'GuestMemory'],
  memory: ['vm-memory', 'GuestMemory'],
  guestMemory: ['vm-memory', 'GuestMemory'],
  cpu: ['x86-emulator', 'Cpu'],
  kvm: ['kvm-ioctls', 'Kvm'],
  bus: ['devices', 'Bus'],
  pio: ['devices', 'Bus'],
  mmio: ['devices', 'Bus'],
};
const PRIMITIVE: Record<string, string> = {
  buf: 'Uint8Array',
  bytes: 'Uint8Array',
  data: 'Uint8Array',
  addr: 'number',
  address: 'number',
  port: 'number',
  offset: 'number',
  len: 'number',
  size: 'number',
};

const exportCache = new Map<string, Set<string>>();

/** The names a module file exports (following `export * from` and `export { } from` locally). */
function exportsOf(file: string): Set<string> {
  const cached = exportCache.get(file);
  if (cached) return cached;
  const names = new Set<string>();
  exportCache.set(file, names);
  if (!existsSync(file)) return names;
  const sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, false);
  const local = (spec: string) => {
    const base = resolve(dirname(file), spec.replace(/\.js$/, ''));
    for (const f of [`${base}.ts`, join(base, 'index.ts'), `${base}.d.ts`]) if (existsSync(f)) return f;
    return undefined;
  };
  for (const st of sf.statements) {
    const mods = ts.canHaveModifiers(st) ? (ts.getModifiers(st) ?? []) : [];
    const exported = mods.some((m) => m.kind === ts.SyntaxKind.ExportKeyword);
    if (ts.isExportDeclaration(st)) {
      const from =
        st.moduleSpecifier && ts.isStringLiteral(st.moduleSpecifier) ? st.moduleSpecifier.text : undefined;
      if (!st.exportClause) {
        const f = from?.startsWith('.') ? local(from) : undefined;
        if (f) for (const n of exportsOf(f)) names.add(n);
      } else if (ts.isNamedExports(st.exportClause)) {
        for (const e of st.exportClause.elements) names.add(e.name.text);
      }
      continue;
    }
    if (!exported) continue;
    if (ts.isVariableStatement(st)) {
      for (const d of st.declarationList.declarations) if (ts.isIdentifier(d.name)) names.add(d.name.text);
    } else if (
      (ts.isFunctionDeclaration(st) ||
        ts.isClassDeclaration(st) ||
        ts.isInterfaceDeclaration(st) ||
        ts.isTypeAliasDeclaration(st) ||
        ts.isEnumDeclaration(st) ||
        ts.isModuleDeclaration(st)) &&
      st.name &&
      ts.isIdentifier(st.name)
    ) {
      names.add(st.name.text);
    }
  }
  return names;
}

/** Top-level names an example binds itself (imports and declarations). */
function boundNames(code: string): Set<string> {
  const sf = ts.createSourceFile('x.ts', code, ts.ScriptTarget.ES2022, false);
  const names = new Set<string>();
  const bind = (n: ts.BindingName) => {
    if (ts.isIdentifier(n)) names.add(n.text);
    else for (const e of n.elements) if (!ts.isOmittedExpression(e)) bind(e.name);
  };
  for (const st of sf.statements) {
    if (ts.isImportDeclaration(st) && st.importClause) {
      const c = st.importClause;
      if (c.name) names.add(c.name.text);
      if (c.namedBindings && ts.isNamespaceImport(c.namedBindings)) names.add(c.namedBindings.name.text);
      if (c.namedBindings && ts.isNamedImports(c.namedBindings))
        for (const e of c.namedBindings.elements) names.add(e.name.text);
    } else if (ts.isVariableStatement(st)) {
      for (const d of st.declarationList.declarations) bind(d.name);
    } else if (
      (ts.isFunctionDeclaration(st) ||
        ts.isClassDeclaration(st) ||
        ts.isInterfaceDeclaration(st) ||
        ts.isTypeAliasDeclaration(st) ||
        ts.isEnumDeclaration(st)) &&
      st.name
    ) {
      names.add(st.name.text);
    }
  }
  return names;
}

/**
 * An example's import (and `declare`) statements and the rest; `wrap` when it has no top-level `export`, so the
 * rest can go in a function body. Imports keep their place in the line count: the body is
 * blank where they were.
 */
function splitExample(code: string): { imports: string[]; body: string; wrap: boolean } {
  const sf = ts.createSourceFile('x.ts', code, ts.ScriptTarget.ES2022, true);
  const hasExport = sf.statements.some(
    (st) =>
      ts.isExportDeclaration(st) ||
      ts.isExportAssignment(st) ||
      (ts.canHaveModifiers(st) &&
        (ts.getModifiers(st) ?? []).some((m) => m.kind === ts.SyntaxKind.ExportKeyword)),
  );
  if (hasExport) return { imports: [], body: code, wrap: false };
  const imports: string[] = [];
  let body = code;
  for (const st of [...sf.statements].reverse()) {
    const ambient =
      ts.canHaveModifiers(st) &&
      (ts.getModifiers(st) ?? []).some((m) => m.kind === ts.SyntaxKind.DeclareKeyword);
    if (!ts.isImportDeclaration(st) && !ts.isImportEqualsDeclaration(st) && !ambient) continue;
    const text = code.slice(st.getStart(sf), st.end);
    imports.unshift(text.replace(/\n/g, ' '));
    body = body.slice(0, st.getStart(sf)) + text.replace(/[^\n]/g, ' ') + body.slice(st.end);
  }
  return { imports, body, wrap: true };
}

interface Prepared {
  example: DocExample;
  path: string;
  preludeLines: number;
  text: string;
}

/**
 * Type-checks `examples` of the repository at `root` and returns those that fail, with the
 * compiler's messages.
 * @example const failures = checkExamples(root, collectExamples(root));
 */
export function checkExamples(root: string, examples: DocExample[]): ExampleFailure[] {
  const packageName = (dir: string) =>
    JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).name as string;
  const srcIndex = (pkg: string) => join(root, 'packages', pkg, 'src', 'index.ts');

  const prepare = (ex: DocExample, i: number, free: Map<string, string>): Prepared => {
    const bound = boundNames(ex.code);
    const lines: string[] = [];
    const rootNames = exportsOf(join(ex.packageDir, 'src', 'index.ts'));
    const fromRoot = [...rootNames].filter((n) => !bound.has(n) && !free.has(n));
    if (fromRoot.length)
      lines.push(`import { ${fromRoot.join(', ')} } from '${packageName(ex.packageDir)}';`);
    if (ex.sourceFile) {
      const own = [...exportsOf(ex.sourceFile)].filter(
        (n) => !rootNames.has(n) && !bound.has(n) && !free.has(n),
      );
      if (own.length) lines.push(`import { ${own.join(', ')} } from '${ex.sourceFile}';`);
    }
    for (const [name, type] of free) lines.push(`declare const ${name}: ${type};`);
    const { imports, body, wrap } = splitExample(ex.code);
    lines.push(...imports);
    if (wrap) lines.push('export async function __example__(): Promise<any> {');
    const path = join(ex.packageDir, '__doc_examples__', `example-${i}.ts`);
    return {
      example: ex,
      path,
      preludeLines: lines.length,
      text: `${lines.join('\n')}\n${body}\n${wrap ? '}' : 'export {};'}\n`,
    };
  };

  const typeFor = (ex: DocExample, name: string): string => {
    const cls = ex.enclosingClass;
    if (cls && ex.sourceFile) {
      const member = new RegExp(`\\b${name}\\??\\.(\\w+)`, 'g');
      for (const m of ex.code.matchAll(member)) {
        if (cls.members.includes(m[1]) && exportsOf(ex.sourceFile).has(cls.name))
          return `import('${ex.sourceFile}').${cls.name}`;
      }
    }
    const conv = CONVENTIONAL[name];
    if (conv && existsSync(srcIndex(conv[0]))) return `import('${srcIndex(conv[0])}').${conv[1]}`;
    return PRIMITIVE[name] ?? 'any';
  };

  // '@ts-vmm/<pkg>[/<sub>]' -> the source its exported declarations are built from.
  const paths: Record<string, string[]> = {};
  for (const pkg of readdirSync(join(root, 'packages'))) {
    const manifest = join(root, 'packages', pkg, 'package.json');
    if (!existsSync(manifest)) continue;
    const { name, exports } = JSON.parse(readFileSync(manifest, 'utf8')) as {
      name: string;
      exports?: Record<string, { types?: string } | string>;
    };
    for (const [key, target] of Object.entries(exports ?? {})) {
      const types = typeof target === 'string' ? undefined : target.types;
      if (!types) continue;
      const src = join(
        root,
        'packages',
        pkg,
        types.replace(/^\.\/dist\//, 'src/').replace(/\.d\.ts$/, '.ts'),
      );
      paths[key === '.' ? name : `${name}/${key.replace(/^\.\//, '')}`] = [src];
    }
  }

  const options: ts.CompilerOptions = {
    baseUrl: root,
    paths,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    lib: ['lib.es2022.d.ts', 'lib.dom.d.ts'],
    types: ['node'],
    typeRoots: [join(root, 'node_modules', '@types')],
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    allowImportingTsExtensions: true,
    esModuleInterop: true,
    resolveJsonModule: true,
  };

  const compile = (prepared: Prepared[]) => {
    const byPath = new Map(prepared.map((p) => [p.path, p]));
    const host = ts.createCompilerHost(options);
    const getSourceFile = host.getSourceFile.bind(host);
    host.getSourceFile = (file, lang, onError, create) => {
      const p = byPath.get(file);
      return p ? ts.createSourceFile(file, p.text, lang, true) : getSourceFile(file, lang, onError, create);
    };
    const fileExists = host.fileExists.bind(host);
    host.fileExists = (f) => byPath.has(f) || fileExists(f);
    const readFile = host.readFile.bind(host);
    host.readFile = (f) => byPath.get(f)?.text ?? readFile(f);
    const program = ts.createProgram([...byPath.keys()], options, host);
    const diags = new Map<string, ts.Diagnostic[]>();
    for (const p of prepared) {
      const sf = program.getSourceFile(p.path)!;
      diags.set(p.path, [...program.getSyntacticDiagnostics(sf), ...program.getSemanticDiagnostics(sf)]);
    }
    return diags;
  };

  // Pass 1: find each example's free names. Pass 2: check with them declared.
  const first = examples.map((ex, i) => prepare(ex, i, new Map()));
  const firstDiags = compile(first);
  const second = examples.map((ex, i) => {
    const free = new Map<string, string>();
    for (const d of firstDiags.get(first[i].path) ?? []) {
      if (![2304, 2552, 2580, 2582, 18004].includes(d.code)) continue;
      const m = /(?:Cannot find name|the shorthand property) '([^']+)'/.exec(
        ts.flattenDiagnosticMessageText(d.messageText, '\n'),
      );
      if (m) free.set(m[1], typeFor(ex, m[1]));
    }
    return prepare(ex, i, free);
  });
  const secondDiags = compile(second);

  const failures: ExampleFailure[] = [];
  for (const p of second) {
    const ds = secondDiags.get(p.path) ?? [];
    if (!ds.length) continue;
    failures.push({
      where: p.example.where,
      code: p.example.code,
      messages: ds.map((d) => {
        const line =
          d.file && d.start !== undefined
            ? d.file.getLineAndCharacterOfPosition(d.start).line - p.preludeLines + 1
            : 0;
        return `line ${line}: TS${d.code} ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`;
      }),
    });
  }
  return failures;
}
