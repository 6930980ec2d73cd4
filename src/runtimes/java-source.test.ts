import { describe, expect, it } from 'vitest';
import { layoutJavaSources, parseJavaSource } from './java-source.js';

const file = (path: string, text: string) => ({ path, content: Buffer.from(text), mode: 0o644 });

describe('parseJavaSource', () => {
  it('finds the package, the public type and the type with main', () => {
    const unit = parseJavaSource(`// class Fake {}
package com.example.app;
import java.util.*;
/* public class Commented {} */
public final class HelloWorld {
  static class Inner {}
  public static void main(String[] args) { System.out.println("class Nope { static void main("); }
}`);
    expect(unit).toEqual({
      packageName: 'com.example.app',
      publicType: 'HelloWorld',
      mainType: 'HelloWorld',
    });
  });

  it('finds main in a non-public class and no public type', () => {
    expect(
      parseJavaSource('class Helper {}\nclass Solution { public static void main(String[] a) {} }'),
    ).toEqual({ packageName: null, publicType: null, mainType: 'Solution' });
  });
});

describe('layoutJavaSources', () => {
  it('renames Test.java holding public class HelloWorld and runs HelloWorld', () => {
    const layout = layoutJavaSources(
      [file('Test.java', 'public class HelloWorld { public static void main(String[] a) {} }')],
      'Test.java',
    );
    expect(layout.files.map((f) => f.path)).toEqual(['HelloWorld.java']);
    expect(layout).toMatchObject({
      main: 'HelloWorld.java',
      mainClass: 'HelloWorld',
      sources: ['HelloWorld.java'],
    });
  });

  it('runs the packaged class with main and compiles every source', () => {
    const layout = layoutJavaSources(
      [
        file(
          'app/Main.java',
          'package app;\nimport util.Greeter;\npublic class Main { public static void main(String[] a) {} }',
        ),
        file('Greeter.java', 'package util;\npublic class Greeter {}'),
        file('data.txt', 'x'),
      ],
      'app/Main.java',
    );
    expect(layout.mainClass).toBe('app.Main');
    expect(layout.sources).toEqual(['app/Main.java', 'Greeter.java']);
  });

  it('finds main in another file when the main file has none', () => {
    const layout = layoutJavaSources(
      [
        file('Lib.java', 'public class Lib {}'),
        file('x/Run.java', 'package x; public class Runner { static void main(String[] a) {} }'),
      ],
      'Lib.java',
    );
    expect(layout.mainClass).toBe('x.Runner');
    expect(layout.files.map((f) => f.path)).toEqual(['Lib.java', 'x/Runner.java']);
  });

  it('does not rename onto a file that already exists', () => {
    const layout = layoutJavaSources(
      [file('A.java', 'public class B {}'), file('B.java', 'public class B {}')],
      'A.java',
    );
    expect(layout.files.map((f) => f.path)).toEqual(['A.java', 'B.java']);
  });
});
