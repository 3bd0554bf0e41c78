// Values shown to an admin (CLI tables and printers, console pages) carry no control characters that act.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { table } from '../../src/cli/common.js';
import { escapeControls, escapeControlsKeepLines } from '../../src/shared/terminalText.js';

describe('escaping controls for a terminal or a page', () => {
  test('C0 (ESC, CR, BEL, NUL), DEL, C1 (CSI, OSC) and bidi overrides become visible escapes', () => {
    assert.equal(escapeControls('a\u001b[2Jb\rc\u0007\u0000\u007f\u009b31m\u009d0;x\u202eevil'), 'a\\u001b[2Jb\\u000dc\\u0007\\u0000\\u007f\\u009b31m\\u009d0;x\\u202eevil');
    assert.equal(escapeControls('line\nnext\ttab'), 'line\\u000anext\\u0009tab', 'one value stays on one line');
    assert.equal(escapeControlsKeepLines('line\nnext\ttab\u001b'), 'line\nnext\ttab\\u001b', 'output keeps its layout');
    assert.equal(escapeControls('王卡萝 Ünïcode é'), '王卡萝 Ünïcode é', 'printable text is untouched');
  });

  test('an escaped string is still JSON for the same value', () => {
    const raw = JSON.stringify({ ua: 'x\u009b2J\u0085' });
    assert.deepEqual(JSON.parse(escapeControlsKeepLines(raw)), { ua: 'x\u009b2J\u0085' });
  });

  test('table cells are escaped and aligned on what is printed', () => {
    const out = table([['user', 'browser'], ['eve\u001b]0;title\u0007', 'ok'], ['bob', 'x']]);
    assert.doesNotMatch(out, /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
    const [head, eve, bob] = out.split('\n');
    assert.equal(eve!.indexOf('ok'), bob!.indexOf('x'));
    assert.equal(head!.indexOf('browser'), bob!.indexOf('x'));
  });
});
