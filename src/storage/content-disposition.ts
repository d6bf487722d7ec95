// `Content-Disposition: inline` with a file name that survives any client: an ASCII fallback plus the RFC 8187 form.
import { withoutHiddenCharacters } from '../core/display-name.js';
export function inlineDisposition(fileName: string): string {
  const cleaned = withoutHiddenCharacters(fileName).split(/[\\/]/).pop() || 'output.mp4';
  const ascii = cleaned.replace(/[^A-Za-z0-9._-]/g, '_');
  return `inline; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(cleaned)}`;
}
