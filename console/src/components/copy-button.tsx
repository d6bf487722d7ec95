// Copies a text with the Clipboard API, falling back to a hidden textarea where the page is not a secure context.
import { useState } from 'preact/hooks';

async function copyText(text: string): Promise<void> {
  if (window.isSecureContext && navigator.clipboard) {
    await navigator.clipboard.writeText(text);
    return;
  }
  const area = document.createElement('textarea');
  area.value = text;
  area.setAttribute('readonly', '');
  area.className = 'visually-hidden';
  document.body.append(area);
  area.select();
  const ok = document.execCommand('copy');
  area.remove();
  if (!ok) throw new Error('the browser refused to copy');
}

export function CopyButton({ label, text }: { label: string; text: () => string | Promise<string> }) {
  const [status, setStatus] = useState('');
  const copy = async () => {
    try {
      await copyText(await text());
      setStatus('Copied.');
    } catch (err) {
      setStatus(`Could not copy: ${err instanceof Error ? err.message : String(err)}`);
    }
  };
  return (
    <span class="copy">
      <button type="button" onClick={() => void copy()}>
        {label}
      </button>
      <span class="muted" role="status">
        {status}
      </span>
    </span>
  );
}
