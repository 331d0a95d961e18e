import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The monorepo root (this file is test/deploy/lib/paths.mjs). */
export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '../../..');
