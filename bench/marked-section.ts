/**
 * A section of a generated Markdown file that another generator owns, kept between
 * `<!-- NAME -->` and `<!-- /NAME -->`: bench/selection.ts writes its section of
 * EVALUATION.md so, and bench/eval.ts carries it over when it rewrites the file.
 */

/** The section written by `npm run bench:selection`. */
export const SELECTION_SECTION = 'bench:selection';

const begin = (name: string) => `<!-- ${name} -->`;
const end = (name: string) => `<!-- /${name} -->`;

/** The section with its markers, or undefined when the document has none. */
export function markedSection(document: string, name: string): string | undefined {
  const start = document.indexOf(begin(name));
  const stop = document.indexOf(end(name), start);
  if (start < 0 || stop < 0) return undefined;
  return document.slice(start, stop + end(name).length);
}

/** The document with the section's body replaced, or the section appended when it has none. */
export function spliceMarkedSection(document: string, name: string, body: string): string {
  const block = `${begin(name)}\n${body.trimEnd()}\n${end(name)}`;
  const current = markedSection(document, name);
  if (current !== undefined) return document.replace(current, () => block);
  return `${document.trimEnd()}${document.trim() === '' ? '' : '\n\n'}${block}\n`;
}
