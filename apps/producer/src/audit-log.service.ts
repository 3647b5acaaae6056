import { Inject, Injectable } from '@nestjs/common';
import { AuditEntryView, AuditQuery } from '@pipeline/contracts';
import { AuditLogRepository } from '@pipeline/database';

/** The audit log as admins read it: every change made through the API. */
@Injectable()
export class AuditLogService {
  constructor(
    @Inject(AuditLogRepository)
    private readonly audit: Pick<AuditLogRepository, 'list'>,
  ) {}

  /** Newest first, filtered as `query` asks. */
  list(query: AuditQuery): Promise<AuditEntryView[]> {
    return this.audit.list(query);
  }
}
