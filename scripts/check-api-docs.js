#!/usr/bin/env node
/**
 * Keeps docs/api.md and the TSDoc comments of lib/ from drifting away from the code.
 * `npm run docs:check` (or `node scripts/check-api-docs.js [markdown-file]` to check
 * another file against the code); exits 1 with one line per problem, 0 when there is none.
 *
 * It reads lib/index.ts with the TypeScript compiler API and checks that:
 *
 * 1. every name exported from lib/index.ts appears in docs/api.md;
 * 2. every export has a TSDoc comment, and so has every public member of an exported
 *    class or interface (including the fields of an inline object type, such as
 *    `PoolStats.workers`); a comment inherited from a base class or an implemented
 *    interface counts, as it does in an editor's hover;
 * 3. every property of the option interfaces (`optionInterfaces` below) has an
 *    `@default` tag;
 * 4. the options table of docs/api.md lists exactly the properties of `PoolOptions`, each
 *    with the default of its `@default` tag;
 * 5. every public method and getter of `Pool` and `AsyncResult` appears in a heading or a
 *    table of docs/api.md, and every method those headings and tables name exists;
 * 6. every exported type (interface or type alias) has a row in the table of the
 *    `## Exported types` section, and every row there names an export.
 *
 * Matching rules:
 *
 * - A name "appears" in the docs when it occurs as a whole identifier in code: an inline
 *   code span or a fenced code block. A mention in prose does not count.
 * - The options table is the first table after the `### Options` heading. Its rows are
 *   matched by the first cell (`` `processes` ``); its default is the cell of the column
 *   headed `default`. A default is compared by its value only: backticks are removed,
 *   whitespace is collapsed, letters are lowercased, and the text is cut at the first
 *   `,` `:` `;` or ` (` that is not inside brackets, parentheses or quotes, since what
 *   follows is explanation (`none: workers live as long as the pool`). `none` and
 *   `undefined` are the same value.
 * - A method is documented when the first code span of a heading, or of the first cell
 *   of a table row, starts with its name followed by `(` or `<`, optionally after
 *   `pool.` or `result.` (`` `apply(fn, args?, options?)` ``, `` `get(timeoutMs?)` ``). A
 *   getter is documented by a code span `pool.name` (or `result.name`) there. Members of
 *   `AsyncResult` are looked for in the level-2 sections whose heading names
 *   `AsyncResult`, members of `Pool` in the other sections. In reverse, each method
 *   heading of the `## Methods` section, and each row of the `AsyncResult` table, must
 *   name a member that exists.
 * - A row of the exported types table names the type of the first code span of its first
 *   cell, without its type parameters (`` `PoolOptions<Fn>` `` names `PoolOptions`).
 * - Members marked `@internal`, private (`#x`, `private`) or protected are not public.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = fileURLToPath(new URL('..', import.meta.url));
const indexFile = `${root}lib/index.ts`;
// Another file may be checked in its place (the tests check a drifted copy).
const docsFile = process.argv[2] ?? `${root}docs/api.md`;
const docsName = process.argv[2] ?? 'docs/api.md';

/** Interfaces whose every property is an option: each needs an `@default` tag. */
const optionInterfaces = [
  'PoolOptions',
  'TaskOptions',
  'ChunkOptions',
  'ApplyAsyncOptions',
  'MapAsyncOptions',
  'ResultCallbacks',
  'Progress',
];
/** Classes whose public methods and getters docs/api.md must describe. */
const documentedClasses = ['Pool', 'AsyncResult'];

const problems = [];
const problem = (message) => problems.push(message);

// ---- The code ----------------------------------------------------------------------

function compilerOptions() {
  const { config, error } = ts.readConfigFile(`${root}tsconfig.json`, ts.sys.readFile);
  if (error) {
    throw new Error(ts.flattenDiagnosticMessageText(error.messageText, '\n'));
  }
  const { options } = ts.convertCompilerOptionsFromJson(config.compilerOptions, root);
  return { ...options, noEmit: true };
}

