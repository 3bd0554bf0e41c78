// The fixture directory loaded by scripts/dev-dc/fixtures.ldif, as data: who exists, their
// passwords and what signing in must produce. Tests and the demo share this one set.
//
// What Samba 4.17 actually answers to a simple bind (checked with ldapsearch over LDAPS; the
// message reads "80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext error, data 52e, v1db1"):
// - wrong password, any account (enabled, disabled, expired, must-change, off-hours, ...): 52e.
//   The account-state codes below come back only when the password is right, as on Windows.
// - DN that does not exist: 52e (never 525).
// - right password: disabled 533, accountExpires in the past 701, pwdLastSet=0 773,
//   logonHours all zero 530, userWorkstations elsewhere 531.
// - lockout: after lockoutThreshold (10) wrong passwords, every further bind, right or wrong
//   password, answers 775; `samba-tool user unlock` clears it.
// - 532 (password expired) is not reproducible here: Samba ignores a maximum password age under
//   one day and pwdLastSet cannot be back-dated over LDAP, so only unit tests cover it.

export const DEMO_PASSWORD = 'Passw0rd!Demo';
export const ADMIN_PASSWORD = 'Adm1n!Passw0rd-Dev';
export const BASE_DN = 'DC=corp,DC=example,DC=com';

export const SERVICE_ACCOUNT = {
  sAMAccountName: 'svc-sentry',
  dn: `CN=svc-sentry,OU=Service Accounts,${BASE_DN}`,
  password: 'Svc!Sentry-Bind-1',
} as const;

export const GROUPS = {
  sentryUsers: { name: 'Sentry Users', dn: `CN=Sentry Users,OU=Groups,${BASE_DN}` },
  admins: { name: 'Sentry Gateway Admins', dn: `CN=Sentry Gateway Admins,OU=Groups,${BASE_DN}` },
  denied: { name: 'Sentry Denied', dn: `CN=Sentry Denied,OU=Groups,${BASE_DN}` },
  sre: { name: 'SRE', dn: `CN=SRE,OU=Groups,${BASE_DN}` },
  platformOncall: { name: 'Platform Oncall', dn: `CN=Platform Oncall,OU=Groups,${BASE_DN}` },
  backendDevs: { name: 'Backend Devs', dn: `CN=Backend Devs,OU=Groups,${BASE_DN}` },
  // AD forbids a comma in sAMAccountName, so only the CN has one.
  opsEmea: { name: 'Ops EMEA', dn: `CN=Ops\\, EMEA,OU=Groups,${BASE_DN}` },
  rnd: { name: '研发部', dn: `CN=研发部,OU=Groups,${BASE_DN}` },
  domainUsers: { name: 'Domain Users', dn: `CN=Domain Users,CN=Users,${BASE_DN}` },
} as const;

/** What a sign-in with the right password must produce. */
export type FixtureOutcome =
  | { kind: 'ok'; access: 'allowed' | 'denied' | 'no_access' }
  | { kind: 'refused'; reason: 'account_disabled' | 'account_expired' | 'password_must_change' | 'logon_hours' | 'workstation' };

export interface FixtureUser {
  sAMAccountName: string;
  dn: string;
  userPrincipalName: string;
  password: string;
  /** The email the gateway should report (mail, else the UPN). */
  email: string;
  /** The display name the gateway should report (displayName, else cn). */
  displayName: string;
  outcome: FixtureOutcome;
  /** Group name → the path through which the user is in it (a subset: the ones tests check). */
  paths: Record<string, string[]>;
  /** Group names the user must not be in. */
  notIn: string[];
}

const person = (cn: string) => `CN=${cn},OU=People,${BASE_DN}`;

