// The gateway's own pages speak English and Simplified Chinese; `?lang=` overrides Accept-Language.
import type { ErrorCode } from '../errors.js';

export type Lang = 'en' | 'zh-CN';

const en = {
  htmlLang: 'en',
  signInTitle: 'Sign in to {org}',
  signInLead: 'Use your company (Active Directory) account.',
  logoAlt: '{org} logo',
  username: 'Username',
  usernameHintOr: '{forms} or {last}',
  usernameHintSep: ', ',
  password: 'Password',
  signIn: 'Sign in',
  signOutTitle: 'Sign out',
  signOutQuestion: 'Sign out of {org}?',
  signOut: 'Sign out',
  signedOut: 'You have signed out.',
  signInAgain: 'Sign in again',
  cancel: 'Cancel',
  otherLanguage: '中文',
  errorTitle: 'Something went wrong',
  requestId: 'Request ID',
  backHome: 'Go to Sentry',
  missingFields: 'Enter your username and password.',
  tooLong: 'That username or password is too long.',
  retryAfter: 'Try again in {seconds} seconds.',
  reauthTitle: 'Confirm it is you',
  reauthLead: 'Type your company (Active Directory) password again to continue with what you were doing in {org}.',
  reauthConfirm: 'Confirm',
  reauthMissing: 'Enter your password.',
  mfaTitle: 'Second step',
  mfaLead: 'Your password was right. Now confirm it is you with your second factor.',
  mfaKeyButton: 'Use my security key or passkey',
  mfaKeyWorking: 'Follow your browser’s prompt…',
  mfaKeyFailed: 'The security key did not answer or was refused. Try again, or use a code.',
  mfaCodeLabel: 'Code from your authenticator app',
  mfaCodeHint: '6 digits; each code works once.',
  mfaVerify: 'Verify',
  mfaRecoveryLabel: 'Or a recovery code',
  mfaRecoveryField: 'Recovery code',
  mfaRecoveryHint: 'Each recovery code works once.',
  mfaUseRecovery: 'Use recovery code',
  mfaMissing: 'Enter a code.',
  mfaCancel: 'Sign out',
  enrolTitle: 'Add a second factor',
  enrolLead: 'Your account needs a second factor besides your password. Add a security key or passkey, or an authenticator app.',
  enrolFurtherLead: 'Add another security key, passkey or authenticator app to your account.',
  enrolKeyHeading: 'Security key or passkey',
  enrolKeyButton: 'Add a security key or passkey',
  enrolTotpHeading: 'Authenticator app',
  enrolTotpStep: 'Add this key to your authenticator app (type it, or open the link on the phone that has the app), then enter the 6-digit code it shows.',
  enrolTotpSecret: 'Key',
  enrolTotpUri: 'Link for the app',
  enrolName: 'Name for this factor',
  enrolNameDefaultKey: 'Security key',
  enrolNameDefaultApp: 'Authenticator app',
  enrolNameInvalid: 'A name is 1 to 64 printable characters (no tabs or line breaks). Nothing was used up: correct the name and send the same code again.',
  enrolConfirm: 'Confirm and add',
  enrolRefusedTitle: 'You need an enrolment link',
  enrolRefused: 'Your account needs a second factor, and a first one can be added only from the office network or with a one-time enrolment link. Ask an administrator for a link (they create it with “mfa enrol-link”), then open it in this browser.',
  enrolDoneTitle: 'Second factor added',
  enrolDone: 'From now on you sign in with your password and this factor.',
  enrolCodesLead: 'Your recovery codes. Each works once if you lose your factor. Keep them somewhere safe: they are shown only now.',
  continue: 'Continue',
} as const;

type Messages = { [K in keyof typeof en]: string };