const program = ts.createProgram([indexFile], compilerOptions());
const checker = program.getTypeChecker();
const indexSource = program.getSourceFile(indexFile);
const moduleSymbol = checker.getSymbolAtLocation(indexSource);
if (moduleSymbol === undefined) {
  throw new Error(`Cannot read the exports of ${indexFile}`);
}

/** name → the symbol it designates (aliases resolved), in lib/index.ts's order. */
const exports = new Map(
  checker
    .getExportsOfModule(moduleSymbol)
    .map((symbol) => [symbol.name, symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol]),
);

const hasDoc = (symbol) => ts.displayPartsToString(symbol.getDocumentationComment(checker)).trim() !== '';
const tagsOf = (node) => ts.getJSDocTags(node);
const hasTag = (node, name) => tagsOf(node).some((tag) => tag.tagName.text === name);
const tagText = (tag) => (ts.getTextOfJSDocComment(tag.comment) ?? '').trim();

function isPublicMember(member) {
  if (member.name !== undefined && ts.isPrivateIdentifier(member.name)) {
    return false;
  }
  if (ts.isClassStaticBlockDeclaration(member) || ts.isIndexSignatureDeclaration(member)) {
    return false;
  }
  const modifiers = ts.canHaveModifiers(member) ? (ts.getModifiers(member) ?? []) : [];
  if (modifiers.some((m) => m.kind === ts.SyntaxKind.PrivateKeyword || m.kind === ts.SyntaxKind.ProtectedKeyword)) {
    return false;
  }
  return !hasTag(member, 'internal');
}

function memberName(member, sourceFile) {
  if (ts.isConstructorDeclaration(member)) {
    return 'constructor';
  }
  return member.name.getText(sourceFile);
}

/** Every public member of a class or interface declaration, and of inline object types in them. */
function* publicMembers(ownerName, members, sourceFile) {
  for (const member of members) {
    if (!isPublicMember(member)) {
      continue;
    }
    const name = `${ownerName}.${memberName(member, sourceFile)}`;
    yield { name, member };
    if (
      (ts.isPropertySignature(member) || ts.isPropertyDeclaration(member)) &&
      member.type &&
      ts.isTypeLiteralNode(member.type)
    ) {
      yield* publicMembers(name, member.type.members, sourceFile);
    }
  }
}

function memberHasDoc(member) {
  if (ts.isConstructorDeclaration(member)) {
    return ts.getJSDocCommentsAndTags(member).length > 0;
  }
  const symbol = member.name && checker.getSymbolAtLocation(member.name);
  return symbol !== undefined ? hasDoc(symbol) : ts.getJSDocCommentsAndTags(member).length > 0;
}

function declarationOf(name) {
  const declaration = exports.get(name)?.declarations?.[0];
  if (declaration === undefined) {
    throw new Error(`lib/index.ts does not export ${name}`);
  }
  return declaration;
}

// 2. TSDoc on every export and on each of its public members.
for (const [name, symbol] of exports) {
  if (!hasDoc(symbol)) {
    problem(`${name}: exported from lib/index.ts without a TSDoc comment`);
  }
  for (const declaration of symbol.declarations ?? []) {
    if (!ts.isClassDeclaration(declaration) && !ts.isInterfaceDeclaration(declaration)) {
      continue;
    }
    for (const { name: member, member: node } of publicMembers(
      name,
      declaration.members,
      declaration.getSourceFile(),
    )) {
      if (!memberHasDoc(node)) {
        problem(`${member}: public member without a TSDoc comment`);
      }
    }
  }
}

