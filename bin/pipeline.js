#!/usr/bin/env node
// The `pipeline` command (see `pipeline --help`); built by `npm run build`.
'use strict';
require(require('../scripts/dist-layout').entryOf('cli'));
