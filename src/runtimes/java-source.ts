import { posix } from 'node:path';

/**
 * Java insists that a public class lives in a file of its name and that `java` is given the
 * fully qualified name of the class with `main`. Callers (Piston's tests, Judge0 users, people
 * pasting code) name files whatever they like, so the layout is derived from the source instead.
 */

export interface JavaUnit {
  packageName: string | null;
  /** The top-level public type, when there is one. */
  publicType: string | null;
  /** The type that declares `static void main(`, when there is one. */
  mainType: string | null;
}

/** Comments, string, text-block and char literals blanked out, so declarations inside them do not count. */
function stripLiterals(source: string): string {
  return source.replace(
    /"""[\s\S]*?"""|"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'|\/\*[\s\S]*?\*\/|\/\/[^\n]*/g,
    (m) => m.replace(/[^\n]/g, ' '),
  );
}

const TYPE_DECL = /\b(?:class|interface|enum|record)\s+([A-Za-z_$][\w$]*)/g;

function closingBrace(code: string, open: number): number {
  let depth = 0;
  for (let i = open; i < code.length; i++) {
    if (code[i] === '{') depth++;
    else if (code[i] === '}' && --depth === 0) return i;
  }
  return code.length;
}

export function parseJavaSource(source: string): JavaUnit {
  const code = stripLiterals(source);
  const packageName = code.match(/^\s*package\s+([\w$]+(?:\s*\.\s*[\w$]+)*)\s*;/m)?.[1]?.replace(/\s+/g, '');
  // Modifiers may sit between `public` and the keyword; the first public type is the top-level one
  // (nested public types come after their enclosing type's declaration).
  const publicType =
    code.match(
      /\bpublic\s+(?:(?:final|abstract|strictfp|sealed|non-sealed|static)\s+)*(?:class|interface|enum|record)\s+([A-Za-z_$][\w$]*)/,
    )?.[1] ?? null;
  let mainType: string | null = null;
  const main = code.search(/\bstatic\s+(?:final\s+)?void\s+main\s*\(/);
  if (main >= 0) {
    // The innermost type whose body holds `main`.
    for (const m of code.slice(0, main).matchAll(TYPE_DECL)) {
      const open = code.indexOf('{', m.index);
      if (open >= 0 && open < main && closingBrace(code, open) > main) mainType = m[1] ?? mainType;
    }
  }
  return { packageName: packageName ?? null, publicType, mainType };
}

export interface JavaLayout {
  /** Files after renaming each to its public type (same directory). */
  files: { path: string; content: Buffer; mode: number }[];
  /** The main file's new path. */
  main: string;
  /** Fully qualified name of the class to run. */
  mainClass: string;
  /** Every .java file, for javac (a flat layout with packages is not found through the source path). */
  sources: string[];
}

/**
 * Renames `.java` files after their public type and finds the class to run: the one with `main` in
 * the main file, else in the first other file that has one, else the main file's own name.
 */
export function layoutJavaSources(
  files: { path: string; content: Buffer; mode: number }[],
  main: string,
): JavaLayout {
  const taken = new Set(files.map((f) => f.path));
  let newMain = main;
  const units = new Map<string, JavaUnit>();
  const renamed = files.map((file) => {
    if (!file.path.endsWith('.java')) return file;
    const unit = parseJavaSource(file.content.toString('utf8'));
    const wanted = unit.publicType
      ? posix.join(posix.dirname(file.path), `${unit.publicType}.java`)
      : file.path;
    const path = wanted !== file.path && !taken.has(wanted) ? wanted : file.path;
    if (path !== file.path) {
      taken.delete(file.path);
      taken.add(path);
    }
    units.set(path, unit);
    if (file.path === main) newMain = path;
    return path === file.path ? file : { ...file, path };
  });
  const qualified = (unit: JavaUnit, type: string) =>
    unit.packageName ? `${unit.packageName}.${type}` : type;
  const mainUnit = units.get(newMain);
  let mainClass: string | null = mainUnit?.mainType ? qualified(mainUnit, mainUnit.mainType) : null;
  if (!mainClass) {
    for (const [, unit] of units) {
      if (unit.mainType) {
        mainClass = qualified(unit, unit.mainType);
        break;
      }
    }
  }
  mainClass ??= posix.basename(newMain).replace(/\.[^.]*$/, '');
  return { files: renamed, main: newMain, mainClass, sources: [...units.keys()] };
}
