/**
 * Every word a console page asks for by a literal key exists in the table, in both languages
 * (issue 15: zh-CN by default with an English switch). A key missing from the table would show
 * as the key itself on the page; an empty English entry would silently fall back to Chinese.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hasWord, translate } from '../../gateway/src/console/i18n.ts';

const CONSOLE_DIR = join(import.meta.dirname, '../../gateway/src/console');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'assets' ? [] : sources(path);
    return /\.(eta|ts)$/.test(entry.name) ? [path] : [];
  });
}

function literalKeys(): Map<string, string> {
  const keys = new Map<string, string>();
  for (const file of sources(CONSOLE_DIR)) {
    for (const match of readFileSync(file, 'utf8').matchAll(/\bt\(\s*'([a-z0-9][a-z0-9.-]*)'\s*[,)]/g)) {
      keys.set(match[1] as string, file);
    }
  }
  return keys;
}

describe('console words', () => {
  const keys = literalKeys();

  it('finds the keys the pages use (the scan itself works)', () => {
    expect(keys.size).toBeGreaterThan(100);
    expect(keys.has('app.title')).toBe(true);
  });

  it('every literal key a page uses is in the table, with a Chinese and an English word', () => {
    const missing = [...keys].filter(([key]) => !hasWord(key)).map(([key, file]) => `${key} (${file})`);
    expect(missing).toEqual([]);
    const noEnglish = [...keys.keys()].filter((key) => translate('en', key) === translate('zh-CN', key));
    expect(noEnglish).toEqual([]);
    // The language switch names the other language: 'English' on the Chinese page, '中文' on the English one.
    const noChinese = [...keys.keys()].filter((key) => key !== 'app.lang-switch' && !/[\u4e00-\u9fff]/.test(translate('zh-CN', key)));
    expect(noChinese).toEqual([]);
  });
});
