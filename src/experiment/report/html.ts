/**
 * The report page: one HTML file with its CSS and SVG inline. A Content Security Policy
 * forbids loading anything (no scripts, fonts, images or styles from elsewhere), so the
 * page stays self-contained and a browser says so if it ever is not.
 */
import { formatBytes } from '../../config/size.js';
import type { Plot } from './vega.js';

/** Escapes text for an element or a double-quoted attribute. */
export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/** Trusted markup (already escaped); anything else put into a table is escaped. */
export interface Html {
  readonly html: string;
}

export function raw(html: string): Html {
  return { html };
}

export type Cell = string | number | Html | null;

function cell(value: Cell): string {
  if (value === null) return '<span class="na">—</span>';
  if (typeof value === 'object') return value.html;
  return escapeHtml(String(value));
}

export interface TableOptions {
  /** `data-table` attribute, for tests and styling. */
  readonly name: string;
  readonly caption?: string;
  /** Columns aligned right (numbers), by index. */
  readonly numeric?: readonly number[];
  /** The first column is a row header. */
  readonly rowHeaders?: boolean;
}

export function table(
  head: readonly string[],
  rows: readonly (readonly Cell[])[],
  options: TableOptions,
): string {
  const numeric = new Set(options.numeric ?? []);
  const align = (i: number) => (numeric.has(i) ? ' class="num"' : '');
  const caption = options.caption ? `<caption>${escapeHtml(options.caption)}</caption>` : '';
  const header = head.map((title, i) => `<th scope="col"${align(i)}>${escapeHtml(title)}</th>`).join('');
  const body = rows
    .map((row) => {
      const cells = row.map((value, i) =>
        i === 0 && options.rowHeaders
          ? `<th scope="row">${cell(value)}</th>`
          : `<td${align(i)}>${cell(value)}</td>`,
      );
      return `<tr>${cells.join('')}</tr>`;
    })
    .join('\n');
  return (
    `<table data-table="${escapeHtml(options.name)}">${caption}<thead><tr>${header}</tr></thead>` +
    `<tbody>\n${body}\n</tbody></table>`
  );
}

export function figure(plot: Plot): string {
  return (
    `<figure data-plot="${escapeHtml(plot.name)}"><h3>${escapeHtml(plot.title)}</h3>` +
    `<div class="plot">${plot.svg}</div><figcaption>${escapeHtml(plot.caption)}</figcaption></figure>`
  );
}

export function note(text: string, name: string): string {
  return `<p class="note" data-note="${escapeHtml(name)}">${escapeHtml(text)}</p>`;
}

// ---------------------------------------------------------------------------------------
// Numbers

export function bytes(value: number | null): string | null {
  return value === null ? null : formatBytes(value);
}

export function micros(value: number | null): string | null {
  return value === null ? null : `${value.toFixed(2)} µs`;
}

export function fixed(value: number | null | undefined, digits = 4): string | null {
  return value === null || value === undefined || !Number.isFinite(value) ? null : value.toFixed(digits);
}

export function percent(value: number | null): string | null {
  return value === null || !Number.isFinite(value) ? null : `${(100 * value).toFixed(1)}%`;
}

export function integer(value: number): string {
  return value.toLocaleString('en-US');
}

// ---------------------------------------------------------------------------------------
// The page

const CSS = `
:root { color-scheme: light; --muted: #5f6368; --rule: #e0e0e0; --accent: #2b6cb0; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1180px; padding: 24px 28px 48px; color: #1f2328;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Liberation Sans", Arial, sans-serif; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 36px 0 8px; padding-top: 8px; border-top: 1px solid var(--rule); }
h3 { font-size: 15px; margin: 0 0 6px; }
p.meta, figcaption, caption, p.note { color: var(--muted); }
p.meta { margin: 0 0 16px; }
p.note { font-style: italic; }
nav ul { margin: 4px 0 0; padding-left: 20px; columns: 2; }
a { color: var(--accent); }
section { margin-bottom: 24px; }
figure { margin: 16px 0 24px; }
figure .plot { overflow-x: auto; }
figure svg { display: block; max-width: none; height: auto; }
figcaption { font-size: 13px; margin-top: 4px; max-width: 80ch; }
table { border-collapse: collapse; margin: 8px 0 20px; font-size: 13px; }
caption { text-align: left; font-size: 13px; padding-bottom: 4px; caption-side: top; }
th, td { padding: 4px 10px; border-bottom: 1px solid var(--rule); text-align: left; vertical-align: top; }
thead th { border-bottom: 2px solid #c8c8c8; font-weight: 600; white-space: nowrap; }
tbody th { font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
span.na { color: #9aa0a6; }
.tables { display: flex; flex-wrap: wrap; gap: 0 40px; }
details summary { cursor: pointer; color: var(--accent); margin: 8px 0; }
code { font-size: 12px; background: #f4f4f4; padding: 1px 4px; border-radius: 3px; }
`;

/** Nothing may load: styles are inline, plots are inline SVG, there is no script. */
const CSP =
  "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'";

export function page(title: string, body: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="${CSP}">
<title>${escapeHtml(title)}</title>
<style>${CSS}</style>
</head>
<body>
${body}
</body>
</html>
`;
}
