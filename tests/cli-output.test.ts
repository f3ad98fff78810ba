// How `paligemma generate` prints a result whose text would show as nothing but blank lines.
import { describe, expect, it } from 'vitest';
import { visible } from '../src/cli/generate.js';

describe('generate output', () => {
  it('prints text as it is', () => {
    expect(visible(' a cat\n', [3, 4])).toBe(' a cat\n');
  });

  it('escapes whitespace-only text and gives its ids', () => {
    expect(visible('\n\n\t ', [108, 108, 255, 235])).toBe('(only whitespace: "\\n\\n\\t "; ids 108 108 255 235)');
  });

  it('says when there is no text at all', () => {
    expect(visible('', [])).toBe('(no text; ids none)');
    expect(visible('', [1])).toBe('(no text; ids 1)');
  });
});