// 3. `@default` on every option.
/** interface name → property name → its `@default` text (undefined when it has none). */
const optionDefaults = new Map();
for (const name of optionInterfaces) {
  const declaration = declarationOf(name);
  const type = checker.getDeclaredTypeOfSymbol(exports.get(name));
  const defaults = new Map();
  for (const property of checker.getPropertiesOfType(type)) {
    const node = property.declarations?.[0];
    const tag = node && tagsOf(node).find((t) => t.tagName.text === 'default');
    defaults.set(property.name, tag === undefined ? undefined : tagText(tag));
    // An inherited option is reported once, under the interface that declares it.
    const owner = node?.parent && ts.isInterfaceDeclaration(node.parent) ? node.parent.name.text : name;
    if (owner !== name && optionInterfaces.includes(owner)) {
      continue;
    }
    if (tag === undefined) {
      problem(`${owner}.${property.name}: option without an @default tag`);
    } else if (tagText(tag) === '') {
      problem(`${owner}.${property.name}: empty @default tag`);
    }
  }
  if (defaults.size === 0 && !ts.isInterfaceDeclaration(declaration)) {
    problem(`${name}: expected an interface of options`);
  }
  optionDefaults.set(name, defaults);
}

// ---- The docs ----------------------------------------------------------------------

const docs = readFileSync(docsFile, 'utf8');
const lines = docs.split('\n');

/** The text of every fenced code block and inline code span. */
function codeText(markdown) {
  const parts = [];
  const prose = markdown.replace(/^(```|~~~)[^\n]*\n([\s\S]*?)^\1[ \t]*$/gm, (_block, _fence, body) => {
    parts.push(body);
    return '';
  });
  for (const match of prose.matchAll(/(`+)([\s\S]+?)\1/g)) {
    parts.push(match[2]);
  }
  return parts.join('\n');
}

const escapeRegExp = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const inCode = (code, identifier) => new RegExp(`(?<![\\w$])${escapeRegExp(identifier)}(?![\\w$])`).test(code);

/** The cells of a table row, `|` inside code spans and `\|` kept. */
function tableCells(line) {
  const cells = [];
  let cell = '';
  let inSpan = false;
  for (let i = 0; i < line.length; i++) {
    const char = line[i];
    if (char === '\\' && line[i + 1] === '|') {
      cell += '|';
      i++;
    } else if (char === '`') {
      inSpan = !inSpan;
      cell += char;
    } else if (char === '|' && !inSpan) {
      cells.push(cell.trim());
      cell = '';
    } else {
      cell += char;
    }
  }
  cells.push(cell.trim());
  return cells.slice(1, line.trimEnd().endsWith('|') ? -1 : undefined);
}

const isTableRow = (line) => line.trimStart().startsWith('|');
const isSeparatorRow = (line) => /^\s*\|(\s*:?-+:?\s*\|)+\s*$/.test(line);
const firstCodeSpan = (text) => /`([^`]+)`/.exec(text)?.[1];

/** The first table at or after line `from`: its header cells and its rows' cells. */
function tableAfter(from) {
  let start = from;
  while (start < lines.length && !isTableRow(lines[start])) {
    start++;
  }
  const header = tableCells(lines[start] ?? '');
  const rows = [];
  for (let i = start + 1; i < lines.length && isTableRow(lines[i]); i++) {
    if (!isSeparatorRow(lines[i])) {
      rows.push({ cells: tableCells(lines[i]), line: i + 1 });
    }
  }
  return { header, rows, line: start + 1 };
}

/** Level-2 sections: heading text, first line index, lines. */
const sections = [];
for (const [i, line] of lines.entries()) {
  if (/^## /.test(line) || i === 0) {
    sections.push({ heading: line, start: i, lines: [] });
  }
  sections.at(-1).lines.push(line);
}
const inFence = new Set();
{
  let fence = null;
  for (const [i, line] of lines.entries()) {
    const open = /^(```|~~~)/.exec(line)?.[1];
    if (fence === null && open) {
      fence = open;
      inFence.add(i);
    } else if (fence !== null) {
      inFence.add(i);
      if (line.startsWith(fence)) {
        fence = null;
      }
    }
  }
}

/** The code span that names a member in a heading or a table row's first cell, or undefined. */
function naming(section, offset) {
  const line = section.lines[offset];
  if (inFence.has(section.start + offset)) {
    return undefined;
  }
  if (/^#{1,6} /.test(line)) {
    return firstCodeSpan(line);
  }
  if (isTableRow(line) && !isSeparatorRow(line)) {
    return firstCodeSpan(tableCells(line)[0] ?? '');
  }
  return undefined;
}

