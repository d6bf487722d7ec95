// Non-JSON error bodies in the messages callers read: a proxy's HTML page by its title, cut-off JSON as such.
import { describe, expect, it } from 'vitest';
import { NemoError } from '../../src/nemo/errors.js';
import { interpretResponse } from '../../src/nemo/http.js';

const NGINX_502 = '<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n';

function messageOf(status: number, body: string): string {
  try {
    interpretResponse('state', status, {}, body);
  } catch (err) {
    expect(err).toBeInstanceOf(NemoError);
    return (err as NemoError).message;
  }
  throw new Error('no error');
}

describe('error bodies that are not JSON', () => {
  it('names an HTML page by its title, without its markup', () => {
    expect(messageOf(502, NGINX_502)).toBe('state: HTTP 502: HTML page "502 Bad Gateway"');
    expect(messageOf(503, '<!DOCTYPE html><html><body>down</body></html>')).toBe('state: HTTP 503: HTML page');
  });

  it('calls cut-off JSON what it is, and keeps plain text', () => {
    expect(messageOf(500, '{"code":0,"data":{"session_id":"55297987')).toBe('state: HTTP 500: JSON cut off or broken');
    expect(messageOf(502, 'upstream connect error or disconnect/reset before headers')).toBe(
      'state: HTTP 502: upstream connect error or disconnect/reset before headers',
    );
  });

  it('still classifies by what the page says (a 404 page of a render id is not_found)', () => {
    try {
      interpretResponse('render_poll', 404, {}, '<html><head><title>404 Not Found</title></head></html>');
    } catch (err) {
      expect((err as NemoError).kind).toBe('not_found');
    }
    expect.assertions(1);
  });
});
