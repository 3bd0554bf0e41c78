// Why Kerberos stays off when the binding cannot load: the words check-config and `serve` print, from the errors
// Node and the dynamic linker give (the binding is built on this machine, so its real load is checked too).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bindingProblem, loadKerberosBinding } from '../../src/auth/kerberos/loadBinding.js';

test('the binding built here loads', async () => {
  const r = await loadKerberosBinding();
  assert.ok(r.ok, r.ok ? '' : r.why);
});

test('each way it fails is named so an operator knows what to install', () => {
  const notInstalled = Object.assign(new Error("Cannot find package 'kerberos' imported from /app/dist/auth/kerberos/loadBinding.js"), { code: 'ERR_MODULE_NOT_FOUND' });
  assert.equal(bindingProblem(notInstalled), 'the kerberos package is not installed (an install without optional dependencies?)');
  const notBuilt = Object.assign(new Error("Cannot find module '../build/Debug/kerberos.node'\nRequire stack:\n- /app/node_modules/kerberos/lib/util.js"), { code: 'MODULE_NOT_FOUND' });
  assert.equal(bindingProblem(notBuilt), 'the kerberos package is not built (its native part needs a compiler and libkrb5-dev: npm rebuild kerberos)');
  const noLib = Object.assign(new Error('libgssapi_krb5.so.2: cannot open shared object file: No such file or directory'), { code: 'ERR_DLOPEN_FAILED' });
  assert.equal(bindingProblem(noLib), 'the system GSSAPI library is not found (libgssapi_krb5.so.2: install libgssapi-krb5-2)');
  assert.equal(bindingProblem(new Error('something else\nsecond line')), 'the kerberos package cannot be loaded (something else)');
});