/** `pool.state` → `state`; `apply(fn)` → `apply(`. */
const withoutOwner = (span) => span.replace(/^(pool|result)\./, '');
const namesMethod = (span, name) => {
  const rest = withoutOwner(span);
  return rest.startsWith(name) && (rest[name.length] === '(' || rest[name.length] === '<');
};
const namesGetter = (span, name) => /^(pool|result)\./.test(span) && withoutOwner(span) === name;

// 1. Every export appears in the docs' code.
const code = codeText(docs);
for (const name of exports.keys()) {
  if (!inCode(code, name)) {
    problem(`${name}: exported from lib/index.ts but not in ${docsName} (as code: \`${name}\`)`);
  }
}

// Every property of the other option interfaces appears in the docs' code too.
for (const [name, defaults] of optionDefaults) {
  for (const property of defaults.keys()) {
    if (!inCode(code, property)) {
      problem(`${name}.${property}: not in ${docsName} (as code: \`${property}\`)`);
    }
  }
}

// 4. The options table against PoolOptions.
/** `` `Infinity`: the queue grows… `` → `infinity`. See the matching rules at the top. */
function defaultValue(text) {
  const flat = text.replace(/`/g, '').replace(/\s+/g, ' ').trim().toLowerCase();
  let depth = 0;
  let quote = null;
  let end = flat.length;
  for (let i = 0; i < flat.length; i++) {
    const char = flat[i];
    if (quote !== null) {
      quote = char === quote ? null : quote;
    } else if (char === "'" || char === '"') {
      quote = char;
    } else if ('([{'.includes(char)) {
      depth++;
    } else if (')]}'.includes(char)) {
      depth--;
    } else if (depth === 0 && (',:;'.includes(char) || (char === ' ' && flat[i + 1] === '('))) {
      end = i;
      break;
    }
  }
  const value = flat.slice(0, end).trim();
  return value === 'none' ? 'undefined' : value;
}

const optionsHeading = lines.findIndex((line) => /^### Options\s*$/.test(line));
if (optionsHeading === -1) {
  problem(`${docsName}: no "### Options" heading, so no options table to check`);
} else {
  const table = tableAfter(optionsHeading + 1);
  const defaultColumn = table.header.findIndex((cell) => cell.toLowerCase() === 'default');
  const poolDefaults = optionDefaults.get('PoolOptions');
  if (defaultColumn === -1) {
    problem(`${docsName}:${table.line}: the options table has no "default" column`);
  } else {
    const documented = new Map();
    for (const { cells, line } of table.rows) {
      const option = firstCodeSpan(cells[0] ?? '') ?? cells[0];
      documented.set(option, { cell: cells[defaultColumn] ?? '', line });
    }
    for (const [option, tag] of poolDefaults) {
      const row = documented.get(option);
      if (row === undefined) {
        problem(`PoolOptions.${option}: missing from the options table of ${docsName}:${table.line}`);
      } else if (tag !== undefined && defaultValue(row.cell) !== defaultValue(tag)) {
        problem(
          `PoolOptions.${option}: ${docsName}:${row.line} gives the default ${JSON.stringify(row.cell)}, ` +
            `its @default is ${JSON.stringify(tag)} (compared: "${defaultValue(row.cell)}" ≠ "${defaultValue(tag)}")`,
        );
      }
    }
    for (const [option, { line }] of documented) {
      if (!poolDefaults.has(option)) {
        problem(`${docsName}:${line}: the options table lists \`${option}\`, which is not a property of PoolOptions`);
      }
    }
  }
}

// 5. Methods and getters of Pool and AsyncResult, both ways.
function publicMethodsAndGetters(className) {
  const declaration = declarationOf(className);
  const found = [];
  for (const member of declaration.members) {
    if (!isPublicMember(member) || ts.isConstructorDeclaration(member)) {
      continue;
    }
    if (ts.isMethodDeclaration(member)) {
      found.push({ name: memberName(member, declaration.getSourceFile()), kind: 'method' });
    } else if (ts.isGetAccessorDeclaration(member)) {
      found.push({ name: memberName(member, declaration.getSourceFile()), kind: 'getter' });
    }
  }
  return found;
}

