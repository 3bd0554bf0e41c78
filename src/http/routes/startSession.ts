// Moves the person to a NEW session id with the given fields: sign-in, the second-factor step, re-authentication.
import type { NextFunction, Request } from 'express';
import type { Deps } from '../../compositionRoot.js';
import { GatewayError } from '../../errors.js';
import type { GatewaySessionFields, Identity } from '../../session/identity.js';

/**
 * passport regenerates the session (the old record is destroyed, a new id issued), so no id planted or
 * seen before survives the step. Nothing decided or signed for `oldId` carries over: cached record,
 * assertion, open sockets. The new id is indexed before its record is usable. `then` answers the request.
 */
export function startSession(
  deps: Deps,
  req: Request,
  identity: Identity,
  fields: GatewaySessionFields,
  oldId: string | undefined,
  fail: NextFunction,
  then: () => void,
): void {
  req.logIn(identity, (loginErr) => {
    if (loginErr) return fail(new GatewayError('GW_SESSION_STORE_UNAVAILABLE', 'session not created', { cause: loginErr }));
    if (oldId) {
      deps.resolver.forget(oldId);
      deps.signer.forget(oldId);
      deps.sockets.close([oldId]);
      void deps.sessions.remove(identity.sub, [oldId]).catch(() => undefined);
      void deps.sessions.announceEnded([oldId]).catch(() => undefined);
    }
    deps.sessions.add(identity.sub, req.session.id).then(
      () => {
        Object.assign(req.session, fields);
        req.session.save((saveErr) => {
          if (saveErr) return fail(new GatewayError('GW_SESSION_STORE_UNAVAILABLE', 'session not saved', { cause: saveErr }));
          then();
        });
      },
      (e: unknown) => {
        deps.logger.warn({ err: (e as Error).message }, 'session not indexed: refused');
        req.session.destroy(() => fail(new GatewayError('GW_SESSION_STORE_UNAVAILABLE', 'session not indexed', { cause: e })));
      },
    );
  });
}
