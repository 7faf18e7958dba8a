/**
 * Plots as static SVG: a Vega-Lite spec compiled to Vega and rendered headless
 * (`renderer: 'none'`, no DOM, no canvas), so a report needs no browser to be written
 * and no script to be read.
 */
import { parse, View } from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

/** One rendered plot of a report. */
export interface Plot {
  /** Stable name, the figure's `data-plot` attribute (`selection-order`, `pareto-memory`, ...). */
  readonly name: string;
  readonly title: string;
  /** What the plot shows and how to read it. */
  readonly caption: string;
  readonly svg: string;
}

/** A plot still to be drawn. */
export interface PlotSpec {
  readonly name: string;
  readonly title: string;
  readonly caption: string;
  readonly spec: TopLevelSpec;
}

/** The look shared by every plot. */
const CONFIG = {
  font: 'system-ui, -apple-system, "Segoe UI", Roboto, "Liberation Sans", Arial, sans-serif',
  background: 'white',
  padding: 8,
  view: { stroke: '#ddd' },
  axis: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: 'normal', gridColor: '#eee' },
  legend: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: 'normal', labelLimit: 240 },
  title: { fontSize: 13, fontWeight: 'normal', anchor: 'start' },
  range: { category: { scheme: 'tableau10' } },
} as const;

/**
 * Rewrites the SVG's element ids (clip paths, gradients) and their references under
 * `prefix`, so several plots inline in one page never share an id.
 */
export function scopeIds(svg: string, prefix: string): string {
  const ids = new Set<string>();
  for (const match of svg.matchAll(/\sid="([^"]+)"/g)) ids.add(match[1]);
  if (ids.size === 0) return svg;
  return svg
    .replace(/(\sid=")([^"]+)(")/g, (all, open: string, id: string, close: string) =>
      ids.has(id) ? `${open}${prefix}-${id}${close}` : all,
    )
    .replace(/url\(#([^)]+)\)/g, (all, id: string) => (ids.has(id) ? `url(#${prefix}-${id})` : all))
    .replace(/(href=")#([^"]+)(")/g, (all, open: string, id: string, close: string) =>
      ids.has(id) ? `${open}#${prefix}-${id}${close}` : all,
    );
}

/** Renders a Vega-Lite spec to an SVG string; `scope` prefixes its ids. */
export async function renderSvg(spec: TopLevelSpec, scope: string): Promise<string> {
  const config = { ...CONFIG, ...(spec.config ?? {}) };
  const compiled = compile({ ...spec, config } as TopLevelSpec).spec;
  const view = new View(parse(compiled), { renderer: 'none' });
  try {
    const svg = await view.toSVG();
    return scopeIds(svg.replace(/^<\?xml[^>]*>\s*/, ''), scope);
  } finally {
    view.finalize();
  }
}

/** Draws the plots in order; `scope` keeps ids apart when one page holds several sections. */
export async function renderPlots(specs: readonly PlotSpec[], scope: string): Promise<Plot[]> {
  const plots: Plot[] = [];
  for (const { spec, ...plot } of specs) {
    plots.push({ ...plot, svg: await renderSvg(spec, `${scope}-${plot.name}`) });
  }
  return plots;
}
