// The New-job form's output wishes: aspect ratio, resolution, length, music, title, transitions and conformance.
import type { JobForm } from '../lib/job-request.js';
import { ASPECT_RATIOS, RESOLUTIONS } from '../lib/types.js';

export interface FieldsProps {
  form: JobForm;
  set: <K extends keyof JobForm>(key: K, value: JobForm[K]) => void;
}

export function OutputFields({ form, set }: FieldsProps) {
  return (
    <fieldset class="grid">
      <legend>Output</legend>
      <div class="field">
        <label for="aspect">Aspect ratio</label>
        <select id="aspect" value={form.aspectRatio} onChange={(e) => set('aspectRatio', e.currentTarget.value)}>
          <option value="">Chosen by the agent</option>
          {ASPECT_RATIOS.map((r) => (
            <option key={r} value={r}>
              {r}
            </option>
          ))}
        </select>
      </div>
      <div class="field">
        <label for="resolution">Resolution</label>
        <select id="resolution" value={form.resolution} onChange={(e) => set('resolution', e.currentTarget.value)}>
          {RESOLUTIONS.map((r) => (
            <option key={r} value={r}>
              {r}
            </option>
          ))}
        </select>
      </div>
      <div class="field">
        <label for="duration">Duration (seconds)</label>
        <input
          id="duration"
          type="number"
          min={3}
          max={300}
          step="any"
          inputMode="decimal"
          placeholder="chosen by the agent"
          value={form.durationS}
          onInput={(e) => set('durationS', e.currentTarget.value)}
        />
      </div>
      <div class="field">
        <label for="music">Music</label>
        <select id="music" value={form.music} onChange={(e) => set('music', e.currentTarget.value as JobForm['music'])}>
          <option value="auto">Chosen by the agent</option>
          <option value="none">No music</option>
          <option value="style">A style…</option>
        </select>
      </div>
      {form.music === 'style' && (
        <>
          <div class="field">
            <label for="music-style">Music style</label>
            <input id="music-style" maxLength={100} placeholder="lo-fi" value={form.musicStyle} onInput={(e) => set('musicStyle', e.currentTarget.value)} />
          </div>
          <div class="field">
            <label for="music-volume">Music volume (%)</label>
            <input
              id="music-volume"
              type="number"
              min={0}
              max={100}
              step={1}
              placeholder="chosen by the agent"
              value={form.musicVolume}
              onInput={(e) => set('musicVolume', e.currentTarget.value)}
            />
          </div>
        </>
      )}
      <div class="field">
        <label for="title">Title</label>
        <input id="title" maxLength={120} placeholder="shown at the start" value={form.title} onInput={(e) => set('title', e.currentTarget.value)} />
      </div>
      <div class="field">
        <label for="transitions">Transitions</label>
        <select id="transitions" value={form.transitions} onChange={(e) => set('transitions', e.currentTarget.value as JobForm['transitions'])}>
          <option value="auto">Chosen by the agent</option>
          <option value="none">None (hard cuts)</option>
          <option value="words">In words…</option>
        </select>
      </div>
      {form.transitions === 'words' && (
        <div class="field">
          <label for="transition-words">Transition words</label>
          <input id="transition-words" maxLength={100} placeholder="crossfade" value={form.transitionWords} onInput={(e) => set('transitionWords', e.currentTarget.value)} />
        </div>
      )}
      <div class="field">
        <label for="conformance">Conformance</label>
        <select id="conformance" value={form.conformance} onChange={(e) => set('conformance', e.currentTarget.value as JobForm['conformance'])}>
          <option value="report">Report the checks</option>
          <option value="correct">Correct once if a check fails</option>
        </select>
      </div>
    </fieldset>
  );
}