const zh: Messages = {
  htmlLang: 'zh-CN',
  signInTitle: '登录 {org}',
  signInLead: '请使用公司（Active Directory）账号登录。',
  logoAlt: '{org} 标志',
  username: '用户名',
  usernameHintOr: '{forms} 或 {last}',
  usernameHintSep: '、',
  password: '密码',
  signIn: '登录',
  signOutTitle: '退出登录',
  signOutQuestion: '确定要退出 {org} 吗？',
  signOut: '退出登录',
  signedOut: '您已退出登录。',
  signInAgain: '重新登录',
  cancel: '取消',
  otherLanguage: 'English',
  errorTitle: '出错了',
  requestId: '请求编号',
  backHome: '前往 Sentry',
  missingFields: '请输入用户名和密码。',
  tooLong: '用户名或密码过长。',
  retryAfter: '请在 {seconds} 秒后重试。',
  reauthTitle: '确认您的身份',
  reauthLead: '请再次输入您的公司（Active Directory）密码，以继续您在 {org} 中的操作。',
  reauthConfirm: '确认',
  reauthMissing: '请输入密码。',
  mfaTitle: '第二步验证',
  mfaLead: '密码正确。现在请用您的第二重验证确认身份。',
  mfaKeyButton: '使用我的安全密钥或通行密钥',
  mfaKeyWorking: '请按浏览器的提示操作……',
  mfaKeyFailed: '安全密钥没有响应或被拒绝。请重试，或改用验证码。',
  mfaCodeLabel: '身份验证器应用中的验证码',
  mfaCodeHint: '6 位数字；每个验证码只能使用一次。',
  mfaVerify: '验证',
  mfaRecoveryLabel: '或使用恢复码',
  mfaRecoveryField: '恢复码',
  mfaRecoveryHint: '每个恢复码只能使用一次。',
  mfaUseRecovery: '使用恢复码',
  mfaMissing: '请输入验证码。',
  mfaCancel: '退出登录',
  enrolTitle: '添加第二重验证',
  enrolLead: '除密码外，您的账号还需要第二重验证。请添加安全密钥或通行密钥，或身份验证器应用。',
  enrolFurtherLead: '为您的账号再添加一个安全密钥、通行密钥或身份验证器应用。',
  enrolKeyHeading: '安全密钥或通行密钥',
  enrolKeyButton: '添加安全密钥或通行密钥',
  enrolTotpHeading: '身份验证器应用',
  enrolTotpStep: '将此密钥添加到您的身份验证器应用（手动输入，或在装有该应用的手机上打开链接），然后输入它显示的 6 位验证码。',
  enrolTotpSecret: '密钥',
  enrolTotpUri: '应用链接',
  enrolName: '此验证方式的名称',
  enrolNameDefaultKey: '安全密钥',
  enrolNameDefaultApp: '身份验证器应用',
  enrolNameInvalid: '名称须为 1 到 64 个可打印字符（不能含制表符或换行）。尚未消耗任何内容：请更正名称后再次提交同一个验证码。',
  enrolConfirm: '确认并添加',
  enrolRefusedTitle: '您需要一个注册链接',
  enrolRefused: '您的账号需要第二重验证，而第一个验证方式只能在办公网络中或通过一次性注册链接添加。请向管理员申请链接（管理员用“mfa enrol-link”创建），然后在此浏览器中打开。',
  enrolDoneTitle: '已添加第二重验证',
  enrolDone: '从现在起，您需要用密码加此验证方式登录。',
  enrolCodesLead: '这是您的恢复码。丢失验证方式时，每个恢复码可使用一次。请妥善保存：它们只显示这一次。',
  continue: '继续',
};

