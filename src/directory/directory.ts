// The Directory port: what the gateway needs from Active Directory, independent of the LDAP library.

/** Why AD refused a sign-in; parsed once, in the adapter, from AD's sub-codes. */
export type AuthFailureReason =
  | 'invalid_credentials' // 52e, or no/ambiguous match for the username
  | 'no_such_user' // 525, or the search found nobody (shown to users exactly like invalid_credentials)
  | 'logon_hours' // 530
  | 'workstation' // 531
  | 'password_expired' // 532
  | 'account_disabled' // 533
  | 'account_expired' // 701
  | 'password_must_change' // 773
  | 'account_locked'; // 775

export interface DirectoryGroup {
  dn: string;
  /** sAMAccountName of the group. */
  name: string;
  /** objectSid in S-1-5-… form. */
  sid: string;
  /** How the user came to be in this group: group names from the direct group to this one (or ["primary group"]). */
  path: string[];
}

export interface DirectoryUser {
  dn: string;
  /** objectGUID in canonical 8-4-4-4-12 form: the stable subject. */
  guid: string;
  sid: string;
  sAMAccountName: string;
  userPrincipalName: string;
  email: string;
  displayName: string;
  groups: DirectoryGroup[];
  /** Why this account may not sign in right now (disabled, expired, locked, …), read with the service account. */
  blockedReason?: AuthFailureReason;
}

export interface LockoutPolicy {
  /** lockoutThreshold: bad passwords before AD locks the account; 0 = never. */
  threshold: number;
  /** lockOutObservationWindow in ms: how long AD remembers a bad password. */
  observationWindowMs: number;
}

/** A fine-grained password policy (PSO) as read from AD. */
export interface FineGrainedPolicy extends LockoutPolicy {
  name: string;
  dn: string;
}

/**
 * What applies to one account: the stricter of the domain's policy and the person's PSO (the numbers
 * at the top level, and which one set the threshold), with both as read. `fineGrained` is 'none'
 * when no PSO applies, 'unreadable' when the service account may not read it.
 */
export interface AccountLockoutPolicy extends LockoutPolicy {
  source: 'domain' | 'fine-grained';
  domain: LockoutPolicy;
  fineGrained: FineGrainedPolicy | 'none' | 'unreadable';
}

export interface DcStatus {
  url: string;
  ok: boolean;
  /** Short reason when not ok, never containing secrets. */
  error?: string;
  latencyMs?: number;
  /** The DC answered, but refused the service account's password (as opposed to being unreachable). */
  credentialRefused?: boolean;
}

export interface AuthHooks {
  /**
   * Called once the username has been resolved and before the password goes to AD, with a key for
   * the account (`dn:…`, or `name:…` when no account matched) and the lockout policy that applies to
   * it (the domain's for an unknown name). Throwing here stops the bind.
   */
  beforeBind?(accountKey: string, lockout: AccountLockoutPolicy): Promise<void>;
}

export interface Directory {
  /** Verify the password and return the user with groups. Throws DirectoryAuthError or GatewayError(GW_DIRECTORY_UNAVAILABLE). */
  authenticate(username: string, password: string, hooks?: AuthHooks): Promise<DirectoryUser>;
  /** Look the user up with the service account (explain, revalidation). null when no such user. */
  lookup(username: string): Promise<DirectoryUser | null>;
  /**
   * The account a Kerberos principal `name@realm` binds to, with the service account: looked up by sAMAccountName
   * or by either spelling of the UPN `name@realm`, and only when exactly one account matches and that one is called
   * `name` (kerberosAccount.ts). null otherwise.
   */
  lookupPrincipal(name: string, realm: string): Promise<DirectoryUser | null>;
  /** Every user under the base DN with groups (full sync); `onProgress` gets the count read so far. */
  listUsers(onProgress?: (done: number) => void): Promise<DirectoryUser[]>;
  /** Groups whose sAMAccountName or cn contains `text` (case-insensitive), at most `limit`, by name: the console's group picker. */
  searchGroups(text: string, limit: number): Promise<{ name: string; dn: string }[]>;
  /** The domain's lockout policy: threshold (0 = none) and the window AD counts bad passwords in. */
  lockoutPolicy(): Promise<LockoutPolicy>;
  /** The domain's policy and every fine-grained policy the service account may read ('unreadable' if none). */
  allLockoutPolicies(): Promise<{ domain: LockoutPolicy; fineGrained: FineGrainedPolicy[] | 'unreadable' }>;
  /** The lockout policy for one account (by DN): the domain's, its fine-grained policy, and the stricter of the two. */
  accountLockoutPolicy(dn: string): Promise<AccountLockoutPolicy>;
  /** Per-DC health including whether the service account bind works. */
  health(): Promise<DcStatus[]>;
  close(): Promise<void>;
}
