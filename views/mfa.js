// The second-factor pages' WebAuthn buttons: fetch options, call the browser, post the answer back (same origin only).
'use strict';
(function () {
  var root = document.getElementById('mfa');
  if (!root || !window.PublicKeyCredential) return;
  var csrf = root.getAttribute('data-csrf');
  var next = root.getAttribute('data-next');
  var failed = document.getElementById('mfa-key-error');
  var failedText = failed.textContent;

  function b64uToBuf(s) {
    var b = atob(s.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((s.length + 3) % 4));
    var a = new Uint8Array(b.length);
    for (var i = 0; i < b.length; i++) a[i] = b.charCodeAt(i);
    return a.buffer;
  }
  function bufToB64u(buf) {
    var a = new Uint8Array(buf), s = '';
    for (var i = 0; i < a.length; i++) s += String.fromCharCode(a[i]);
    return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }
  function post(url, body) {
    body._csrf = csrf;
    body.next = next;
    return fetch(url, { method: 'POST', credentials: 'same-origin', headers: { 'content-type': 'application/json', accept: 'application/json' }, body: JSON.stringify(body) }).then(function (r) {
      return r.json().then(function (j) {
        if (!r.ok) throw j;
        return j;
      });
    });
  }
  // The gateway's own answer is worded in the page's language; the browser's (a cancelled prompt) is not: say ours.
  function showError(e) {
    failed.textContent = e && e.error && e.message ? e.message : failedText;
    failed.hidden = false;
  }
  function credentialJSON(c) {
    var r = c.response, out = { id: c.id, rawId: bufToB64u(c.rawId), type: c.type, clientExtensionResults: c.getClientExtensionResults(), response: { clientDataJSON: bufToB64u(r.clientDataJSON) } };
    if (c.authenticatorAttachment) out.authenticatorAttachment = c.authenticatorAttachment;
    if (r.attestationObject) {
      out.response.attestationObject = bufToB64u(r.attestationObject);
      out.response.transports = r.getTransports ? r.getTransports() : [];
    } else {
      out.response.authenticatorData = bufToB64u(r.authenticatorData);
      out.response.signature = bufToB64u(r.signature);
      if (r.userHandle) out.response.userHandle = bufToB64u(r.userHandle);
    }
    return out;
  }
  function busy(button, on) {
    button.disabled = on;
    if (on) {
      button.setAttribute('data-label', button.textContent);
      button.textContent = root.getAttribute('data-working');
    } else if (button.getAttribute('data-label')) button.textContent = button.getAttribute('data-label');
  }
  function done(j) {
    var panel = document.getElementById('enrol-done');
    if (!panel) return window.location.assign(j.next || '/');
    root.hidden = true;
    var list = document.getElementById('recovery-codes');
    (j.codes || []).forEach(function (code) {
      var li = document.createElement('li'), el = document.createElement('code');
      el.textContent = code;
      li.appendChild(el);
      list.appendChild(li);
    });
    if (j.codes && j.codes.length) panel.querySelector('.codes-lead').hidden = false;
    document.getElementById('enrol-continue').setAttribute('href', j.next || '/');
    panel.hidden = false;
  }

  var signIn = document.getElementById('mfa-key');
  if (signIn) signIn.addEventListener('click', function () {
    failed.hidden = true;
    busy(signIn, true);
    post(signIn.getAttribute('data-options'), {})
      .then(function (o) {
        o.challenge = b64uToBuf(o.challenge);
        (o.allowCredentials || []).forEach(function (c) { c.id = b64uToBuf(c.id); });
        return navigator.credentials.get({ publicKey: o });
      })
      .then(function (c) { return post(signIn.getAttribute('data-verify'), { response: credentialJSON(c) }); })
      .then(done, function (e) { busy(signIn, false); showError(e); });
  });

  var enrol = document.getElementById('enrol-key');
  if (enrol) enrol.addEventListener('click', function () {
    failed.hidden = true;
    busy(enrol, true);
    var name = document.getElementById('key-name').value;
    post(enrol.getAttribute('data-options'), {})
      .then(function (o) {
        o.challenge = b64uToBuf(o.challenge);
        o.user.id = b64uToBuf(o.user.id);
        (o.excludeCredentials || []).forEach(function (c) { c.id = b64uToBuf(c.id); });
        return navigator.credentials.create({ publicKey: o });
      })
      .then(function (c) { return post(enrol.getAttribute('data-verify'), { response: credentialJSON(c), name: name }); })
      .then(done, function (e) { busy(enrol, false); showError(e); });
  });
})();
