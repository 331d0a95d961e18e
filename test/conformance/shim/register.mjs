// Preload with `node --import <this file>` (e.g. via NODE_OPTIONS) to install the fs shim hook.
import { register } from 'node:module';

register('./loader.mjs', import.meta.url);