export const USERS = {
  alice: {
    sAMAccountName: 'alice',
    dn: person('Alice Adams'),
    userPrincipalName: 'alice@corp.example.com',
    password: DEMO_PASSWORD,
    email: 'alice.adams@corp.example.com',
    displayName: 'Alice Adams',
    outcome: { kind: 'ok', access: 'allowed' },
    paths: {
      'Platform Oncall': ['Platform Oncall'],
      SRE: ['Platform Oncall', 'SRE'],
      'Sentry Users': ['Platform Oncall', 'SRE', 'Sentry Users'],
      'Sentry Gateway Admins': ['Sentry Gateway Admins'],
      'Domain Users': ['primary group'],
    },
    notIn: ['Sentry Denied', 'Backend Devs'],
  },
  bob: {
    sAMAccountName: 'bob',
    dn: person('Bob Brown'),
    userPrincipalName: 'bob@staff.example.org',
    password: DEMO_PASSWORD,
    email: 'bob@staff.example.org',
    displayName: 'Bob Brown',
    outcome: { kind: 'ok', access: 'allowed' },
    paths: { 'Sentry Users': ['Sentry Users'], 'Backend Devs': ['Backend Devs'] },
    notIn: ['Sentry Gateway Admins', 'SRE'],
  },
  carol: {
    sAMAccountName: 'carol',
    dn: person('carol'),
    userPrincipalName: 'carol@corp.example.com',
    password: DEMO_PASSWORD,
    email: 'carol@corp.example.com', // no mail: falls back to the UPN
    displayName: '王卡萝',
    outcome: { kind: 'ok', access: 'allowed' },
    paths: { '研发部': ['研发部'], 'Sentry Users': ['研发部', 'Sentry Users'] },
    notIn: [],
  },
  dave: {
    sAMAccountName: 'dave',
    dn: person('Dave Diaz'),
    userPrincipalName: 'dave@corp.example.com',
    password: DEMO_PASSWORD,
    email: 'dave@corp.example.com',
    displayName: 'Dave Diaz', // no displayName: falls back to cn
    outcome: { kind: 'ok', access: 'allowed' },
    paths: { 'Ops EMEA': ['Ops EMEA'], 'Sentry Users': ['Ops EMEA', 'Sentry Users'] },
    notIn: [],
  },
  disabled: {
    sAMAccountName: 'disabled',
    dn: person('disabled'),
    userPrincipalName: 'disabled@corp.example.com',
    password: DEMO_PASSWORD,
    email: 'disabled@corp.example.com',
    displayName: 'disabled',
    outcome: { kind: 'refused', reason: 'account_disabled' },
    paths: { 'Sentry Users': ['Sentry Users'] },
    notIn: [],
  },
  expired: {
    sAMAccountName: 'expired',
    dn: person('expired'),
    userPrincipalName: 'expired@corp.example.com',
    password: DEMO_PASSWORD,
    email: 'expired@corp.example.com',
    displayName: 'expired',
    outcome: { kind: 'refused', reason: 'account_expired' },
    paths: { 'Sentry Users': ['Sentry Users'] },
    notIn: [],
  },
  mustchange: {
    sAMAccountName: 'mustchange',
    dn: person('mustchange'),
    userPrincipalName: 'mustchange@corp.example.com',
    password: DEMO_PASSWORD,
    email: 'mustchange@corp.example.com',
    displayName: 'mustchange',
    outcome: { kind: 'refused', reason: 'password_must_change' },
    paths: { 'Sentry Users': ['Sentry Users'] },
    notIn: [],
  },
  offhours: {
    sAMAccountName: 'offhours',
    dn: person('offhours'),
    userPrincipalName: 'offhours@corp.example.com',
    password: DEMO_PASSWORD,
    email: 'offhours@corp.example.com',
    displayName: 'offhours',
    outcome: { kind: 'refused', reason: 'logon_hours' },
    paths: { 'Sentry Users': ['Sentry Users'] },
    notIn: [],
  },
  elsewhere: {
    sAMAccountName: 'elsewhere',
    dn: person('elsewhere'),
    userPrincipalName: 'elsewhere@corp.example.com',
    password: DEMO_PASSWORD,
    email: 'elsewhere@corp.example.com',
    displayName: 'elsewhere',
    outcome: { kind: 'refused', reason: 'workstation' },
    paths: { 'Sentry Users': ['Sentry Users'] },
    notIn: [],
  },
  outsider: {
    sAMAccountName: 'outsider',
    dn: person('outsider'),
    userPrincipalName: 'outsider@corp.example.com',
    password: DEMO_PASSWORD,
    email: 'outsider@corp.example.com',
    displayName: 'outsider',
    outcome: { kind: 'ok', access: 'no_access' },
    paths: { 'Domain Users': ['primary group'] },
    notIn: ['Sentry Users', 'Sentry Denied'],
  },
  denied: {
    sAMAccountName: 'denied',
    dn: person('denied'),
    userPrincipalName: 'denied@corp.example.com',
    password: DEMO_PASSWORD,
    email: 'denied@corp.example.com',
    displayName: 'denied',
    outcome: { kind: 'ok', access: 'denied' },
    paths: { 'Sentry Users': ['Sentry Users'], 'Sentry Denied': ['Sentry Denied'] },
    notIn: [],
  },
  primary: {
    // Member of Sentry Users only through primaryGroupID (so absent from its `member`); setting
    // the primary group turned Domain Users into an ordinary membership.
    sAMAccountName: 'primary',
    dn: person('primary'),
    userPrincipalName: 'primary@corp.example.com',
    password: DEMO_PASSWORD,
    email: 'primary@corp.example.com',
    displayName: 'primary',
    outcome: { kind: 'ok', access: 'allowed' },
    paths: { 'Sentry Users': ['primary group'], 'Domain Users': ['Domain Users'] },
    notIn: [],
  },
  lockme: {
    // Only the lockout test may use this account: 10 wrong passwords lock it for 30 minutes.
    sAMAccountName: 'lockme',
    dn: person('lockme'),
    userPrincipalName: 'lockme@corp.example.com',
    password: DEMO_PASSWORD,
    email: 'lockme@corp.example.com',
    displayName: 'lockme',
    outcome: { kind: 'ok', access: 'allowed' },
    paths: { 'Sentry Users': ['Sentry Users'] },
    notIn: [],
  },
  paren: {
    // LDAP filter metacharacters cannot be in sAMAccountName; they are in cn and displayName.
    sAMAccountName: 'paren',
    dn: person('Pat (Star*) Paren'),
    userPrincipalName: 'paren@corp.example.com',
    password: DEMO_PASSWORD,
    email: 'paren@corp.example.com',
    displayName: 'Pat (Star*) Paren \\ Backslash',
    outcome: { kind: 'ok', access: 'allowed' },
    paths: { 'Sentry Users': ['Sentry Users'] },
    notIn: [],
  },
} as const satisfies Record<string, FixtureUser>;

/** The domain's password policy as loaded (lockoutDuration in minutes). */
export const DOMAIN_POLICY = { lockoutThreshold: 10, lockoutDurationMinutes: 30, minPwdAgeDays: 0 } as const;

/** Access settings that make the outcomes above come true. */
export const FIXTURE_ACCESS = {
  allowGroups: ['Sentry Users'],
  denyGroups: ['Sentry Denied'],
  adminGroups: ['Sentry Gateway Admins'],
} as const;
