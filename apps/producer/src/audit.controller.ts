import { Controller, Get, Query, UseGuards } from '@nestjs/common';
import { ApiKeyGuard, RequireScopes } from '@pipeline/auth';
import { AuditEntryView, AuditQuery } from '@pipeline/contracts';
import { AuditLogService } from './audit-log.service';

/** The audit log: every change an admin made through the API, newest first. */
@Controller('v1/audit')
@UseGuards(ApiKeyGuard)
@RequireScopes('admin')
export class AuditController {
  constructor(private readonly audit: AuditLogService) {}

  @Get()
  list(@Query() query: AuditQuery): Promise<AuditEntryView[]> {
    return this.audit.list(query);
  }
}
