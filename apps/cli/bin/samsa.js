#!/usr/bin/env node
// The built CLI (npm run build); tests run src/run.ts through tsx instead.
import "../dist/run.js";
