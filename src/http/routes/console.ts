// GET /console: the web console's built assets (dist/console) with a strict CSP; unknown sub-paths get index.html (SPA).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { AppError } from '../../core/errors.js';

export const CONSOLE_PREFIX = '/console';

/**
 * The build output, found from this module: src/http/routes and dist/http/routes are both three levels below the
 * package root, so the same path works from the sources (tests), the compiled tree and the image.
 */
export const CONSOLE_DIST = fileURLToPath(new URL('../../../dist/console/', import.meta.url));

export interface ConsoleRouteDeps {
  /** The built console; CONSOLE_DIST unless a test builds elsewhere. */
  root?: string;
  /**
   * Origins the result videos may come from besides this one (media-src). Until outputs are served by this API,
   * `result.url` points at the upstream's file host.
   */
  mediaSources: readonly string[];
}

/** Hashed file names change with their content, so they may be cached for good; index.html must always be revalidated. */
const IMMUTABLE = 'public, max-age=31536000, immutable';

/**
 * Where `result.url` may point: the signed output links under PUBLIC_BASE_URL (another origin than the one the
 * console was opened on, behind a proxy), or with STORAGE_URL=none the upstream's URL: its API origin or its file
 * host (protocol: outputs are re-hosted on static1.nemovideo.ai).
 */
export function resultMediaSources(upstreamBaseUrl: string, publicBaseUrl?: string): string[] {
  const sources: string[] = [];
  for (const base of [publicBaseUrl, upstreamBaseUrl]) {
    if (!base) continue;
    try {
      sources.push(new URL(base).origin);
    } catch {
      /* an invalid base URL was refused at start-up already */
    }
  }
  sources.push('https://*.nemovideo.ai');
  return [...new Set(sources)];
}

/**
 * Only the console's own files: no inline script or style (Vite emits neither), API calls to this origin only, videos
 * from here, blob: and the result hosts, and no framing (clickjacking of the Rotate button).
 */
export function consoleCsp(mediaSources: readonly string[]): string {
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self'",
    "font-src 'self'",
    "connect-src 'self'",
    ["media-src 'self' blob:", ...mediaSources].join(' '),
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
}

export function consoleRoutes(deps: ConsoleRouteDeps) {
  const root = deps.root ?? CONSOLE_DIST;
  const csp = consoleCsp(deps.mediaSources);

  return async (app: FastifyInstance) => {
    app.addHook('onSend', async (_request, reply, payload) => {
      reply.header('content-security-policy', csp);
      reply.header('x-content-type-options', 'nosniff');
      reply.header('referrer-policy', 'no-referrer');
      reply.header('x-frame-options', 'DENY');
      return payload;
    });

    // Hashed bundles: a missing one is a 404 (never index.html, which a browser would try to run as script).
    await app.register(fastifyStatic, {
      root: join(root, 'assets'),
      prefix: `${CONSOLE_PREFIX}/assets/`,
      decorateReply: false,
      cacheControl: false,
      dotfiles: 'ignore',
      index: false,
      setHeaders: (reply) => void reply.header('cache-control', IMMUTABLE),
    });

    // Read per request (it is 1 KB): a rebuild is served at once, and a console built after start-up is found.
    const sendIndex = async (reply: FastifyReply) => {
      const html = await readFile(join(root, 'index.html')).catch(() => null);
      if (html === null) throw new AppError('NOT_READY', 'the console is not built: run `npm run build`');
      return reply.header('cache-control', 'no-cache').type('text/html; charset=utf-8').send(html);
    };

    app.get(`${CONSOLE_PREFIX}/favicon.svg`, { schema: { hide: true } }, async (_request, reply) => {
      const svg = await readFile(join(root, 'favicon.svg')).catch(() => null);
      if (svg === null) throw new AppError('NOT_FOUND', 'no favicon');
      return reply.header('cache-control', 'public, max-age=86400').type('image/svg+xml').send(svg);
    });
    // Every other path under /console is a page of the single-page app: the app reads the path itself.
    app.get(CONSOLE_PREFIX, { schema: { hide: true } }, async (_request, reply) => sendIndex(reply));
    app.get(`${CONSOLE_PREFIX}/*`, { schema: { hide: true } }, async (_request, reply) => sendIndex(reply));
  };
}
