#!/usr/bin/env node
// The `pipeline` command (see `pipeline --help`); built by `npm run build`.
'use strict';
require('../dist/apps/cli/apps/cli/src/main.js');
