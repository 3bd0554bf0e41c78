// The kinds of second factor a person can enrol: named here, below the session and the mfa room, so both speak of them.
export type FactorKind = 'totp' | 'webauthn';