/** What the user is told for each error code: one message for every credential failure (no account enumeration). */
const errorMessages: Record<Lang, Partial<Record<ErrorCode, string>>> = {
  en: {
    GW_INVALID_CREDENTIALS: 'Invalid username or password.',
    GW_REAUTH_ACCOUNT_MISMATCH: 'That password belongs to another account. Type the password of the account you are signed in with.',
    GW_SECOND_FACTOR_REQUIRED: 'Your account needs a second factor as well. Continue with it on the next page.',
    GW_ACCOUNT_DISABLED: 'Your account is disabled. Contact IT.',
    GW_ACCOUNT_EXPIRED: 'Your account has expired. Contact IT.',
    GW_PASSWORD_EXPIRED: 'Your password has expired: change it, then sign in.',
    GW_LOGON_NOT_PERMITTED: 'You are not permitted to sign in now (logon hours or workstation restrictions).',
    GW_ACCOUNT_LOCKED: 'Your account is locked: try later or ask IT.',
    GW_NOT_AUTHORIZED: 'Your account is not authorized for Sentry. Ask for access to the Sentry group.',
    GW_THROTTLED: 'Too many attempts.',
    GW_DIRECTORY_UNAVAILABLE: 'The directory is unavailable. Try again shortly.',
    GW_DIRECTORY_BUSY: 'Too many sign-ins at once.',
    GW_SESSION_STORE_UNAVAILABLE: 'Sign-in is temporarily unavailable. Try again shortly.',
    GW_CSRF: 'The form expired or was not sent from this site. Reload the page and try again.',
    GW_BAD_PATH: 'This address is not valid.',
    GW_BAD_CONNECTION_HEADER: 'The request was not valid: its Connection header names a header the gateway needs.',
    GW_BODY_TIMEOUT: 'The upload stalled and was cut off. Try again.',
    GW_BAD_REQUEST: 'The request was not valid.',
    GW_UPSTREAM_UNAVAILABLE: 'Sentry is not reachable right now. Try again shortly.',
    GW_UPSTREAM_TIMEOUT: 'Sentry took too long to answer. Try again shortly.',
    GW_PAYLOAD_TOO_LARGE: 'The upload is larger than the gateway allows.',
    GW_FORBIDDEN: 'You do not have access to this page.',
    GW_NOT_FOUND: 'Page not found.',
    GW_AUTH_REQUIRED: 'Sign in to continue.',
    GW_MFA_CODE_INVALID: 'That code is not valid. Enter the current code from your authenticator app (each code works once), or an unused recovery code.',
    GW_MFA_CHALLENGE_INVALID: 'This security-key request expired or was already used. Try again.',
    GW_MFA_LINK_INVALID: 'This enrolment link is not valid: it has expired or was already used. Ask an administrator for a new one.',
    GW_MFA_LAST_FACTOR: 'This is your last second factor, and your organization requires one for you. Add another factor first.',
    GW_INTERNAL: 'An unexpected error occurred.',
  },
  'zh-CN': {
    GW_INVALID_CREDENTIALS: '用户名或密码错误。',
    GW_REAUTH_ACCOUNT_MISMATCH: '该密码属于另一个账号，请输入您当前登录账号的密码。',
    GW_SECOND_FACTOR_REQUIRED: '您的账号还需要第二重验证，请在下一页完成。',
    GW_ACCOUNT_DISABLED: '您的账号已被禁用，请联系 IT。',
    GW_ACCOUNT_EXPIRED: '您的账号已过期，请联系 IT。',
    GW_PASSWORD_EXPIRED: '您的密码已过期：请先修改密码，然后再登录。',
    GW_LOGON_NOT_PERMITTED: '当前不允许您登录（登录时段或工作站限制）。',
    GW_ACCOUNT_LOCKED: '您的账号已被锁定：请稍后再试或联系 IT。',
    GW_NOT_AUTHORIZED: '您的账号无权使用 Sentry，请申请加入 Sentry 用户组。',
    GW_THROTTLED: '尝试次数过多。',
    GW_DIRECTORY_UNAVAILABLE: '目录服务暂时不可用，请稍后再试。',
    GW_DIRECTORY_BUSY: '同时登录的人数过多。',
    GW_SESSION_STORE_UNAVAILABLE: '登录服务暂时不可用，请稍后再试。',
    GW_CSRF: '表单已过期或并非来自本站，请刷新页面后重试。',
    GW_BAD_PATH: '该地址无效。',
    GW_BAD_CONNECTION_HEADER: '请求无效：其 Connection 头列出了网关需要的请求头。',
    GW_BODY_TIMEOUT: '上传中断过久，已被终止，请重试。',
    GW_BAD_REQUEST: '请求无效。',
    GW_UPSTREAM_UNAVAILABLE: '暂时无法连接 Sentry，请稍后再试。',
    GW_UPSTREAM_TIMEOUT: 'Sentry 响应超时，请稍后再试。',
    GW_PAYLOAD_TOO_LARGE: '上传内容超过网关允许的大小。',
    GW_FORBIDDEN: '您无权访问此页面。',
    GW_NOT_FOUND: '页面不存在。',
    GW_AUTH_REQUIRED: '请先登录。',
    GW_MFA_CODE_INVALID: '验证码无效。请输入身份验证器应用中的当前验证码（每个验证码只能使用一次），或一个未使用的恢复码。',
    GW_MFA_CHALLENGE_INVALID: '此安全密钥请求已过期或已被使用，请重试。',
    GW_MFA_LINK_INVALID: '此注册链接无效：已过期或已被使用。请向管理员申请新的链接。',
    GW_MFA_LAST_FACTOR: '这是您最后一个第二重验证方式，而您的组织要求您使用第二重验证。请先添加另一个验证方式。',
    GW_INTERNAL: '发生了意外错误。',
  },
};

