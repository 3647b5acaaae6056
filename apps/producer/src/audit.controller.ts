import { Get, Query } from '@nestjs/common';
import { ApiController } from './api-routes';
import { AuditEntryView, AuditQuery } from '@pipeline/contracts';
import { AuditLogService } from './audit-log.service';

/** The audit log: every change an admin made through the API, newest first. */
@ApiController('v1/audit', 'admin')
export class AuditController {
  constructor(private readonly audit: AuditLogService) {}

  @Get()
  list(@Query() query: AuditQuery): Promise<AuditEntryView[]> {
    return this.audit.list(query);
  }
}
