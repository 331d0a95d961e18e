#!/usr/bin/env node
/** `node test/deploy/render.mjs DIR` prints what lib/kustomize.mjs renders, like `kubectl kustomize DIR`. */
import YAML from 'yaml';
import { render } from './lib/kustomize.mjs';

const dir = process.argv[2];
if (!dir) {
  console.error('usage: node test/deploy/render.mjs <kustomization dir>');
  process.exit(2);
}
process.stdout.write(render(dir).map((o) => YAML.stringify(o, { lineWidth: 0 })).join('---\n'));
