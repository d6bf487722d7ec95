// URLs and header lists as the instrumentations may record them: no query string (signed links carry tokens there).
/** `scheme://host[:port]/path`, query and fragment dropped, userinfo too; unparsable input becomes a placeholder. */
export function urlWithoutQuery(raw: string): string {
  try {
    const url = new URL(raw);
    return `${url.protocol}//${url.host}${url.pathname}`;
  } catch {
    return '[unparsable url]';
  }
}

/** True when an undici request already carries a traceparent header (undici v6+ arrays, or v5's raw header string). */
export function carriesTraceparent(headers: string | (string | string[])[] | undefined): boolean {
  if (typeof headers === 'string') return /(^|\r\n)traceparent:/i.test(headers);
  if (!Array.isArray(headers)) return false;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i];
    if (typeof name === 'string' && name.toLowerCase() === 'traceparent') return true;
  }
  return false;
}