const catalogues: Record<Lang, Messages> = { en, 'zh-CN': zh };

export function messages(lang: Lang): Messages {
  return catalogues[lang];
}

export function errorMessage(lang: Lang, code: ErrorCode): string {
  return errorMessages[lang][code] ?? errorMessages[lang].GW_INTERNAL ?? 'Error';
}

/** The example account name the hint is built around; an override replaces the whole hint. */
const EXAMPLE_ACCOUNT = 'alice';

/**
 * The hint under the username field: the forms this directory accepts, built from `ldap.netbiosDomain` and
 * `ldap.upnSuffixes` (`alice, ACME\\alice or alice@ad.acme.example`), unless `ui.usernameHint` sets the text
 * for this language.
 */
export function usernameHint(lang: Lang, ldap: { netbiosDomain: string; upnSuffixes: readonly string[] }, override: Partial<Record<Lang, string>> = {}): string {
  const own = override[lang]?.trim();
  if (own) return own;
  const forms = [EXAMPLE_ACCOUNT];
  if (ldap.netbiosDomain) forms.push(`${ldap.netbiosDomain}\\${EXAMPLE_ACCOUNT}`);
  if (ldap.upnSuffixes[0]) forms.push(`${EXAMPLE_ACCOUNT}@${ldap.upnSuffixes[0]}`);
  if (forms.length === 1) return forms[0]!;
  const t = catalogues[lang];
  return format(t.usernameHintOr, { forms: forms.slice(0, -1).join(t.usernameHintSep), last: forms.at(-1)! });
}

export function format(template: string, vars: Record<string, string | number>): string {
  return template.replace(/\{(\w+)\}/g, (m, k: string) => (k in vars ? String(vars[k]) : m));
}

/** `?lang=` wins; otherwise the first Accept-Language entry we speak, by quality; English by default. */
export function pickLang(queryLang: unknown, acceptLanguage: string | undefined): Lang {
  if (typeof queryLang === 'string') {
    if (/^zh/i.test(queryLang)) return 'zh-CN';
    if (/^en/i.test(queryLang)) return 'en';
  }
  const prefs = (acceptLanguage ?? '')
    .split(',')
    .map((part, i) => {
      const [tag = '', ...params] = part.trim().split(';');
      const q = params.map((p) => /^\s*q=([\d.]+)/.exec(p)?.[1]).find(Boolean);
      return { tag: tag.toLowerCase(), q: q ? Number(q) : 1, i };
    })
    .filter((p) => p.tag && p.q > 0)
    .sort((a, b) => b.q - a.q || a.i - b.i);
  for (const p of prefs) {
    if (p.tag.startsWith('zh')) return 'zh-CN';
    if (p.tag.startsWith('en')) return 'en';
  }
  return 'en';
}
