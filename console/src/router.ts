// A tiny History-API router under /console: the path decides the page, the query carries filters and cursors.
import { useEffect, useState } from 'preact/hooks';

export const BASE = '/console';
const CHANGE = 'console:navigate';

export interface Location {
  /** The path below /console, always starting with "/". */
  path: string;
  query: URLSearchParams;
  /** What the page that navigated here left in the history entry (the jobs list keeps its previous cursors there). */
  state: unknown;
}

export function readLocation(): Location {
  const { pathname, search } = window.location;
  const below = pathname.startsWith(BASE) ? pathname.slice(BASE.length) : pathname;
  const path = below === '' ? '/' : below.length > 1 ? below.replace(/\/+$/, '') : below;
  return { path, query: new URLSearchParams(search), state: window.history.state as unknown };
}

/** `to` is a console path such as "/jobs?status=failed". */
export function navigate(to: string, opts: { replace?: boolean; state?: unknown } = {}): void {
  const url = BASE + to;
  if (opts.replace) window.history.replaceState(opts.state ?? null, '', url);
  else window.history.pushState(opts.state ?? null, '', url);
  window.dispatchEvent(new Event(CHANGE));
}

export function useLocation(): Location {
  const [location, setLocation] = useState(readLocation);
  useEffect(() => {
    const update = () => setLocation(readLocation());
    window.addEventListener('popstate', update);
    window.addEventListener(CHANGE, update);
    return () => {
      window.removeEventListener('popstate', update);
      window.removeEventListener(CHANGE, update);
    };
  }, []);
  return location;
}

/** A plain click on a console link navigates in place; modified clicks (new tab, download) stay the browser's. */
export function onLinkClick(e: MouseEvent, to: string): void {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  e.preventDefault();
  navigate(to);
}

export type Route =
  | { page: 'home' }
  | { page: 'sign-in' }
  | { page: 'jobs' }
  | { page: 'new-job' }
  | { page: 'job'; id: string }
  | { page: 'webhooks' }
  | { page: 'operator' }
  | { page: 'not-found' };

export function matchRoute(path: string): Route {
  if (path === '/') return { page: 'home' };
  if (path === '/sign-in') return { page: 'sign-in' };
  if (path === '/jobs') return { page: 'jobs' };
  if (path === '/new') return { page: 'new-job' };
  if (path === '/webhooks') return { page: 'webhooks' };
  if (path === '/operator') return { page: 'operator' };
  const job = /^\/jobs\/([^/]+)$/.exec(path);
  if (job) return { page: 'job', id: decodeURIComponent(job[1]!) };
  return { page: 'not-found' };
}
