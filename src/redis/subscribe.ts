// SUBSCRIBE only once the connection is ready: sent in the window between connect and ioredis' ready check, it fails the connection.
import type { RedisClient } from './client.js';

/**
 * Subscribes `client` to `channel` once the connection is ready. ioredis 5 writes SUBSCRIBE at once while a connection
 * is past its TCP connect but before its ready check (SUBSCRIBE is allowed while Redis loads); the connection is then in
 * subscriber mode, the ready check's INFO is refused, and ioredis fails every pending command on that connection with
 * "Connection in subscriber mode" and reconnects (redis/ioredis#2037, fixed in ioredis 6). While the client is still
 * connecting, or reconnecting, the command waits in the offline queue and is sent after the ready check, which is safe,
 * but a caller cannot tell those states from the narrow one in between from outside, so every state but ready waits.
 */
export async function subscribeWhenReady(client: RedisClient, channel: string): Promise<void> {
  // Checked and sent in one synchronous run: no other status can come in between.
  while (client.status !== 'ready') {
    if (client.status === 'end') throw new Error('the Redis connection was closed');
    await readyOrEnd(client);
  }
  await client.subscribe(channel);
}

/**
 * Resolves on the next 'ready' or 'end'. Not events.once: that rejects on the connection's 'error' events, and a
 * connection that cannot reach Redis yet emits one per retry while it keeps retrying (a worker started before Redis).
 */
function readyOrEnd(client: RedisClient): Promise<void> {
  return new Promise((resolve) => {
    const settle = () => {
      client.off('ready', settle);
      client.off('end', settle);
      resolve();
    };
    client.on('ready', settle);
    client.on('end', settle);
  });
}
