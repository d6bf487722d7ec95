// A real <a href> to a console page that navigates in place on a plain click.
import type { ComponentChildren } from 'preact';
import { BASE, onLinkClick } from '../router.js';

export function Link({ to, children, class: className, ariaCurrent }: { to: string; children: ComponentChildren; class?: string; ariaCurrent?: boolean }) {
  return (
    <a href={BASE + to} class={className} aria-current={ariaCurrent ? 'page' : undefined} onClick={(e) => onLinkClick(e, to)}>
      {children}
    </a>
  );
}
