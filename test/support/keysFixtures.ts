// Shared by the keyring and assertion unit tests: one identity to sign for, and a clock the test moves by hand.
import type { Identity } from '../../src/session/identity.js';

export const alice: Identity = {
  sub: '3f2504e0-4f89-11d3-9a0c-0305e82c3301',
  username: 'alice',
  email: 'alice@corp.example.com',
  name: 'Alice Adams',
  dn: 'CN=Alice Adams,OU=People,DC=corp,DC=example,DC=com',
  groups: [],
  orgRole: 'member',
  teams: [],
  isAdmin: false,
};

export function pinned(start = Date.UTC(2026, 10, 26, 12)) {
  return {
    t: start,
    now() {
      return this.t;
    },
  };
}
