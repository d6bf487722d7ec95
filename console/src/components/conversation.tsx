// The exchange with the agent: what the relay told it (with what each message changed) and what the agent answered.
import type { Job } from '../lib/types.js';

/**
 * `messages_sent` is what the agent was really told (the first one carries the output requirements); until the API
 * has it, the instruction and follow-ups stand in, marked as such.
 */
export function Conversation({ job }: { job: Job }) {
  const exact = Array.isArray(job.messages_sent);
  const sent = exact ? job.messages_sent! : [job.instruction, ...job.followups];
  const changes = job.changes ?? [];
  const orphanChanges = changes.filter((c) => c.message < 1 || c.message > sent.length);
  return (
    <div>
      {!exact && <p class="muted">The exact texts sent to the agent are not available from this API; the request's instruction and follow-ups are shown.</p>}
      <ol class="conversation">
        {sent.map((text, i) => (
          <li key={`sent-${i}`} class="turn relay">
            <p class="who">Relay → agent · message {i + 1}</p>
            <p class="text">{text}</p>
            {changes
              .filter((c) => c.message === i + 1)
              .map((c, j) => (
                <p key={j} class="change">
                  <span class="change-label">Change:</span> {c.summary}
                  {c.from_agent_text ? ' (the agent also answered in text)' : ''}
                </p>
              ))}
          </li>
        ))}
        {orphanChanges.map((c, j) => (
          <li key={`change-${j}`} class="turn note">
            <p class="change">
              <span class="change-label">Change after message {c.message}:</span> {c.summary}
            </p>
          </li>
        ))}
        {job.messages.map((text, i) => (
          <li key={`agent-${i}`} class="turn agent">
            <p class="who">Agent</p>
            <p class="text">{text}</p>
          </li>
        ))}
      </ol>
      {sent.length === 0 && job.messages.length === 0 && <p class="muted">No messages yet.</p>}
    </div>
  );
}
