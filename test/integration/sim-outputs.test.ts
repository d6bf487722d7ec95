// NemoVideo simulator over real HTTP: render outputs that expire (output_expired), large padded outputs, Range and HEAD.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { request } from 'undici';
import { SAMPLE_MP4_URL } from '../../src/sim/index.js';
import { waitFor } from '../helpers/wait.js';
import { call, getState, newSession, runSse, simSuite } from '../fixtures/sim/sim-client.js';

const suite = simSuite();
const SAMPLE_BYTES = readFileSync(SAMPLE_MP4_URL);
const SAMPLE = SAMPLE_BYTES.length;

type Poll = { data?: { status: string; outputUrl?: string }; status?: string; output?: { url: string; size: number } | null };

/** A session with a draft and one completed render; returns the output URL as the poll reports it. */
async function completedRender(id: string) {
  const s = await newSession(suite.base);
  await runSse(suite.base, s.token, s.sessionId, 'make a 10s video');
  const draft = (await getState(suite.base, s.token, s.sessionId)).json.data.state.draft;
  const sub = await call(suite.base, 'POST', '/api/render/proxy/lambda', { token: s.token, body: { id, sessionId: s.sessionId, draft } });
  expect(sub.status).toBe(200);
  suite.sim.completeRendersNow();
  const poll = await waitFor(async () => {
    const r = await call<Poll>(suite.base, 'GET', `/api/render/proxy/lambda/${id}`, { token: s.token });
    const d = r.json.data ?? r.json;
    return d.status === 'completed' ? r.json : undefined;
  }, { what: `render ${id}` });
  return { ...s, poll, url: poll.data?.outputUrl ?? poll.output!.url };
}

async function get(url: string, headers: Record<string, string> = {}, method: 'GET' | 'HEAD' = 'GET') {
  const res = await request(url, { method, headers });
  const body = Buffer.from(await res.body.arrayBuffer());
  return { status: res.statusCode, headers: res.headers, body };
}

/** Walks the top-level ISO-BMFF boxes of `head` (which holds at least every box header) up to `total` bytes. */
function topLevelBoxes(head: Buffer, total: number): string[] {
  const out: string[] = [];
  let at = 0;
  while (at < total) {
    let size = head.readUInt32BE(at);
    const type = head.subarray(at + 4, at + 8).toString('latin1');
    if (size === 1) size = Number(head.readBigUInt64BE(at + 8));
    if (size < 8) throw new Error(`bad box ${type} at ${at}`);
    out.push(type);
    at += size;
  }
  if (at !== total) throw new Error(`boxes end at ${at}, file has ${total}`);
  return out;
}

/** The sample's own boxes (ffmpeg's faststart layout, with its own small free box), then the padding box. */
const PADDED_BOXES = () => [...topLevelBoxes(SAMPLE_BYTES, SAMPLE), 'free'];

describe('sim output_expired', () => {
  it('the render completes, its outputUrl answers 403 AccessDenied; the authenticated download still works', async () => {
    suite.sim.injectFault({ kind: 'output_expired' });
    const r = await completedRender('exp_403');
    expect(r.poll.data!.status).toBe('completed');
    const res = await get(r.url);
    expect(res.status).toBe(403);
    expect(res.body.toString()).toContain('<Code>AccessDenied</Code>');
    expect((await get(r.url, {}, 'HEAD')).status).toBe(403);
    const dl = await get(`${suite.base}/api/render/proxy/exp_403/download`, { authorization: `Bearer ${r.token}` });
    expect(dl.status).toBe(200);
    expect(dl.body.length).toBe(SAMPLE);
    expect(suite.sim.log.entries().find((e) => e.endpoint === 'render_submit')!.fault).toBe('output_expired');
  });

  it('status 404 (NoSuchKey) and 410 are available; other statuses are refused; other renders are untouched', async () => {
    suite.sim.injectFault({ kind: 'output_expired', status: 404 });
    const a = await completedRender('exp_404');
    expect((await get(a.url)).body.toString()).toContain('<Code>NoSuchKey</Code>');
    suite.sim.injectFault({ kind: 'output_expired', status: 410 });
    expect((await get((await completedRender('exp_410')).url)).status).toBe(410);
    expect((await get((await completedRender('fine')).url)).status).toBe(200);
    expect(() => suite.sim.injectFault({ kind: 'output_expired', status: 500 })).toThrow();
    expect((await call(suite.base, 'POST', '/_sim/faults', { body: { kind: 'output_expired', status: 502 } })).status).toBe(400);
  });
});

