// `Content-Disposition: inline` with a file name that survives any client: an ASCII fallback plus the RFC 8187 form.
export function inlineDisposition(fileName: string): string {
  // eslint-disable-next-line no-control-regex
  const cleaned = fileName.replace(/[\u0000-\u001f\u007f]/g, '').split(/[\\/]/).pop() || 'output.mp4';
  const ascii = cleaned.replace(/[^A-Za-z0-9._-]/g, '_');
  return `inline; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(cleaned)}`;
}
