// Gathers the calls made in one turn of the event loop into one call per group (a shard: one cluster slot).

interface Waiting<In, Out> {
  input: In;
  resolve: (out: Out) => void;
  reject: (err: unknown) => void;
}

/**
 * Calls made before the next check phase (setImmediate, as ioredis' auto-pipelining flushes) are handed to `many`
 * together, per group; a group of one goes to `one`. Under load a delivery worker starts and settles about ten
 * deliveries per turn: one script call for them all instead of one each saves Redis its per-call cost (a script call
 * costs about as much as the few commands inside it) and Node a command each.
 * If `many` fails: with `retryAlone` (calls that only read) each input is tried on its own through `one`, so one bad
 * input cannot fail the others; without it (calls that write, which a failed script may have partly done) every caller
 * gets the error, as a single call's caller would.
 */
export class TickBatcher<In, Out> {
  private readonly waiting = new Map<number, Waiting<In, Out>[]>();
  private scheduled = false;

  constructor(
    private readonly one: (group: number, input: In) => Promise<Out>,
    private readonly many: (group: number, inputs: In[]) => Promise<Out[]>,
    private readonly retryAlone: boolean,
  ) {}

  call(group: number, input: In): Promise<Out> {
    return new Promise<Out>((resolve, reject) => {
      let list = this.waiting.get(group);
      if (!list) this.waiting.set(group, (list = []));
      list.push({ input, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    for (const [group, list] of this.waiting) {
      this.waiting.delete(group);
      if (list.length === 1) this.single(group, list[0]!);
      else void this.batch(group, list);
    }
  }

  private single(group: number, w: Waiting<In, Out>): void {
    this.one(group, w.input).then(w.resolve, w.reject);
  }

  private async batch(group: number, list: Waiting<In, Out>[]): Promise<void> {
    let outs: Out[];
    try {
      outs = await this.many(
        group,
        list.map((w) => w.input),
      );
      if (outs.length !== list.length) throw new Error(`batched call answered ${outs.length} results for ${list.length} inputs`);
    } catch (err) {
      for (const w of list) {
        if (this.retryAlone) this.single(group, w);
        else w.reject(err);
      }
      return;
    }
    list.forEach((w, i) => w.resolve(outs[i]!));
  }
}
