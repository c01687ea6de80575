/**
 * Small helpers for self-contained HTML reports with inline SVG charts (no scripts, no external
 * resources): escaping, SVG elements, a figure wrapper, a table and the page around them.
 * Shared by the city-day report (demo/report-html.ts) and the bench chart (bench/report-html.ts).
 */

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

export const PALETTE = ['#2f6fb3', '#e0892b', '#3a9e5c', '#c4453d', '#7c5cb8', '#8c6d4f', '#d16ba5', '#6b7b8c'];
export const PASS_COLOR = PALETTE[2];
export const FAIL_COLOR = PALETTE[3];

/** A coordinate: integers as they are, anything else to one decimal. */
export function coord(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(1);
}

export type SvgAttrs = Record<string, string | number | undefined>;

/** Attributes in the order given; numbers as coordinates, strings escaped, undefined left out. */
function attrs(a: SvgAttrs): string {
  return Object.entries(a)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => ` ${k}="${typeof v === 'number' ? coord(v) : escapeHtml(v!)}"`)
    .join('');
}

const tooltip = (title: string | undefined): string => (title === undefined ? '' : `<title>${escapeHtml(title)}</title>`);

export function svgRect(x: number, y: number, width: number, height: number, fill: string, title?: string, extra: SvgAttrs = {}): string {
  return `<rect${attrs({ x, y, width: Math.max(0, width), height, fill, ...extra })}>${tooltip(title)}</rect>`;
}

/** Text (escaped here) at x, y; extra attributes such as text-anchor and class. */
export function svgText(x: number, y: number, content: string, extra: SvgAttrs = {}, title?: string): string {
  return `<text${attrs({ x, y, ...extra })}>${tooltip(title)}${escapeHtml(content)}</text>`;
}

export function svgLine(x1: number, y1: number, x2: number, y2: number, stroke: string, extra: SvgAttrs = {}, title?: string): string {
  const attributes = attrs({ x1, y1, x2, y2, stroke, ...extra });
  return title === undefined ? `<line${attributes}/>` : `<line${attributes}>${tooltip(title)}</line>`;
}

/** An SVG in a figure, with its title written at the top left. */
export function svgFigure(title: string, width: number, height: number, body: string, extra: SvgAttrs = {}): string {
  return `<figure><svg xmlns="http://www.w3.org/2000/svg"${attrs({ viewBox: `0 0 ${width} ${height}`, width, height, role: 'img', 'aria-label': title, ...extra })}>
${svgText(0, 16, title, { class: 't' })}${body}</svg></figure>`;
}

/** A table cell: plain (escaped, numbers right-aligned) or with a class. */
export type Cell = string | number | { text: string; cls: string };

export function htmlTable(header: string[], rows: Cell[][]): string {
  const cell = (c: Cell): string => {
    if (typeof c === 'object') return `<td class="${escapeHtml(c.cls)}">${escapeHtml(c.text)}</td>`;
    return `<td${typeof c === 'number' || /^-?[\d,.]+$/.test(String(c)) ? ' class="n"' : ''}>${escapeHtml(String(c))}</td>`;
  };
  const head = header.map((h) => `<th>${escapeHtml(h)}</th>`).join('');
  const body = rows.map((r) => `<tr>${r.map(cell).join('')}</tr>`).join('\n');
  return `<table><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
}

export const REPORT_CSS = `body{font:14px/1.45 system-ui,-apple-system,"Segoe UI","Noto Sans CJK SC",sans-serif;max-width:980px;margin:24px auto;padding:0 16px;color:#222}
h1{margin-bottom:4px}h2{margin-top:32px;border-bottom:1px solid #ddd;padding-bottom:4px}.meta{color:#666}
.ok{background:#e6f4ea;border:1px solid #3a9e5c;padding:10px 14px;border-radius:6px;font-weight:600}
.bad{background:#fbe9e7;border:1px solid #c4453d;padding:10px 14px;border-radius:6px;font-weight:600}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin:16px 0}.cards div{flex:1;min-width:140px;background:#f5f7fa;border-radius:6px;padding:10px;color:#555}
.cards b{display:block;font-size:22px;color:#222}
table{border-collapse:collapse;margin:8px 0 16px}td,th{border-bottom:1px solid #eee;padding:3px 10px;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}
figure{margin:12px 0}svg text{font:12px system-ui,sans-serif;fill:#333}svg .t{font-weight:600;font-size:13px}svg .s{font-size:10px;fill:#666}svg .v{fill:#555}`;

/** A whole self-contained page: the title is escaped, the body is HTML as given. */
export function htmlPage(title: string, body: string, extraCss = ''): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>
${REPORT_CSS}${extraCss ? `\n${extraCss}` : ''}
</style></head><body>
${body}
</body></html>
`;
}
