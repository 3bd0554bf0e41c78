// Text from outside (a User-Agent, a name from AD, a Sentry answer) shown to an admin: C0 and C1 controls, DEL and
// the bidirectional overrides become visible `\u00XX` escapes, so nothing stored can drive an admin's terminal
// (ESC, 0x9B CSI) or reorder what a page shows. `\u00XX` is also a valid JSON escape for the same character, so
// JSON output stays JSON with the same values.
const CONTROLS = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
const CONTROLS_BUT_LINES = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

const hex = (c: string) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

/** One value (a table cell, a name): every control escaped, newlines and tabs included. */
export function escapeControls(text: string): string {
  return text.replace(CONTROLS, hex);
}

/** Whole output text: every control escaped except the newlines and tabs that lay it out. */
export function escapeControlsKeepLines(text: string): string {
  return text.replace(CONTROLS_BUT_LINES, hex);
}
