// Sides of a comparison measured in turn: run i starts with side i mod n, so a drift in machine load favours none of them.

/** Runs every side once, one after the other, in `sides`' order rotated by `run`; resolves to each side's result. */
export async function inTurn<K extends string, T>(run: number, sides: Record<K, () => Promise<T>>): Promise<Record<K, T>> {
  const names = Object.keys(sides) as K[];
  const out = {} as Record<K, T>;
  for (let j = 0; j < names.length; j++) {
    const name = names[(run + j) % names.length]!;
    out[name] = await sides[name]();
  }
  return out;
}
