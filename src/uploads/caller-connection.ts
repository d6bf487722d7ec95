// What a staged upload needs of its caller's connection: whether the caller is still there, and an idle timer it can pause.
import type { FastifyRequest } from 'fastify';

export interface CallerConnection {
  /** Aborted once the caller's connection closes before the answer: a file it will never hear of is not kept. */
  signal: AbortSignal;
  /**
   * Pauses the socket's idle timer (HTTP_IDLE_TIMEOUT_MS) while the server works on a whole upload (a HEIC photo waits
   * its turn at the converter): the caller is not idle then, and a cut connection lost it the id of a staged file.
   * Returns the resume.
   */
  pauseIdle(): () => void;
  /** Stops watching (the answer is on its way): the socket may serve the next request of a keep-alive connection. */
  release(): void;
}

export function callerConnection(request: FastifyRequest): CallerConnection {
  const socket = request.raw.socket;
  const ctl = new AbortController();
  const gone = () => ctl.abort(new Error('the caller closed the connection'));
  if (socket.destroyed) gone();
  else socket.once('close', gone);
  return {
    signal: ctl.signal,
    pauseIdle() {
      const idleMs = socket.timeout;
      if (!idleMs || socket.destroyed) return () => undefined;
      socket.setTimeout(0);
      return () => {
        if (!socket.destroyed) socket.setTimeout(idleMs);
      };
    },
    release: () => socket.off('close', gone),
  };
}
