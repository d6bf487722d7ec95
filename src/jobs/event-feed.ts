// Live job events for SSE readers: one Redis subscriber per process fans published events out to local listeners.
import type { RedisClient } from '../redis/client.js';
import { subscribeWhenReady } from '../redis/subscribe.js';
import { eventSchema, type JobEvent } from './schemas.js';

type Listener = (event: JobEvent) => void;

interface Channel {
  listeners: Set<Listener>;
  /** Resolves once Redis confirmed the subscription; every listener waits for it, not only the first. */
  subscribed: Promise<unknown>;
}

export class EventFeed {
  private readonly channels = new Map<string, Channel>();

  constructor(private readonly subscriber: RedisClient) {
    subscriber.on('message', (name: string, message: string) => {
      const channel = this.channels.get(name);
      if (!channel) return;
      let json: unknown;
      try {
        json = JSON.parse(message);
      } catch {
        return; // not ours to crash on; readers re-read the stored events on any gap anyway
      }
      const parsed = eventSchema.safeParse(json);
      if (!parsed.success) return;
      for (const listener of channel.listeners) listener(parsed.data);
    });
  }

  /**
   * Subscribes `listener` to a channel and resolves once the subscription is live, so a caller that reads the
   * stored backlog afterwards misses nothing in between. Returns the unsubscribe function.
   */
  async listen(name: string, listener: Listener): Promise<() => Promise<void>> {
    let channel = this.channels.get(name);
    if (!channel) {
      channel = { listeners: new Set(), subscribed: subscribeWhenReady(this.subscriber, name) };
      this.channels.set(name, channel);
    }
    channel.listeners.add(listener);
    try {
      await channel.subscribed;
    } catch (err) {
      channel.listeners.delete(listener);
      if (channel.listeners.size === 0 && this.channels.get(name) === channel) this.channels.delete(name);
      throw err;
    }
    return async () => {
      const current = this.channels.get(name);
      if (!current?.listeners.delete(listener) || current.listeners.size > 0) return;
      this.channels.delete(name);
      await this.subscriber.unsubscribe(name).catch(() => {});
    };
  }

  close(): void {
    this.subscriber.disconnect();
  }
}
