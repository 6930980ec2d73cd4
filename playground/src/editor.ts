import { cpp } from '@codemirror/lang-cpp';
import { go } from '@codemirror/lang-go';
import { java } from '@codemirror/lang-java';
import { javascript } from '@codemirror/lang-javascript';
import { python } from '@codemirror/lang-python';
import { rust } from '@codemirror/lang-rust';
import { type LanguageSupport, StreamLanguage } from '@codemirror/language';
import { shell } from '@codemirror/legacy-modes/mode/shell';
import { Compartment, type Extension, StateEffect, StateField } from '@codemirror/state';
import { oneDark } from '@codemirror/theme-one-dark';
import { Decoration, type DecorationSet, EditorView, keymap } from '@codemirror/view';
import { basicSetup } from 'codemirror';

const LANGUAGES: Record<string, () => LanguageSupport | Extension> = {
  python: () => python(),
  javascript: () => javascript(),
  typescript: () => javascript({ typescript: true }),
  c: () => cpp(),
  cpp: () => cpp(),
  rust: () => rust(),
  go: () => go(),
  java: () => java(),
  bash: () => StreamLanguage.define(shell),
};

const setErrorLine = StateEffect.define<number | null>();
const errorLineMark = Decoration.line({ class: 'cm-error-line', attributes: { 'data-error-line': 'true' } });

/** The line a compiler blamed, highlighted until the code changes or the next run. */
const errorLineField = StateField.define<DecorationSet>({
  create: () => Decoration.none,
  update(marks, tr) {
    let next = tr.docChanged ? Decoration.none : marks;
    for (const effect of tr.effects) {
      if (!effect.is(setErrorLine)) continue;
      const line = effect.value;
      next =
        line !== null && line >= 1 && line <= tr.state.doc.lines
          ? Decoration.set([errorLineMark.range(tr.state.doc.line(line).from)])
          : Decoration.none;
    }
    return next;
  },
  provide: (field) => EditorView.decorations.from(field),
});

/** CodeMirror with a language per runtime, light/dark, Mod-Enter to run, and an error-line mark. */
export class CodeEditor {
  private readonly view: EditorView;
  private readonly language = new Compartment();
  private readonly theme = new Compartment();

  constructor(parent: HTMLElement, onRun: () => void) {
    this.view = new EditorView({
      parent,
      extensions: [
        // Before basicSetup's keymap, where Mod-Enter would insert a blank line.
        keymap.of([
          {
            key: 'Mod-Enter',
            run: () => {
              onRun();
              return true;
            },
          },
        ]),
        basicSetup,
        this.language.of([]),
        this.theme.of([]),
        errorLineField,
        EditorView.contentAttributes.of({ 'aria-label': 'Source code' }),
      ],
    });
  }

  get code(): string {
    return this.view.state.doc.toString();
  }

  set code(text: string) {
    this.view.dispatch({ changes: { from: 0, to: this.view.state.doc.length, insert: text } });
  }

  setRuntime(runtime: string): void {
    const language = LANGUAGES[runtime]?.() ?? [];
    this.view.dispatch({ effects: this.language.reconfigure(language) });
  }

  setDark(dark: boolean): void {
    this.view.dispatch({ effects: this.theme.reconfigure(dark ? oneDark : []) });
  }

  /** Highlights a 1-based line and scrolls to it; null clears. */
  markErrorLine(line: number | null): void {
    const effects: StateEffect<unknown>[] = [setErrorLine.of(line)];
    if (line !== null && line >= 1 && line <= this.view.state.doc.lines) {
      effects.push(EditorView.scrollIntoView(this.view.state.doc.line(line).from, { y: 'center' }));
    }
    this.view.dispatch({ effects });
  }
}
