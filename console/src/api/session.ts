// The signed-in key, kept in sessionStorage (gone when the tab closes) with what the key was found to open.
export interface Session {
  key: string;
  /** GET /admin/overview answered 200: the operator's key. */
  admin: boolean;
  /** The /v1 routes accept the key (a tenant key). */
  tenant: boolean;
  /** The admin key looking at one tenant's pages (sent as X-Tenant); null: the operator view only. */
  actAs: string | null;
}

/** Whether the tenant pages (jobs, new job, webhooks) open: a tenant's key, or the admin key acting for a tenant. */
export function opensTenantPages(session: Session): boolean {
  return session.tenant || (session.admin && session.actAs !== null);
}

const STORAGE_KEY = 'nemo-relay.console.session';

/** Storage can be switched off (privacy modes): the console then works for this page's lifetime only. */
function storage(): Storage | null {
  try {
    return window.sessionStorage;
  } catch {
    return null;
  }
}

export function loadSession(): Session | null {
  try {
    const raw = storage()?.getItem(STORAGE_KEY);
    if (!raw) return null;
    const s = JSON.parse(raw) as Partial<Session>;
    if (typeof s.key !== 'string' || s.key === '') return null;
    return { key: s.key, admin: s.admin === true, tenant: s.tenant !== false, actAs: typeof s.actAs === 'string' && s.actAs !== '' ? s.actAs : null };
  } catch {
    return null;
  }
}

export function saveSession(session: Session): void {
  try {
    storage()?.setItem(STORAGE_KEY, JSON.stringify(session));
  } catch {
    /* storage full or off: the in-memory session still works */
  }
}

export function clearSession(): void {
  try {
    storage()?.removeItem(STORAGE_KEY);
  } catch {
    /* nothing stored */
  }
}
