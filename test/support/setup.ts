import { Logger } from '@nestjs/common';

// Tests against real servers wait on real work; their own waits carry tighter,
// named limits.
jest.setTimeout(180_000);
// Keep the apps' progress logs out of test output; warnings and errors still
// show.
Logger.overrideLogger(['error', 'warn']);
