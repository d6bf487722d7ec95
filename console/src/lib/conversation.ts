// Pairs each message the relay sent with the agent's answers to it and the change it made, so the job page reads as one conversation.
import type { Change } from './types.js';

export interface Turn {
  /** 1-based, as Change.message counts. */
  message: number;
  sent: string;
  answers: string[];
  changes: Change[];
}

/**
 * The turns of a job's exchange, when every change says how many of `messages` answered it (the API keeps that since
 * it added Change.answers); null when one does not, and the page then shows the two sides apart. Answers beyond
 * what the changes account for (none in practice) are `unplaced`.
 */
export function conversationTurns(sent: readonly string[], messages: readonly string[], changes: readonly Change[]): { turns: Turn[]; unplaced: string[] } | null {
  if (changes.some((c) => c.answers === undefined)) return null;
  const turns: Turn[] = sent.map((text, i) => ({ message: i + 1, sent: text, answers: [], changes: [] }));
  let next = 0;
  for (const change of changes) {
    const answers = messages.slice(next, next + change.answers!);
    next += answers.length;
    const turn = turns[change.message - 1];
    // A change naming a message this list does not hold (the request's texts standing in) keeps its answers visible.
    if (!turn) return null;
    turn.answers.push(...answers);
    turn.changes.push(change);
  }
  return { turns, unplaced: messages.slice(next) };
}
