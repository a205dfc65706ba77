/**
 * The authorization server's HTML: sign-in, consent and error pages. Plain forms, no script
 * and no style the CSP would have to allow; every value is HTML-escaped. The CSP lets a form
 * post only to this origin and — because a browser holds the redirect after a form post to
 * the form-action rule too — to the client's redirect origin.
 */
import type { FastifyReply } from 'fastify';

export function escapeHtml(value: unknown): string {
  return String(value ?? '').replace(/[&<>"'`=/]/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function pageHeaders(reply: FastifyReply, redirectOrigin?: string): FastifyReply {
  const formAction = ["'self'", ...(redirectOrigin ? [redirectOrigin] : [])].join(' ');
  return reply
    .type('text/html; charset=utf-8')
    .header(
      'content-security-policy',
      `default-src 'none'; form-action ${formAction}; frame-ancestors 'none'; base-uri 'none'`,
    )
    .header('x-frame-options', 'DENY')
    .header('referrer-policy', 'no-referrer')
    .header('cache-control', 'no-store')
    .header('pragma', 'no-cache');
}

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>${escapeHtml(title)}</title></head>
<body><main><h1>${escapeHtml(title)}</h1>
${body}
</main></body></html>
`;
}

const hidden = (name: string, value: string) =>
  `<input type="hidden" name="${escapeHtml(name)}" value="${escapeHtml(value)}">`;

export function errorPage(message: string): string {
  return page(
    'Sign-in cannot continue',
    `<p role="alert">${escapeHtml(message)}</p>
<p>Go back to the app and start again.</p>`,
  );
}

export function loginPage(input: {
  action: string;
  request: string;
  csrf: string;
  clientName: string;
  message?: string;
  username?: string;
}): string {
  return page(
    'Sign in',
    `<p>${escapeHtml(input.clientName)} asks to use your health records.</p>
${input.message ? `<p role="alert">${escapeHtml(input.message)}</p>` : ''}
<form method="post" action="${escapeHtml(input.action)}">
${hidden('request', input.request)}
${hidden('csrf', input.csrf)}
<p><label>Username <input name="username" autocomplete="username" required value="${escapeHtml(input.username ?? '')}"></label></p>
<p><label>Password <input name="password" type="password" autocomplete="current-password" required></label></p>
<p><button type="submit">Sign in</button></p>
</form>`,
  );
}

export function consentPage(input: {
  action: string;
  request: string;
  csrf: string;
  clientName: string;
  username: string;
  scopes: string[];
  /** Patients to choose from (launch/patient by a user who may see several). */
  patients?: { id: string; label: string }[];
  message?: string;
}): string {
  const scopes = input.scopes
    .map(
      (scope, i) =>
        `<li><label><input type="checkbox" name="scope.${i}" value="${escapeHtml(scope)}" checked> ${escapeHtml(scope)}</label></li>`,
    )
    .join('\n');
  const patients = input.patients
    ? input.patients.length === 0
      ? '<p>You may not see any patient.</p>'
      : `<fieldset><legend>Patient</legend>
${input.patients
  .map(
    (p) =>
      `<p><label><input type="radio" name="patient" value="${escapeHtml(p.id)}" required> ${escapeHtml(p.label)}</label></p>`,
  )
  .join('\n')}
</fieldset>`
    : '';
  return page(
    'Allow access?',
    `<p>Signed in as ${escapeHtml(input.username)}. ${escapeHtml(input.clientName)} asks for:</p>
${input.message ? `<p role="alert">${escapeHtml(input.message)}</p>` : ''}
<form method="post" action="${escapeHtml(input.action)}">
${hidden('request', input.request)}
${hidden('csrf', input.csrf)}
<ul>
${scopes}
</ul>
${patients}
<p><button type="submit" name="decision" value="approve">Allow</button>
<button type="submit" name="decision" value="deny" formnovalidate>Deny</button></p>
</form>`,
  );
}
