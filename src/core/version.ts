// The package version, read once from package.json so attribution headers and the CLI agree.
import { readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

export const PACKAGE_VERSION: string = pkg.version;
