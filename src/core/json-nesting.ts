// nestsDeeperThan: how deep a parsed JSON value nests, found without recursion (a request can nest thousands deep).

/**
 * Whether `value` has arrays or objects nested more than `limit` levels deep. Walks with its own stack, so a value
 * that would overflow the call stack of JSON.stringify or any recursive walk is answered like any other.
 */
export function nestsDeeperThan(value: unknown, limit: number): boolean {
  const stack: { value: unknown; depth: number }[] = [{ value, depth: 0 }];
  while (stack.length > 0) {
    const { value: v, depth } = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (depth + 1 > limit) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) {
      if (typeof child === 'object' && child !== null) stack.push({ value: child, depth: depth + 1 });
    }
  }
  return false;
}
