// job.timeline drawn as tracks of segments on one time axis (SVG), with a text description for screen readers.
import { formatMs } from '../lib/format.js';
import { layoutTimeline } from '../lib/timeline-layout.js';
import type { Timeline } from '../lib/types.js';

const WIDTH = 880;
const LABEL_W = 96;
const ROW_H = 30;
const AXIS_H = 24;
const PAD = 10;
/** Roughly the width of one character of the 12px label font, to clip labels to their segment. */
const CHAR_W = 6.6;

/** Axis labels in seconds ("0 s", "2.5 s"): the ticks are round numbers of them. */
function tickText(ms: number): string {
  return `${Number((ms / 1000).toFixed(2))} s`;
}

function fit(label: string, width: number): string {
  const room = Math.floor((width - 8) / CHAR_W);
  if (room < 3) return '';
  return label.length > room ? `${label.slice(0, room - 1)}…` : label;
}

export function TimelineView({ timeline }: { timeline: Timeline }) {
  const layout = layoutTimeline(timeline);
  const span = WIDTH - LABEL_W - PAD;
  const x = (ms: number) => LABEL_W + (ms / layout.totalMs) * span;
  const height = AXIS_H + layout.tracks.length * ROW_H + PAD;
  const summary = `Timeline: ${layout.tracks.length} track${layout.tracks.length === 1 ? '' : 's'} over ${formatMs(layout.totalMs)}`;
  const description = layout.tracks
    .map((t) => `${t.name}: ${t.segments.map((s) => `${s.label} from ${formatMs(s.startMs)} for ${formatMs(s.durationMs)}`).join('; ') || 'empty'}`)
    .join('. ');
  const canvas = timeline.width && timeline.height ? `${timeline.width}×${timeline.height}` : 'canvas unknown';
  return (
    <figure class="timeline">
      <svg viewBox={`0 0 ${WIDTH} ${height}`} role="img" aria-labelledby="timeline-title timeline-desc" data-testid="timeline">
        <title id="timeline-title">{summary}</title>
        <desc id="timeline-desc">{description}</desc>
        <g class="axis">
          {layout.ticksMs.map((t) => (
            <g key={t}>
              <line x1={x(t)} x2={x(t)} y1={AXIS_H - 6} y2={height - PAD} />
              <text x={x(t)} y={AXIS_H - 10} text-anchor={x(t) > WIDTH - 30 ? 'end' : 'middle'}>
                {tickText(t)}
              </text>
            </g>
          ))}
        </g>
        {layout.tracks.map((track, row) => {
          const y = AXIS_H + row * ROW_H;
          return (
            <g key={`${track.name}-${row}`} class={`track kind-${track.kind}`}>
              <text class="track-name" x={4} y={y + ROW_H / 2 + 4}>
                {track.name}
              </text>
              {track.segments.map((s, i) => {
                const left = x(s.startMs);
                const w = Math.max(2, x(s.startMs + s.durationMs) - left);
                return (
                  <g key={i} class="segment">
                    <rect x={left} y={y + 3} width={w} height={ROW_H - 6} rx={4}>
                      <title>{`${s.label}: ${formatMs(s.startMs)} – ${formatMs(s.startMs + s.durationMs)}`}</title>
                    </rect>
                    <text x={left + 4} y={y + ROW_H / 2 + 4}>
                      {fit(s.label, w)}
                    </text>
                  </g>
                );
              })}
            </g>
          );
        })}
      </svg>
      <figcaption>
        {summary} · {canvas}
      </figcaption>
    </figure>
  );
}
