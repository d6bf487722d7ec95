// Live job events for SSE readers: one Redis subscriber per process fans published events out to local listeners.
import type { Redis } from 'ioredis';
import { eventSchema, type JobEvent } from './schemas.js';

type Listener = (event: JobEvent) => void;

export class EventFeed {
  private readonly listeners = new Map<string, Set<Listener>>();

  constructor(private readonly subscriber: Redis) {
    subscriber.on('message', (channel: string, message: string) => {
      const set = this.listeners.get(channel);
      if (!set) return;
      const parsed = eventSchema.safeParse(JSON.parse(message));
      if (!parsed.success) return;
      for (const listener of set) listener(parsed.data);
    });
  }

  /** Subscribes before the caller reads the backlog, so no event falls between the two. */
  async listen(channel: string, listener: Listener): Promise<() => Promise<void>> {
    let set = this.listeners.get(channel);
    if (!set) {
      set = new Set();
      this.listeners.set(channel, set);
      await this.subscriber.subscribe(channel);
    }
    set.add(listener);
    return async () => {
      const current = this.listeners.get(channel);
      if (!current) return;
      current.delete(listener);
      if (current.size === 0) {
        this.listeners.delete(channel);
        await this.subscriber.unsubscribe(channel).catch(() => {});
      }
    };
  }

  close(): void {
    this.subscriber.disconnect();
  }
}
