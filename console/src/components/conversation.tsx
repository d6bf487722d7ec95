// The exchange with the agent: what the relay told it (with what each message changed) and what the agent answered.
import { conversationTurns, type Turn } from '../lib/conversation.js';
import type { Change, Job } from '../lib/types.js';

/**
 * `messages_sent` is what the agent was really told (the first one carries the output requirements); until the API
 * has it, the instruction and follow-ups stand in, marked as such.
 */
export function Conversation({ job }: { job: Job }) {
  const exact = Array.isArray(job.messages_sent);
  const sent = exact ? job.messages_sent! : [job.instruction, ...job.followups];
  const changes = job.changes ?? [];
  const paired = exact ? conversationTurns(sent, job.messages, changes) : null;
  if (paired) return <Turns turns={paired.turns} unplaced={paired.unplaced} />;
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

function ChangeNote({ change }: { change: Change }) {
  return (
    <p class="change">
      <span class="change-label">Change:</span> {change.summary}
      {change.answers === 0 ? ' (a silent edit: the agent answered without text)' : ''}
    </p>
  );
}

/** Each message sent, the agent's answers to it, then what it changed in the draft. */
function Turns({ turns, unplaced }: { turns: Turn[]; unplaced: string[] }) {
  return (
    <div>
      <ol class="conversation">
        {turns.map((turn) => [
          <li key={`sent-${turn.message}`} class="turn relay">
            <p class="who">Relay → agent · message {turn.message}</p>
            <p class="text">{turn.sent}</p>
          </li>,
          ...turn.answers.map((text, j) => (
            <li key={`agent-${turn.message}-${j}`} class="turn agent">
              <p class="who">Agent · answering message {turn.message}</p>
              <p class="text">{text}</p>
            </li>
          )),
          ...turn.changes.map((change, j) => (
            <li key={`change-${turn.message}-${j}`} class="turn note">
              <ChangeNote change={change} />
            </li>
          )),
        ])}
        {unplaced.map((text, i) => (
          <li key={`agent-more-${i}`} class="turn agent">
            <p class="who">Agent</p>
            <p class="text">{text}</p>
          </li>
        ))}
      </ol>
      {turns.length === 0 && unplaced.length === 0 && <p class="muted">No messages yet.</p>}
    </div>
  );
}
