// The signed-in key, kept in sessionStorage (gone when the tab closes) with what the key was found to open.
export interface Session {
  key: string;
  /** GET /admin/overview answered 200: the operator's key. */
  admin: boolean;
  /** The /v1 routes accept the key (a tenant key; later the admin key too). */
  tenant: boolean;
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
    return typeof s.key === 'string' && s.key !== '' ? { key: s.key, admin: s.admin === true, tenant: s.tenant !== false } : null;
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
