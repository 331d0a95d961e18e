/** Filesystem locations the helpers need: the repo root and fresh temp dirs. */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { trackTempDir, untrackTempDir } from './process';

/** Absolute path of the monorepo root (this file lives in test/helpers/src). */
export const REPO_ROOT = path.resolve(__dirname, '../../..');

/**
 * Creates a fresh directory under the OS temp dir, e.g. `/tmp/switchboard-redis-XXXXXX`.
 * It is removed at process exit if `removeTempDir()` has not removed it before.
 */
export function makeTempDir(label: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), `switchboard-${label}-`));
  trackTempDir(dir);
  return dir;
}

/** Removes a directory made by `makeTempDir()`. */
export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  untrackTempDir(dir);
}

/** Re-creates (empty) a directory first made by `makeTempDir()`, tracked again for exit cleanup. */
export function resetTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  trackTempDir(dir);
}