describe('sim output size, Range and HEAD', () => {
  it('outputBytes pads the sample with a free box: exact size, still a valid box layout, ranges anywhere', async () => {
    const total = 1_000_003;
    suite.sim.setScenario({ outputBytes: total, renderShape: 'b' });
    const r = await completedRender('padded');
    expect(r.poll.output!.size).toBe(total);
    const full = await get(r.url);
    expect(full.status).toBe(200);
    expect(full.headers['accept-ranges']).toBe('bytes');
    expect(full.headers['content-length']).toBe(String(total));
    expect(full.body.length).toBe(total);
    expect(topLevelBoxes(full.body, total)).toEqual(PADDED_BOXES());
    expect(PADDED_BOXES()).toEqual(expect.arrayContaining(['ftyp', 'moov', 'mdat']));
    expect(full.body.subarray(0, SAMPLE).equals(SAMPLE_BYTES)).toBe(true);
    expect(full.body.subarray(SAMPLE + 8).every((b) => b === 0)).toBe(true);

    const cases: [string, number, number][] = [
      ['bytes=0-7', 0, 7],
      [`bytes=${SAMPLE - 4}-${SAMPLE + 11}`, SAMPLE - 4, SAMPLE + 11], // across the sample / free-header seam
      ['bytes=-16', total - 16, total - 1],
      [`bytes=${total - 10}-`, total - 10, total - 1],
      [`bytes=5-${total + 100}`, 5, total - 1],
    ];
    for (const [range, start, end] of cases) {
      const part = await get(r.url, { range });
      expect(part.status, range).toBe(206);
      expect(part.headers['content-range'], range).toBe(`bytes ${start}-${end}/${total}`);
      expect(part.headers['content-length'], range).toBe(String(end - start + 1));
      expect(part.body.equals(full.body.subarray(start, end + 1)), range).toBe(true);
    }
    const beyond = await get(r.url, { range: `bytes=${total}-` });
    expect(beyond.status).toBe(416);
    expect(beyond.headers['content-range']).toBe(`bytes */${total}`);
    // Several ranges, or nonsense: the whole file (a server may ignore Range).
    expect((await get(r.url, { range: 'bytes=0-1,5-6' })).status).toBe(200);
    expect((await get(r.url, { range: 'items=0-1' })).body.length).toBe(total);

    const head = await get(r.url, {}, 'HEAD');
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe(String(total));
    expect(head.headers['accept-ranges']).toBe('bytes');
    expect(head.body.length).toBe(0);
    const dl = await get(`${suite.base}/api/render/proxy/padded/download`, { authorization: `Bearer ${r.token}`, range: 'bytes=0-3' });
    expect(dl.status).toBe(206);
    expect(dl.headers['content-disposition']).toBe('attachment; filename="padded.mp4"');
    const dlHead = await get(`${suite.base}/api/render/proxy/padded/download`, { authorization: `Bearer ${r.token}` }, 'HEAD');
    expect(dlHead.headers['content-length']).toBe(String(total));
  });

  it('without outputBytes the plain sample is served, with ranges too', async () => {
    const r = await completedRender('plain');
    const part = await get(r.url, { range: 'bytes=4-7' });
    expect(part.status).toBe(206);
    expect(part.body.toString('latin1')).toBe('ftyp');
    expect(part.headers['content-range']).toBe(`bytes 4-7/${SAMPLE}`);
  });

  it('streams a 200 MB output without holding it in memory', async () => {
    const total = 200 * 1024 * 1024;
    suite.sim.setScenario({ outputBytes: total });
    const r = await completedRender('big');
    const before = process.memoryUsage().arrayBuffers;
    let early: number | undefined;
    let received = 0;
    const head: Buffer[] = [];
    const t0 = Date.now();
    const res = await request(r.url);
    expect(res.headers['content-length']).toBe(String(total));
    for await (const chunk of res.body) {
      const buf = chunk as Buffer;
      if (received < SAMPLE + 16) head.push(Buffer.from(buf.subarray(0, SAMPLE + 16 - received)));
      received += buf.length;
      // Measured early, before the client's own read chunks pile up as garbage: a server that built the body
      // in memory would already hold all 200 MB (server and client share this process).
      if (early === undefined && received >= 8 * 1024 * 1024) early = process.memoryUsage().arrayBuffers - before;
    }
    const ms = Date.now() - t0;
    expect(received).toBe(total);
    expect(topLevelBoxes(Buffer.concat(head), total)).toEqual(PADDED_BOXES());
    expect(early).toBeLessThan(48 * 1024 * 1024);
    console.log(`sim 200 MB output: ${ms} ms, arrayBuffers +${((early ?? 0) / 1024 / 1024).toFixed(1)} MB after 8 MB`);
  });
});
