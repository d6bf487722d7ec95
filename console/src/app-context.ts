// What every page shares: the session (key and what it opens), its API client, and signing in and out.
import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { ApiClient } from './api/client.js';
import type { Session } from './api/session.js';

export interface AppContextValue {
  session: Session | null;
  /** Null before sign-in. */
  api: ApiClient | null;
  signIn(session: Session, next?: string | null): void;
  /** The admin key: look at `tenant`'s pages (its jobs, new job, webhooks), or back to the operator view (null). */
  actAs(tenant: string | null): void;
  /** Forgets the key; `notice` is shown on the sign-in page (why the user was signed out). */
  signOut(notice?: string): void;
  notice: string | null;
}

export const AppContext = createContext<AppContextValue>({
  session: null,
  api: null,
  signIn: () => undefined,
  actAs: () => undefined,
  signOut: () => undefined,
  notice: null,
});

export function useApp(): AppContextValue {
  return useContext(AppContext);
}

/** For pages behind sign-in: the app renders them only with a session, so the client is there. */
export function useApi(): ApiClient {
  const { api } = useContext(AppContext);
  if (!api) throw new Error('useApi outside a signed-in page');
  return api;
}