const sectionIsFor = (section, className) =>
  className === 'AsyncResult' ? section.heading.includes('AsyncResult') : !section.heading.includes('AsyncResult');

for (const className of documentedClasses) {
  const members = publicMethodsAndGetters(className);
  const spans = sections
    .filter((section) => sectionIsFor(section, className))
    .flatMap((section) =>
      section.lines.map((_, offset) => naming(section, offset)).filter((span) => span !== undefined),
    );
  for (const { name, kind } of members) {
    const documented = spans.some((span) => (kind === 'method' ? namesMethod(span, name) : namesGetter(span, name)));
    if (!documented) {
      const expected = kind === 'method' ? `\`${name}(…)\`` : `\`pool.${name}\``;
      problem(`${className}.${name}: public ${kind} in no heading or table of ${docsName} (expected ${expected})`);
    }
  }
}

/** A member name at the start of a code span that looks like a call: `apply(` → `apply`. */
const calledName = (span) => /^(\[Symbol\.\w+\]|[A-Za-z_$][\w$]*)\(/.exec(withoutOwner(span))?.[1];

const methodsSection = sections.find((section) => /^## Methods\s*$/.test(section.heading));
if (methodsSection === undefined) {
  problem(`${docsName}: no "## Methods" section`);
} else {
  const poolMethods = new Set(publicMethodsAndGetters('Pool').map(({ name }) => name));
  for (const [offset, line] of methodsSection.lines.entries()) {
    const span = /^#{3,6} /.test(line) ? naming(methodsSection, offset) : undefined;
    const name = span && calledName(span);
    if (name !== undefined && !poolMethods.has(name)) {
      problem(`${docsName}:${methodsSection.start + offset + 1}: heading for \`${name}()\`, which Pool does not have`);
    }
  }
}

const resultSection = sections.find((section) => /^## .*AsyncResult/.test(section.heading));
if (resultSection !== undefined) {
  const resultMethods = new Set(publicMethodsAndGetters('AsyncResult').map(({ name }) => name));
  for (const [offset, line] of resultSection.lines.entries()) {
    const span = isTableRow(line) ? naming(resultSection, offset) : undefined;
    const name = span && calledName(span);
    if (name !== undefined && !resultMethods.has(name)) {
      problem(
        `${docsName}:${resultSection.start + offset + 1}: table row for \`${name}()\`, which AsyncResult does not have`,
      );
    }
  }
}

// 6. The exported types table.
const typesSection = sections.find((section) => /^## Exported types\s*$/.test(section.heading));
if (typesSection === undefined) {
  problem(`${docsName}: no "## Exported types" section`);
} else {
  const table = tableAfter(typesSection.start + 1);
  const rows = new Map(
    table.rows.map(({ cells, line }) => [(firstCodeSpan(cells[0] ?? '') ?? '').replace(/<.*$/, ''), line]),
  );
  for (const [name, symbol] of exports) {
    const isType = (symbol.flags & (ts.SymbolFlags.Interface | ts.SymbolFlags.TypeAlias)) !== 0;
    const isValue = (symbol.flags & ts.SymbolFlags.Value) !== 0;
    if (isType && !isValue && !rows.has(name)) {
      problem(`${name}: exported type with no row in the table of "## Exported types" (${docsName}:${table.line})`);
    }
  }
  for (const [name, line] of rows) {
    if (!exports.has(name)) {
      problem(`${docsName}:${line}: the exported types table lists \`${name}\`, which lib/index.ts does not export`);
    }
  }
}

// ---- Report ------------------------------------------------------------------------

if (problems.length > 0) {
  console.error(`docs:check found ${problems.length} problem${problems.length === 1 ? '' : 's'}:`);
  for (const message of problems) {
    console.error(`- ${message}`);
  }
  process.exit(1);
}
console.log(
  `docs:check: ${exports.size} exports, ${[...optionDefaults.values()].reduce((n, d) => n + d.size, 0)} options, ` +
    `the options table and the methods of ${documentedClasses.join(' and ')} agree with ${docsName}`,
);
