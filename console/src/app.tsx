// The console's shell: session, navigation, and the page the location names (sign-in first when there is no key).
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { ApiClient } from './api/client.js';
import { clearSession, loadSession, opensTenantPages, saveSession, type Session } from './api/session.js';
import { AppContext, type AppContextValue } from './app-context.js';
import { Link } from './components/link.js';
import { maskKey } from './lib/format.js';
import { JobPage } from './pages/job.js';
import { JobsPage } from './pages/jobs.js';
import { NewJobPage } from './pages/new-job.js';
import { OperatorPage } from './pages/operator.js';
import { SignInPage } from './pages/sign-in.js';
import { WebhooksPage } from './pages/webhooks.js';
import { matchRoute, navigate, useLocation, type Route } from './router.js';

function homeOf(session: Session): string {
  return opensTenantPages(session) ? '/jobs' : '/operator';
}

/** Only console paths are followed after sign-in: `next` comes from the URL and must not lead off the site. */
function safeNext(next: string | null): string | null {
  return next && next.startsWith('/') && !next.startsWith('//') ? next : null;
}

function Nav({ route, session, onSignOut, onStopActing }: { route: Route; session: Session; onSignOut: () => void; onStopActing: () => void }) {
  const tenantPages = opensTenantPages(session);
  const items: [string, string, boolean][] = [
    ['/jobs', 'Jobs', tenantPages],
    ['/new', 'New job', tenantPages],
    ['/webhooks', 'Webhooks', tenantPages],
    ['/operator', 'Operator', session.admin],
  ];
  const current: Record<string, Route['page'][]> = { '/jobs': ['jobs', 'job'], '/new': ['new-job'], '/webhooks': ['webhooks'], '/operator': ['operator'] };
  return (
    <header class="top">
      <Link to={homeOf(session)} class="brand">
        nemo-relay console
      </Link>
      <nav aria-label="Main">
        <ul>
          {items
            .filter(([, , shown]) => shown)
            .map(([to, label]) => (
              <li key={to}>
                <Link to={to} ariaCurrent={current[to]!.includes(route.page)}>
                  {label}
                </Link>
              </li>
            ))}
        </ul>
      </nav>
      <div class="account">
        {session.admin && session.actAs && (
          <span data-testid="acting-for">
            viewing tenant <strong class="mono">{session.actAs}</strong>{' '}
            <button type="button" onClick={onStopActing}>
              Leave tenant
            </button>
          </span>
        )}
        <span class="muted">
          {session.admin ? 'admin key' : 'key'} <span class="mono">{maskKey(session.key)}</span>
        </span>
        <button type="button" onClick={onSignOut}>
          Sign out
        </button>
      </div>
    </header>
  );
}

/** The admin key before it picks a tenant: the /v1 routes need one (X-Tenant), chosen in the operator view. */
function OperatorOnly() {
  return (
    <div>
      <h1 tabIndex={-1}>Operator key</h1>
      <p>
        Jobs and webhooks belong to a tenant: pick one in the operator view's tenant list ("View jobs") to see its pages.{' '}
        <Link to="/operator">Go to the operator view</Link>.
      </p>
    </div>
  );
}

function NotFound() {
  return (
    <div>
      <h1 tabIndex={-1}>Page not found</h1>
      <p>
        There is no console page at this address. <Link to="/jobs">Go to the jobs</Link>.
      </p>
    </div>
  );
}

export function App() {
  const location = useLocation();
  const route = matchRoute(location.path);
  const [session, setSession] = useState<Session | null>(loadSession);
  const [notice, setNotice] = useState<string | null>(null);
  const main = useRef<HTMLElement>(null);

  const value = useMemo<AppContextValue>(() => {
    const signOut = (why?: string) => {
      clearSession();
      setSession(null);
      setNotice(why ?? null);
      const here = window.location.pathname.replace(/^\/console/, '') + window.location.search;
      navigate(why && here !== '/sign-in' ? `/sign-in?next=${encodeURIComponent(here)}` : '/sign-in', { replace: true });
    };
    const api = session
      ? new ApiClient(
          session.key,
          (err) => signOut(`The API refused the key (${err.status} ${err.code}: ${err.message}). Sign in again.`),
          session.admin ? session.actAs : null,
        )
      : null;
    return {
      session,
      api,
      notice,
      signOut,
      signIn: (next: Session, to?: string | null) => {
        saveSession(next);
        setSession(next);
        setNotice(null);
        navigate(safeNext(to ?? null) ?? homeOf(next), { replace: true });
      },
      actAs: (tenant: string | null) => {
        if (!session?.admin) return;
        const next = { ...session, actAs: tenant };
        saveSession(next);
        setSession(next);
        navigate(homeOf(next));
      },
    };
  }, [session, notice]);

  // Without a key every page but sign-in sends there first, remembering where it was going.
  const mustSignIn = !session && route.page !== 'sign-in';
  useEffect(() => {
    if (mustSignIn) {
      const here = location.path + (location.query.toString() ? `?${location.query.toString()}` : '');
      navigate(route.page === 'home' ? '/sign-in' : `/sign-in?next=${encodeURIComponent(here)}`, { replace: true });
    } else if (session && (route.page === 'home' || route.page === 'sign-in')) {
      navigate(homeOf(session), { replace: true });
    }
  }, [mustSignIn, session, route.page]);

  // A new page moves focus to its heading, as a full page load would for a screen reader.
  const pageKey = route.page === 'job' ? `job:${route.id}` : route.page;
  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    main.current?.querySelector<HTMLElement>('h1')?.focus();
  }, [pageKey]);

  let page = null;
  if (route.page === 'sign-in' && !session) page = <SignInPage next={location.query.get('next')} />;
  else if (session && !opensTenantPages(session) && route.page !== 'operator' && route.page !== 'home') page = <OperatorOnly />;
  else if (session) {
    if (route.page === 'jobs') page = <JobsPage location={location} />;
    else if (route.page === 'new-job') page = <NewJobPage />;
    else if (route.page === 'job') page = <JobPage id={route.id} />;
    else if (route.page === 'webhooks') page = <WebhooksPage />;
    else if (route.page === 'operator') page = <OperatorPage />;
    else if (route.page === 'not-found') page = <NotFound />;
  }

  return (
    <AppContext.Provider value={value}>
      <a class="skip" href="#main">
        Skip to content
      </a>
      {session && <Nav route={route} session={session} onSignOut={() => value.signOut()} onStopActing={() => value.actAs(null)} />}
      <main id="main" ref={main}>
        {page}
      </main>
    </AppContext.Provider>
  );
}
