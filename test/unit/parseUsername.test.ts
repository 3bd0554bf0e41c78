import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseUsername } from '../../src/directory/parseUsername.js';

const rules = { netbiosDomain: 'CORP', upnSuffixes: ['corp.example.com', 'Staff.Example.org'] };

test('parseUsername accepts the three forms, case-insensitively', () => {
  const table: Array<[string, ReturnType<typeof parseUsername>]> = [
    ['alice', { attribute: 'sAMAccountName', value: 'alice' }],
    ['  Alice  ', { attribute: 'sAMAccountName', value: 'alice' }],
    ['ALICE', { attribute: 'sAMAccountName', value: 'alice' }],
    ['CORP\\alice', { attribute: 'sAMAccountName', value: 'alice' }],
    ['corp\\Alice', { attribute: 'sAMAccountName', value: 'alice' }],
    ['alice@corp.example.com', { attribute: 'userPrincipalName', value: 'alice@corp.example.com' }],
    ['Bob@STAFF.example.ORG', { attribute: 'userPrincipalName', value: 'bob@staff.example.org' }],
    // Decomposed é (e + U+0301) becomes the composed form AD stores.
    ['rene\u0301', { attribute: 'sAMAccountName', value: 'ren\u00e9' }],
    ['研发', { attribute: 'sAMAccountName', value: '研发' }],
    // Filter metacharacters pass through as data: the search filter escapes them.
    ['alice*', { attribute: 'sAMAccountName', value: 'alice*' }],
    ['a)(cn=*', { attribute: 'sAMAccountName', value: 'a)(cn=*' }],
    ['a'.repeat(256), { attribute: 'sAMAccountName', value: 'a'.repeat(256) }],
  ];
  for (const [input, expected] of table) assert.deepEqual(parseUsername(input, rules), expected, JSON.stringify(input));
});

test('parseUsername rejects everything else', () => {
  const table = [
    '',
    '   ',
    'OTHER\\alice',
    '\\alice',
    'CORP\\',
    'CORP\\a\\b',
    'alice@evil.example.com',
    'alice@corp.example.com.evil',
    '@corp.example.com',
    'a@b@corp.example.com',
    'ali\u0000ce',
    'alice\n',
    'ali\tce',
    'alice\u2028',
    'a'.repeat(257),
  ];
  for (const input of table) assert.equal(parseUsername(input, rules), null, JSON.stringify(input));
});

test('without a NetBIOS domain or UPN suffixes those forms are refused', () => {
  const none = { netbiosDomain: '', upnSuffixes: [] };
  assert.equal(parseUsername('CORP\\alice', none), null);
  assert.equal(parseUsername('alice@corp.example.com', none), null);
  assert.deepEqual(parseUsername('alice', none), { attribute: 'sAMAccountName', value: 'alice' });
});
