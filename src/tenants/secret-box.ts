// AES-256-GCM sealing of tenants' upstream tokens under SECRETS_KEY; every ciphertext names the key that sealed it, for rotation.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { AppError } from '../core/errors.js';

/** `v1.<key id>.<iv>.<tag>.<ciphertext>`, base64url parts: the format can change later without guessing. */
const VERSION = 'v1';
const IV_BYTES = 12;

interface SecretKey {
  id: string;
  key: Buffer;
}

/** 32 bytes from base64 (or base64url), or null: config.ts refuses anything else with a one-line message. */
export function decodeSecretsKey(text: string): Buffer | null {
  if (!/^[A-Za-z0-9+/_-]{43}={0,1}$/.test(text.trim())) return null;
  const key = Buffer.from(text.trim(), 'base64');
  return key.length === 32 ? key : null;
}

/**
 * A key's id: a hash of the key, so operators never name keys and the id cannot be confused between deployments.
 * 8 hex characters of a SHA-256 reveal nothing usable about a random 256-bit key.
 */
export function secretsKeyId(key: Buffer): string {
  return createHash('sha256').update('nemo-relay secrets key id\0').update(key).digest('hex').slice(0, 8);
}

export interface Opened {
  plaintext: string;
  /** The key that sealed it. */
  keyId: string;
  /** False when an older key sealed it: the caller re-seals under the current one. */
  current: boolean;
}

export class SecretBox {
  private readonly keys: Map<string, SecretKey>;

  /**
   * `current` seals; `previous` (older keys, newest first) still open what they sealed. Without a current key the
   * box only opens (decrypt-only: sealing throws SECRETS_KEY_MISSING).
   */
  constructor(
    private readonly current: SecretKey | null,
    previous: readonly SecretKey[] = [],
  ) {
    this.keys = new Map([...previous, ...(current ? [current] : [])].map((k) => [k.id, k]));
  }

  /** From SECRETS_KEY and SECRETS_KEY_PREVIOUS (already validated by the config); null when neither is set. */
  static fromConfig(currentText: string | undefined, previousTexts: readonly string[] = []): SecretBox | null {
    const toKey = (text: string): SecretKey => {
      const key = decodeSecretsKey(text);
      if (!key) throw new Error('a secrets key must be 32 bytes in base64');
      return { id: secretsKeyId(key), key };
    };
    if (!currentText && previousTexts.length === 0) return null;
    return new SecretBox(currentText ? toKey(currentText) : null, previousTexts.map(toKey));
  }

  get currentKeyId(): string | null {
    return this.current?.id ?? null;
  }

  get canSeal(): boolean {
    return this.current !== null;
  }

  /** `context` is authenticated (not encrypted): a token sealed for one tenant does not open as another's. */
  seal(plaintext: string, context: string): string {
    if (!this.current) throw secretsKeyMissing();
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.current.key, iv);
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return [VERSION, this.current.id, iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), body.toString('base64url')].join('.');
  }

  open(sealed: string, context: string): Opened {
    const [version, keyId, iv, tag, body] = sealed.split('.');
    if (version !== VERSION || !keyId || iv === undefined || tag === undefined || body === undefined) {
      throw new AppError('SECRETS_KEY_UNKNOWN', 'a sealed secret is not in a format this version reads');
    }
    const key = this.keys.get(keyId);
    if (!key) {
      throw new AppError('SECRETS_KEY_UNKNOWN', `a secret was sealed with key ${keyId}, which is neither SECRETS_KEY nor in SECRETS_KEY_PREVIOUS`);
    }
    try {
      const decipher = createDecipheriv('aes-256-gcm', key.key, Buffer.from(iv, 'base64url'));
      decipher.setAAD(Buffer.from(context, 'utf8'));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      const plaintext = Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
      return { plaintext, keyId, current: keyId === this.current?.id };
    } catch {
      // Never the cause: it could carry bytes of the secret.
      throw new AppError('SECRETS_KEY_UNKNOWN', `a secret sealed with key ${keyId} failed authentication (tampered, or sealed for another record)`);
    }
  }

  /** The id of the key a sealed value names, without opening it. */
  static keyIdOf(sealed: string): string | null {
    return sealed.split('.')[1] ?? null;
  }
}

export function secretsKeyMissing(): AppError {
  return new AppError('SECRETS_KEY_MISSING', 'storing an upstream token needs SECRETS_KEY (32 random bytes, base64) configured on the API');
}
