import { Controller, Get, Header } from '@nestjs/common';
import { DASHBOARD_HTML, DASHBOARD_JS } from './dashboard.page';
import { JOB_BROWSER_JS } from './job-browser.page';

/**
 * The operators' dashboard at `/`: a page and its script, both public (the data
 * behind them needs an admin key).
 */
@Controller()
export class DashboardController {
  @Get()
  @Header('Content-Type', 'text/html; charset=utf-8')
  @Header('Cache-Control', 'no-store')
  page(): string {
    return DASHBOARD_HTML;
  }

  @Get('dashboard.js')
  @Header('Content-Type', 'text/javascript; charset=utf-8')
  @Header('Cache-Control', 'no-store')
  script(): string {
    return DASHBOARD_JS;
  }

  @Get('job-browser.js')
  @Header('Content-Type', 'text/javascript; charset=utf-8')
  @Header('Cache-Control', 'no-store')
  browserScript(): string {
    return JOB_BROWSER_JS;
  }
}
