import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pickKerberosAccount, principalUpns } from '../../src/directory/kerberosAccount.js';

const BOB = { dn: 'CN=Bob,OU=People,DC=corp,DC=example,DC=com', sAMAccountName: 'bob' };
// Another account whose UPN is bob@corp.example.com: the KDC may have issued the ticket for bob@CORP.EXAMPLE.COM to it.
const UPN_HOLDER = { dn: 'CN=Robert,OU=People,DC=corp,DC=example,DC=com', sAMAccountName: 'robert' };

test('a principal binds to the one account called by its name, and to nothing when another account holds the name as its UPN', () => {
  assert.equal(pickKerberosAccount([BOB], 'bob'), BOB.dn);
  assert.equal(pickKerberosAccount([{ ...BOB, sAMAccountName: 'Bob' }], 'bob'), BOB.dn, 'AD compares names case-insensitively');
  assert.equal(pickKerberosAccount([BOB, UPN_HOLDER], 'bob'), null, 'a collision: neither');
  assert.equal(pickKerberosAccount([UPN_HOLDER, BOB], 'bob'), null, 'in either order');
  assert.equal(pickKerberosAccount([UPN_HOLDER], 'bob'), null, 'matched by its UPN only');
  assert.equal(pickKerberosAccount([], 'bob'), null);
});

test('the UPNs asked for are the principal with the realm as the KDC writes it and as AD usually stores it', () => {
  assert.deepEqual(principalUpns('bob', 'CORP.EXAMPLE.COM'), ['bob@CORP.EXAMPLE.COM', 'bob@corp.example.com']);
});
