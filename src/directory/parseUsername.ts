// Turns what a person types into the one directory attribute and value to look them up by.

export interface ParsedUsername {
  attribute: 'sAMAccountName' | 'userPrincipalName';
  /** Lower-cased, NFC-normalised; AD compares these attributes case-insensitively anyway. */
  value: string;
}

export interface UsernameRules {
  netbiosDomain: string;
  upnSuffixes: readonly string[];
}

export const MAX_USERNAME_LENGTH = 256;

// C0, DEL and C1 controls, plus line/paragraph separators: never part of a real account name,
// and a classic way to smuggle lines into logs.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/u;

/** Returns null for anything that cannot name an account in this domain. */
export function parseUsername(input: string, rules: UsernameRules): ParsedUsername | null {
  if (typeof input !== 'string') return null;
  if (CONTROL.test(input)) return null;
  const s = input.trim().normalize('NFC').toLowerCase();
  if (s.length === 0 || s.length > MAX_USERNAME_LENGTH) return null;

  const slash = s.indexOf('\\');
  if (slash !== -1) {
    const domain = s.slice(0, slash);
    const name = s.slice(slash + 1);
    if (!rules.netbiosDomain || domain !== rules.netbiosDomain.normalize('NFC').toLowerCase()) return null;
    if (!isPlainName(name)) return null;
    return { attribute: 'sAMAccountName', value: name };
  }

  const at = s.lastIndexOf('@');
  if (at !== -1) {
    const name = s.slice(0, at);
    const suffix = s.slice(at + 1);
    const allowed = rules.upnSuffixes.some((u) => u.normalize('NFC').toLowerCase() === suffix);
    if (!allowed || !isPlainName(name) || name.includes('@')) return null;
    return { attribute: 'userPrincipalName', value: s };
  }

  if (!isPlainName(s)) return null;
  return { attribute: 'sAMAccountName', value: s };
}

function isPlainName(name: string): boolean {
  return name.length > 0 && name.trim() === name && !name.includes('\\');
}
